"""Helpers for the Slack app tests: the sample knowledge in a real store, signed requests, a real HTTP server.

Builds on `slack_mock.SlackMock` (unchanged): payload bodies come from tests/payloads/*.json, every
request is signed with slack_sdk's SignatureVerifier, and what the bot posted is read back from the mock.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import textwrap
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from slack_bolt import App, BoltRequest, BoltResponse
from slack_mock import BOT_USER_ID, Call, SlackMock
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier

REPO = Path(__file__).resolve().parent.parent
PAYLOADS = Path(__file__).resolve().parent / "payloads"
SAMPLE_KNOWLEDGE = REPO / "knowledge"
TOKEN = "xoxb-test"
SECRET = "test-secret"
_SETTINGS_ENV = ("PORT", "CHROMA_PATH", "CHROMA_HOST", "CHROMA_PORT", "COLLECTION_PREFIX", "EMBEDDINGS",
                 "KNOWLEDGE_PATH", "ALLOWED_CHANNELS", "ALLOWED_USERS", "LOG_LEVEL")

# An extra account whose CRM note tries to ping everyone and forge a link (the escaping tests).
EVIL_ACCOUNT = "Quillfeather Analytics"
EVIL_ACCOUNT_ID = "001V000000QUILL1"
EVIL_NOTE = "Budget cuts announced, <!channel> please see <http://evil.example|your invoice> and tell @here now."
EVIL_SUBJECT = "Invoice follow-up <!channel> @here"

# Calls through which something reaches a person (a message, an ephemeral result, a view).
POSTING_METHODS = ("chat.postMessage", "chat.postEphemeral", "chat.update", "views.publish")


# ---------------------------------------------------------------- the sample knowledge, once per module

def clean_env(patch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith(("SLACK_", "OPENAI_")) or name.upper() in _SETTINGS_ENV:
            patch.delenv(name, raising=False)


def fake_embeddings() -> Any:
    """The same deterministic fake embedding as conftest's `fake_embeddings` fixture (same name)."""
    from langchain_core.embeddings import DeterministicFakeEmbedding

    from bot.knowledge.embeddings import Named

    return Named(DeterministicFakeEmbedding(size=64), "fake:deterministic")


class SampleStore:
    """A copy of knowledge/ plus one account with a hostile CRM note, ingested into a temporary Chroma."""

    def __init__(self, folder: Path):
        from bot.knowledge.ingest import ingest

        self.folder = folder
        self.knowledge = folder / "knowledge"
        shutil.copytree(SAMPLE_KNOWLEDGE, self.knowledge)
        (self.knowledge / "crm" / "escape-accounts.csv").write_text(textwrap.dedent(f"""\
            Id,Name,Industry,NumberOfEmployees,AnnualRevenue,BillingCountry,BillingCity
            {EVIL_ACCOUNT_ID},{EVIL_ACCOUNT},Software,300,45000000,United States,Denver
            """), encoding="utf-8")
        (self.knowledge / "crm" / "escape-activities.csv").write_text(
            "Id,ActivityDate,Type,Subject,Description,WhoId,WhatId\n"
            f'00TQUILL0001,2026-11-20,Call,"{EVIL_SUBJECT}","{EVIL_NOTE}",,{EVIL_ACCOUNT_ID}\n',
            encoding="utf-8")
        self.chroma_path = folder / "chroma"
        self.embeddings = fake_embeddings()
        self.services = self.build_services()
        self.report = ingest(self.services.store, self.embeddings, [self.knowledge], root=self.knowledge)
        assert not self.report.errors, self.report.errors

    def settings(self, **overrides: object) -> Any:
        from bot.settings import load_settings

        values: dict[str, object] = {"chroma_path": self.chroma_path, "knowledge_path": self.knowledge,
                                     "slack_bot_token": TOKEN, "slack_signing_secret": SECRET}
        values.update(overrides)
        return load_settings(env_file=None, **values)

    def build_services(self, *, model: Any = None, **overrides: object) -> Any:
        from bot.runtime import build_services

        return build_services(self.settings(**overrides), embeddings=self.embeddings, model=model)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SampleStore:
    # module fixtures run before conftest's per-test environment cleaning: clean here too
    with pytest.MonkeyPatch.context() as patch:
        clean_env(patch)
        return SampleStore(tmp_path_factory.mktemp("slack-sample"))


# ---------------------------------------------------------------- payloads

def payload(name: str) -> dict[str, Any]:
    return json.loads((PAYLOADS / f"{name}.json").read_text(encoding="utf-8"))


def new_ts() -> str:
    """A unique Slack-style message timestamp."""
    now = time.time()
    return f"{int(now)}.{uuid.uuid4().int % 1_000_000:06d}"


# ---------------------------------------------------------------- the app under test, talking to a mock Slack

