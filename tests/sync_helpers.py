"""What the CRM sync tests and bench share: a counting embedding, the command line in-process, the loopback
HTTP server the HubSpot and Salesforce mocks are built on, and the fixtures the HubSpot test modules import (no CRM
settings from the shell, a running HubSpot mock)."""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, TypeVar

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding, Embeddings

from bot.knowledge.embeddings import Named

if TYPE_CHECKING:
    from hubspot_mock import HubSpotMock

CRM_ENV = ("HUBSPOT_", "SALESFORCE_", "SYNC_")  # settings a developer's shell may carry: the tests clear them
Server = TypeVar("Server", bound="LoopbackServer")


@pytest.fixture(autouse=True)
def no_crm_settings_from_the_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith(CRM_ENV):
            monkeypatch.delenv(name, raising=False)


@pytest.fixture
def hubspot() -> Iterator[HubSpotMock]:
    from hubspot_mock import HubSpotMock  # hubspot_mock imports LoopbackServer from here

    with HubSpotMock() as mock:
        yield mock


class CountingEmbeddings(Embeddings):
    """A deterministic fake embedding (or `inner`) that keeps the texts it is asked to embed."""

    def __init__(self, inner: Embeddings | None = None, *, size: int = 64) -> None:
        self.inner = inner or DeterministicFakeEmbedding(size=size)
        self.texts: list[str] = []

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.texts.extend(texts)
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)


def fake_embeddings() -> Named:
    """The deterministic fake embedding the sync tests' stores are built with, under one model name."""
    return Named(DeterministicFakeEmbedding(size=64), "fake:deterministic")


def run_cli(services: Any, *argv: str) -> tuple[int, str]:
    """`python -m bot ARGV` in-process over these services: (exit status, stdout)."""
    from bot.cli import main

    out = io.StringIO()
    status = main(list(argv), settings=services.settings, services_factory=lambda _: services, stdout=out)
    return status, out.getvalue()


class LoopbackServer:
    """A stdlib ThreadingHTTPServer on 127.0.0.1, port 0, serving from a daemon thread; a subclass gives the
    request handler class. Used as a context manager, or start() and stop()."""

    _server: ThreadingHTTPServer | None = None

    def handler(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    def start(self: Server) -> Server:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self.handler())
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=type(self).__name__,
                         daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the mock first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self: Server) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
