"""Trust rules through the real Bolt app: signatures, retries, guests, shared channels, allowlists, escaping."""

from __future__ import annotations

import json
import re
import time

import pytest
from slack_helpers import (  # noqa: F401
    EVIL_ACCOUNT,
    Harness,
    blocks_of,
    button,
    harness,
    mock,
    new_ts,
    sample,
    thread_with_bot,
    visible_text,
)
from slack_mock import BOT_USER_ID

from bot.blocks import SHARE_IN_CHANNEL

TIMEOUT = 15
FORM = "application/x-www-form-urlencoded"
# what a person would see of the sample CRM if the guard let a brief or an answer through
CRM_NAMES = ("Acme Corporation", "Brightwater", "Laura Brennan", "Tyler Nguyen")


def ack_text(response) -> str:
    try:
        body = json.loads(response.body)
    except ValueError:
        return response.body
    return body.get("text", "")


def assert_no_crm_data(harness: Harness) -> None:
    raw = harness.posted_raw()
    for name in CRM_NAMES:
        assert name not in raw, f"{name!r} reached Slack: {raw[:500]}"


# ---------------------------------------------------------------- signatures

@pytest.mark.parametrize("variant", ["forged", "stale", "future", "missing", "tampered"])
@pytest.mark.parametrize("kind", ["command", "event", "action"])
def test_bad_signatures_get_401_and_nothing_is_posted(harness, kind, variant) -> None:
    from slack_bolt import BoltRequest

    if kind == "command":
        body, _ = harness.command_body("/brief", "Acme")
        content_type = FORM
    elif kind == "event":
        body, content_type = harness.event_body("app_mention"), "application/json"
    else:
        value = json.dumps({"command": "brief", "text": "Acme", "account_id": None})
        body, _ = harness.action_body(SHARE_IN_CHANNEL, value)
        content_type = FORM
    assert "Acme" in body
    if variant == "forged":
        headers = harness.headers(body, content_type=content_type, secret="not-the-secret")
    elif variant == "stale":  # correctly signed, six minutes ago
        headers = harness.headers(body, content_type=content_type, timestamp=int(time.time()) - 6 * 60)
    elif variant == "future":  # correctly signed, six minutes ahead
        headers = harness.headers(body, content_type=content_type, timestamp=int(time.time()) + 6 * 60)
    elif variant == "missing":
        headers = harness.headers(body, content_type=content_type, signed=False)
    else:  # signed for one body, sent with another
        headers = harness.headers(body, content_type=content_type)
        body = body.replace("Acme", "Acmf")
    response = harness.app.dispatch(BoltRequest(body=body, headers={k: [v] for k, v in headers.items()}))
    assert response.status == 401
    assert "Working on" not in (response.body or "")
    harness.assert_nothing_posted(settle=0.1)  # rejected before any listener ran
    assert harness.mock.find("users.info") == []  # not even looked at


def test_a_fresh_correct_signature_is_accepted(harness) -> None:
    response, path = harness.command("/brief", "Acme")
    assert response.status == 200
    harness.mock.wait_for(path, timeout=TIMEOUT)


# ---------------------------------------------------------------- retries

def test_a_retried_event_is_acknowledged_and_not_answered_twice(harness) -> None:
    ts = new_ts()
    body = harness.event_body("app_mention", {"ts": ts, "event_ts": ts})
    first = harness.dispatch(body, content_type="application/json")
    assert first.status == 200
    harness.mock.wait_for("chat.postMessage", timeout=TIMEOUT)
    for attempt in ("1", "2"):
        retry = harness.dispatch(body, content_type="application/json",
                                 **{"X-Slack-Retry-Num": attempt, "X-Slack-Retry-Reason": "http_timeout"})
        assert retry.status == 200
    time.sleep(0.8)
    assert len(harness.mock.find("chat.postMessage")) == 1


