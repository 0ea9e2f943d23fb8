"""Shared fixtures: the embedded checkpoint, a tiny random model built from its tokenizer,
and paths to the examples."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# 1 GiB of KV cache is plenty for the test models; vLLM's CPU default here (0.3 of RAM)
# takes about 15 s to allocate at every engine start (measured: 38 s against 23 s per start).
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
PARACYCLE = [sys.executable, "-m", "paracycle.cli"]


@pytest.fixture(scope="session")
def embedded_checkpoint() -> Path:
    """The real SmolLM2-135M-Instruct checkpoint (converted once per machine)."""
    from paracycle.embedded import ensure_embedded_checkpoint

    return ensure_embedded_checkpoint(log=lambda *a: None)


@pytest.fixture(scope="session")
def tiny_model(embedded_checkpoint, tmp_path_factory) -> Path:
    """A 2-layer random Llama with the embedded model's tokenizer: real generation, fast."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    out = tmp_path_factory.mktemp("tiny-model")
    tokenizer = AutoTokenizer.from_pretrained(embedded_checkpoint)
    # head_dim 64: a size vLLM's CPU attention supports
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=128, intermediate_size=256, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=4096, tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_adapter(tiny_model, tmp_path_factory) -> Path:
    """A LoRA adapter for the tiny model with non-zero weights, so it visibly changes outputs."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    out = tmp_path_factory.mktemp("tiny-adapter")
    torch.manual_seed(1)
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    lora = LoraConfig(r=8, lora_alpha=32, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(model, lora).save_pretrained(out)
    return out


def scripted_dataset(runs: Path, rows: int = 8) -> Path:
    """A small DPO dataset from cycles on one example, collected through the real graph and
    store with a scripted engine: the training tests' data."""
    from fakes import VariedEngine

    from paracycle.collect import Collector, plan_jobs
    from paracycle.config import RunConfig
    from paracycle.loading import load_structure
    from paracycle.store import TrajectoryStore
    from paracycle.training.dataset import write_dataset
    from paracycle.training.pairs import BuiltPairs, PairSettings, build_pairs

    structure = load_structure(EXAMPLES / "coral-thermal.yaml")
    config = RunConfig()
    config.cycle.max_revisions = 1
    store = TrajectoryStore(runs / "trajectories.sqlite")
    engine = VariedEngine()
    Collector(config, engine, engine, store, runs / "checkpoints.sqlite", concurrency=3).run(
        plan_jobs([("coral", structure)], 3)
    )
    built = build_pairs([store.load(t) for t in store.thread_ids()], PairSettings())
    store.close()
    small = BuiltPairs(built.draft_pairs, built.rows[:rows], built.dropped_ties, built.threads)
    directory, _ = write_dataset(small, runs / "pairs", PairSettings(), set())
    return directory


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: int = 900):
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [*PARACYCLE, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout
    )


def copy_example(name: str, dest: Path) -> Path:
    target = dest / name
    shutil.copy(EXAMPLES / name, target)
    return target


def add_to_intro(paper: str, sentence: str, paragraph: int = 1) -> str:
    """Append a sentence to one introduction paragraph of a Markdown paper."""
    head, intro = paper.split("## Introduction", 1)
    intro, rest = intro.split("\n## ", 1)
    blocks = intro.strip().split("\n\n")
    prose = [i for i, block in enumerate(blocks) if not block.startswith("<!--")]
    blocks[prose[paragraph]] = blocks[prose[paragraph]].rstrip() + " " + sentence
    return f"{head}## Introduction\n\n" + "\n\n".join(blocks) + "\n\n## " + rest


# -- the browser (Debian's chromium through Playwright) ---------------------------------------

ARTIFACTS = Path(os.environ.get("PARACYCLE_ARTIFACTS", ROOT / "test-artifacts"))


@pytest.fixture(scope="session")
def browser():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        if os.environ.get("PARACYCLE_REQUIRE_CHROMIUM"):
            pytest.fail("chromium is not installed (make test installs Debian's package where apt-get can)")
        pytest.skip("SKIPPED LOUDLY: no chromium on this machine; `apt-get install chromium` to run the browser tests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield b
        b.close()


def open_page(browser, path: Path, shot: str):
    """The page at file://path, every other request refused and recorded, a screenshot taken."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    requests, dialogs = [], []
    url = path.resolve().as_uri()

    def route(r):
        if r.request.url == url:
            r.continue_()
        else:
            requests.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(url)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{shot}.png"), full_page=True)
    return page, requests, dialogs
