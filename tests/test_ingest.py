"""`paracycle ingest arxiv` end to end against a local fake arXiv (tests/arxiv_server.py):
fetch -> parse -> analyst -> YAML + Markdown, malicious and missing sources, resume, and
(slow) the ingested paper through `cycle`, `review` and `pairs build` on the embedded model."""

from __future__ import annotations

import io
import json
import tarfile

import pytest

from arxiv_server import FakeArxiv, make_tar_gz
from conftest import run_cli
from test_analyst import FakeEngine, analysis_dict

from paracycle.agents.analyst import Analyst
from paracycle.ingest.arxiv_fetch import ArxivSettings, fetch
from paracycle.ingest.pipeline import ingest_papers, read_manifest
from paracycle.loading import load_structure
from paracycle.paper import load_paper
from paracycle.settings import CycleConfiguration
from paracycle.store import TrajectoryStore
from paracycle.training.pairs import PairSettings, human_anchor_pairs, reviewed_drafts

MAIN = r"""\documentclass{article}
\newcommand{\method}{PruneKV}
\title{\method: Predicting Future Attention to Evict the Right Tokens}
\begin{document}
\maketitle
\begin{abstract}
Serving language models on long inputs is limited by the key-value cache. We introduce
\method, a training-free eviction policy. On LongBench it reduces KV-cache memory by 62\%
while staying within 0.4 points of the full cache.
\end{abstract}
\input{intro}
\section{Method}
\method keeps a low-rank sketch of recent queries and evicts the tokens it predicts will be ignored.
\section{Experiments}
\begin{table}[t]
\caption{Accuracy and memory on LongBench with Llama-3-8B.}
\label{tab:main}
\begin{tabular}{lcc} a & b & c \\ \end{tabular}
\end{table}
On LongBench, \method reduces KV-cache memory by 62\% and raises decoding throughput by $1.8\times$.
On RULER at 128k tokens it retains 93.1\% of full-cache accuracy, where H2O retains 71.5\%.
\section{Conclusion}
We presented \method.
\end{document}
"""

INTRO = r"""\section{Introduction}
Large language models are asked to read entire codebases in one prompt. % a comment
The key-value cache, not the weights, is what fills accelerator memory.

The problem is that the cache cannot simply be truncated: which tokens matter depends on
questions that arrive later.

However, existing eviction policies such as H2O rank tokens by the attention they have
received so far, which fails on retrieval-style tasks.

Our key insight is that future attention can be predicted from a low-rank sketch of recent
queries. We introduce \method, which evicts the tokens the sketch predicts will be ignored.

In experiments on LongBench, \method reduces memory by 62\% (Table~\ref{tab:main}).
"""


def evil_archive() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        data = b"\\documentclass{article}\\begin{document}x\\end{document}"
        for name in ("main.tex", "../escaped.txt"):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture
def arxiv_server():
    with FakeArxiv() as server:
        server.add_paper(
            "2405.00001", title="PruneKV: Predicting Future Attention to Evict the Right Tokens",
            abstract="Serving language models on long inputs is limited by the KV cache.",
            categories=["cs.CL", "cs.LG"], source=make_tar_gz({"main.tex": MAIN, "intro.tex": INTRO}),
        )
        server.add_paper("2405.00002", title="An evil archive", abstract="Nothing to see here.", source=evil_archive())
        server.add_paper("2405.00003", title="Sourceless", abstract="Only an abstract exists.", source=None)
        yield server


class Answers(FakeEngine):
    """A valid analysis for every request: claim 1 cites E1 when the paper has candidates."""

    def __init__(self):
        super().__init__()

    def generate(self, requests, on_tokens=None):
        for request in requests:
            has_candidates = "E1" in json.dumps(request.schema.model_json_schema())
            self.texts.append(json.dumps(analysis_dict([["E1"] if has_candidates else [], []])))
        return super().generate(requests, on_tokens)


def test_fetch_parse_analyse_writes_structures_and_papers(arxiv_server, tmp_path):
    out = tmp_path / "ingest"
    settings = ArxivSettings(api_url=arxiv_server.api_url, source_url=arxiv_server.source_url, delay_s=0, backoff_s=0.01, timeout_s=60)
    papers = fetch(ids=["2405.00001", "2405.00002", "2405.00003"], cache_dir=out / ".ingest" / "cache", settings=settings)
    engine = Answers()
    records = {r.id: r for r in ingest_papers(papers, out, Analyst(engine))}

    good = records["2405.00001"]
    assert good.status == "ok" and good.from_latex and good.markdown == "2405.00001.md"
    structure = load_structure(out / "2405.00001.yaml")
    assert structure.title.startswith("PruneKV") and structure.field == "computation and language"
    assert len(structure.anchor.introduction) == 5 and "62%" in structure.anchor.introduction[-1]
    assert "PruneKV" in structure.anchor.abstract and "%" not in structure.anchor.abstract.replace("62%", "")
    findings = [e.finding for e in structure.evidence]
    assert findings[0] == "Accuracy and memory on LongBench with Llama-3-8B." and structure.evidence[0].location.startswith("Table 1")
    assert any("93.1%" in f for f in findings)
    assert structure.claims[0].evidence == ["E1"]
    paper = load_paper(out / "2405.00001.md")
    assert paper.introduction == structure.anchor.introduction
    # The analyst saw the paper: the introduction and the numbered evidence are in its prompt.
    prompt = engine.requests[0].messages[-1]["content"]
    assert "codebases" in prompt and "E1" in prompt

    # A malicious archive is refused without writing outside the cache; the paper falls back
    # to its arXiv abstract and has no anchor (no introduction to keep).
    evil = records["2405.00002"]
    assert evil.status == "ok" and not evil.from_latex and any("refused" in n for n in evil.notes)
    assert not list(tmp_path.rglob("escaped.txt"))
    assert load_structure(out / "2405.00002.yaml").anchor is None
    assert evil.markdown is None and not (out / "2405.00002.md").exists()
    sourceless = records["2405.00003"]
    assert sourceless.status == "ok" and any("no source archive" in n for n in sourceless.notes)

    # The hidden bookkeeping does not get in the way of `collect OUT/`.
    from paracycle.loading import structure_files

    assert [p.name for p in structure_files([out])] == ["2405.00001.yaml", "2405.00002.yaml", "2405.00003.yaml"]
    # A rerun skips what is done and records it.
    again = ingest_papers(papers, out, Analyst(FakeEngine()))
    assert [r.status for r in again] == ["skipped"] * 3
    assert [r.status for r in read_manifest(out)] == ["ok"] * 3 + ["skipped"] * 3


