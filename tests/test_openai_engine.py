"""The OpenAI engine against a fake server on 127.0.0.1 that answers what each test crafts:
a server that breaks the protocol, trickles bytes, sends too much, refuses a prompt, or
already serves an adapter by the same name never crashes a cycle with anything but a clear
EngineError (or PromptTooLong), in bounded time."""

from __future__ import annotations

import json
import re
import shutil
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from pydantic import BaseModel

from paracycle.engines.base import ChatRequest, EngineError, EngineUnavailable, PromptTooLong
from paracycle.engines.openai_engine import OpenAIEngine
from paracycle.schemas import SamplingParams


def completion(content="Hello.", prompt_tokens=7, completion_tokens=3, finish_reason="stop") -> dict:
    return {
        "id": "c1", "object": "chat.completion", "model": "base",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": 10},
    }


def json_bytes(data) -> bytes:
    return json.dumps(data).encode()


class FakeServer:
    """An OpenAI-compatible server in a thread. `/v1/models` lists `models`; loading an adapter
    records the call and lists it; a chat request is recorded and answered by `chat`: a
    (status, body bytes) pair, or a function given the handler that writes raw bytes."""

    def __init__(self):
        self.models = ["base"]
        self.loads: list[dict] = []
        self.chats: list[dict] = []
        self.chat = (200, json_bytes(completion()))
        self.models_body: bytes | None = None  # replaces the listing when set
        self.load_answer = (200, b"Success: LoRA adapter loaded.")
        self.down = False  # every request answered 503, as by a server going away behind a proxy
        self.stop = threading.Event()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True).start()

    def close(self):
        self.stop.set()  # ends trickles and hangs
        self.httpd.shutdown()
        self.httpd.server_close()


