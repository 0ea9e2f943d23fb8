"""The model card a round writes into its adapter (README.md, the Hugging Face convention):
what the adapter is a round of, what it was trained on, and how to serve it elsewhere.

Written before the adapter's digest is taken, so the card is part of the weights the
registry checks; the gate's verdict comes later and lives in the round's report.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from paracycle.fsutil import write_atomic
from paracycle.registry import RoundManifest


def model_card(m: RoundManifest, base_model_name: str) -> str:
    front = {"base_model": base_model_name, "library_name": "peft", "tags": ["paracycle", "dpo", "lora"]}
    train = m.config.get("train", {})
    lines = [
        "---", yaml.safe_dump(front, sort_keys=False).strip(), "---", "",
        f"# {m.round_id}: a paracycle DPO round", "",
        f"- **Base model:** `{base_model_name}`",
        f"- **Parent policy:** {m.parent.id}" + (f" (adapter `{Path(m.parent.adapter).name}`)" if m.parent.adapter else ""),
        f"- **Reference policy:** {m.reference}",
        f"- **Data:** dataset `{Path(m.dataset).name if m.dataset else '-'}`, "
        + ", ".join(f"{source} {n}" for source, n in m.pair_counts.items())
        + f" rows from {len(m.threads_used)} trajectories",
        f"- **Training:** loss {'+'.join(train.get('loss_type', []))}, beta {train.get('beta')}, "
        f"learning rate {train.get('learning_rate')}, {train.get('max_steps')} steps, seed {m.seed}",
        "- **Metrics after training:** " + ", ".join(f"{k} {v:.4g}" for k, v in sorted(m.train_metrics.items())),
        "", "The gate's decision and the held-out comparison are in the round's `report.md`.", "",
        "## Serving it", "",
        "```bash",
        f"vllm serve {base_model_name} --enable-lora --max-lora-rank 16 --lora-modules {m.round_id}=PATH/TO/THIS/DIRECTORY",
        "```", "",
        "```python",
        "from peft import PeftModel",
        "from transformers import AutoModelForCausalLM",
        f'model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained("{base_model_name}"), "PATH/TO/THIS/DIRECTORY")',
        "```", "",
    ]
    return "\n".join(lines)


def write_model_card(adapter_dir: Path, m: RoundManifest, base_model_name: str) -> None:
    write_atomic(Path(adapter_dir) / "README.md", model_card(m, base_model_name))
