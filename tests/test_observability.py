"""What an operator watches: log lines a pipeline can parse (and nobody can forge), and Prometheus /metrics that
count what really went through the Bolt app."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from slack_helpers import Harness, harness, http, mock, new_ts, running_server, sample, visible_text  # noqa: F401

from bot.listeners.replies import FAILED
from bot.observability import JsonFormatter, TextFormatter

TIMEOUT = 15
FORM = "application/x-www-form-urlencoded"
FORGED = "2026-01-01 00:00:00,000 ERROR bot.slack: forged line"
BOT_TOKEN = "xoxb-1234567890-abcdefghijklmnop"


def emit(formatter: logging.Formatter, log: Callable[[logging.Logger], None]) -> list[str]:
    """The lines one logger wrote through `formatter`."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    logger = logging.getLogger(f"test.observability.{id(stream)}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        log(logger)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue().splitlines()


def fail_with(message: str) -> None:
    raise ValueError(message)


# ---------------------------------------------------------------- logs

def test_json_logs_are_one_object_per_line_with_the_traceback_as_one_field() -> None:
    def log(logger: logging.Logger) -> None:
        logger.info("answered /%s in %.1f s", "ask", 1.25)
        try:
            fail_with("the store went away")
        except ValueError:
            logger.exception("/brief failed")
        logger.warning("after the error")

    lines = emit(JsonFormatter(), log)
    assert len(lines) == 3  # the traceback did not split into lines of its own
    records = [json.loads(line) for line in lines]
    assert [r["level"] for r in records] == ["INFO", "ERROR", "WARNING"]
    assert records[0]["message"] == "answered /ask in 1.2 s"
    assert records[0]["logger"].startswith("test.observability")
    assert records[0]["thread"] == "MainThread"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", records[0]["time"])
    assert "exception" not in records[0]
    trace = records[1]["exception"]
    assert trace.startswith("Traceback (most recent call last):")
    assert "in fail_with" in trace and trace.rstrip().endswith("ValueError: the store went away")


@pytest.mark.parametrize("formatter", [TextFormatter(), JsonFormatter()], ids=["text", "json"])
def test_a_newline_in_a_logged_value_cannot_forge_a_line(formatter: logging.Formatter) -> None:
    hostile = f"Acme\n{FORGED}\r\n{FORGED}\u2028{FORGED}"

    def log(logger: logging.Logger) -> None:
        logger.info("brief for %s", hostile)
        try:
            fail_with(f"no account {hostile}")
        except ValueError:
            logger.exception("lookup failed for %s", hostile)

    lines = emit(formatter, log)
    assert not any(line.startswith(FORGED) for line in lines)
    if isinstance(formatter, JsonFormatter):
        assert len(lines) == 2
        assert FORGED in json.loads(lines[1])["exception"]
        assert json.loads(lines[0])["message"] == f"brief for {hostile}"  # escaped on the line, intact when parsed
    else:
        # a record is a line that starts with its time; the traceback's lines are indented under it
        records = [line for line in lines if not line.startswith(" ")]
        assert len(records) == 2
        assert records[0].endswith("brief for Acme\\n" + FORGED + "\\r\\n" + FORGED + "\\u2028" + FORGED)


@pytest.mark.parametrize("formatter", [TextFormatter(secrets=["a-signing-secret-value"]),
                                       JsonFormatter(secrets=["a-signing-secret-value"])], ids=["text", "json"])
def test_tokens_and_secrets_never_reach_the_log(formatter: logging.Formatter) -> None:
    def log(logger: logging.Logger) -> None:
        logger.info("client %s with %s", BOT_TOKEN, "Authorization: Bearer sk-proj-abcdefghijklmnop1234")
        logger.info("secret is a-signing-secret-value; app token xapp-1-A0TEST-123-deadbeef")

    text = "\n".join(emit(formatter, log))
    for secret in (BOT_TOKEN, "sk-proj-abcdefghijklmnop1234", "a-signing-secret-value", "xapp-1-A0TEST-123-deadbeef"):
        assert secret not in text
    assert text.count("[redacted]") >= 4


def run_bot(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "OPENAI_", "LOG_"))}
    clean.update({"CHROMA_PATH": str(tmp_path / "chroma"), "KNOWLEDGE_PATH": str(tmp_path / "knowledge"), **env})
    return subprocess.run([sys.executable, "-m", "bot", *args], env=clean, cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)


def test_a_bad_log_format_fails_at_start_naming_the_variable(tmp_path: Path) -> None:
    done = run_bot(["ask", "what changed?"], tmp_path, LOG_FORMAT="xml")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["error: LOG_FORMAT: Input should be 'text' or 'json' (got 'xml')"]


# ---------------------------------------------------------------- /metrics