def _handler(fake: FakeServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_stop = fake.stop  # raw answers that wait end when the test does
        disable_nagle_algorithm = True  # headers and body go out as separate writes

        def log_message(self, *args):
            pass

        def answer(self, status: int, body: bytes):
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if fake.down:
                self.answer(503, b'{"error": {"message": "down"}}')
            elif self.path == "/v1/models":
                listing = {"object": "list", "data": [{"id": m, "object": "model"} for m in fake.models]}
                self.answer(200, fake.models_body if fake.models_body is not None else json_bytes(listing))
            else:
                self.answer(404, b'{"error": {"message": "not found"}}')

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if fake.down:
                self.answer(503, b'{"error": {"message": "down"}}')
            elif self.path == "/v1/load_lora_adapter":
                fake.loads.append(body)
                if body["lora_name"] not in fake.models:
                    fake.models.append(body["lora_name"])
                self.answer(*fake.load_answer)
            elif self.path == "/v1/chat/completions":
                fake.chats.append(body)
                if callable(fake.chat):
                    self.close_connection = True  # raw bytes: the connection is not reused
                    fake.chat(self)
                else:
                    self.answer(*fake.chat)
            else:
                self.answer(404, b'{"error": {"message": "not found"}}')

    return Handler


@pytest.fixture
def server():
    fake = FakeServer()
    yield fake
    fake.close()


def engine_for(server: FakeServer, **kwargs) -> OpenAIEngine:
    kwargs = {"max_retries": 0, "backoff_s": 0.0, "timeout_s": 5.0, **kwargs}
    return OpenAIEngine(server.url, "base", **kwargs)


def ask(text="Say hello.", **kwargs) -> ChatRequest:
    return ChatRequest([{"role": "user", "content": text}], SamplingParams(max_new_tokens=16), **kwargs)


def trickle(raw: bytes, start: int = 0, slow: int = 25, every_s: float = 0.2):
    """A chat answer that sends `raw[:start]` at once, then `slow` bytes one at a time (one
    every `every_s`), then the rest: 5 s in all by default, if the client waits that long."""

    def write(handler):
        try:
            handler.wfile.write(raw[:start])
            for i in range(start, start + slow):
                handler.wfile.write(raw[i : i + 1])
                handler.wfile.flush()
                if handler.server_stop.wait(every_s):
                    return
            handler.wfile.write(raw[start + slow :])
        except OSError:  # the client hung up: what a deadline does
            pass

    return write


def send_raw(raw: bytes):
    """A chat answer of exactly these bytes (the client may hang up before the end)."""

    def write(handler):
        try:
            handler.wfile.write(raw)
        except OSError:
            pass

    return write


def raw_response(body: bytes, headers: str = "") -> bytes:
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n{headers}\r\n"
    return head.encode() + body


# -- answers that break the protocol --------------------------------------------------------

MALFORMED = {
    "no choices": (json_bytes({"id": "x", "usage": {}}), "choices: Field required"),
    "empty choices": (json_bytes({"choices": []}), "choices: List should have at least 1 item"),
    "choices not a list": (json_bytes({"choices": {"message": {}}}), "choices: Input should be a valid array"),
    "message not a dict": (json_bytes({"choices": [{"message": "hi"}]}), "choices.0.message: Input should be"),
    "no message": (json_bytes({"choices": [{"text": "hi"}]}), "choices.0.message: Field required"),
    "content not text": (json_bytes(completion(content=42)), "choices.0.message.content: Input should be a valid string"),
    "negative tokens": (json_bytes(completion(completion_tokens=-5)), "usage.completion_tokens: Input should be greater"),
    "fractional tokens": (json_bytes(completion(prompt_tokens=3.5)), "usage.prompt_tokens: Input should be a valid integer"),
    "tokens as text": (json_bytes(completion(prompt_tokens="7")), "usage.prompt_tokens: Input should be a valid integer"),
    "tokens as bool": (json_bytes(completion(completion_tokens=True)), "usage.completion_tokens: Input should be a valid integer"),
    "tokens past 64 bits": (json_bytes(completion(completion_tokens=2**70)), "usage.completion_tokens: Input should be less"),
    "not JSON": (b"<html>502 Bad Gateway</html>", r"\(root\): Invalid JSON"),
    "empty body": (b"", r"\(root\): Invalid JSON"),
    "a list": (b"[1, 2]", r"\(root\): Input should be an object"),
    "deeply nested": (b"[" * 100_000, r"\(root\): Invalid JSON: recursion limit"),
}


@pytest.mark.parametrize("case", MALFORMED, ids=list(MALFORMED))
def test_a_malformed_answer_is_an_engine_error_naming_server_and_fault(server, case):
    body, fault = MALFORMED[case]
    server.chat = (200, body)
    engine = engine_for(server)
    with pytest.raises(EngineError) as caught:
        engine.generate([ask()])
    message = str(caught.value)
    assert type(caught.value) is EngineError  # not retryable unavailability: the server answered
    assert message.startswith(f"{server.url}/chat/completions: malformed response: ")
    assert "\n" not in message
    assert re.search(fault, message), message
    engine.close()


def test_a_well_formed_answer_is_read_as_before(server):
    server.chat = (200, json_bytes(completion(content=" world.", completion_tokens=9, finish_reason="length")))
    engine = engine_for(server)
    counted = []
    result = engine.generate([ask(prefill="Hello")], on_tokens=counted.append)[0]
    assert (result.text, result.prompt_tokens, result.completion_tokens, result.finish_reason) == (
        "Hello world.", 7, 9, "length")
    assert counted == [9]
    sent = server.chats[0]
    assert sent["model"] == "base" and sent["continue_final_message"] is True
    assert sent["messages"][-1] == {"role": "assistant", "content": "Hello"}
    engine.close()


def test_missing_usage_and_null_content_are_allowed(server):
    server.chat = (200, json_bytes({"choices": [{"message": {"role": "assistant", "content": None}}]}))
    engine = engine_for(server)
    result = engine.generate([ask()])[0]
    assert (result.text, result.prompt_tokens, result.completion_tokens) == ("", 0, 0)
    engine.close()


class Verdict(BaseModel):
    verdict: str
    score: int


def test_output_failing_its_schema_is_a_recorded_parse_failure_not_an_error(server):
    server.chat = (200, json_bytes(completion(content='{"verdict": "ok"}')))
    engine = engine_for(server)
    result = engine.generate([ask(schema=Verdict)])[0]
    assert result.parse_status == "failed" and "score" in result.parse_error
    assert server.chats[0]["structured_outputs"]["json"] == Verdict.model_json_schema()
    engine.close()


@pytest.mark.parametrize("listing", [b'{"data": [{"name": "base"}]}', b'{"data": "base"}', b"[]", b"not json"])
def test_a_malformed_model_listing_is_an_engine_error(server, listing):
    server.models_body = listing
    with pytest.raises(EngineError, match=r"^http://127\.0\.0\.1:\d+/v1/models: malformed response: "):
        engine_for(server)


# -- size and time limits ---------------------------------------------------------------------

def chunked(body: bytes, size: int = 1 << 20) -> bytes:
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size]) for i in range(0, len(body), size))
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    return head + chunks + b"0\r\n\r\n"


