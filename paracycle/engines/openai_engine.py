"""Engine for any OpenAI-compatible server, first of all `vllm serve --enable-lora`.

A batch is sent as concurrent HTTP requests, which the server batches itself. JSON output is
constrained through vLLM's `structured_outputs` (or `response_format` on other servers); a prefill is continued with vLLM's
`continue_final_message`. A round's adapter is chosen by model name and, if the server does
not serve it yet, loaded at runtime through `/v1/load_lora_adapter` (the server needs
`VLLM_ALLOW_RUNTIME_LORA_UPDATING=True`).

Fields beyond OpenAI's API (`repetition_penalty`, `continue_final_message` for prefills,
`structured_outputs` with whitespace disabled in place of `response_format`) are vLLM's; `vllm_extensions=False` leaves them
out for other servers (the writer then needs `guided_openings: false`).

Failures: connection errors, 429 and 5xx are retried with exponential backoff; when the
server stays down the call raises `EngineUnavailable` (the caller records it and resumes
later); a 4xx such as an unknown model raises `EngineError` with the server's message.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from paracycle.engines.base import (
    ChatRequest,
    Engine,
    EngineError,
    EngineUnavailable,
    GenerationResult,
    TokenCallback,
    parse_structured,
)

_RETRYABLE = {408, 429, 500, 502, 503, 504}


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
    ):
        self.base_url = base_url.rstrip("/")
        key = api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY"
        self.http = httpx.Client(
            base_url=self.base_url, timeout=timeout_s, headers={"Authorization": f"Bearer {key}"}
        )
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.concurrency = concurrency
        self.vllm_extensions = vllm_extensions
        self.send_seeds = send_seeds
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
        data = self._call("GET", "/models")
        return [m["id"] for m in data.get("data", [])]

    def set_adapter(self, adapter: str | Path | None, name: str | None = None) -> None:
        """Serve later requests with an adapter: a served name, or a directory to load."""
        if adapter is None:
            self.served_name, self.adapter_id = self.model_id, None
            return
        name = name or Path(str(adapter)).name
        if name not in self.served_models():
            if not Path(str(adapter)).is_dir():
                raise EngineError(f"adapter {name!r} is not served at {self.base_url} and {adapter} is not a directory")
            self._call("POST", "/load_lora_adapter", json={"lora_name": name, "lora_path": str(Path(adapter).resolve())})
        self.served_name = self.adapter_id = name

    def is_up(self) -> bool:
        try:
            return self.http.get("/models", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    # -- generation ---------------------------------------------------------------------

    def generate(
        self, requests: Sequence[ChatRequest], on_tokens: TokenCallback | None = None
    ) -> list[GenerationResult]:
        def one(request: ChatRequest) -> GenerationResult:
            result = self._chat(request)
            if on_tokens is not None:
                on_tokens(result.completion_tokens)
            return result

        if len(requests) <= 1:
            return [one(r) for r in requests]
        with ThreadPoolExecutor(min(self.concurrency, len(requests))) as pool:
            return list(pool.map(one, requests))

    def _chat(self, request: ChatRequest) -> GenerationResult:
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
        started = time.perf_counter()
        data = self._call("POST", "/chat/completions", json=body)
        choice = data["choices"][0]
        usage = data.get("usage") or {}
        result = GenerationResult(
            text=(request.prefill + (choice["message"].get("content") or "")).strip(),
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
            finish_reason="length" if choice.get("finish_reason") == "length" else "stop",
            seconds=time.perf_counter() - started,
        )
        if request.schema is not None:
            result.parsed, result.parse_status, result.parse_error = parse_structured(result.text, request.schema)
        return result

    def _call(self, method: str, path: str, **kwargs) -> dict:
        error = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                response = self.http.request(method, path, **kwargs)
            except httpx.TransportError as err:  # refused, reset, timed out
                error = f"{type(err).__name__}: {err}"
                continue
            if response.status_code in _RETRYABLE:
                error = f"HTTP {response.status_code}: {response.text[:200]}"
                continue
            if response.status_code >= 400:
                raise EngineError(f"{self.base_url}{path}: HTTP {response.status_code}: {_message(response)}")
            try:
                return response.json() if response.content else {}
            except ValueError:  # some endpoints (load_lora_adapter) answer in plain text
                return {"text": response.text}
        raise EngineUnavailable(f"{self.base_url}{path} did not answer after {self.max_retries + 1} attempts ({error})")

    def close(self) -> None:
        self.http.close()


def _message(response: httpx.Response) -> str:
    try:
        data = response.json()
        err = data.get("error", data)
        return str(err.get("message", err) if isinstance(err, dict) else err)[:300]
    except ValueError:
        return response.text[:300]
