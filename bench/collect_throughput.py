"""How close does `collect` come to the serving engine's own batch throughput?

For each engine (transformers, then vLLM) on the same argument structures and model:

  (b) collect: K cycles per structure at the default concurrency, through the real
      Collector (graph threads, checkpoints, store, micro-batching queue); tokens/s is every
      completion token the cycles generated over the wall time of the collection.
  (a) raw batch: the same requests handed to the engine in one call: every generation the
      collection made, replayed with its prompt, prefill, sampling parameters and (reviews)
      JSON schema, all in a single `generate()`, with vLLM's prefix cache emptied first.

utilization = b / a for the default engine (vLLM), and vllm_vs_transformers = b_vllm /
b_transformers. Both figures are ratios measured side by side in one run, so the machine's
noise largely cancels. The last line is exactly
`utilization=<b/a> vllm_vs_transformers=<ratio>`.

    python bench/collect_throughput.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def measure(kind: str, samples: int, concurrency: int, max_revisions: int, review_tokens: int | None) -> dict:
    # Imported here, after main() has quieted the libraries they load.
    from paracycle.collect import collect, plan_jobs
    from paracycle.config import EngineSpec, RunConfig
    from paracycle.engines.base import ChatRequest
    from paracycle.loading import load_structure, structure_files
    from paracycle.models import load_engine
    from paracycle.rundir import RunDir
    from paracycle.schemas import Entailment, grounded_review_schema

    structures = [(str(p), load_structure(p)) for p in structure_files([ROOT / "examples"])]
    config = RunConfig(writer=EngineSpec(engine=kind), seed=0)
    config.cycle.max_revisions = max_revisions
    if review_tokens is not None:
        config.cycle.reviewer.sampling.max_new_tokens = review_tokens
        config.cycle.reviewer.max_attempts = 1
    engine = load_engine(config.writer, log=lambda *a: None)
    try:
        run_dir = RunDir(Path(tempfile.mkdtemp(prefix=f"bench-{kind}-")))
        store = run_dir.open_store()
        result = collect(
            config, plan_jobs(structures, samples), run_dir, store,
            concurrency=concurrency, log=lambda *a: None, engines=(engine, engine),
        )
        if result.failed:
            sys.exit(f"{kind}: {len(result.failed)} cycles failed: {next(iter(result.failed.values()))}")

        replay = []
        for thread in store.thread_ids():
            trajectory = store.load(thread)
            evidence_ids = [e.id for e in trajectory.structure.evidence]
            for i, step in enumerate(trajectory.steps):
                # The same requests the cycles sent: prompt, prefill, sampling, and for reviews
                # the same grounded schema (rebuilt from the reviewed draft).
                schema = None
                if step.kind == "review":
                    ids = [p.id for p in trajectory.steps[i - 1].draft.introduction]
                    schema = grounded_review_schema(ids, evidence_ids)
                for g in step.generations:
                    messages, prefill = g.prompt, ""
                    if messages and messages[-1]["role"] == "assistant":
                        messages, prefill = messages[:-1], messages[-1]["content"]
                    # A second opinion's questions (on in the config) had their own schema.
                    asked = Entailment if g.purpose.startswith("second_opinion") else schema
                    replay.append(ChatRequest(messages, g.sampling, schema=asked, prefill=prefill))
        # Batches the collection ran (the queue's for transformers, vLLM's own steps for
        # vLLM), taken before the replay adds its own.
        mean_batch = result.batched_requests / result.batches if result.batches else 0.0
        # vLLM still holds the collection's prompts in its prefix cache; the replay must
        # compute its prefills as the collection did, or (a) is flattered.
        engine.reset_prefix_cache()
        started = time.perf_counter()
        outputs = engine.generate(replay)
        raw_seconds = time.perf_counter() - started
        raw_tokens = sum(o.completion_tokens for o in outputs)
    finally:
        engine.close()
    return {
        "engine": kind,
        "cycles": result.finished,
        "collect_tokens": result.tokens,
        "collect_tok_s": result.tokens_per_second,
        "raw_tokens": raw_tokens,
        "raw_tok_s": raw_tokens / raw_seconds,
        "mean_batch": mean_batch,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true",
        help="2 samples per structure, no revisions, reviews capped at 256 tokens (about 15 minutes on 2 CPU cores)",
    )
    parser.add_argument("--concurrency", type=int, default=8, help="collect's default")
    args = parser.parse_args()
    samples, max_revisions, review_tokens = (2, 0, 256) if args.quick else (4, 1, None)

    from paracycle.stdio import quiet_libraries

    quiet_libraries()
    rows = [measure(kind, samples, args.concurrency, max_revisions, review_tokens) for kind in ("transformers", "vllm")]
    print(f"{'engine':<13}{'cycles':>7}{'collect tok/s':>15}{'raw batch tok/s':>17}{'b/a':>7}{'mean batch':>12}")
    for r in rows:
        print(
            f"{r['engine']:<13}{r['cycles']:>7}{r['collect_tok_s']:>15.1f}{r['raw_tok_s']:>17.1f}"
            f"{r['collect_tok_s'] / r['raw_tok_s']:>7.2f}{r['mean_batch']:>12.1f}"
        )
    transformers, vllm = rows
    utilization = vllm["collect_tok_s"] / vllm["raw_tok_s"]
    print(f"utilization={utilization:.2f} vllm_vs_transformers={vllm['collect_tok_s'] / transformers['collect_tok_s']:.2f}")


if __name__ == "__main__":  # vLLM starts its workers with spawn
    main()
