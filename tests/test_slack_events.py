"""Mentions, thread follow-ups, DMs, the assistant pane and App Home through the real Bolt app."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from slack_helpers import (  # noqa: F401
    action_ids,
    blocks_of,
    harness,
    mock,
    new_ts,
    sample,
    thread_with_bot,
    thread_without_bot,
    visible_text,
)
from slack_mock import BOT_ID, BOT_USER_ID

from bot.blocks import FEEDBACK_HELPFUL

ANSWER_TIMEOUT = 15


def answers(harness) -> list:
    return harness.mock.find("chat.postMessage")


def only_answer(harness, settle: float = 0.4):
    (first,) = harness.mock.wait_for("chat.postMessage", timeout=ANSWER_TIMEOUT)
    time.sleep(settle)  # a duplicate would arrive about as fast as the first answer
    calls = answers(harness)
    assert len(calls) == 1, [c.body.get("text") for c in calls]
    return first


# ---------------------------------------------------------------- @mentions and their threads

def test_mention_in_a_channel_is_answered_in_its_thread(harness) -> None:
    ts = new_ts()
    response = harness.event("app_mention", {"ts": ts, "event_ts": ts})
    assert response.status == 200
    reply = only_answer(harness)
    assert reply.body["channel"] == "C1"
    assert reply.body["thread_ts"] == ts
    assert "knowledge base" in visible_text(reply.body)
    assert "[1]" in visible_text(reply.body)  # numbered citations
    assert FEEDBACK_HELPFUL in action_ids(blocks_of(reply))


def test_bare_mention_gets_a_hint_in_the_thread(harness) -> None:
    ts = new_ts()
    harness.event("app_mention", {"ts": ts, "event_ts": ts, "text": f"<@{BOT_USER_ID}>"})
    reply = only_answer(harness)
    assert reply.body["thread_ts"] == ts
    assert "Ask me" in reply.body["text"]


def test_mention_inside_an_existing_thread_answers_in_that_thread(harness) -> None:
    parent, ts = new_ts(), new_ts()
    harness.event("app_mention", {"ts": ts, "thread_ts": parent, "event_ts": ts})
    assert only_answer(harness).body["thread_ts"] == parent


def test_follow_up_in_the_bots_thread_needs_no_mention(harness) -> None:
    parent, ts = new_ts(), new_ts()
    harness.mock.replies["conversations.replies"] = harness.bot_thread(parent)
    response = harness.event("message_channel", {"ts": ts, "event_ts": ts, "thread_ts": parent,
                                                  "text": "and who else sits on their buying committee?"})
    assert response.status == 200
    reply = only_answer(harness)
    assert reply.body["channel"] == "C1"
    assert reply.body["thread_ts"] == parent
    assert visible_text(reply.body).strip()
    lookups = harness.mock.find("conversations.replies")
    assert [call.body["ts"] for call in lookups] == [parent]  # one read of the thread per follow-up


def test_follow_up_in_a_private_channel_thread(harness) -> None:
    parent, ts = new_ts(), new_ts()
    harness.mock.replies["conversations.replies"] = harness.bot_thread(parent, channel="G1")
    harness.event("message_channel", {"ts": ts, "event_ts": ts, "thread_ts": parent, "channel": "G1",
                                      "channel_type": "group", "text": "what is the next step on the Acme deal?"})
    reply = only_answer(harness)
    assert (reply.body["channel"], reply.body["thread_ts"]) == ("G1", parent)


def test_message_in_a_thread_the_bot_never_spoke_in_is_ignored(harness) -> None:
    parent, ts = new_ts(), new_ts()
    harness.mock.replies["conversations.replies"] = thread_without_bot(parent)
    harness.event("message_channel", {"ts": ts, "event_ts": ts, "thread_ts": parent, "text": "what about Acme?"})
    harness.assert_nothing_posted(settle=0.5)
    assert harness.mock.find("conversations.replies") == []  # a thread we are not in is not even read


def test_plain_channel_message_without_mention_is_ignored(harness) -> None:
    ts = new_ts()
    harness.event("message_channel", {"ts": ts, "event_ts": ts, "thread_ts": None,
                                      "text": "what is the next step on the Acme deal?"})
    harness.assert_nothing_posted(settle=0.5)


def test_message_and_app_mention_for_the_same_message_are_answered_once(harness) -> None:
    parent, ts = new_ts(), new_ts()
    # even inside a thread the bot already answered: the message listener must leave it to app_mention
    harness.mock.replies["conversations.replies"] = harness.bot_thread(parent)
    text = f"<@{BOT_USER_ID}> and who else sits on their buying committee?"
    harness.event("message_channel", {"ts": ts, "event_ts": ts, "thread_ts": parent, "text": text})
    harness.event("app_mention", {"ts": ts, "event_ts": ts, "thread_ts": parent, "text": text})
    reply = only_answer(harness, settle=0.8)
    assert reply.body["thread_ts"] == parent


@pytest.mark.parametrize("event", [
    pytest.param({"subtype": "bot_message", "bot_id": "BOTHER", "user": None, "username": "Zapier"}, id="bot_message"),
    pytest.param({"bot_id": "BOTHER", "user": "UOTHERBOT"}, id="other-bot-with-user"),
    pytest.param({"bot_id": BOT_ID, "user": BOT_USER_ID}, id="itself"),
    pytest.param({"user": BOT_USER_ID}, id="itself-without-bot-id"),
])
def test_bot_messages_in_the_bots_thread_are_never_answered(harness, event) -> None:
    parent, ts = new_ts(), new_ts()
    harness.mock.replies["conversations.replies"] = harness.bot_thread(parent)
    fields = {"ts": ts, "event_ts": ts, "thread_ts": parent, "text": "Here is what the knowledge base says…"}
    fields.update(event)
    harness.event("message_channel", fields)
    harness.assert_nothing_posted(settle=0.6)


@pytest.mark.parametrize("event", [
    pytest.param({"subtype": "bot_message", "bot_id": "BOTHER"}, id="bot_message"),
    pytest.param({"bot_id": BOT_ID, "user": BOT_USER_ID}, id="itself"),
])
def test_bot_messages_in_a_dm_are_never_answered(harness, event) -> None:
    ts = new_ts()
    harness.event("message_im", {"ts": ts, "event_ts": ts, **event})
    harness.assert_nothing_posted(settle=0.6)


def test_mention_posted_by_another_bot_is_not_answered(harness) -> None:
    ts = new_ts()
    harness.event("app_mention", {"ts": ts, "event_ts": ts, "bot_id": "BOTHER", "user": "UOTHERBOT"})
    harness.assert_nothing_posted(settle=0.6)


# ---------------------------------------------------------------- direct messages and the assistant pane

def test_direct_message_is_answered_in_the_dm(harness) -> None:
    ts = new_ts()
    response = harness.event("message_im", {"ts": ts, "event_ts": ts})
    assert response.status == 200
    reply = only_answer(harness)
    assert reply.body["channel"] == "D1"
    assert not reply.body.get("thread_ts")  # a DM is answered in place, not in a thread
    assert "knowledge base" in visible_text(reply.body)


def test_assistant_thread_started_greets_and_suggests_at_most_four_prompts(harness) -> None:
    response = harness.event("assistant_thread_started")
    assert response.status == 200
    (prompts,) = harness.mock.wait_for("assistant.threads.setSuggestedPrompts", timeout=ANSWER_TIMEOUT)
    (greeting,) = harness.mock.wait_for("chat.postMessage", timeout=ANSWER_TIMEOUT)
    assert greeting.body["channel"] == "D1"
    assert greeting.body["thread_ts"] == "1764000300.000400"
    assert greeting.body["text"].startswith("Hi")
    assert prompts.body["channel_id"] == "D1" and prompts.body["thread_ts"] == "1764000300.000400"
    suggested = prompts.body["prompts"]
    assert 1 <= len(suggested) <= 4
    assert all(p.get("title") and p.get("message") for p in suggested)
    # about the seller's own first persona (the sample's seller.yaml lists the CFO first), no account named
    assert suggested[0]["title"] == "Proof for a CFO"
    assert not [p for p in suggested if "Acme" in p["message"] or "Brightwater" in p["message"]]


def test_assistant_user_message_shows_thinking_status_before_the_answer(harness) -> None:
    ts = new_ts()
    response = harness.event("assistant_user_message", {"ts": ts, "event_ts": ts})
    assert response.status == 200
    (reply,) = harness.mock.wait_for("chat.postMessage", timeout=ANSWER_TIMEOUT)
    assert reply.body["channel"] == "D1"
    assert reply.body["thread_ts"] == "1764000300.000400"
    assert "knowledge base" in visible_text(reply.body)
    with harness.mock.lock:
        calls = list(harness.mock.calls)
    statuses = [i for i, c in enumerate(calls) if c.method == "assistant.threads.setStatus"]
    answer_at = next(i for i, c in enumerate(calls) if c.method == "chat.postMessage")
    assert statuses and statuses[0] < answer_at, [c.method for c in calls]
    first = calls[statuses[0]].body
    assert "thinking" in first["status"]
    assert first["channel_id"] == "D1" and first["thread_ts"] == "1764000300.000400"


def test_assistant_context_change_is_acknowledged_without_a_message(harness) -> None:
    body = harness.event_body("assistant_thread_started", {"type": "assistant_thread_context_changed"})
    response = harness.dispatch(body, content_type="application/json")
    assert response.status == 200
    harness.assert_nothing_posted(settle=0.4)


# ---------------------------------------------------------------- App Home

def test_app_home_lists_the_commands(harness) -> None:
    response = harness.event("app_home_opened")
    assert response.status == 200
    (publish,) = harness.mock.wait_for("views.publish", timeout=ANSWER_TIMEOUT)
    assert publish.body["user_id"] == "U1"
    view = publish.body["view"]
    assert view["type"] == "home"
    text = visible_text(view)
    for command in ("/ask", "/brief", "/draft", "/leads", "/campaign"):
        assert command in text


def test_app_home_messages_tab_publishes_nothing(harness) -> None:
    harness.event("app_home_opened", {"tab": "messages"})
    time.sleep(0.4)
    assert harness.mock.find("views.publish") == []


def test_follow_up_is_answered_with_the_thread_as_context(sample, mock) -> None:
    """The earlier question in the thread reaches the answering service (seen by a fake model)."""
    from fake_openai import fake_model
    from slack_helpers import Harness

    # the model first rewrites the follow-up into a standalone question, then answers from the passages
    model, recorder = fake_model("what is the next step on the Acme deal?",
                                 "The Acme committee: Diane Whitaker, CFO [1]")
    harness = Harness(sample, mock, services=sample.build_services(model=model))
    parent, ts = new_ts(), new_ts()
    harness.mock.replies["conversations.replies"] = harness.bot_thread(parent)
    harness.event("message_channel", {"ts": ts, "event_ts": ts, "thread_ts": parent,
                                      "text": "and who else sits on their buying committee?"})
    reply = only_answer(harness)
    assert reply.body["thread_ts"] == parent
    assert "Diane Whitaker" in visible_text(reply.body)
    sent = "\n".join(recorder.user(i) for i in range(len(recorder.calls)))
    assert "what is the next step on the Acme deal?" in sent  # the thread's earlier turn
    assert "and who else sits on their buying committee?" in sent
    assert "Here is what the knowledge base says…" not in sent  # the bot's own turns are not questions


# ---------------------------------------------------------------- conversations keep what they resolved

ACME_ID = "001V000000cLq0t"


def source_accounts(body: dict[str, Any]) -> set[str]:
    """The accounts named in the answer's sources line ("[1] title · Account — `path`")."""
    text = visible_text(body.get("blocks"))
    return set(re.findall(r"· ([^—\n]+?) —", text))


