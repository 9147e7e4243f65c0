"""`python -m bot serve` as a container runs it: SIGTERM stops it cleanly (exit 0) once the work in flight is done,
within 10 s (as PID 1, Python would otherwise ignore SIGTERM); health answers on PORT in HTTP and Socket Mode."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from serving import free_port, get, serve_env, served, signed_command
from slack_helpers import mock  # noqa: F401 - the mock Slack Web API, as a fixture
from slack_mock import Call, SlackMock


def test_sigterm_stops_serve_cleanly_within_seconds(tmp_path: Path) -> None:
    with served(tmp_path, free_port()) as process:
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=8) == 0
        assert time.monotonic() - started < 5


def test_a_busy_port_is_one_line_and_exit_2(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "bot", "serve"], cwd=tmp_path, capture_output=True, text=True,
                              env=serve_env(port, chroma_path=tmp_path / "chroma",
                                            knowledge_path=tmp_path / "knowledge"), timeout=60)
    assert done.returncode == 2
    assert f"port {port} is already in use" in done.stderr
    assert "Traceback" not in done.stderr


def test_readyz_tells_the_truth_about_the_store_and_the_model(tmp_path: Path) -> None:
    """Liveness says the process runs; readiness says it can answer: knowledge in the store, model loaded."""
    port = free_port()
    with served(tmp_path, port):
        status, body = get(port, "/readyz")
        assert status == 503  # an empty store: alive, but nothing to answer from
        assert body["store"] is False and body["chunks"] == 0


def test_readiness_is_ok_once_the_knowledge_is_in_and_the_model_loaded(small_crm, services) -> None:
    from bot.cli import run_ingest
    from bot.knowledge.embeddings import LocalE5
    from bot.server import readiness

    run_ingest(services, [], show_progress=False)
    ok, checks = readiness(services)
    assert ok and checks["chunks"] > 0  # the stand-in embedding has nothing to load
    services.embeddings = LocalE5()  # a local model not loaded yet: not ready until warm-up loads it
    assert readiness(services) == (False, {"chunks": checks["chunks"], "store": True, "model": False})


# ---------------------------------------------------------------- Socket Mode health, graceful stop

APP_TOKEN = "xapp-1-A0TEST-1234567-0123456789abcdef"


def test_socket_mode_answers_health_on_port_and_keeps_retrying_slack(tmp_path: Path, mock: SlackMock) -> None:
    """Slack refuses the app token: the process stays up, says it is alive but not ready, and keeps trying."""
    mock.replies["apps.connections.open"] = {"ok": False, "error": "invalid_auth"}
    port = free_port()
    with served(tmp_path, port, SLACK_APP_TOKEN=APP_TOKEN, SLACK_SIGNING_SECRET="", SLACK_API_URL=mock.url,
                LOG_FORMAT="json") as process:
        assert get(port, "/healthz") == (200, {"ok": True, "slack": "connecting"})
        status, body = get(port, "/readyz")
        assert status == 503
        assert isinstance(body, dict) and body["slack"] is False and body["store"] is False
        status, text = get(port, "/metrics")
        assert status == 200 and "revenue_bot_slack_requests_total" in str(text)
        assert get(port, "/slack/events")[0] == 404  # events come over the socket, not HTTP
        mock.wait_for("apps.connections.open", count=2, timeout=15)  # retried, not a crash
        assert process.poll() is None
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        assert time.monotonic() - started < 5
    stderr = process.stderr.read().decode() if process.stderr else ""
    records = [json.loads(line) for line in stderr.splitlines()]  # LOG_FORMAT=json: every line one object
    assert any("could not connect (invalid_auth)" in r["message"] for r in records)
    assert APP_TOKEN not in stderr


def test_socket_mode_on_a_busy_port_warns_in_one_line_and_still_serves_slack(tmp_path: Path, mock: SlackMock) -> None:
    """Socket Mode does not need PORT to answer Slack: a busy port costs the health paths, not the bot."""
    mock.replies["apps.connections.open"] = {"ok": False, "error": "invalid_auth"}
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = serve_env(port, chroma_path=tmp_path / "chroma", knowledge_path=tmp_path / "knowledge",
                        slack_url=mock.url, SLACK_APP_TOKEN=APP_TOKEN, SLACK_SIGNING_SECRET="")
        process = subprocess.Popen([sys.executable, "-m", "bot", "serve"], env=env, cwd=tmp_path,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            mock.wait_for("apps.connections.open", timeout=30)  # serving, and opening the Slack socket
            assert process.poll() is None
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=10) == 0
        finally:
            if process.poll() is None:
                process.kill()
    stderr = process.stderr.read().decode() if process.stderr else ""
    assert len([line for line in stderr.splitlines() if f"port {port} unavailable" in line]) == 1, stderr
    assert "Traceback" not in stderr


def slow_users_info(slack: SlackMock, seconds: float) -> threading.Event:
    """users.info (the guest check every command makes after its ack) answers after `seconds`; the event is set
    when the first call arrives."""
    arrived = threading.Event()
    answer = slack.reply_for

    def reply_for(call: Call) -> dict[str, Any]:
        if call.method == "users.info":
            arrived.set()
            time.sleep(seconds)
        return answer(call)

    slack.reply_for = reply_for  # type: ignore[method-assign]
    return arrived


def send_ask(port: int, slack: SlackMock, question: str) -> str:
    """A signed /ask over HTTP; returns the response_url path the reply goes to."""
    path = f"/response/{time.monotonic_ns()}"
    request = signed_command(f"http://127.0.0.1:{port}/slack/events", "/ask", question,
                             response_url=slack.url.rstrip("/") + path)
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200
    return path


def refused(port: int) -> bool:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).close()
    except urllib.error.URLError as exc:
        return isinstance(exc.reason, ConnectionRefusedError)
    return False


@contextmanager
def ask_in_flight(tmp_path: Path, slack: SlackMock, seconds: float) -> Iterator[tuple[subprocess.Popen[bytes], int, str]]:
    """serve with an /ask acknowledged and its work running (held `seconds` in users.info): (process, port, the
    response_url path its reply goes to)."""
    arrived = slow_users_info(slack, seconds)
    port = free_port()
    with served(tmp_path, port, SLACK_API_URL=slack.url) as process:
        path = send_ask(port, slack, "what changed on the Acme deal?")
        assert arrived.wait(10)
        yield process, port, path


def test_sigterm_lets_the_answer_in_flight_reach_the_user_then_exits_0(tmp_path: Path, mock: SlackMock) -> None:
    with ask_in_flight(tmp_path, mock, 3) as (process, port, path):
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 2
        while not refused(port) and time.monotonic() < deadline:  # new connections refused at once
            time.sleep(0.05)
        assert refused(port)
        assert process.wait(timeout=10) == 0
        assert time.monotonic() - started < 10
    replies = mock.find(path)
    assert len(replies) == 1 and "knowledge base" in replies[0].body["text"]  # the answer, not an error
    stderr = process.stderr.read().decode()  # type: ignore[union-attr]
    assert "stopped: the work in flight finished" in stderr
    assert "`token` will be unused" not in stderr  # Bolt's warning at start, which is not one for us


def test_sigterm_never_waits_past_10_s_for_work_that_will_not_finish(tmp_path: Path, mock: SlackMock) -> None:
    with ask_in_flight(tmp_path, mock, 30) as (process, _, _):
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=12) == 0
        assert time.monotonic() - started < 10  # before a container runtime's SIGKILL
    assert "with work still running" in process.stderr.read().decode()  # type: ignore[union-attr]


def test_a_second_sigterm_exits_at_once_with_143(tmp_path: Path, mock: SlackMock) -> None:
    """The operator will not wait: the work in flight is abandoned, and the status says a signal ended it."""
    with ask_in_flight(tmp_path, mock, 30) as (process, port, _):
        process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 2
        while not refused(port) and time.monotonic() < deadline:  # the first one is being acted on
            time.sleep(0.05)
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 128 + signal.SIGTERM
        assert time.monotonic() - started < 2
    assert "second SIGTERM: exiting now" in process.stderr.read().decode()  # type: ignore[union-attr]
