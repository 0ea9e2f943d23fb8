"""The engine interface: batched chat generation, plain or constrained to a JSON schema.

Agents talk only to this interface, never to a model library. An engine takes a batch of
chat requests and returns one result per request, in order. A request that carries a
pydantic model as `schema` is constrained to that model's JSON schema while it generates;
the result then holds the parsed object, or a recorded parse failure (never an exception:
one bad output must not crash a batch).
"""

from __future__ import annotations

import json
import threading
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ValidationError

from paracycle.fsutil import tree_digest
from paracycle.schemas import ParseStatus, SamplingParams

# Called with the number of tokens produced since the last call; drives progress bars.
TokenCallback = Callable[[int], None]


@dataclass
class ChatRequest:
    messages: list[dict[str, str]]
    sampling: SamplingParams = field(default_factory=SamplingParams)
    schema: type[BaseModel] | None = None
    # Text the assistant turn starts with; the model continues it. The result's text
    # includes it. Small models stay on topic when the first words come from the facts.
    prefill: str = ""

    def __post_init__(self):
        if self.prefill and self.schema is not None:
            raise ValueError("a prefill cannot be combined with a JSON schema constraint")


@dataclass
class GenerationResult:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # "stop" or "length"
    parsed: BaseModel | None = None
    parse_status: ParseStatus = "not_applicable"
    parse_error: str | None = None
    seconds: float = 0.0
    cached_prompt_tokens: int = 0  # prompt tokens served from the engine's prefix cache


class EngineError(RuntimeError):
    """The engine cannot serve a request as configured (unknown model, bad adapter, ...)."""


class PromptTooLong(EngineError):
    """The prompt (plus the tokens asked for) does not fit the model's context window.
    Retrying cannot help: the cycle that asked fails with this message."""


class EngineUnavailable(EngineError):
    """The engine did not answer (a server that is down). Work can resume once it is back."""


def adapter_name(directory: str | Path) -> str:
    """The one name of an adapter directory, wherever it is used (served name, recorded
    adapter id, collection thread ids): its directory name, for people, and a digest of its
    files, because a name alone is taken by different weights (every run directory has a
    `round-0001-lora`; a server may already serve an adapter called that)."""
    directory = Path(directory).resolve()
    return f"{directory.name[:40]}-{tree_digest(directory)[:12]}"


class BatchLog:
    """Sizes of the batches an engine ran, in bounded memory: totals over every batch, and the
    sizes of only the last `keep` (a collection runs for days; a list of every size would not
    stop growing). Safe to read from other threads while one thread adds."""

    def __init__(self, keep: int = 4096):
        self.count = 0  # batches run
        self.requests = 0  # requests in them, all together
        self.largest = 0
        self._recent: deque[int] = deque(maxlen=keep)
        self._lock = threading.Lock()

    def add(self, size: int) -> None:
        with self._lock:
            self.count += 1
            self.requests += size
            self.largest = max(self.largest, size)
            self._recent.append(size)

    @property
    def mean(self) -> float:
        return self.requests / self.count if self.count else 0.0

    def recent(self) -> list[int]:
        """The last sizes, oldest first: a copy, so the reader iterates while batches run."""
        with self._lock:
            return list(self._recent)


class Engine(ABC):
    """A loaded model that serves batched chat generation.

    Beyond `generate`, an engine says what else it can do; the defaults here are those of an
    engine that cannot, so callers ask the engine and never probe its type."""

    model_id: str
    adapter_id: str | None = None
    device: str = "server"
    # True when concurrent generate() calls already share the hardware (a server's
    # scheduler, vLLM's continuous batching); False puts a micro-batching queue in front.
    batches_itself: bool = False
    # Sizes of the batches this engine ran (None: a server batches out of our sight).
    batch_log: BatchLog | None = None

    @abstractmethod
    def generate(
        self, requests: Sequence[ChatRequest], on_tokens: TokenCallback | None = None
    ) -> list[GenerationResult]:
        """Generate one result per request, in the order given."""

    def check(self, requests: Sequence[ChatRequest]) -> None:
        """Raise `PromptTooLong` for a request that cannot fit, before it joins a batch (a
        micro-batching queue calls this per caller, so one caller's long prompt fails only
        that caller). Engines that know their context window check here."""

    def close(self) -> None:  # engines that hold processes or servers release them here
        pass

    def is_up(self) -> bool:
        """Whether the engine answers now (a server that went down says False)."""
        return True

    @contextmanager
    def client(self) -> Iterator[None]:
        """Held by each thread that calls `generate` while it runs; a micro-batching queue
        counts its clients to know when everyone is waiting."""
        yield

    def reset_prefix_cache(self) -> None:
        """Forget cached prompt prefixes (an engine without a prefix cache has none)."""

    def with_adapter(self, path: str | Path | None, name: str | None = None) -> Engine:
        """This engine's model with another LoRA adapter per request, without loading it twice."""
        raise EngineError(f"{type(self).__name__} cannot switch adapters per request")


def concurrently(
    one: Callable[[ChatRequest], GenerationResult], requests: Sequence[ChatRequest], concurrency: int,
    on_tokens: TokenCallback | None = None,
) -> list[GenerationResult]:
    """Each request on its own thread, at most `concurrency` at once, results in order: for
    engines whose server batches concurrent requests itself."""
    def counted(request: ChatRequest) -> GenerationResult:
        result = one(request)
        if on_tokens is not None:
            on_tokens(result.completion_tokens)
        return result

    if len(requests) <= 1:
        return [counted(r) for r in requests]
    with ThreadPoolExecutor(min(concurrency, len(requests))) as pool:
        return list(pool.map(counted, requests))


def distinct(*engines: Engine) -> list[Engine]:
    """Each engine once: the writer and the reviewer are often the same engine."""
    return list({id(e): e for e in engines}.values())


def close_engines(*engines: Engine) -> None:
    for engine in distinct(*engines):
        engine.close()


def check_fits(prompt_tokens: int, request: ChatRequest, context: int, model_id: str) -> None:
    """Refuse a request whose prompt plus the tokens it asks for exceed the context window,
    the rule vLLM's server applies. Refused here, before any work, and never retried."""
    asked = prompt_tokens + request.sampling.max_new_tokens
    if asked > context:
        raise PromptTooLong(
            f"{model_id}: a prompt of {prompt_tokens} tokens plus {request.sampling.max_new_tokens} new tokens "
            f"does not fit its context of {context} tokens (shorten the input or lower max_new_tokens)"
        )


def render_chat(tokenizer, request: ChatRequest) -> str:
    """The prompt text for a chat request: the chat template, then the prefill to continue."""
    text = tokenizer.apply_chat_template(request.messages, add_generation_prompt=True, tokenize=False)
    return text + request.prefill


def json_schema_of(schema: type[BaseModel]) -> str:
    """The JSON schema string a model is constrained to, generated from the pydantic model."""
    # Property order matters: the model fills fields in schema order, so keep the model's own
    # order (analysis before scores) and never sort keys here.
    return json.dumps(schema.model_json_schema())


def parse_structured(text: str, schema: type[BaseModel]) -> tuple[BaseModel | None, ParseStatus, str | None]:
    """Validate model output against the schema; a failure is data, not an exception."""
    try:
        return schema.model_validate_json(text), "ok", None
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "(root)"
        more = f" (+{err.error_count() - 1} more)" if err.error_count() > 1 else ""
        return None, "failed", f"{where}: {first.get('msg')}{more}"
    except ValueError as err:  # not JSON at all
        return None, "failed", str(err).splitlines()[0]