def scrape(base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """GET /metrics parsed: {(sample name, labels): value}."""
    status, text, headers = http("GET", f"{base}/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def server(harness: Harness) -> Iterator[str]:
    with running_server(harness.app) as base:
        yield base


def test_metrics_count_a_signed_slash_command_and_its_ack_latency(harness: Harness, server: str) -> None:
    before = scrape(server)
    body, path = harness.command_body("/ask", "what is the next step on the Acme deal?")
    status, _, _ = http("POST", f"{server}/slack/events", body=body, headers=harness.headers(body, content_type=FORM))
    assert status == 200
    harness.mock.wait_for(path, timeout=TIMEOUT)  # the answer went out through the real Bolt app
    unsigned = http("POST", f"{server}/slack/events", body=body, headers={"Content-Type": FORM})
    assert unsigned[0] == 401

    after = scrape(server)
    requests = "revenue_bot_slack_requests_total"
    assert value(after, requests, kind="command", outcome="ok") == value(before, requests, kind="command",
                                                                         outcome="ok") + 1
    assert value(after, requests, kind="other", outcome="refused") == value(before, requests, kind="other",
                                                                            outcome="refused") + 1
    assert value(after, "revenue_bot_errors_total", kind="refused_unsigned") == \
        value(before, "revenue_bot_errors_total", kind="refused_unsigned") + 1
    ack_count = value(after, "revenue_bot_ack_seconds_count", kind="command")
    assert ack_count == value(before, "revenue_bot_ack_seconds_count", kind="command") + 1
    ack_time = value(after, "revenue_bot_ack_seconds_sum", kind="command") - \
        value(before, "revenue_bot_ack_seconds_sum", kind="command")
    assert 0 < ack_time < 3  # acknowledged within Slack's 3 s
    assert value(after, "revenue_bot_ack_seconds_bucket", kind="command", le="3.0") == ack_count
    assert value(after, "process_resident_memory_bytes") > 0


def test_metrics_count_an_event_and_a_retry_apart(harness: Harness, server: str) -> None:
    from slack_helpers import new_ts

    before = scrape(server)
    ts = new_ts()
    body = harness.event_body("app_mention", {"ts": ts, "event_ts": ts})
    headers = harness.headers(body, content_type="application/json")
    assert http("POST", f"{server}/slack/events", body=body, headers=headers)[0] == 200
    harness.mock.wait_for("chat.postMessage", timeout=TIMEOUT)
    retry = harness.headers(body, content_type="application/json", **{"X-Slack-Retry-Num": "1"})
    assert http("POST", f"{server}/slack/events", body=body, headers=retry)[0] == 200

    after = scrape(server)
    name = "revenue_bot_slack_requests_total"
    assert value(after, name, kind="event", outcome="ok") - value(before, name, kind="event", outcome="ok") == 1
    assert value(after, name, kind="event", outcome="retry") - value(before, name, kind="event", outcome="retry") == 1


def test_answers_fallbacks_and_failures_show_on_metrics(sample, mock, monkeypatch: pytest.MonkeyPatch) -> None:
    """What /metrics says after real requests through the served app: the time to build each answer by command,
    a model reply rejected (the composer answered), and a listener's failure."""
    from fake_openai import fake_model

    model, _ = fake_model("The renewal is signed [99].")  # cites a source it was never given: rejected
    harness = Harness(sample, mock, services=sample.build_services(model=model))

    with running_server(harness.app) as base:
        def command(name: str, text: str) -> str:
            body, path = harness.command_body(name, text)
            headers = harness.headers(body, content_type=FORM)
            assert http("POST", f"{base}/slack/events", body=body, headers=headers)[0] == 200
            (reply,) = harness.mock.wait_for(path, timeout=TIMEOUT)
            return visible_text(reply.body)

        before = after = scrape(base)
        command("/leads", "Brightwater Health")
        assert "[99]" not in command("/ask", "what is the next step on the Acme deal?")
        ts = new_ts()
        mention = harness.event_body("app_mention", {"ts": ts, "event_ts": ts})
        assert http("POST", f"{base}/slack/events", body=mention,
                    headers=harness.headers(mention, content_type="application/json"))[0] == 200
        harness.mock.wait_for("chat.postMessage", timeout=TIMEOUT)

        def broken(*args: object, **kwargs: object) -> None:
            raise RuntimeError("the index went away")

        monkeypatch.setattr(harness.services.retriever, "gather", broken)
        assert FAILED in command("/ask", "what is the next step on the Acme deal?")

        def grew(name: str, **labels: str) -> float:
            return value(after, name, **labels) - value(before, name, **labels)

        # a request is counted once its response is written, which can be just after a quick reply went out
        deadline = time.monotonic() + 5
        while grew("revenue_bot_slack_requests_total", kind="command", outcome="ok") < 3 and \
                time.monotonic() < deadline:
            time.sleep(0.05)
            after = scrape(base)

    assert grew("revenue_bot_answer_seconds_count", command="triage") == 1  # /leads is counted as triage
    assert grew("revenue_bot_answer_seconds_count", command="ask") == 2  # the failed one took time too
    assert grew("revenue_bot_answer_seconds_count", command="mention") == 1
    assert grew("revenue_bot_answer_seconds_count", command="other") == 0
    assert grew("revenue_bot_fallbacks_total", reason="rejected") >= 1
    assert grew("revenue_bot_errors_total", kind="listener") == 1
    assert grew("revenue_bot_slack_requests_total", kind="command", outcome="ok") == 3
    assert grew("revenue_bot_slack_requests_total", kind="event", outcome="ok") == 1