class Harness:
    """The real Bolt app (create_app) wired to a SlackMock; signed requests in, recorded calls out."""

    def __init__(self, sample: SampleStore, mock: SlackMock, *, services: Any = None, **settings: object):
        from bot.app import create_app

        self.mock = mock
        self.sample = sample
        self.settings = sample.settings(slack_api_url=mock.url, **settings)
        self.services = services or sample.services
        self.client = WebClient(token=TOKEN, base_url=mock.url)
        self.app: App = create_app(self.settings, services=self.services, client=self.client)
        self.verifier = SignatureVerifier(SECRET)

    # ------------------------------------------------------------ requests

    def headers(self, body: str, *, content_type: str, timestamp: int | None = None,
                secret: str = SECRET, signed: bool = True, **extra: str) -> dict[str, str]:
        headers = {"Content-Type": content_type}
        if signed:
            stamp = str(timestamp if timestamp is not None else int(time.time()))
            headers["X-Slack-Request-Timestamp"] = stamp
            headers["X-Slack-Signature"] = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)
        headers.update(extra)
        return headers

    def dispatch(self, body: str, *, content_type: str, **header_options: Any) -> BoltResponse:
        headers = self.headers(body, content_type=content_type, **header_options)
        return self.app.dispatch(BoltRequest(body=body, headers={k: [v] for k, v in headers.items()}))

    def response_url(self) -> tuple[str, str]:
        """A fresh response_url on the mock, and the path its calls are recorded under."""
        path = f"/response/{uuid.uuid4().hex}"
        return self.mock.url.rstrip("/") + path, path

    # ------------------------------------------------------------ bodies

    def command_body(self, command: str, text: str, *, user: str = "U1", channel: str = "C1",
                     response_url: str | None = None, **fields: str) -> tuple[str, str]:
        """(form-encoded body, response path) for a slash command."""
        form = payload("slash_command")
        url, path = (response_url, "/" + response_url.split("/", 3)[3]) if response_url else self.response_url()
        form.update({"command": command, "text": text, "user_id": user, "channel_id": channel,
                     "response_url": url, "trigger_id": uuid.uuid4().hex, **fields})
        return urlencode(form), path

    @staticmethod
    def event_body(name: str, event: dict[str, Any] | None = None, **envelope: Any) -> str:
        body = payload(name)
        body["event_id"] = "Ev" + uuid.uuid4().hex[:10].upper()
        for key, value in (event or {}).items():
            if value is None:
                body["event"].pop(key, None)  # None removes a field of the template
            else:
                body["event"][key] = value
        body.update(envelope)
        return json.dumps(body)

    def action_body(self, action_id: str, value: str, *, user: str = "U1", channel: str = "C1",
                    block_id: str = "b", **extra: Any) -> tuple[str, str]:
        """(form-encoded body, response path) for a block_actions click."""
        body = payload("block_actions")
        url, path = self.response_url()
        body["user"]["id"] = user
        body["channel"]["id"] = channel
        body["container"]["channel_id"] = channel
        body["response_url"] = url
        body["trigger_id"] = uuid.uuid4().hex
        body["actions"][0].update({"action_id": action_id, "value": value, "block_id": block_id})
        body.update(extra)
        return urlencode({"payload": json.dumps(body)}), path

    # ------------------------------------------------------------ sending

    def command(self, command: str, text: str, **options: Any) -> tuple[BoltResponse, str]:
        body, path = self.command_body(command, text, **options)
        return self.dispatch(body, content_type="application/x-www-form-urlencoded"), path

    def event(self, name: str, event: dict[str, Any] | None = None, *, headers: dict[str, str] | None = None,
              **envelope: Any) -> BoltResponse:
        body = self.event_body(name, event, **envelope)
        return self.dispatch(body, content_type="application/json", **(headers or {}))

    def click(self, action_id: str, value: str, **options: Any) -> tuple[BoltResponse, str]:
        body, path = self.action_body(action_id, value, **options)
        return self.dispatch(body, content_type="application/x-www-form-urlencoded"), path

    def bot_thread(self, parent_ts: str, *, channel: str = "C1", **options: Any) -> dict[str, Any]:
        """A thread the bot answered in earlier (on this replica or another: recorded in the shared ledger), and
        what conversations.replies returns for it."""
        from bot.knowledge.ledger import Ledger
        from bot.listeners.conversation import thread_key

        Ledger(self.services.store.client, self.settings.collection_prefix).mark(thread_key(channel, parent_ts))
        return thread_with_bot(parent_ts, channel=channel, **options)

    # ------------------------------------------------------------ what reached people

    def posted(self) -> list[Call]:
        with self.mock.lock:
            calls = list(self.mock.calls)
        return [c for c in calls if c.method in POSTING_METHODS or c.path.startswith("/response/")]

    def posted_raw(self) -> str:
        return "\n".join(json.dumps(c.body, ensure_ascii=False) for c in self.posted())

    def posted_visible(self) -> str:
        return "\n".join(visible_text(c.body) for c in self.posted())

    def assert_nothing_posted(self, settle: float = 0.5) -> None:
        time.sleep(settle)
        assert self.posted() == [], [(c.path, c.body) for c in self.posted()]


