"""A local OpenAI-compatible chat endpoint for tests, plus helpers shared by the service tests.

`FakeOpenAI` is a stdlib `ThreadingHTTPServer` on 127.0.0.1, port 0, in a daemon thread. It serves
`POST /v1/chat/completions` (and `/chat/completions`) with a valid `chat.completion` body, records every
request (path, headers, parsed JSON body), and can be told per test to reply with given texts in order,
to answer with an HTTP error (500, 429, ...), or to hang longer than the client's timeout; a reply can come after
a `delay` (a slow model) or be written from the request itself (`respond`, to cite a source number the service
actually sent).

Use it through the `fake_openai` fixture (import it into a test module: pytest picks it up there)::

    from fake_openai import fake_openai  # noqa: F401

    def test_something(fake_openai):
        fake_openai.reply("Hello [1]")
        ...
        assert "Hello" in ...
        assert "<source" in fake_openai.user_prompt(0)

No network beyond the loopback, no real key: the client is pointed at `fake_openai.base_url`.
"""

from __future__ import annotations

import io
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler

COMPLETION_PATHS = ("/v1/chat/completions", "/chat/completions")


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages") or [])

    def text_of(self, role: str) -> str:
        """All message contents of one role, joined (content may be a string or a list of parts)."""
        parts = []
        for message in self.messages:
            if message.get("role") != role:
                continue
            content = message.get("content")
            if isinstance(content, list):
                content = "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
            parts.append(str(content or ""))
        return "\n".join(parts)

    @property
    def system(self) -> str:
        return self.text_of("system")

    @property
    def user(self) -> str:
        return self.text_of("user")


@dataclass
class _Behaviour:
    kind: str = "reply"  # reply | error | hang
    texts: list[str] = field(default_factory=lambda: ["I don't know."])
    status: int = 500
    hang_seconds: float = 30.0


class FakeOpenAI:
    """An OpenAI-compatible chat completions server on the loopback."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self._behaviour = _Behaviour()
        self._served = 0  # replies given, to walk through the scripted texts
        self._lock = threading.Lock()
        self._release = threading.Event()  # set at shutdown so hanging handlers return at once
        self.delay = 0.0  # seconds before each reply: a slow model
        self.respond: Callable[[Request], str] | None = None  # a reply written from the request it answers
        self._server = _Server(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-openai", daemon=True)

    # ------------------------------------------------------------ lifecycle

    def start(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def base_url(self) -> str:
        """What OPENAI_BASE_URL should be set to."""
        return f"{self.url}/v1"

    # ------------------------------------------------------------ behaviour, per test

    def reply(self, *texts: str) -> None:
        """Answer each request with the next text; the last one repeats once the list is used up."""
        if not texts:
            raise ValueError("give at least one reply text")
        with self._lock:
            self._behaviour = _Behaviour("reply", list(texts))
            self._served = 0

    def fail(self, status: int = 500) -> None:
        """Answer every request with this HTTP status and an OpenAI-style error body."""
        with self._lock:
            self._behaviour = _Behaviour("error", status=status)

    def model_settings(self, **overrides: object) -> dict[str, object]:
        """Settings values that point the real openai client here (build_services then builds the model)."""
        return {"openai_api_key": "test-key", "openai_base_url": self.base_url, **overrides}

    def hang(self, seconds: float = 30.0) -> None:
        """Accept every request and say nothing for `seconds` (longer than the client timeout)."""
        with self._lock:
            self._behaviour = _Behaviour("hang", hang_seconds=seconds)

    # ------------------------------------------------------------ what was sent

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [r.body for r in self.requests]

    def system_prompt(self, index: int = -1) -> str:
        return self.requests[index].system

    def user_prompt(self, index: int = -1) -> str:
        return self.requests[index].user

    def everything_sent(self) -> str:
        return "\n".join(f"{r.system}\n{r.user}" for r in self.requests)

    # ------------------------------------------------------------ server side

    def _next(self, request: Request) -> tuple[_Behaviour, str]:
        with self._lock:
            behaviour = self._behaviour
            text = behaviour.texts[min(self._served, len(behaviour.texts) - 1)]
            if behaviour.kind == "reply":
                self._served += 1
        if behaviour.kind == "reply":
            if self.delay:
                self._release.wait(self.delay)
            if self.respond is not None:
                text = self.respond(request)
        return behaviour, text


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:  # noqa: ARG002
        pass  # a client that gave up (timeout) leaves a broken pipe behind: not a test failure


def _completion(body: dict[str, Any], text: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-fake-{int(time.time() * 1000)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model") or "fake-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": None},
                     "logprobs": None, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": max(1, len(text.split())), "total_tokens": 10},
        "system_fingerprint": "fp_fake",
    }


def _stream_chunks(body: dict[str, Any], text: str) -> Iterator[dict[str, Any]]:
    base = {"id": "chatcmpl-fake-stream", "object": "chat.completion.chunk", "created": int(time.time()),
            "model": body.get("model") or "fake-model"}
    yield base | {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}
    yield base | {"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}
    yield base | {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}


def _handler_for(fake: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # keep test output clean

        def _send_json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            path = self.path.split("?", 1)[0]
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                self._send_json(400, {"error": {"message": "invalid JSON", "type": "invalid_request_error"}})
                return
            if path not in COMPLETION_PATHS:
                self._send_json(404, {"error": {"message": f"no route {path}", "type": "invalid_request_error"}})
                return
            request = Request(path, {k.lower(): v for k, v in self.headers.items()}, body)
            fake.requests.append(request)
            behaviour, text = fake._next(request)
            if behaviour.kind == "hang":
                fake._release.wait(behaviour.hang_seconds)
                self.close_connection = True
                return
            if behaviour.kind == "error":
                kind = "rate_limit_exceeded" if behaviour.status == 429 else "server_error"
                # retry-after-ms keeps the client's single retry quick
                self._send_json(behaviour.status, {"error": {"message": f"fake {behaviour.status}", "type": kind,
                                                             "code": kind}},
                                {"retry-after-ms": "20"})
                return
            if body.get("stream"):
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                for chunk in _stream_chunks(body, text):
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")
                self.close_connection = True
                return
            self._send_json(200, _completion(body, text))

        def do_GET(self) -> None:  # noqa: N802
            self._send_json(404, {"error": {"message": "only chat completions here"}})

    return Handler


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI().start()
    try:
        yield server
    finally:
        server.stop()


# ---------------------------------------------------------------- LangChain fakes: what the model received

class Recorder(BaseCallbackHandler):
    """Attach to a LangChain fake chat model (callbacks=[recorder]) to see the messages it was given."""

    def __init__(self) -> None:
        self.calls: list[list[tuple[str, str]]] = []

    def on_chat_model_start(self, serialized: Any, messages: list[list[Any]], **kwargs: Any) -> None:  # noqa: ARG002
        for batch in messages:
            self.calls.append([(m.type, str(m.content)) for m in batch])

    def system(self, index: int = -1) -> str:
        return "\n".join(text for role, text in self.calls[index] if role == "system")

    def user(self, index: int = -1) -> str:
        return "\n".join(text for role, text in self.calls[index] if role == "human")


def fake_model(*replies: str, generic: bool = False) -> tuple[Any, Recorder]:
    """A bot.llm.Model over a LangChain fake chat model that answers `replies` in order, and its recorder."""
    from langchain_core.language_models.fake_chat_models import FakeListChatModel, GenericFakeChatModel

    from bot.llm import Model
    from bot.prompts import load_prompts

    recorder = Recorder()
    if generic:
        chat = GenericFakeChatModel(messages=iter(replies), callbacks=[recorder])
    else:
        chat = FakeListChatModel(responses=list(replies), callbacks=[recorder])
    return Model(chat, load_prompts(), name="fake"), recorder


# ---------------------------------------------------------------- the sample knowledge, ingested once per module

REPO = Path(__file__).resolve().parent.parent
SAMPLE_KNOWLEDGE = REPO / "knowledge"
SAMPLE_TODAY = date(2026, 11, 26)  # the sample CRM's "now" (its newest activity): engagement windows count from here
_SETTINGS_ENV = ("PORT", "CHROMA_PATH", "CHROMA_HOST", "CHROMA_PORT", "COLLECTION_PREFIX", "EMBEDDINGS",
                 "KNOWLEDGE_PATH", "ALLOWED_CHANNELS", "ALLOWED_USERS", "LOG_LEVEL")


def deterministic_embeddings() -> Any:
    """The same fake embedding as conftest's `fake_embeddings` fixture (same name, so the store accepts both)."""
    from langchain_core.embeddings import DeterministicFakeEmbedding

    from bot.knowledge.embeddings import Named

    return Named(DeterministicFakeEmbedding(size=64), "fake:deterministic")