def test_a_failed_analysis_writes_nothing_and_is_retried_next_run(arxiv_server, tmp_path):
    out = tmp_path / "ingest"
    settings = ArxivSettings(api_url=arxiv_server.api_url, source_url=arxiv_server.source_url, delay_s=0, backoff_s=0.01, timeout_s=60)
    papers = fetch(ids=["2405.00001"], cache_dir=out / ".ingest" / "cache", settings=settings)
    [failed] = ingest_papers(papers, out, Analyst(FakeEngine('{"problem": "truncated', "not json")))
    assert failed.status == "failed" and "attempt" in failed.error
    assert len(failed.generations) == 2 and not (out / "2405.00001.yaml").exists()
    [retried] = ingest_papers(papers, out, Analyst(Answers()))
    assert retried.status == "ok" and (out / "2405.00001.yaml").exists()


def test_cli_input_errors(tmp_path):
    neither = run_cli("ingest", "arxiv", "--out", str(tmp_path / "o"))
    both = run_cli("ingest", "arxiv", "--out", str(tmp_path / "o"), "--query", "x", "--id", "2405.00001")
    for result in (neither, both):
        assert result.returncode == 2 and "--query or one or more --id" in result.stderr
    bad_id = run_cli("ingest", "arxiv", "--out", str(tmp_path / "o"), "--id", "../../etc", "--delay", "0")
    assert bad_id.returncode == 1 and "not an arXiv id" in bad_id.stderr


def test_cli_says_in_one_line_when_arxiv_is_down(tmp_path):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {"PARACYCLE_ARXIV_API_URL": f"http://127.0.0.1:{port}/api/query"}
    result = run_cli("ingest", "arxiv", "--out", str(tmp_path / "o"), "--query", "cat:cs.CL", "--delay", "0", env=env)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "127.0.0.1" in errors[0]


@pytest.mark.slow
def test_ingested_paper_runs_through_cycle_check_and_pairs(arxiv_server, tmp_path):
    """The acceptance path on the embedded model: the ingested YAML and Markdown are used by
    `cycle` and by the claim ledger (`check`, the code `review` reads papers with) unchanged,
    and the anchor is compared with the cycle's draft as a human_anchor pair. The cycle skips
    the model review (`cycle.review: structural`): model reviews are tested elsewhere, and
    here they only cost minutes."""
    out, runs = tmp_path / "ingest", tmp_path / "runs"
    env = {"PARACYCLE_ARXIV_API_URL": arxiv_server.api_url, "PARACYCLE_ARXIV_SOURCE_URL": arxiv_server.source_url}
    ingest = run_cli("ingest", "arxiv", "--id", "2405.00001", "--out", str(out), "--delay", "0",
                     "--engine", "transformers", "--seed", "0", env=env)
    assert ingest.returncode == 0, ingest.stderr[-3000:]
    structure = load_structure(out / "2405.00001.yaml")
    assert structure.anchor is not None and structure.evidence

    config = tmp_path / "structural.yaml"
    config.write_text("cycle: {review: structural}\n")
    cycle = run_cli("cycle", str(out / "2405.00001.yaml"), "--max-revisions", "0", "--seed", "0",
                    "--engine", "transformers", "--runs-dir", str(runs), "--config", str(config))
    assert cycle.returncode == 0, cycle.stderr[-3000:]
    check = run_cli("check", str(out / "2405.00001.md"), "--structure", str(out / "2405.00001.yaml"), "--json")
    assert check.returncode == 0, check.stderr[-3000:]
    assert json.loads(check.stdout)["draft"]["introduction"][0]["text"] == structure.anchor.introduction[0]

    # The anchor is compared with the cycle's draft whatever the sample says; whether it wins by
    # the margin depends on what the model drafted (batch padding changes the sample between
    # runs), so a tie is allowed here and the comparison itself is checked in-process below.
    pairs = run_cli("pairs", "build", "--runs-dir", str(runs), "--json")
    assert pairs.returncode == 0, pairs.stderr[-3000:]
    manifest = json.loads(pairs.stdout)
    # counts are training rows (one per unit that differs), ties are draft pairs
    assert manifest["counts"]["human_anchor"] + manifest["ties_dropped"].get("human_anchor", 0) >= 1, manifest

    store = TrajectoryStore(runs / "trajectories.sqlite")
    (thread,) = store.thread_ids()
    chain = reviewed_drafts(store.load(thread), PairSettings().weights)
    ((anchor, weakest, basis),) = human_anchor_pairs(structure, [chain], CycleConfiguration(), PairSettings().weights)
    assert anchor.ref.kind == "anchor" and weakest.ref.thread_id == thread and basis == "structural"
    assert anchor.draft.abstract == " ".join(structure.anchor.abstract.split())
    assert anchor.draft.introduction[0].text == " ".join(structure.anchor.introduction[0].split())
