"""What a team running several replicas behind a load balancer relies on, through the real Bolt app:
an event answered once across replicas, follow-ups only where the bot is, answers on the work pool, and
"Share in channel" posting exactly what the user reviewed."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from typing import Any

import pytest
from slack_helpers import (  # noqa: F401
    Harness,
    blocks_of,
    harness,
    mock,
    new_ts,
    sample,
    visible_text,
)
from slack_mock import BOT_USER_ID

from bot.blocks import SHARE_IN_CHANNEL
from bot.listeners.actions import SHARE_GONE

TIMEOUT = 15


def share_button(call: Any) -> dict[str, Any]:
    for block in blocks_of(call):
        for element in block.get("elements", []) if block.get("type") == "actions" else []:
            if element.get("action_id") == SHARE_IN_CHANNEL:
                return element
    raise AssertionError(f"no share button in {json.dumps(call.body)[:500]}")


def without_actions(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [b for b in blocks if b.get("type") != "actions"]


# ---------------------------------------------------------------- one answer per event, across replicas

def test_an_event_delivered_to_two_replicas_is_answered_once(sample, mock) -> None:
    # two app instances, each with its own services and Chroma client over the same store, as two containers
    first = Harness(sample, mock, services=sample.build_services())
    second = Harness(sample, mock, services=sample.build_services())
    ts = new_ts()
    body = first.event_body("app_mention", {"ts": ts, "event_ts": ts})
    statuses: list[int] = []

    def deliver(replica: Harness) -> None:
        statuses.append(replica.dispatch(body, content_type="application/json").status)

    threads = [threading.Thread(target=deliver, args=(r,)) for r in (first, second, first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200, 200, 200, 200]  # every delivery is acknowledged
    mock.wait_for("chat.postMessage", timeout=TIMEOUT)
    time.sleep(1.0)  # a second answer would arrive about as fast as the first
    answers = mock.find("chat.postMessage")
    assert len(answers) == 1, [visible_text(a.body)[:80] for a in answers]
    assert answers[0].body["thread_ts"] == ts


def test_the_same_event_replayed_later_is_not_answered_again(harness) -> None:
    ts = new_ts()
    body = harness.event_body("app_mention", {"ts": ts, "event_ts": ts})
    harness.dispatch(body, content_type="application/json")
    harness.mock.wait_for("chat.postMessage", timeout=TIMEOUT)
    assert harness.dispatch(body, content_type="application/json").status == 200
    time.sleep(0.8)
    assert len(harness.mock.find("chat.postMessage")) == 1


# ---------------------------------------------------------------- threads: only where the bot is

def test_a_follow_up_in_another_replicas_thread_is_answered(sample, mock) -> None:
    first = Harness(sample, mock, services=sample.build_services())
    second = Harness(sample, mock, services=sample.build_services())
    parent = new_ts()
    first.event("app_mention", {"ts": parent, "event_ts": parent})  # replica one answers the mention
    mock.wait_for("chat.postMessage", timeout=TIMEOUT)
    follow = new_ts()
    second.event("message_channel", {"ts": follow, "event_ts": follow, "thread_ts": parent,
                                     "text": "and who else sits on their buying committee?"})
    answers = mock.wait_for("chat.postMessage", count=2, timeout=TIMEOUT)
    assert answers[1].body["thread_ts"] == parent
    assert [c.body["ts"] for c in mock.find("conversations.replies")] == [parent]  # read once, for the history


def test_a_thread_the_bot_started_is_followed_without_looking_it_up_elsewhere(harness) -> None:
    parent, ts = new_ts(), new_ts()  # e.g. a result shared in the channel: its parent message is the bot's
    harness.event("message_channel", {"ts": ts, "event_ts": ts, "thread_ts": parent, "parent_user_id": BOT_USER_ID,
                                      "text": "what is the next step on the Acme deal?"})
    (reply,) = harness.mock.wait_for("chat.postMessage", timeout=TIMEOUT)
    assert reply.body["thread_ts"] == parent


def test_busy_channels_cost_no_thread_reads(harness) -> None:
    for _ in range(20):
        parent, ts = new_ts(), new_ts()
        harness.event("message_channel", {"ts": ts, "event_ts": ts, "thread_ts": parent, "parent_user_id": "U2",
                                          "text": "lunch at noon?"})
    harness.assert_nothing_posted(settle=0.8)
    assert harness.mock.find("conversations.replies") == []


# ---------------------------------------------------------------- answers run on the work pool

class SlowRetriever:
    """The real retriever, each search taking a while, noting how many answers are being worked out at once."""

    def __init__(self, inner: Any, delay: float):
        self._inner = inner
        self.delay = delay
        self.busy = self.most = 0
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if name != "gather":
            return value

        def gather(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.busy += 1
                self.most = max(self.most, self.busy)
            try:
                time.sleep(self.delay)
                return value(*args, **kwargs)
            finally:
                with self._lock:
                    self.busy -= 1
        return gather


def test_a_burst_of_mentions_and_dms_is_answered_two_at_a_time_while_commands_are_acknowledged(sample, mock) -> None:
    from bot.app import WORK_THREADS

    services = sample.build_services()
    slow = SlowRetriever(services.retriever, delay=0.3)
    harness = Harness(sample, mock, services=dataclasses.replace(services, retriever=slow))
    for n in range(6):
        ts = new_ts()
        if n % 2:
            harness.event("message_im", {"ts": ts, "event_ts": ts, "text": "what is the next step on the Acme deal?"})
        else:
            harness.event("app_mention", {"ts": ts, "event_ts": ts})
    started = time.perf_counter()
    response, _ = harness.command("/ask", "what is the next step on the Acme deal?")
    assert response.status == 200 and time.perf_counter() - started < 1.0  # acknowledged, not queued behind them
    mock.wait_for("chat.postMessage", count=6, timeout=TIMEOUT)
    assert 1 <= slow.most <= WORK_THREADS  # the CPU-heavy part never runs on the listener threads' 96


# ---------------------------------------------------------------- sharing posts what was reviewed

def test_share_in_channel_posts_exactly_the_reviewed_result(harness) -> None:
    _, path = harness.command("/brief", "Acme")
    (reviewed,) = harness.mock.wait_for(path, timeout=TIMEOUT)
    button = share_button(reviewed)
    assert "Acme" not in button["value"]  # the button names the saved result; no user text rides in it
    calls_before = len(harness.mock.calls)
    _, share_path = harness.click(SHARE_IN_CHANNEL, button["value"], block_id="share")
    (shared,) = harness.mock.wait_for(share_path, timeout=TIMEOUT)
    assert shared.body["response_type"] == "in_channel"
    assert without_actions(shared.body["blocks"])[:-1] == without_actions(reviewed.body["blocks"])
    assert shared.body["blocks"][-1]["elements"][0]["text"] == "Shared by <@U1>"
    assert shared.body["text"] == reviewed.body["text"]
    assert SHARE_IN_CHANNEL not in json.dumps(shared.body)
    # nothing was worked out again: the only call after the click is the shared message itself
    assert [c.path for c in harness.mock.calls[calls_before:]] == [share_path]


def test_a_shared_model_answer_is_not_asked_again(sample, mock) -> None:
    from fake_openai import fake_model

    model, recorder = fake_model("The CFO signs off on the renewal [1].", "Something else entirely [1].")
    harness = Harness(sample, mock, services=sample.build_services(model=model))
    _, path = harness.command("/ask", "what is the next step on the Acme deal?")
    (reviewed,) = harness.mock.wait_for(path, timeout=TIMEOUT)
    asked = len(recorder.calls)
    _, share_path = harness.click(SHARE_IN_CHANNEL, share_button(reviewed)["value"], block_id="share")
    (shared,) = harness.mock.wait_for(share_path, timeout=TIMEOUT)
    assert len(recorder.calls) == asked  # the model was not asked a second time
    assert visible_text({"blocks": without_actions(reviewed.body["blocks"])}) in visible_text(shared.body)


def test_an_unknown_or_forged_result_is_not_shared(harness) -> None:
    for value in (json.dumps({"result": "0" * 32, "command": "brief"}),
                  json.dumps({"command": "brief", "text": "Acme", "account_id": None}),  # an old button
                  "not json"):
        _, path = harness.click(SHARE_IN_CHANNEL, value, block_id="share")
        (call,) = harness.mock.wait_for(path, timeout=TIMEOUT)
        assert call.body["text"] == SHARE_GONE
        assert call.body["response_type"] == "ephemeral"
        assert "Acme Corporation" not in json.dumps(call.body)


def test_nothing_raw_rides_in_a_result_even_where_slack_does_not_render(harness) -> None:
    _, path = harness.command("/campaign", "<!here> CFO <@U999> <!channel>")
    (call,) = harness.mock.wait_for(path, timeout=TIMEOUT)
    raw = json.dumps(call.body, ensure_ascii=False)  # headers, button values, everything
    for needle in ("<!here>", "<!channel>", "<@U999>"):
        assert needle not in raw


# ---------------------------------------------------------------- a paused Chroma server holds nobody

@pytest.mark.slow
def test_a_paused_chroma_server_costs_each_request_at_most_one_timeout(sample, mock, tmp_path, request,
                                                                      monkeypatch) -> None:
    import signal

    from chroma_helpers import start_chroma_server

    from bot.knowledge import store as store_module
    from bot.knowledge.ingest import ingest
    from bot.listeners.replies import STORE_DOWN
    from bot.server import readiness

    monkeypatch.setattr(store_module, "SERVER_TIMEOUT", 2.0)
    monkeypatch.setattr(store_module, "COOLDOWN", 3.0)
    host, port, server = start_chroma_server(tmp_path, request)
    services = sample.build_services(chroma_host=host, chroma_port=port, chroma_path=tmp_path / "unused")
    ingest(services.store, sample.embeddings, [sample.knowledge], root=sample.knowledge)
    harness = Harness(sample, mock, services=services)
    _, path = harness.command("/ask", "what is the next step on the Acme deal?")
    (first,) = mock.wait_for(path, timeout=TIMEOUT)
    assert "Acme" in visible_text(first.body)

    server.send_signal(signal.SIGSTOP)
    try:
        sent = time.monotonic()
        paths = [harness.command("/ask", f"what is the next step on the Acme deal? ({n})")[1] for n in range(6)]
        waits = []
        for reply_path in paths:
            (call,) = mock.wait_for(reply_path, timeout=TIMEOUT)
            waits.append(time.monotonic() - sent)
            assert call.body["text"] == STORE_DOWN
        # one timeout (2 s) for the calls that found the server paused, the rest fail at once: without the
        # breaker, six asks on two work threads would take about three timeouts
        assert max(waits) < 2.0 + 1.5, waits
        started = time.monotonic()
        ready, checks = readiness(services)
        assert not ready and time.monotonic() - started < 1.0, checks
    finally:
        server.send_signal(signal.SIGCONT)
    time.sleep(3.5)  # the cooldown: the next call probes the server, which answers again
    _, path = harness.command("/ask", "what is the next step on the Acme deal?")
    (again,) = mock.wait_for(path, timeout=TIMEOUT)
    assert "Acme" in visible_text(again.body)
    assert readiness(services)[0]