class SampleKnowledge:
    """knowledge/ (the sample CRM and content library) in a temporary Chroma store, ingested once."""

    def __init__(self, folder: Path, knowledge: Path = SAMPLE_KNOWLEDGE):
        self.chroma_path = folder / "chroma"
        self.knowledge = knowledge
        # a module-scoped fixture runs before conftest's per-test environment cleaning: clean here too
        with pytest.MonkeyPatch.context() as patch:
            for name in list(os.environ):
                if name.upper().startswith(("SLACK_", "OPENAI_")) or name.upper() in _SETTINGS_ENV:
                    patch.delenv(name, raising=False)
            services = self.services()
            from bot.cli import run_ingest

            self.report = run_ingest(services, [], show_progress=False)
        self.retriever = services.retriever

    def settings(self, **overrides: object) -> Any:
        from bot.settings import load_settings

        values: dict[str, object] = {"chroma_path": self.chroma_path, "knowledge_path": self.knowledge}
        values.update(overrides)
        return load_settings(env_file=None, **values)

    def services(self, *, model: Any = None, embeddings: Any = None, **overrides: object) -> Any:
        from bot.runtime import build_services

        return build_services(self.settings(**overrides), embeddings=embeddings or deterministic_embeddings(),
                              model=model)

    def account(self, name: str) -> Any:
        resolution = self.retriever.resolve_account(name)
        assert resolution.account is not None, resolution.describe_miss()
        return resolution.account


def run_cli(services: Any, *argv: str) -> tuple[int, str]:
    """`python -m bot ARGV` in-process over these services; (exit status, stdout)."""
    from bot.cli import main

    out = io.StringIO()
    status = main(list(argv), settings=services.settings, services_factory=lambda _: services, stdout=out)
    return status, out.getvalue()


def make_ctx(knowledge: Path | None = SAMPLE_KNOWLEDGE, today: date = SAMPLE_TODAY) -> Any:
    """A service Context: the seller profile beside `knowledge` (None: generic defaults), the wording
    files, and "today" fixed to `today`."""
    from bot.services.context import default_context

    return default_context(knowledge, today=today)
