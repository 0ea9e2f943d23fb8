"""vLLM's parallelism and batch settings pass from the engine spec to vLLM's LLM(); what vLLM
refuses in-process is refused when the config is read."""

from __future__ import annotations

import pytest

from paracycle import models
from paracycle.config import EngineSpec, load_config
from paracycle.errors import InputError


class Captured(Exception):
    pass


def test_the_spec_reaches_the_vllm_engine(monkeypatch):
    seen = {}

    def fake_engine(path, **kwargs):
        seen.update(kwargs, path=path)
        raise Captured

    monkeypatch.setattr(models, "VLLMEngine", fake_engine)
    monkeypatch.setattr(models, "engine_kind", lambda spec: "vllm")
    spec = EngineSpec(engine="vllm", model="/models/m", tensor_parallel_size=4, dtype="bfloat16", max_num_seqs=64)
    with pytest.raises(Captured):
        models.load_engine(spec)
    assert (seen["tensor_parallel_size"], seen["dtype"], seen["max_num_seqs"]) == (4, "bfloat16", 64)


def test_the_vllm_engine_hands_them_to_llm(monkeypatch):
    vllm = pytest.importorskip("vllm")
    from paracycle.engines.vllm_engine import VLLMEngine

    seen = {}

    def fake_llm(**kwargs):
        seen.update(kwargs)
        raise Captured

    monkeypatch.setattr(vllm, "LLM", fake_llm)
    with pytest.raises(Captured):
        VLLMEngine("/models/m", tensor_parallel_size=2, dtype="float16", max_num_seqs=8)
    assert (seen["tensor_parallel_size"], seen["dtype"], seen["max_num_seqs"]) == (2, "float16", 8)
    seen.clear()
    with pytest.raises(Captured):
        VLLMEngine("/models/m")
    assert seen["tensor_parallel_size"] == 1 and "max_num_seqs" not in seen  # vLLM's own default
    assert seen["dtype"] in ("float32", "auto")  # float32 on CPU, auto on a GPU


def test_in_process_data_parallel_is_refused_when_the_config_is_read(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("writer: {engine: vllm, data_parallel_size: 2}\n")
    with pytest.raises(InputError, match="vllm serve MODEL -dp N"):
        load_config(config)
