"""The transformers engine with real generation on a tiny random model (the tokenizer and
chat template are the embedded model's)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field

from paracycle.engines.base import ChatRequest
from paracycle.engines.transformers_engine import TransformersEngine
from paracycle.schemas import SamplingParams


class Verdict(BaseModel):
    score: int = Field(ge=1, le=10)
    keep: bool


@pytest.fixture(scope="module")
def engine(tiny_model):
    return TransformersEngine(tiny_model, max_batch_size=4)


def ask(text: str, **sampling) -> list[dict]:
    return [{"role": "user", "content": text}]


def test_batch_results_come_back_in_order_with_their_prefills(engine):
    sampling = SamplingParams(max_new_tokens=8, seed=1)
    prefills = ["Alpha ", "Beta beta ", "Gamma "]
    results = engine.generate([ChatRequest(ask(f"q{i}"), sampling, prefill=p) for i, p in enumerate(prefills)])
    assert [r.text.split()[0] for r in results] == ["Alpha", "Beta", "Gamma"]
    for r in results:
        assert 1 <= r.completion_tokens <= 8
        assert r.prompt_tokens > 5
        assert r.finish_reason in ("stop", "length")


def test_requests_are_grouped_into_batches(engine, monkeypatch):
    calls = []
    real = engine.model.generate
    monkeypatch.setattr(engine.model, "generate", lambda **kw: calls.append(kw["input_ids"].shape[0]) or real(**kw))
    # Seeds do not split a batch (concurrent cycles each carry their own); other sampling does.
    a, a_other_seed = SamplingParams(max_new_tokens=4, seed=1), SamplingParams(max_new_tokens=4, seed=2)
    b = SamplingParams(max_new_tokens=5, seed=1)
    requests = [ChatRequest(ask("x"), a)] * 3 + [ChatRequest(ask("z"), a_other_seed)] * 2 + [ChatRequest(ask("y"), b)] * 2
    engine.generate(requests)
    assert sorted(calls) == [1, 2, 4]  # group a: 4 + 1 (max_batch_size 4), group b: 2


def test_same_seed_same_text(engine):
    req = ChatRequest(ask("hello"), SamplingParams(max_new_tokens=12, seed=42, temperature=1.0))
    assert engine.generate([req])[0].text == engine.generate([req])[0].text


def test_json_constrained_output_is_schema_valid(engine):
    # a random model only produces valid JSON because the grammar leaves it no choice
    req = ChatRequest(ask("judge"), SamplingParams(max_new_tokens=64, seed=3, temperature=1.0), schema=Verdict)
    results = engine.generate([req, req])
    for r in results:
        assert r.parse_status == "ok", (r.text, r.parse_error)
        assert 1 <= r.parsed.score <= 10
        assert " \n" not in r.text and "\n\n" not in r.text  # whitespace is capped


def test_truncated_json_is_a_recorded_failure(engine):
    req = ChatRequest(ask("judge"), SamplingParams(max_new_tokens=3, seed=3), schema=Verdict)
    result = engine.generate([req])[0]
    assert result.parse_status == "failed" and result.parsed is None
    assert result.finish_reason == "length" and result.parse_error


def test_token_callback_counts_generated_tokens(engine):
    seen = []
    req = ChatRequest(ask("count"), SamplingParams(max_new_tokens=6, seed=5))
    result = engine.generate([req, req], on_tokens=seen.append)[0]
    assert sum(seen) >= result.completion_tokens


def test_prefill_and_schema_do_not_mix():
    with pytest.raises(ValueError):
        ChatRequest(ask("x"), prefill="Hi", schema=Verdict)


class Other(BaseModel):
    label: bool


def test_different_schemas_share_one_batch(engine, monkeypatch):
    calls = []
    real = engine.model.generate
    monkeypatch.setattr(engine.model, "generate", lambda **kw: calls.append(kw["input_ids"].shape[0]) or real(**kw))
    sampling = SamplingParams(max_new_tokens=48, seed=4, temperature=1.0)
    verdict, other = engine.generate([ChatRequest(ask("a"), sampling, schema=Verdict), ChatRequest(ask("b"), sampling, schema=Other)])
    assert calls == [2]  # one generate(), a grammar per row
    assert verdict.parse_status == "ok" and other.parse_status == "ok", (verdict.text, other.text)
    assert isinstance(verdict.parsed, Verdict) and isinstance(other.parsed, Other)


def test_a_prompt_that_cannot_fit_fails_alone_and_clearly(engine):
    """The tiny model's context is 4096 tokens: asking for 5000 new ones cannot fit. Behind the
    micro-batching queue only that caller fails; a caller batched beside it is served."""
    import threading

    from paracycle.engines.base import PromptTooLong
    from paracycle.engines.batching import BatchingEngine

    too_long = ChatRequest(ask("q"), SamplingParams(max_new_tokens=5000))
    with pytest.raises(PromptTooLong, match="does not fit its context of 4096 tokens"):
        engine.generate([too_long])
    queue = BatchingEngine(engine, max_wait_s=0.2)
    outcomes = {}

    def call(name, request):
        try:
            outcomes[name] = queue.generate([request])[0].completion_tokens
        except PromptTooLong as err:
            outcomes[name] = err

    threads = [threading.Thread(target=call, args=("long", too_long)),
               threading.Thread(target=call, args=("short", ChatRequest(ask("q"), SamplingParams(max_new_tokens=4))))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert isinstance(outcomes["long"], PromptTooLong) and 1 <= outcomes["short"] <= 4
