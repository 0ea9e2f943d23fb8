"""Engine for any OpenAI-compatible server, first of all `vllm serve --enable-lora`.

A batch is sent as concurrent HTTP requests, which the server batches itself. JSON output is
constrained through vLLM's `structured_outputs` (or `response_format` on other servers); a prefill is continued with vLLM's
`continue_final_message`. A round's adapter is chosen by model name and, if the server does
not serve it yet, loaded at runtime through `/v1/load_lora_adapter` (the server needs
`VLLM_ALLOW_RUNTIME_LORA_UPDATING=True`). An adapter loaded from a directory is served under
its directory's name plus a digest of its files, so different weights never share a name.

Fields beyond OpenAI's API (`repetition_penalty`, `continue_final_message` for prefills,
`structured_outputs` with whitespace disabled in place of `response_format`) are vLLM's; `vllm_extensions=False` leaves them
out for other servers (the writer then needs `guided_openings: false`).

Failures: connection errors, timeouts, 408, 429 and 5xx are retried with exponential backoff;
when the server stays down the call raises `EngineUnavailable` (the caller records it and
resumes later). Other 4xx raise at once: `PromptTooLong` when the prompt does not fit the
model's context, `EngineError` with the server's message otherwise (an unknown model, ...).
The server is not trusted: every attempt has `timeout_s` in all (not per read), a body larger
than `max_body_bytes` is refused, and an answer that breaks the protocol raises `EngineError`
naming the server and the fault. (Output that fails its JSON schema is not a protocol fault:
it stays a recorded parse failure.)
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, TypeVar

import httpcore
import httpx
from pydantic import BaseModel, Field, ValidationError

from paracycle.engines.base import (
    ChatRequest,
    Engine,
    EngineError,
    EngineUnavailable,
    GenerationResult,
    PromptTooLong,
    TokenCallback,
    adapter_name,
    concurrently,
    parse_structured,
)

_RETRYABLE = {408, 429, 500, 502, 503, 504}
MAX_BODY_BYTES = 16 << 20  # a completion is kilobytes; anything near this is a broken server
# vLLM says "This model's maximum context length is N tokens. However, ..." (HTTP 400) in every
# version so far, and "Input length (M) exceeds model's maximum context length (N)." for
# some paths; OpenAI says the same words and adds the code context_length_exceeded.
_TOO_LONG = re.compile(r"maximum context length|context_length_exceeded", re.IGNORECASE)


# -- what the engine reads from the server's answers ------------------------------------------
# Only the fields used, validated: a server that breaks the protocol gets an EngineError that
# names it, never a KeyError deep inside a cycle. Unknown fields are ignored.

# Strict: 3.5, "3" and true are not token counts; below 2**63 because SQLite stores them.
_Count = Annotated[int, Field(strict=True, ge=0, lt=2**63)]


class _Message(BaseModel):
    content: str | None = None  # None: a tool call or a refusal, i.e. no text


class _Choice(BaseModel):
    message: _Message
    finish_reason: str | None = None


class _Usage(BaseModel):
    prompt_tokens: _Count = 0
    completion_tokens: _Count = 0


class _Completion(BaseModel):
    choices: list[_Choice] = Field(min_length=1)
    usage: _Usage | None = None  # some servers leave it out: counted as 0


class _ServedModel(BaseModel):
    id: Annotated[str, Field(strict=True, min_length=1)]


class _ModelList(BaseModel):
    data: list[_ServedModel]


_Answer = TypeVar("_Answer", bound=BaseModel)


class OpenAIEngine(Engine):
    batches_itself = True  # concurrent HTTP requests: the server's scheduler batches them

    def __init__(
        self,
        base_url: str,
        model: str | None = None,
        adapter: str | None = None,
        api_key: str | None = None,
        timeout_s: float = 300.0,
        max_retries: int = 4,
        backoff_s: float = 1.0,
        concurrency: int = 32,
        vllm_extensions: bool = True,
        send_seeds: bool = True,
        max_body_bytes: int = MAX_BODY_BYTES,
    ):
        self.base_url = base_url.rstrip("/")
        key = api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY"
        self.http = httpx.Client(
            base_url=self.base_url, timeout=timeout_s, headers={"Authorization": f"Bearer {key}"},
            transport=_deadline_transport(),
        )
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.concurrency = concurrency
        self.vllm_extensions = vllm_extensions
        self.send_seeds = send_seeds
        self.max_body_bytes = max_body_bytes
        served = self.served_models()
        if model is None:  # the server's base model: the first it lists
            if not served:
                raise EngineError(f"{self.base_url} serves no model")
            model = served[0]
        self.model_id = model
        self.served_name = model
        if model not in served:
            raise EngineError(f"model {model!r} is not served at {self.base_url} (it serves: {', '.join(served) or 'nothing'})")
        if adapter is not None:
            self.set_adapter(adapter)

    # -- models and adapters ----------------------------------------------------------

    def served_models(self) -> list[str]:
        listing = self._parse("/models", self._call("GET", "/models"), _ModelList)
        return [m.id for m in listing.data]

    def set_adapter(self, adapter: str | Path | None, name: str | None = None) -> None:
        """Serve later requests with an adapter: a directory (loaded unless the server already
        serves its weights), or the name of an adapter the server serves.

        A directory is served as `adapter_name(directory)` unless `name` is given; a
        given name is trusted to stand for these weights."""
        if adapter is None:
            self.served_name, self.adapter_id = self.model_id, None
            return
        path = Path(str(adapter)).expanduser()
        if path.is_dir():
            name = name or adapter_name(path)
            if name not in self.served_models():
                self._load_adapter(name, path.resolve())
        else:
            name = name or str(adapter)
            if name not in self.served_models():
                raise EngineError(f"adapter {name!r} is not served at {self.base_url} and {adapter} is not a directory")
        self.served_name = self.adapter_id = name

    def _load_adapter(self, name: str, path: Path) -> None:
        try:
            self._call("POST", "/load_lora_adapter", {"lora_name": name, "lora_path": str(path)})
        except EngineUnavailable:
            raise
        except EngineError:
            # Another engine on the same server may have loaded it meanwhile (vLLM then says
            # "already loaded"); the name stands for the weights, so that is what we asked for.
            if name not in self.served_models():
                raise

    def is_up(self) -> bool:
        try:
            return self._exchange("GET", "/models", None, 5.0)[0] == 200
        except (httpx.HTTPError, EngineError):
            return False

    # -- generation ---------------------------------------------------------------------

    def generate(
        self, requests: Sequence[ChatRequest], on_tokens: TokenCallback | None = None
    ) -> list[GenerationResult]:
        return concurrently(self._chat, requests, self.concurrency, on_tokens)

    def _chat(self, request: ChatRequest) -> GenerationResult:
        body = self._chat_body(request)
        started = time.perf_counter()
        path = "/chat/completions"
        completion = self._parse(path, self._call("POST", path, body), _Completion)
        choice = completion.choices[0]
        usage = completion.usage or _Usage()
        result = GenerationResult(
            text=(request.prefill + (choice.message.content or "")).strip(),
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            finish_reason="length" if choice.finish_reason == "length" else "stop",
            seconds=time.perf_counter() - started,
        )
        if request.schema is not None:
            result.parsed, result.parse_status, result.parse_error = parse_structured(result.text, request.schema)
        return result

    def _chat_body(self, request: ChatRequest) -> dict:
        s = request.sampling
        body: dict = {
            "model": self.served_name,
            "messages": list(request.messages),
            "temperature": s.temperature,
            "top_p": s.top_p,
            "max_tokens": s.max_new_tokens,
        }
        if self.vllm_extensions:
            body["repetition_penalty"] = s.repetition_penalty
        if s.seed is not None and self.send_seeds:
            body["seed"] = s.seed
        if request.prefill:
            if not self.vllm_extensions:
                raise EngineError("a prefill needs vLLM's continue_final_message (vllm_extensions: true)")
            body["messages"].append({"role": "assistant", "content": request.prefill})
            body.update(add_generation_prompt=False, continue_final_message=True)
        if request.schema is not None:
            schema = request.schema.model_json_schema()
            if self.vllm_extensions:
                # vLLM's own field: the same constraint, and JSON without padding whitespace
                body["structured_outputs"] = {"json": schema, "disable_any_whitespace": True}
            else:
                body["response_format"] = {
                    "type": "json_schema", "json_schema": {"name": request.schema.__name__, "schema": schema}
                }
        return body

    # -- HTTP -----------------------------------------------------------------------------

    def _call(self, method: str, path: str, payload: dict | None = None) -> bytes:
        """The body of the server's 2xx answer, retrying while it is unreachable or busy."""
        error = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                status, body = self._exchange(method, path, payload, self.timeout_s)
            except httpx.TransportError as err:  # refused, reset, timed out
                error = f"{type(err).__name__}: {err}"
                continue
            if status in _RETRYABLE:
                error = f"HTTP {status}: {_error_message(body)[:200]}"
                continue
            if status >= 400:  # the request itself is wrong: asking again cannot help
                raise self._refusal(path, status, body)
            return body
        raise EngineUnavailable(f"{self.base_url}{path} did not answer after {self.max_retries + 1} attempts ({error})")

    def _exchange(self, method: str, path: str, payload: dict | None, seconds: float) -> tuple[int, bytes]:
        """One HTTP exchange, `seconds` in all: connecting, sending, and every byte back."""
        with _deadline(seconds), self.http.stream(method, path, json=payload) as response:
            return response.status_code, self._read_body(path, response)

    def _read_body(self, path: str, response: httpx.Response) -> bytes:
        """The body, read only up to the cap (counted after decompression: no zip bombs)."""
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            raise self._too_big(path)
        body = bytearray()
        try:
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > self.max_body_bytes:
                    raise self._too_big(path)
        except httpx.DecodingError as err:
            raise EngineError(f"{self.base_url}{path}: undecodable response body ({err})") from None
        return bytes(body)

    def _too_big(self, path: str) -> EngineError:
        return EngineError(f"{self.base_url}{path}: response body larger than {self.max_body_bytes} bytes")

    def _refusal(self, path: str, status: int, body: bytes) -> EngineError:
        message = _error_message(body)
        # The whole body, not just the message: OpenAI puts context_length_exceeded in `code`.
        too_long = _TOO_LONG.search(body[:4096].decode("utf-8", errors="replace"))
        return (PromptTooLong if too_long else EngineError)(f"{self.base_url}{path}: HTTP {status}: {message}")

    def _parse(self, path: str, body: bytes, answer: type[_Answer]) -> _Answer:
        try:
            return answer.model_validate_json(body)
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ())) or "(root)"
            raise EngineError(f"{self.base_url}{path}: malformed response: {where}: {_one_line(first['msg'])}") from None

    def close(self) -> None:
        self.http.close()


