"""`python -m bot serve` in a process of its own, as the serve tests and the benches run it: a free port, the
environment, waiting until it answers, signed slash commands over real HTTP.

The benches import this module too (they already put tests/ on sys.path for the Slack mock).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier

SECRET = "test-secret"
UNREACHABLE_SLACK = "http://127.0.0.1:9/"  # Slack's Web API pointed at a closed port


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve_env(port: int, *, chroma_path: Path, knowledge_path: Path, slack_url: str = UNREACHABLE_SLACK,
              secret: str = SECRET, **overrides: str) -> dict[str, str]:
    """This process's environment without any Slack, OpenAI or log setting of the developer's, then HTTP mode on
    `port` with this store and knowledge (`overrides` last: SLACK_APP_TOKEN for Socket Mode, LOG_FORMAT, ...)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "OPENAI_", "LOG_"))}
    env.update({"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": secret, "SLACK_API_URL": slack_url,
                "PORT": str(port), "CHROMA_PATH": str(chroma_path), "KNOWLEDGE_PATH": str(knowledge_path),
                **overrides})
    return env


def wait_until_up(port: int, *, path: str = "/healthz", timeout: float = 30,
                  process: subprocess.Popen[Any] | None = None) -> None:
    """Until GET `path` answers 200 (/readyz: the knowledge in and the model loaded); TimeoutError after
    `timeout` seconds, RuntimeError at once if `process` exits."""
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"serve exited with {process.returncode} before {path} answered")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:  # refused, or an HTTPError such as /readyz's 503
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"serve did not answer {path} on port {port} within {timeout:g} s")
        time.sleep(0.2)


def start_serve(tmp_path: Path, port: int, **env: str) -> subprocess.Popen[bytes]:
    """`python -m bot serve` over an empty store in tmp_path, once its /healthz answers (output captured)."""
    process = subprocess.Popen([sys.executable, "-m", "bot", "serve"], cwd=tmp_path,
                               env=serve_env(port, chroma_path=tmp_path / "chroma",
                                             knowledge_path=tmp_path / "knowledge", **env),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_until_up(port, process=process)
    except (TimeoutError, RuntimeError):
        process.kill()
        raise
    return process


@contextmanager
def served(tmp_path: Path, port: int, **env: str) -> Iterator[subprocess.Popen[bytes]]:
    """start_serve for the length of a `with`; killed at the end if the test left it running."""
    process = start_serve(tmp_path, port, **env)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()


def signed_command(url: str, command: str, text: str, *, response_url: str, secret: str = SECRET,
                   user: str = "U1", trigger_id: str = "t") -> urllib.request.Request:
    """A slash command as Slack posts it to `url` (form-encoded, signed now with `secret`)."""
    body = urlencode({"command": command, "text": text, "user_id": user, "channel_id": "C1", "team_id": "T1",
                      "trigger_id": trigger_id, "response_url": response_url})
    stamp = str(int(time.time()))
    return urllib.request.Request(url, data=body.encode(), method="POST", headers={
        "Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)})


def get(port: int, path: str) -> tuple[int, Any]:
    """(status, parsed JSON or text) of GET `path`; an error status is returned, not raised."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=3) as response:
            status, text, kind = response.status, response.read().decode(), response.headers["Content-Type"]
    except urllib.error.HTTPError as exc:
        status, text, kind = exc.code, exc.read().decode(), exc.headers["Content-Type"]
    return status, json.loads(text) if "json" in kind else text