@pytest.fixture
def mock() -> Iterator[SlackMock]:
    server = SlackMock()
    # the mock's own start() polls for shutdown every 0.5 s; a quicker poll keeps each teardown short
    server.thread = threading.Thread(target=server.server.serve_forever, kwargs={"poll_interval": 0.05},
                                     name="slack-mock", daemon=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def harness(sample: SampleStore, mock: SlackMock) -> Harness:
    return Harness(sample, mock)


# ---------------------------------------------------------------- reading what was posted

def visible_text(value: Any) -> str:
    """Every text a person sees in a message body or view: top-level text and block/element texts.
    Button `value`s (never shown) are left out."""
    found: list[str] = []

    def walk(node: Any, key: str | None = None) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k in ("value", "action_id", "block_id", "url", "response_url", "thread_ts", "channel",
                         "response_type"):
                    continue
                walk(v, k)
        elif isinstance(node, list):
            for item in node:
                walk(item, key)
        elif isinstance(node, str) and key in ("text", "title", "message", "status", "alt_text"):
            found.append(node)

    walk(value)
    return "\n".join(found)


def blocks_of(call: Call) -> list[dict[str, Any]]:
    blocks = call.body.get("blocks") or []
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    return blocks


def buttons(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [element for block in blocks if block.get("type") == "actions" for element in block.get("elements", [])]


def action_ids(blocks: list[dict[str, Any]]) -> list[str]:
    return [b.get("action_id", "") for b in buttons(blocks)]


def button(blocks: list[dict[str, Any]], action_id: str) -> dict[str, Any]:
    for element in buttons(blocks):
        if element.get("action_id") == action_id:
            return element
    raise AssertionError(f"no button {action_id!r} in {action_ids(blocks)}")


def thread_with_bot(parent_ts: str, *, channel: str = "C1", user: str = "U1") -> dict[str, Any]:
    """conversations.replies for a thread the bot already answered in."""
    return {"ok": True, "messages": [
        {"type": "message", "user": user, "text": f"<@{BOT_USER_ID}> what is the next step on the Acme deal?",
         "ts": parent_ts, "thread_ts": parent_ts, "channel": channel},
        {"type": "message", "user": BOT_USER_ID, "bot_id": "BBOT", "text": "Here is what the knowledge base says…",
         "ts": f"{float(parent_ts) + 1:.6f}", "thread_ts": parent_ts},
    ]}


def thread_without_bot(parent_ts: str, *, user: str = "U1") -> dict[str, Any]:
    return {"ok": True, "messages": [
        {"type": "message", "user": user, "text": "lunch anyone?", "ts": parent_ts, "thread_ts": parent_ts},
        {"type": "message", "user": "U2", "text": "sure", "ts": f"{float(parent_ts) + 1:.6f}",
         "thread_ts": parent_ts},
    ]}


SECRET_PATTERN = re.compile(r"\b(sk|xoxb|xoxp|xapp)-[A-Za-z0-9]")


# ---------------------------------------------------------------- the real HTTP server (waitress)

@contextmanager
def running_server(app: App) -> Iterator[str]:
    """bot.server.wsgi_app(app) served by waitress on a free loopback port; yields the base URL."""
    import waitress
    from waitress import wasyncore

    from bot.server import wsgi_app

    server = waitress.create_server(wsgi_app(app), host="127.0.0.1", port=0, threads=8, ident="test")
    stop = threading.Event()

    def run() -> None:
        # waitress's own run(), one poll at a time, so the loop's thread can close its sockets itself
        while not stop.is_set():
            # poll(), not select(): a long test session can hold file descriptors above 1024
            wasyncore.loop(timeout=0.05, map=server._map, count=1, use_poll=True)
        server.task_dispatcher.shutdown()
        wasyncore.close_all(server._map)

    thread = threading.Thread(target=run, name="waitress-test", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        stop.set()
        thread.join(timeout=5)


def http(method: str, url: str, *, body: str | None = None, headers: dict[str, str] | None = None,
         timeout: float = 10.0) -> tuple[int, str, dict[str, str]]:
    """(status, body text, headers) of one request over real HTTP; errors are returned, not raised."""
    request = urllib.request.Request(url, data=body.encode() if body is not None else None, method=method,
                                     headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), dict(exc.headers)