def _error_message(body: bytes) -> str:
    """The server's error message, on one line: vLLM's and OpenAI's `{"error": {"message"}}`,
    older vLLM's top-level `message`, or the text itself."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return _one_line(body[:300].decode("utf-8", errors="replace"))
    err = data.get("error", data) if isinstance(data, dict) else data
    return _one_line(str(err.get("message", err) if isinstance(err, dict) else err))[:300]


def _one_line(text: str) -> str:
    return " ".join(text.split())


# -- a deadline for the whole exchange ----------------------------------------------------------
# httpx's timeouts bound each socket operation, so a server that trickles a byte now and then
# holds a request forever. Each exchange runs in one thread (a generate() worker), so a
# per-thread deadline, applied by the socket layer to every connect, read and write, bounds
# the exchange as a whole: status line, headers and body alike.

_deadlines = threading.local()


@contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    _deadlines.at = time.monotonic() + seconds
    try:
        yield
    finally:
        _deadlines.at = None


def _clamp(timeout: float | None, expired: type[Exception]) -> float | None:
    """The socket timeout to use now: what httpx asked for, but never past the deadline."""
    at = getattr(_deadlines, "at", None)
    if at is None:
        return timeout
    left = at - time.monotonic()
    if left <= 0:
        raise expired("the request's time limit ran out")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream):
        self.inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self.inner.read(max_bytes, _clamp(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.inner.write(buffer, _clamp(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self.inner.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None) -> httpcore.NetworkStream:
        return _DeadlineStream(self.inner.start_tls(ssl_context, server_hostname, _clamp(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str):
        return self.inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend):
        self.inner = inner

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None) -> httpcore.NetworkStream:
        timeout = _clamp(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self.inner.connect_tcp(host, port, timeout, local_address, socket_options))

    def connect_unix_socket(self, path, timeout=None, socket_options=None) -> httpcore.NetworkStream:
        timeout = _clamp(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self.inner.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


def _deadline_transport() -> httpx.HTTPTransport:
    """httpx's transport with the deadline backend under its connection pool. httpx offers no
    public way to pass httpcore a network backend, hence the private attributes (httpx 0.28,
    httpcore 1.0); tests/test_openai_engine.py fails if they change. A transport of our own
    also means proxies from the environment are not used: the server is a local one."""
    transport = httpx.HTTPTransport()
    pool = transport._pool
    if not isinstance(getattr(pool, "_network_backend", None), httpcore.NetworkBackend):
        raise RuntimeError("httpx/httpcore changed: cannot give the connection pool a deadline")
    pool._network_backend = _DeadlineBackend(pool._network_backend)
    return transport
