"""`python -m bot serve` as a container runs it: SIGTERM stops it at once and cleanly (exit 0), not after a
10-second wait for SIGKILL (as PID 1, Python would otherwise ignore SIGTERM)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve_env(tmp_path: Path, port: int) -> dict[str, str]:
    """HTTP mode on `port`, an empty store in tmp_path, Slack's Web API pointed at a closed port."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "OPENAI_"))}
    env.update({"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": "test-secret", "PORT": str(port),
                "CHROMA_PATH": str(tmp_path / "chroma"), "KNOWLEDGE_PATH": str(tmp_path / "knowledge"),
                "SLACK_API_URL": "http://127.0.0.1:9/"})
    return env


def start_serve(tmp_path: Path, port: int) -> subprocess.Popen[bytes]:
    """`python -m bot serve`, once its /healthz answers."""
    process = subprocess.Popen([sys.executable, "-m", "bot", "serve"], env=serve_env(tmp_path, port), cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
                if response.status == 200:
                    return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise AssertionError("serve did not come up")


def test_sigterm_stops_serve_cleanly_within_seconds(tmp_path: Path) -> None:
    port = free_port()
    process = start_serve(tmp_path, port)
    try:
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=8) == 0
        assert time.monotonic() - started < 5
    finally:
        if process.poll() is None:
            process.kill()


def test_a_busy_port_is_one_line_and_exit_2(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "bot", "serve"], env=serve_env(tmp_path, port), cwd=tmp_path,
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert f"port {port} is already in use" in done.stderr
    assert "Traceback" not in done.stderr


def test_readyz_tells_the_truth_about_the_store_and_the_model(tmp_path: Path) -> None:
    """Liveness says the process runs; readiness says it can answer: knowledge in the store, model loaded."""
    port = free_port()
    process = start_serve(tmp_path, port)
    try:
        import json
        import urllib.error

        def get(path: str) -> tuple[int, dict]:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as response:
                    return response.status, json.loads(response.read())
            except urllib.error.HTTPError as exc:
                return exc.code, json.loads(exc.read())

        status, body = get("/readyz")
        assert status == 503  # an empty store: alive, but nothing to answer from
        assert body["store"] is False and body["chunks"] == 0
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)


def test_readiness_is_ok_once_the_knowledge_is_in_and_the_model_loaded(small_crm, services) -> None:
    from bot.cli import run_ingest
    from bot.knowledge.embeddings import LocalE5
    from bot.server import readiness

    run_ingest(services, [], show_progress=False)
    ok, checks = readiness(services)
    assert ok and checks["chunks"] > 0  # the stand-in embedding has nothing to load
    services.embeddings = LocalE5()  # a local model not loaded yet: not ready until warm-up loads it
    assert readiness(services) == (False, {"chunks": checks["chunks"], "store": True, "model": False})