def test_a_body_over_the_default_cap_is_refused_while_streaming(server):
    # Valid JSON padded to 17 MB, sent without Content-Length: only counting while reading stops it.
    body = json_bytes(completion())[:-1] + b" " * (17 << 20) + b"}"
    server.chat = send_raw(chunked(body))
    engine = engine_for(server)
    with pytest.raises(EngineError, match=r"/chat/completions: response body larger than 16777216 bytes"):
        engine.generate([ask()])
    engine.close()


def test_a_declared_oversize_body_is_refused_before_it_is_read(server):
    def claim_200_mb(handler):
        handler.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 200000000\r\n\r\n{")
        handler.wfile.flush()
        handler.server_stop.wait(10)  # and never send the rest

    server.chat = claim_200_mb
    engine = engine_for(server, timeout_s=3.0)
    started = time.monotonic()
    with pytest.raises(EngineError, match="response body larger than"):
        engine.generate([ask()])
    assert time.monotonic() - started < 1.5
    engine.close()


def test_the_cap_is_configurable(server):
    engine = engine_for(server, max_body_bytes=1000)
    server.chat = (200, json_bytes(completion(content="x" * 300)))
    assert engine.generate([ask()])[0].text == "x" * 300
    server.chat = (200, json_bytes(completion(content="x" * 2000)))
    with pytest.raises(EngineError, match="larger than 1000 bytes"):
        engine.generate([ask()])
    engine.close()


@pytest.mark.parametrize("where", ["headers", "body"])
def test_timeout_is_a_deadline_for_the_whole_request(server, where):
    """One byte every 0.2 s keeps every read under any per-read timeout; the request as a whole
    must still end at timeout_s. (Before the fix, each trickled byte reset the clock.)"""
    raw = raw_response(json_bytes(completion()))
    # "body": the status line and headers at once, then the body trickles
    server.chat = trickle(raw, start=0 if where == "headers" else raw.index(b"\r\n\r\n") + 4)
    engine = engine_for(server, timeout_s=1.0)
    started = time.monotonic()
    with pytest.raises(EngineUnavailable, match=r"did not answer after 1 attempts \(ReadTimeout"):
        engine.generate([ask()])
    assert time.monotonic() - started < 2.0
    engine.close()


def test_a_timed_out_attempt_is_retried_like_a_dropped_connection(server):
    raw = raw_response(json_bytes(completion()))
    answers = iter([trickle(raw), send_raw(raw)])
    server.chat = lambda handler: next(answers)(handler)
    engine = engine_for(server, timeout_s=0.5, max_retries=1)
    assert engine.generate([ask()])[0].text == "Hello."
    assert len(server.chats) == 2
    engine.close()


# -- refusals ---------------------------------------------------------------------------------

TOO_LONG = {
    # vLLM 0.11+: {"error": {...}}, from renderers/params.py
    "vllm": {"error": {"message": "This model's maximum context length is 2048 tokens. However, your prompt "
                                  "contains 3000 input tokens, which exceeds this limit even without any output "
                                  "tokens. Please reduce the length of the input prompt.",
                       "type": "BadRequestError", "param": "input_tokens", "code": 400}},
    # older vLLM: the error's fields at the top level
    "vllm-old": {"object": "error", "message": "This model's maximum context length is 2048 tokens. However, you "
                 "requested 2100 tokens (2000 in the messages, 100 in the completion). Please reduce the length "
                 "of the messages or completion.", "type": "BadRequestError", "param": None, "code": 400},
    "vllm-input-length": {"error": {"message": "Input length (3000) exceeds model's maximum context length (2048).",
                                    "type": "BadRequestError", "code": 400}},
    "openai": {"error": {"message": "Your messages exceed the limit.", "type": "invalid_request_error",
                         "code": "context_length_exceeded"}},
}


@pytest.mark.parametrize("case", TOO_LONG)
def test_a_prompt_too_long_fails_at_once_with_prompt_too_long(server, case):
    server.chat = (400, json_bytes(TOO_LONG[case]))
    engine = engine_for(server, max_retries=3)
    with pytest.raises(PromptTooLong, match=r"/chat/completions: HTTP 400: "):
        engine.generate([ask()])
    assert len(server.chats) == 1  # not retried: the same prompt cannot fit the next time either
    engine.close()


def test_other_client_errors_fail_at_once_as_engine_errors(server):
    server.chat = (404, json_bytes({"error": {"message": "The model `base` does not exist.", "code": 404}}))
    engine = engine_for(server, max_retries=3)
    with pytest.raises(EngineError, match=r"HTTP 404: The model `base` does not exist\.$") as caught:
        engine.generate([ask()])
    assert not isinstance(caught.value, PromptTooLong)
    assert len(server.chats) == 1
    engine.close()


def test_server_errors_are_retried_then_unavailable(server):
    server.chat = (503, b'{"error": {"message": "overloaded"}}')
    engine = engine_for(server, max_retries=2)
    with pytest.raises(EngineUnavailable, match=r"did not answer after 3 attempts \(HTTP 503: overloaded\)"):
        engine.generate([ask()])
    assert len(server.chats) == 3
    engine.close()


def test_a_server_that_is_not_there_is_unavailable():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(EngineUnavailable, match="did not answer after 2 attempts"):
        OpenAIEngine(f"http://127.0.0.1:{port}/v1", "base", max_retries=1, backoff_s=0.0)


# -- adapters ---------------------------------------------------------------------------------

def adapter_dir(parent, weights: bytes, name="round-1"):
    directory = parent / name
    directory.mkdir(parents=True)
    (directory / "adapter_config.json").write_text('{"r": 8}')
    (directory / "adapter_model.safetensors").write_bytes(weights)
    return directory


def test_an_adapter_named_like_one_the_server_serves_is_still_loaded(server, tmp_path):
    server.models = ["base", "round-1"]  # e.g. `--lora-modules round-1=...`: other weights
    mine = adapter_dir(tmp_path / "runs", b"weights of this round")
    engine = engine_for(server)
    engine.set_adapter(mine)
    assert len(server.loads) == 1
    name = server.loads[0]["lora_name"]
    assert name.startswith("round-1-") and name != "round-1"
    assert server.loads[0]["lora_path"] == str(mine.resolve())
    assert engine.adapter_id == name  # what trajectories record
    engine.generate([ask()])
    assert server.chats[-1]["model"] == name
    engine.close()


def test_different_weights_under_one_directory_name_are_served_apart(server, tmp_path):
    first = adapter_dir(tmp_path / "a", b"round one")
    second = adapter_dir(tmp_path / "b", b"round two")
    engine = engine_for(server)
    engine.set_adapter(first)
    engine.generate([ask()])
    engine.set_adapter(second)
    engine.generate([ask()])
    names = [load["lora_name"] for load in server.loads]
    assert len(names) == 2 and names[0] != names[1]
    assert [chat["model"] for chat in server.chats] == names
    engine.close()


def test_the_same_weights_are_loaded_once(server, tmp_path):
    original = adapter_dir(tmp_path / "a", b"same weights")
    copy = tmp_path / "b" / "round-1"
    shutil.copytree(original, copy)
    engine = engine_for(server)
    engine.set_adapter(original)
    again = engine_for(server)  # a later process: the server already serves it
    again.set_adapter(copy)
    assert len(server.loads) == 1
    assert engine.adapter_id == again.adapter_id == server.loads[0]["lora_name"]
    engine.set_adapter(None)
    assert engine.adapter_id is None
    engine.generate([ask()])
    assert server.chats[-1]["model"] == "base"
    engine.close()
    again.close()


def test_losing_a_race_to_load_the_same_weights_is_not_an_error(server, tmp_path):
    # Another engine loaded it between our listing and our load: vLLM answers 400.
    server.load_answer = (400, b'{"error": {"message": "The lora adapter has already been loaded."}}')
    engine = engine_for(server)
    engine.set_adapter(adapter_dir(tmp_path, b"w"))
    assert engine.adapter_id == server.loads[0]["lora_name"]
    engine.close()


class _FrozenList(list):
    """A model listing that loading an adapter does not change."""

    def append(self, item):
        pass


def test_a_refused_load_is_an_engine_error(server, tmp_path):
    server.load_answer = (400, b'{"error": {"message": "Loading lora failed: no adapter_model"}}')
    server.models = _FrozenList(["base"])
    engine = engine_for(server)
    with pytest.raises(EngineError, match=r"/load_lora_adapter: HTTP 400: Loading lora failed"):
        engine.set_adapter(adapter_dir(tmp_path, b"w"))
    engine.close()


def test_an_explicit_name_and_a_served_name_are_used_as_given(server, tmp_path):
    engine = engine_for(server)
    engine.set_adapter(adapter_dir(tmp_path, b"w"), name="round-7")
    assert server.loads[-1]["lora_name"] == "round-7" and engine.adapter_id == "round-7"
    server.models.append("shared-lora")
    engine.set_adapter("shared-lora")
    assert engine.adapter_id == "shared-lora" and len(server.loads) == 1
    with pytest.raises(EngineError, match="'nope' is not served"):
        engine.set_adapter("nope")
    engine.close()
