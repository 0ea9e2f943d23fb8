"""Which engine and model serve the agents: checked before anything runs, loaded once."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

from paracycle.config import EngineSpec, RunConfig
from paracycle.embedded import EMBEDDED_HUB_ID, EMBEDDED_MODEL_ID, ensure_embedded_checkpoint
from paracycle.engines.base import Engine
from paracycle.engines.vllm_engine import VLLMEngine, vllm_available  # imports vllm only when started
from paracycle.errors import InputError


def engine_kind(spec: EngineSpec) -> str:
    if spec.engine != "auto":
        return spec.engine
    if spec.urls():
        return "openai"
    return "vllm" if vllm_available() else "transformers"


def check_engine_spec(spec: EngineSpec, where: str = "writer") -> None:
    """Fail fast (before anything is opened or written) on an engine that cannot load."""
    kind = engine_kind(spec)
    if kind == "openai":
        if not spec.urls():
            raise InputError("--base-url", f"the openai engine ({where}) needs a server URL, e.g. http://127.0.0.1:8000/v1")
        return
    if kind == "vllm":
        if not vllm_available():
            raise InputError("--engine", "vllm is not installed in this environment (run `make install-vllm`)")
    if spec.model != "embedded" and not (Path(spec.model).expanduser() / "config.json").is_file():
        raise InputError(spec.model, 'not a model directory (no config.json); use "embedded" or a HF checkpoint dir', field="--model")
    if spec.adapter is not None and not (Path(spec.adapter).expanduser() / "adapter_config.json").is_file():
        raise InputError(spec.adapter, "not a LoRA adapter directory (no adapter_config.json)", field="--adapter")


def check_run_config(config: RunConfig) -> None:
    check_engine_spec(config.writer, "writer")
    if config.reviewer is not None:
        check_engine_spec(config.reviewer, "reviewer")


def resolve_model(spec: str, log=print) -> tuple[Path, str]:
    """(checkpoint directory, model id) for "embedded" or a directory holding a HF checkpoint."""
    if spec == "embedded":
        return ensure_embedded_checkpoint(log=log), EMBEDDED_MODEL_ID
    path = Path(spec).expanduser()
    return path, path.resolve().name


def portable_model_name(spec: str) -> str:
    """The name a trained adapter records for its base model, so that another machine finds
    it: the hub id of the embedded model, or a checkpoint directory's name (serve the base
    under that name: `vllm serve DIR --served-model-name NAME`). Never a machine-local path."""
    return EMBEDDED_HUB_ID if spec == "embedded" else Path(spec).expanduser().resolve().name


def load_engine(spec: EngineSpec, log=print, serves_adapters: bool = False) -> Engine:
    """`serves_adapters`: the engine will be given adapters later (`with_adapter`), beyond
    `spec.adapter`; vLLM needs to know when it starts."""
    kind = engine_kind(spec)
    if kind == "openai":
        from paracycle.engines.openai_engine import OpenAIEngine  # httpx: off the start-up path

        model = None if spec.model == "embedded" else spec.model

        def connect(url: str, adapter: str | None = None) -> OpenAIEngine:
            return OpenAIEngine(
                url, model, adapter=adapter, timeout_s=spec.timeout_s, max_retries=spec.max_retries,
                concurrency=spec.concurrency, vllm_extensions=spec.vllm_extensions, send_seeds=spec.send_seeds,
            )

        urls = spec.urls()
        if len(urls) == 1:
            return connect(urls[0], spec.adapter)
        from paracycle.engines.pool import ServerPool

        pool = ServerPool(connect, urls, log=log)
        if spec.adapter is not None:
            pool.set_adapter(spec.adapter)
        return pool
    path, model_id = resolve_model(spec.model, log=log)
    if kind == "vllm":
        return VLLMEngine(
            path, model_id=model_id, adapter=spec.adapter,
            gpu_memory_utilization=spec.gpu_memory_utilization, max_model_len=spec.max_model_len,
            enable_lora=True if serves_adapters else None,  # None: only for spec.adapter
            tensor_parallel_size=spec.tensor_parallel_size, dtype=spec.dtype, max_num_seqs=spec.max_num_seqs,
        )
    from paracycle.engines.transformers_engine import TransformersEngine  # torch: off the start-up path

    return TransformersEngine(path, model_id=model_id, adapter=spec.adapter, max_batch_size=spec.max_batch_size)


def loading(spec: EngineSpec, console=None):
    """A spinner on `console` (a rich Console; None: none) while `spec`'s engine loads."""
    return console.status(f"loading {engine_kind(spec)} engine for {spec.model}") if console else nullcontext()


def load_engines(config: RunConfig, log=print, console=None) -> tuple[Engine, Engine]:
    """(writer engine, reviewer engine); one shared engine unless the reviewer has its own.
    `console`: where a spinner shows while they load."""
    with loading(config.writer, console):
        writer, reviewer = _load_engines(config, log)
    log(describe("writer", writer))
    log(describe("reviewer", reviewer))
    return writer, reviewer


def describe(role: str, engine: Engine) -> str:
    adapter = f" + adapter {engine.adapter_id}" if engine.adapter_id else ""
    return f"{role}: {engine.model_id}{adapter} ({type(engine).__name__} on {engine.device})"


def _load_engines(config: RunConfig, log) -> tuple[Engine, Engine]:
    if config.reviewer is None or config.reviewer == config.writer:
        writer = load_engine(config.writer, log=log)
        return writer, writer
    same_model = config.reviewer.model_copy(update={"adapter": config.writer.adapter}) == config.writer
    if same_model and engine_kind(config.writer) == "vllm":
        # One vLLM engine, LoRA per request: a writer adapter beside the base reviewer
        # without holding the model (and its KV cache) twice.
        reviewer = load_engine(config.reviewer, log=log, serves_adapters=True)
        return reviewer.with_adapter(config.writer.adapter), reviewer
    return load_engine(config.writer, log=log), load_engine(config.reviewer, log=log)
