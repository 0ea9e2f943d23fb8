"""The embedded model: GGUF -> HF checkpoint conversion, atomic and faithful."""

from __future__ import annotations

import time

import pytest
import torch

from paracycle import embedded

pytestmark = pytest.mark.slow


def test_conversion_is_faithful_atomic_and_done_once(tmp_path, monkeypatch):
    monkeypatch.setenv("PARACYCLE_HOME", str(tmp_path))
    target = embedded.embedded_checkpoint_dir()
    # a half-written checkpoint from a killed conversion (no marker) must not be trusted
    target.mkdir(parents=True)
    (target / "config.json").write_text("{}")
    assert not embedded.is_complete_checkpoint(target)

    path = embedded.ensure_embedded_checkpoint(log=lambda *a: None)
    assert path == target and embedded.is_complete_checkpoint(path)
    assert (path / "model.safetensors").is_file() and (path / "tokenizer.json").is_file()
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp dirs left behind
    assert "quantization_config" not in (path / "config.json").read_text()  # plain fp32 weights

    started = time.perf_counter()
    assert embedded.ensure_embedded_checkpoint(log=lambda *a: None) == path
    assert time.perf_counter() - started < 1.0  # second use: no conversion

    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = embedded.gguf_path()
    tok = AutoTokenizer.from_pretrained(path)
    ids = tok("The reviewer checks commitment closure.", return_tensors="pt").input_ids
    with torch.no_grad():
        converted = AutoModelForCausalLM.from_pretrained(path)(ids).logits
        original = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)(ids).logits
    torch.testing.assert_close(converted, original, rtol=1e-4, atol=1e-4)