def test_a_retry_alone_produces_no_answer(harness) -> None:
    ts = new_ts()
    response = harness.event("message_im", {"ts": ts, "event_ts": ts},
                             headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_error"})
    assert response.status == 200
    harness.assert_nothing_posted(settle=0.6)


# ---------------------------------------------------------------- guests

GUESTS = [pytest.param({"is_restricted": True}, id="multi-channel-guest"),
          pytest.param({"is_ultra_restricted": True}, id="single-channel-guest")]


def _guest(harness: Harness, flags: dict) -> None:
    harness.mock.replies["users.info"] = {"ok": True, "user": {"id": "UGUEST", "name": "guest", "is_bot": False,
                                                               "is_restricted": False, "is_ultra_restricted": False,
                                                               **flags}}


@pytest.mark.parametrize("flags", GUESTS)
@pytest.mark.parametrize("command, text", [("/brief", "Acme"), ("/leads", "Brightwater Health"),
                                           ("/ask", "what is the next step on the Acme deal?"),
                                           ("/draft", "Acme --persona CFO")])
def test_guest_slash_command_is_refused_politely_without_crm_data(harness, flags, command, text) -> None:
    _guest(harness, flags)
    response, path = harness.command(command, text, user="UGUEST")
    assert response.status == 200
    (call,) = harness.mock.wait_for(path, timeout=TIMEOUT)
    assert call.body["response_type"] == "ephemeral"
    assert "guest" in call.body["text"].lower() and "Sorry" in call.body["text"]
    assert SHARE_IN_CHANNEL not in json.dumps(call.body)
    time.sleep(0.2)
    assert_no_crm_data(harness)


@pytest.mark.parametrize("flags", GUESTS)
def test_guest_mention_and_dm_are_refused(harness, flags) -> None:
    _guest(harness, flags)
    ts, dm_ts = new_ts(), new_ts()
    harness.event("app_mention", {"ts": ts, "event_ts": ts, "user": "UGUEST"})
    harness.event("message_im", {"ts": dm_ts, "event_ts": dm_ts, "user": "UGUEST"})
    calls = harness.mock.wait_for("chat.postMessage", count=2, timeout=TIMEOUT)
    for call in calls:
        assert "guest" in call.body["text"].lower()
    assert {c.body.get("thread_ts") for c in calls} == {ts, None}
    assert_no_crm_data(harness)


def test_guest_clicking_share_or_a_candidate_gets_the_refusal(harness) -> None:
    _guest(harness, {"is_restricted": True})
    share = json.dumps({"command": "brief", "text": "Acme", "account_id": None})
    _, share_path = harness.click(SHARE_IN_CHANNEL, share, user="UGUEST", block_id="share")
    pick = json.dumps({"command": "brief", "text": "brightwater", "account_id": "001V000000zp88r"})
    _, pick_path = harness.click("pick_account_1", pick, user="UGUEST", block_id="candidates")
    for path in (share_path, pick_path):
        (call,) = harness.mock.wait_for(path, timeout=TIMEOUT)
        assert "guest" in call.body["text"].lower()
        assert call.body.get("response_type") != "in_channel"
    assert_no_crm_data(harness)


def test_a_full_member_is_served(harness) -> None:
    response, path = harness.command("/brief", "Acme", user="UMEMBER")
    (call,) = harness.mock.wait_for(path, timeout=TIMEOUT)
    assert "Acme Corporation" in visible_text(call.body)
    assert harness.mock.find("users.info")[0].body["user"] == "UMEMBER"


# ---------------------------------------------------------------- channels shared with other organisations

def test_mention_in_an_externally_shared_channel_is_refused(harness) -> None:
    ts = new_ts()
    harness.event("app_mention", {"ts": ts, "event_ts": ts}, is_ext_shared_channel=True)
    (call,) = harness.mock.wait_for("chat.postMessage", timeout=TIMEOUT)
    assert "shared with other organisations" in call.body["text"]
    assert call.body["thread_ts"] == ts
    assert_no_crm_data(harness)


def test_mention_in_a_shared_channel_without_the_flag_is_checked_and_refused(harness) -> None:
    harness.mock.replies["conversations.info"] = {"ok": True, "channel": {"id": "CSHARED", "is_ext_shared": True}}
    ts = new_ts()
    body = json.loads(harness.event_body("app_mention", {"ts": ts, "event_ts": ts, "channel": "CSHARED"}))
    del body["is_ext_shared_channel"]  # older payloads and some event types do not carry it
    harness.dispatch(json.dumps(body), content_type="application/json")
    (call,) = harness.mock.wait_for("chat.postMessage", timeout=TIMEOUT)
    assert "shared with other organisations" in call.body["text"]
    assert_no_crm_data(harness)


def test_slack_connect_dm_flagged_as_shared_is_refused(harness) -> None:
    """A DM that Slack flags as shared with another organisation (Slack Connect) gets no CRM data either."""
    ts = new_ts()
    harness.event("message_im", {"ts": ts, "event_ts": ts, "user": "UEXTERNAL"}, is_ext_shared_channel=True)
    (call,) = harness.mock.wait_for("chat.postMessage", timeout=TIMEOUT)
    assert "shared with other organisations" in call.body["text"], call.body["text"]
    assert_no_crm_data(harness)


def test_follow_up_in_an_externally_shared_channel_is_refused(harness) -> None:
    parent, ts = new_ts(), new_ts()
    harness.mock.replies["conversations.replies"] = harness.bot_thread(parent)
    harness.event("message_channel", {"ts": ts, "event_ts": ts, "thread_ts": parent}, is_ext_shared_channel=True)
    (call,) = harness.mock.wait_for("chat.postMessage", timeout=TIMEOUT)
    assert "shared with other organisations" in call.body["text"]
    assert_no_crm_data(harness)


@pytest.mark.parametrize("command, text", [("/brief", "Acme"), ("/ask", "what is the next step on the Acme deal?")])
def test_slash_command_in_an_externally_shared_channel_is_refused(harness, command, text) -> None:
    harness.mock.replies["conversations.info"] = {"ok": True, "channel": {"id": "CSHARED", "is_ext_shared": True,
                                                                          "is_shared": True}}
    _, path = harness.command(command, text, channel="CSHARED")
    (call,) = harness.mock.wait_for(path, timeout=TIMEOUT)
    assert "shared with other organisations" in call.body["text"]
    assert harness.mock.find("conversations.info")[0].body["channel"] == "CSHARED"
    assert_no_crm_data(harness)


def test_share_button_in_an_externally_shared_channel_is_refused(harness) -> None:
    harness.mock.replies["conversations.info"] = {"ok": True, "channel": {"id": "CSHARED", "is_ext_shared": True}}
    value = json.dumps({"command": "brief", "text": "Acme", "account_id": None})
    _, path = harness.click(SHARE_IN_CHANNEL, value, channel="CSHARED", block_id="share")
    (call,) = harness.mock.wait_for(path, timeout=TIMEOUT)
    assert "shared with other organisations" in call.body["text"]
    assert call.body.get("response_type") != "in_channel"
    assert_no_crm_data(harness)


def test_when_slack_cannot_say_who_is_asking_the_bot_refuses(harness) -> None:
    harness.mock.replies["users.info"] = {"ok": False, "error": "ratelimited"}
    _, path = harness.command("/brief", "Acme")
    (call,) = harness.mock.wait_for(path, timeout=TIMEOUT)
    assert "Sorry" in call.body["text"]
    assert_no_crm_data(harness)


# ---------------------------------------------------------------- allowlists

@pytest.fixture
def allowlisted(sample, mock) -> Harness:
    return Harness(sample, mock, allowed_users="UALLOWED, UALSO", allowed_channels="CALLOWED")


def test_allowlists_refuse_other_users(allowlisted) -> None:
    _, path = allowlisted.command("/brief", "Acme", user="UOTHER", channel="CALLOWED")
    (call,) = allowlisted.mock.wait_for(path, timeout=TIMEOUT)
    assert "isn't enabled for your account" in call.body["text"]
    ts = new_ts()
    allowlisted.event("app_mention", {"ts": ts, "event_ts": ts, "user": "UOTHER", "channel": "CALLOWED"})
    (reply,) = allowlisted.mock.wait_for("chat.postMessage", timeout=TIMEOUT)
    assert "isn't enabled for your account" in reply.body["text"]
    assert_no_crm_data(allowlisted)


def test_allowlists_refuse_other_channels(allowlisted) -> None:
    _, path = allowlisted.command("/brief", "Acme", user="UALLOWED", channel="COTHER")
    (call,) = allowlisted.mock.wait_for(path, timeout=TIMEOUT)
    assert "isn't enabled in this channel" in call.body["text"]
    assert_no_crm_data(allowlisted)


def test_allowlists_serve_allowed_users_in_allowed_channels_and_dms(allowlisted) -> None:
    _, path = allowlisted.command("/brief", "Acme", user="UALSO", channel="CALLOWED")
    (call,) = allowlisted.mock.wait_for(path, timeout=TIMEOUT)
    assert "Account brief: Acme Corporation" in visible_text(call.body)
    ts = new_ts()
    allowlisted.event("message_im", {"ts": ts, "event_ts": ts, "user": "UALLOWED"})
    (reply,) = allowlisted.mock.wait_for("chat.postMessage", timeout=TIMEOUT)
    assert reply.body["channel"] == "D1"
    assert "isn't enabled" not in reply.body["text"]


# ---------------------------------------------------------------- escaping: nothing can ping or forge a link

RAW_CONTROL = ("<!channel>", "<!here>", "<http://evil", "<@U")
BARE_BROADCAST = re.compile(r"@(channel|here|everyone)\b")


def assert_nothing_raw(text: str) -> None:
    for needle in RAW_CONTROL:
        assert needle not in text, f"{needle!r} reached Slack raw in: {text[:800]}"
    assert not BARE_BROADCAST.search(text), f"a bare broadcast reached Slack in: {text[:800]}"


def test_crm_note_in_a_brief_cannot_ping_or_forge_a_link(harness) -> None:
    _, path = harness.command("/brief", "Quillfeather")
    (call,) = harness.mock.wait_for(path, timeout=TIMEOUT)
    shown = visible_text(call.body)
    assert f"Account brief: {EVIL_ACCOUNT}" in shown
    assert "&lt;!channel&gt;" in shown  # the note is shown, neutralised
    assert_nothing_raw(shown)
    assert_nothing_raw(call.body.get("text", ""))


def test_crm_note_in_a_shared_brief_cannot_ping(harness) -> None:
    _, path = harness.command("/brief", "Quillfeather")
    (call,) = harness.mock.wait_for(path, timeout=TIMEOUT)
    share = button(blocks_of(call), SHARE_IN_CHANNEL)
    _, share_path = harness.click(SHARE_IN_CHANNEL, share["value"], block_id="share")
    (shared,) = harness.mock.wait_for(share_path, timeout=TIMEOUT)
    assert shared.body["response_type"] == "in_channel"
    assert "&lt;!channel&gt;" in visible_text(shared.body)
    shown = visible_text(shared.body)
    assert shown.endswith("Shared by <@U1>")  # the one mention we write: who shared it
    assert_nothing_raw(shown.removesuffix("Shared by <@U1>"))


def test_crm_note_in_an_answer_cannot_ping_or_forge_a_link(harness) -> None:
    question = "any trigger events at Quillfeather?"
    _, path = harness.command("/ask", question)
    (call,) = harness.mock.wait_for(path, timeout=TIMEOUT)
    shown = visible_text(call.body)
    assert "evil.example" in shown, f"precondition: the hostile note should be retrieved for {question!r}: {shown}"
    assert_nothing_raw(shown)
    assert_nothing_raw(call.body.get("text", ""))

    ts = new_ts()
    harness.event("app_mention", {"ts": ts, "event_ts": ts, "text": f"<@{BOT_USER_ID}> {question}"})
    (reply,) = harness.mock.wait_for("chat.postMessage", timeout=TIMEOUT)
    assert "evil.example" in visible_text(reply.body)
    assert_nothing_raw(visible_text(reply.body))


def test_model_written_answer_cannot_ping_either(sample, mock) -> None:
    """A model's reply is untrusted text too: it goes through the same escaping."""
    from fake_openai import fake_model

    model, _ = fake_model("<!channel> the next step is <http://evil.example|a pricing call> @here [1]")
    harness = Harness(sample, mock, services=sample.build_services(model=model))
    _, path = harness.command("/ask", "what is the next step on the Acme deal?")
    (call,) = harness.mock.wait_for(path, timeout=TIMEOUT)
    shown = visible_text(call.body)
    assert "pricing call" in shown
    assert_nothing_raw(shown)
    assert_nothing_raw(call.body.get("text", ""))


@pytest.mark.parametrize("command, text", [
    ("/ask", "<!here> what is the next step on the Acme deal?"),
    ("/brief", "<!channel> <@U999> corp"),
    ("/campaign", "CFO --touches <!everyone>"),
    ("/draft", "Acme --persona <http://evil.example|CFO>"),
])
def test_user_text_is_not_echoed_raw(harness, command, text) -> None:
    response, path = harness.command(command, text)
    assert response.status == 200
    assert_nothing_raw(ack_text(response))
    (call,) = harness.mock.wait_for(path, timeout=TIMEOUT)
    assert_nothing_raw(visible_text(call.body))
    assert_nothing_raw(call.body.get("text", ""))


def test_mention_with_a_broadcast_is_not_echoed_raw(harness) -> None:
    ts = new_ts()
    harness.event("app_mention", {"ts": ts, "event_ts": ts,
                                  "text": f"<@{BOT_USER_ID}> <!here> @channel what is the next step on the Acme deal?"})
    (reply,) = harness.mock.wait_for("chat.postMessage", timeout=TIMEOUT)
    assert_nothing_raw(visible_text(reply.body))


@pytest.mark.parametrize("command, text", [("/brief", "Acme"), ("/ask", "what is the next step on the Acme deal?")])
@pytest.mark.parametrize("missing", ["user", "channel"])
def test_a_signed_command_without_a_user_or_channel_is_refused_without_crm_data(harness, command, text,
                                                                                  missing) -> None:
    response, path = harness.command(command, text, **{missing: ""})
    assert response.status == 200
    (call,) = harness.mock.wait_for(path, timeout=TIMEOUT)
    assert ("can't tell who is asking" if missing == "user" else "can't tell where") in call.body["text"]
    assert "Acme Corporation" not in json.dumps(call.body)
    time.sleep(0.2)
    assert_no_crm_data(harness)
