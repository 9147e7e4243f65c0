"""A real Chroma server for tests: `chroma run` (installed with chromadb) on a free loopback port."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def chroma_server(tmp_path: Path, request: pytest.FixtureRequest) -> tuple[str, int]:
    host, port, _ = start_chroma_server(tmp_path, request)
    return host, port


def start_chroma_server(tmp_path: Path, request: pytest.FixtureRequest) -> tuple[str, int, subprocess.Popen]:
    """A server stopped when the test ends; the process is returned so a test can pause it (SIGSTOP)."""
    import chromadb

    executable = Path(sys.executable).parent / "chroma"
    assert executable.exists(), f"chromadb installs `chroma` next to {sys.executable}"
    port = free_port()
    log = (tmp_path / "chroma-server.log").open("wb")
    process = subprocess.Popen(
        [str(executable), "run", "--path", str(tmp_path / "server-data"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT,
    )

    def stop() -> None:
        process.send_signal(signal.SIGCONT)  # a paused server cannot act on SIGTERM
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()

    request.addfinalizer(stop)
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            pytest.fail(f"chroma run exited with {process.returncode}: "
                        f"{(tmp_path / 'chroma-server.log').read_text(errors='replace')[-2000:]}")
        try:
            chromadb.HttpClient(host="127.0.0.1", port=port).heartbeat()
            break
        except Exception:
            if time.monotonic() > deadline:
                pytest.fail("chroma server did not answer its heartbeat within 30 s")
            time.sleep(0.2)
    return "127.0.0.1", port, process