def test_an_answer_carries_the_account_it_was_about(harness) -> None:
    ts = new_ts()
    harness.event("app_mention", {"ts": ts, "event_ts": ts,
                                  "text": f"<@{BOT_USER_ID}> what is the next step on the Acme deal?"})
    reply = only_answer(harness)
    assert reply.body["metadata"] == {"event_type": "revenue_bot_answer", "event_payload": {"account_id": ACME_ID}}


def test_a_follow_up_in_the_thread_stays_on_the_account_the_first_answer_was_about(harness) -> None:
    parent, ts = new_ts(), new_ts()
    thread = harness.bot_thread(parent)
    thread["messages"][0]["text"] = f"<@{BOT_USER_ID}> where are we on the renewal there?"  # names no account
    thread["messages"][1]["metadata"] = {"event_type": "revenue_bot_answer",
                                         "event_payload": {"account_id": ACME_ID}}
    harness.mock.replies["conversations.replies"] = thread
    harness.event("message_channel", {"ts": ts, "event_ts": ts, "thread_ts": parent,
                                      "text": "who is their CFO and what did they last tell us?"})
    reply = only_answer(harness)
    assert source_accounts(reply.body) <= {"Acme Corporation"}, visible_text(reply.body)
    assert reply.body["metadata"]["event_payload"]["account_id"] == ACME_ID
    (lookup,) = harness.mock.find("conversations.replies")
    assert lookup.body.get("include_all_metadata") in (True, "true", "1", 1)


def test_a_follow_up_in_a_direct_message_reads_the_conversation(harness) -> None:
    ts = new_ts()
    harness.mock.replies["conversations.history"] = {"ok": True, "messages": [  # newest first, as Slack sends
        {"type": "message", "user": BOT_USER_ID, "bot_id": BOT_ID, "text": "Here is what the knowledge base says…",
         "ts": f"{float(ts) - 1:.6f}",
         "metadata": {"event_type": "revenue_bot_answer", "event_payload": {"account_id": ACME_ID}}},
        {"type": "message", "user": "U1", "text": "what is the next step on the Acme deal?",
         "ts": f"{float(ts) - 2:.6f}"},
    ]}
    harness.event("message_im", {"ts": ts, "event_ts": ts, "text": "and who signs for them?"})
    reply = only_answer(harness)
    assert source_accounts(reply.body) <= {"Acme Corporation"}, visible_text(reply.body)
    assert harness.mock.find("conversations.history")
