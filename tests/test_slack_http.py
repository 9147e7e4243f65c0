"""The real HTTP server: bot.server.wsgi_app(app) under waitress on loopback, requests over urllib."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from slack_helpers import (  # noqa: F401
    Harness,
    action_ids,
    blocks_of,
    button,
    harness,
    http,
    mock,
    new_ts,
    running_server,
    sample,
    visible_text,
)

from bot.blocks import SHARE_IN_CHANNEL

TIMEOUT = 15
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def server(harness: Harness) -> Iterator[str]:
    with running_server(harness.app) as base:
        yield base


def post(harness: Harness, base: str, body: str, content_type: str, **header_options) -> tuple[int, str]:
    headers = harness.headers(body, content_type=content_type, **header_options)
    status, text, _ = http("POST", f"{base}/slack/events", body=body, headers=headers)
    return status, text


def test_healthz(server) -> None:
    status, text, headers = http("GET", f"{server}/healthz")
    assert status == 200
    assert json.loads(text) == {"ok": True}
    assert headers["Content-Type"].startswith("application/json")


def test_slash_command_over_http(harness, server) -> None:
    body, path = harness.command_body("/brief", "Acme")
    started = time.perf_counter()
    status, text = post(harness, server, body, FORM)
    elapsed = time.perf_counter() - started
    assert status == 200
    assert "Working on" in text
    assert elapsed < 2.0, f"ack over HTTP took {elapsed:.2f}s"
    (call,) = harness.mock.wait_for(path, timeout=TIMEOUT)
    assert call.body["response_type"] == "ephemeral"
    assert "Account brief: Acme Corporation" in visible_text(call.body)
    assert SHARE_IN_CHANNEL in action_ids(blocks_of(call))


def test_event_over_http_is_answered_in_thread(harness, server) -> None:
    ts = new_ts()
    status, _ = post(harness, server, harness.event_body("app_mention", {"ts": ts, "event_ts": ts}),
                     "application/json")
    assert status == 200
    (reply,) = harness.mock.wait_for("chat.postMessage", timeout=TIMEOUT)
    assert reply.body["thread_ts"] == ts
    assert "knowledge base" in visible_text(reply.body)


def test_action_over_http_shares_in_channel(harness, server) -> None:
    body, path = harness.command_body("/leads", "Brightwater Health")
    assert post(harness, server, body, FORM)[0] == 200
    (result,) = harness.mock.wait_for(path, timeout=TIMEOUT)
    share = button(blocks_of(result), SHARE_IN_CHANNEL)
    click, share_path = harness.action_body(SHARE_IN_CHANNEL, share["value"], block_id="share")
    status, _ = post(harness, server, click, FORM)
    assert status == 200
    (shared,) = harness.mock.wait_for(share_path, timeout=TIMEOUT)
    assert shared.body["response_type"] == "in_channel"
    assert "Leads at Brightwater Health" in visible_text(shared.body)


@pytest.mark.parametrize("variant", ["forged", "stale", "missing"])
def test_bad_signature_over_http_is_401(harness, server, variant) -> None:
    body, path = harness.command_body("/brief", "Acme")
    options = {"forged": {"secret": "wrong"}, "stale": {"timestamp": int(time.time()) - 301 - 60},
               "missing": {"signed": False}}[variant]
    status, text = post(harness, server, body, FORM, **options)
    assert status == 401
    assert "Working on" not in text
    harness.assert_nothing_posted(settle=0.3)


def test_retry_over_http_is_acknowledged_without_a_second_answer(harness, server) -> None:
    ts = new_ts()
    body = harness.event_body("app_mention", {"ts": ts, "event_ts": ts})
    assert post(harness, server, body, "application/json")[0] == 200
    harness.mock.wait_for("chat.postMessage", timeout=TIMEOUT)
    status, _ = post(harness, server, body, "application/json",
                     **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    assert status == 200
    time.sleep(0.6)
    assert len(harness.mock.find("chat.postMessage")) == 1


def test_unknown_path_is_not_found(server) -> None:
    status, _, _ = http("POST", f"{server}/not-slack", body="{}", headers={"Content-Type": "application/json"})
    assert status == 404


# ---------------------------------------------------------------- bodies refused before Bolt parses them

def raw_post(base: str, data: bytes, headers: dict[str, str]) -> int:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(f"{base}/slack/events", data=data, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.parametrize(("body", "content_type"), [
    ("[1, 2, 3]", "application/json"),
    ("payload=%7Bnot-json", FORM),
    ("{" * 5000, "application/json"),
])
def test_an_unsigned_malformed_body_is_401_never_500(harness, server, body: str, content_type: str) -> None:
    assert post(harness, server, body, content_type, signed=False)[0] == 401


@pytest.mark.parametrize(("body", "content_type"), [
    ("[1, 2, 3]", "application/json"),
    ("payload=%7Bnot-json", FORM),
    ("{" * 5000, "application/json"),
])
def test_a_signed_malformed_body_is_400_never_500(harness, server, body: str, content_type: str) -> None:
    assert post(harness, server, body, content_type)[0] == 400


def test_a_signed_body_that_is_not_utf8_is_400(harness, server) -> None:
    data = b"token=x&text=\xff\xfe"
    headers = harness.headers(data.decode("latin-1"), content_type=FORM)
    # the signature is over the raw bytes Slack would send
    import hashlib
    import hmac

    from slack_helpers import SECRET

    stamp = headers["X-Slack-Request-Timestamp"]
    signature = "v0=" + hmac.new(SECRET.encode(), b"v0:" + stamp.encode() + b":" + data, hashlib.sha256).hexdigest()
    assert raw_post(server, data, {**headers, "X-Slack-Signature": signature}) == 400


def test_a_non_numeric_timestamp_is_401(harness, server) -> None:
    body, _ = harness.command_body("/brief", "Acme")
    assert post(harness, server, body, FORM, **{"X-Slack-Request-Timestamp": "soon"})[0] == 401


def test_a_huge_body_is_refused_and_never_logged(harness, server, caplog) -> None:
    import logging

    caplog.set_level(logging.INFO)
    forged = "x" * 2_000_000 + "\n2026-12-06 INFO forged line"
    assert raw_post(server, forged.encode(), {"Content-Type": FORM}) == 413
    assert "forged line" not in caplog.text and "xxxxxxxx" not in caplog.text
    assert post(harness, server, "payload=%7B\nforged", FORM, signed=False)[0] == 401
    assert "forged" not in caplog.text
