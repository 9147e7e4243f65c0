"""Block Kit builders and text escaping (pure functions), and the Slack app manifest."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.blocks import (
    BUTTON_VALUE_LIMIT,
    FEEDBACK_HELPFUL,
    FEEDBACK_NOT_HELPFUL,
    SHARE_IN_CHANNEL,
    build_answer_blocks,
    build_brief_blocks,
    build_draft_blocks,
    build_home_view,
    build_result_blocks,
    build_triage_blocks,
    fallback_text,
)
from bot.commands import COMMANDS, CommandResult
from bot.formatting import BLOCK_LIMIT, SECTION_LIMIT, escape, split_text, to_mrkdwn
from bot.listeners.replies import reviewable_blocks
from bot.services.answering import Answer
from bot.services.triage import Lead, triage_leads

REPO = Path(__file__).resolve().parent.parent
HOSTILE = "<!channel> <!here|here> <@U123> <#C999> <http://evil.example|your invoice> @here @channel @everyone &"
RAW = re.compile(r"<[!@#]|<https?:|@(channel|here|everyone)\b")


class Data:
    """A result whose as_dict() is given: the builders only read as_dict()."""

    def __init__(self, data: dict[str, Any], text: str = ""):
        self.data = data
        self.text = text

    def as_dict(self) -> dict[str, Any]:
        return self.data


# ---------------------------------------------------------------- limits, checked on every block

def mrkdwn_texts(blocks: list[dict[str, Any]]) -> list[str]:
    texts = []
    for block in blocks:
        if block.get("text", {}).get("type") == "mrkdwn":
            texts.append(block["text"]["text"])
        for element in block.get("elements", []):
            if element.get("type") == "mrkdwn":
                texts.append(element["text"])
    return texts


def assert_within_slack_limits(blocks: list[dict[str, Any]]) -> None:
    assert 0 < len(blocks) <= BLOCK_LIMIT == 50, len(blocks)
    for block in blocks:
        kind = block["type"]
        if kind == "section":
            assert 0 < len(block["text"]["text"]) <= SECTION_LIMIT == 3000
        elif kind == "header":
            assert len(block["text"]["text"]) <= 150 and block["text"]["type"] == "plain_text"
        elif kind == "context":
            assert len(block["elements"]) <= 10
            assert all(len(e["text"]) <= 3000 for e in block["elements"])
        elif kind == "actions":
            assert len(block["elements"]) <= 25
            for element in block["elements"]:
                assert len(element["text"]["text"]) <= 75
                assert len(element["value"]) <= BUTTON_VALUE_LIMIT
                assert len(element["action_id"]) <= 255
    ids = [b["block_id"] for b in blocks if "block_id" in b]
    assert len(ids) == len(set(ids)), f"duplicate block_id: {ids}"  # Slack rejects the message otherwise


def assert_no_raw_control(blocks: list[dict[str, Any]]) -> None:
    for text in mrkdwn_texts(blocks):
        assert not RAW.search(text), text[:500]


# ---------------------------------------------------------------- escape()

@pytest.mark.parametrize("raw, forbidden, expected", [
    ("<!channel> look", "<!channel>", "&lt;!channel&gt; look"),
    ("<!here>", "<!here>", "&lt;!here&gt;"),
    ("hi <@U123>", "<@U123>", "hi &lt;@U123&gt;"),
    ("<http://x|y>", "<http://x|y>", "&lt;http://x|y&gt;"),
    ("<#C123|general>", "<#C123", "&lt;#C123|general&gt;"),
    ("ping @channel now", "@channel", "ping @\u200bchannel now"),
    ("@here and @everyone", "@here", "@\u200bhere and @\u200beveryone"),
    ("@HERE", "@HERE", "@\u200bHERE"),
    ("R&D <3", "R&D <", "R&amp;D &lt;3"),
])
def test_escape_neutralises_control_sequences(raw, forbidden, expected) -> None:
    escaped = escape(raw)
    assert escaped == expected
    assert forbidden not in escaped
    assert not RAW.search(escaped)


def test_escape_leaves_ordinary_text_and_emails_alone() -> None:
    assert escape("Dana Reyes (CFO) — 12% in Q3") == "Dana Reyes (CFO) — 12% in Q3"
    assert escape("dana@acme.example") == "dana@acme.example"  # not a broadcast
    assert escape(None) == ""


def test_to_mrkdwn_escapes_before_formatting_and_shows_where_links_go() -> None:
    text = to_mrkdwn("## Plan\n**Bold** claim, see [the deck](https://example.com/deck) <!channel>")
    assert "*Plan*" in text and "*Bold*" in text
    assert "the deck (https://example.com/deck)" in text  # a document cannot hide a link's target
    assert "<" not in text
    assert "&lt;!channel&gt;" in text


def test_split_text_keeps_every_word_and_respects_the_limit() -> None:
    paragraphs = [" ".join(f"word{p}_{i}" for i in range(250)) for p in range(12)]
    text = "\n\n".join(paragraphs)
    pieces = split_text(text, SECTION_LIMIT)
    assert len(pieces) > 1
    assert all(len(p) <= SECTION_LIMIT for p in pieces)
    assert " ".join(" ".join(pieces).split()) == " ".join(text.split())
    unbroken = "x" * 7000  # no space to cut at
    assert [len(p) for p in split_text(unbroken)] == [3000, 3000, 1000]


# ---------------------------------------------------------------- builders at Slack's limits

def test_very_long_answer_fits_in_one_message_and_keeps_its_feedback_buttons() -> None:
    long = "\n\n".join(f"Paragraph {n}: " + "the buyer cares about cash and payback " * 60 for n in range(120))
    answer = Answer("a question", long, grounded=True)
    blocks = build_answer_blocks(answer, question="a question")
    assert len(long) > 50 * SECTION_LIMIT  # more than 50 sections would be needed
    assert_within_slack_limits(blocks)
    assert blocks[-1]["type"] == "actions"
    assert [e["action_id"] for e in blocks[-1]["elements"]] == [FEEDBACK_HELPFUL, FEEDBACK_NOT_HELPFUL]
    assert any("more in the full result" in t for t in mrkdwn_texts(blocks))


def test_answer_with_hostile_text_and_sources_is_escaped() -> None:
    answer = Answer(HOSTILE, f"The note says {HOSTILE} [1]", grounded=True)
    blocks = build_answer_blocks(answer, question=HOSTILE)
    assert_within_slack_limits(blocks)
    assert_no_raw_control(blocks)
    result = CommandResult("ask", HOSTILE, "answer", answer)
    assert not RAW.search(fallback_text(result))


def _leads(count: int) -> list[Lead]:
    titles = ["Procurement Intern", "Chief Financial Officer", "Supply Chain Analyst", "VP Operations",
              "Head of Procurement", "Marketing Coordinator", "Stagiaire achats", "Geschäftsführer"]
    return [Lead(name=f"Person {n} <!here>", title=titles[n % len(titles)], company="Big Co", score=90.0,
                 page_views=40.0, form_submissions=5.0, last_activity="2026-11-20", ref=f"lead:{n}")
            for n in range(count)]


def test_triage_of_200_leads_fits_in_one_message_with_its_buttons(ctx) -> None:
    result = triage_leads(_leads(200), ctx)
    assert result.summary["total"] == 200
    assert {v.verdict for v in result.verdicts} == {"pursue", "nurture", "not_worth_chasing"}
    blocks = build_triage_blocks(result, account="Big Co")
    assert_within_slack_limits(blocks)
    assert "200 people" in mrkdwn_texts(blocks)[0]

    wrapped = build_result_blocks(CommandResult("leads", "Big Co", "triage", result, account_id="001X"),
                                  share_id="r1")
    assert_within_slack_limits(wrapped)
    assert_no_raw_control(wrapped)
    tail = [e["action_id"] for b in wrapped[-2:] for e in b.get("elements", [])]
    assert tail == [SHARE_IN_CHANNEL, FEEDBACK_HELPFUL, FEEDBACK_NOT_HELPFUL]
    assert json.loads(wrapped[-2]["elements"][0]["value"]) == {"result": "r1"}


def _brief_data(size: int, text: str = "") -> dict[str, Any]:
    return {
        "account": {"name": f"Acme {text}", "id": "001A"},
        "summary": f"Summary {text} " + "long summary sentence. " * 400,
        "opportunities": [{"name": f"Deal {n} {text}", "stage": f"Negotiation {text}", "amount": 1_200_000,
                           "close_date": "2026-12-31", "next_step": f"Call the CFO {text}", "open": True}
                          for n in range(size)],
        "activities": [{"date": "2026-11-20", "type": f"Call {text}", "subject": f"Subject {n} {text}",
                        "contact": f"Dana {text}"} for n in range(size)],
        "buying_committee": [{"name": f"Member {n} {text}", "title": f"Title {text}", "level": "executive",
                              "function": "finance", "engaged": n % 2 == 0} for n in range(size)],
        "coverage_gaps": [f"Gap {n} {text}" for n in range(size)],
        "flagged_leads": [{"name": f"Lead {n} {text}", "title": f"Intern {text}", "next_move": f"Ask {text}"}
                          for n in range(size)],
        "next_steps": [f"Step {n} {text}" for n in range(size)],
        "sources": [{"id": f"s{n}", "title": f"Source {n} {text}", "account": f"Acme {text}",
                     "path": f"crm/{text}.csv"} for n in range(min(size, 8))],
    }


def test_a_brief_in_slack_states_the_profiles_engagement_window(small_crm, make_settings, fake_embeddings) -> None:
    """A seller whose engagement window is 30 days must not read "engaged in the last 90 days" in Slack."""
    from bot.cli import run_ingest
    from bot.runtime import build_services
    from bot.services.briefs import build_brief

    small_crm.write("seller.yaml", "as_of: 2024-03-20\nengagement: {window_days: 30}\n")
    small_crm.crm("activities.csv", "Id,ActivityDate,Type,Subject,WhoId,WhatId\n"
                                    "00T1,2024-03-10,Meeting,Budget review,003A,001A\n")
    services = build_services(make_settings(), embeddings=fake_embeddings)
    assert not run_ingest(services, [], show_progress=False).errors
    account = services.retriever.resolve_account("Acme Corporation").account
    brief = build_brief(services.retriever, account, services.context())
    text = "\n".join(mrkdwn_texts(build_brief_blocks(brief)))
    assert "Dana Reyes" in text
    assert "90 days" not in text, text


def test_huge_brief_fits_in_one_message() -> None:
    blocks = build_result_blocks(CommandResult("brief", "Acme", "brief", Data(_brief_data(400)), account_id="001A"),
                                 share_id="r1")
    assert_within_slack_limits(blocks)
    assert [e["action_id"] for b in blocks[-2:] for e in b["elements"]] == [
        SHARE_IN_CHANNEL, FEEDBACK_HELPFUL, FEEDBACK_NOT_HELPFUL]


def test_brief_with_hostile_crm_text_is_escaped_everywhere() -> None:
    blocks = build_brief_blocks(Data(_brief_data(3, HOSTILE)))
    assert_within_slack_limits(blocks)
    assert_no_raw_control(blocks)
    assert any("&lt;!channel&gt;" in t for t in mrkdwn_texts(blocks))


def _draft_data(text: str = "") -> dict[str, Any]:
    return {"to": {"name": f"Dana {text}", "title": f"CFO {text}"}, "subject": f"Subject {text}",
            "body": f"Hi Dana,\n\n{text}\n\n" + "Working capital matters. " * 300, "rationale": f"Why {text}",
            "checks": {"under_word_limit": True, "word_count": 120, "senior_target": True, "trigger_used": True,
                       "proof_point": True, "product_feature_count": 1, "pushy_phrases": [], "passed": True},
            "sources": [{"id": "s1", "title": f"Case {text}", "path": "content/x.md"}]}


def test_draft_blocks_are_escaped_and_never_shareable() -> None:
    blocks = build_draft_blocks(Data(_draft_data(HOSTILE)))
    assert_within_slack_limits(blocks)
    assert_no_raw_control(blocks)
    wrapped = reviewable_blocks(CommandResult("draft", "Acme", "draft", Data(_draft_data()), account_id="001A"),
                                real_ledger(), "U1")
    ids = [e["action_id"] for b in wrapped if b["type"] == "actions" for e in b["elements"]]
    assert SHARE_IN_CHANNEL not in ids
    assert FEEDBACK_HELPFUL in ids


def test_campaign_of_twelve_long_touches_fits_and_is_escaped() -> None:
    touches = [{"day": 3 * n, "channel": "email", "subject": f"Touch {n} {HOSTILE}",
                "body": f"{HOSTILE} " + "Cash tied up in stock. " * 200,
                "sources": [{"title": f"Case {HOSTILE}"}]} for n in range(12)]
    data = {"persona": "CFO", "industry": "Retail", "touches": touches, "note": f"Note {HOSTILE}"}
    blocks = build_result_blocks(CommandResult("campaign", "CFO", "campaign", Data(data)), share_id="r1")
    assert_within_slack_limits(blocks)
    assert_no_raw_control(blocks)
    assert SHARE_IN_CHANNEL in [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


@pytest.mark.parametrize("question", [
    pytest.param("what is the next step on the Acme deal? " + "Pasted from the customer's email. " * 60, id="long"),
    pytest.param("Какой следующий шаг по сделке с Acme и кто входит в закупочный комитет? " * 6, id="cyrillic"),
])
def test_every_button_value_is_valid_json_for_long_questions(question) -> None:
    """Button values are parsed back when clicked: a value cut mid-JSON breaks Share and loses the vote."""
    answer = Answer(question, "Here is what the knowledge base says: the CFO signs. [1]", grounded=True)
    blocks = build_result_blocks(CommandResult("ask", question, "answer", answer), share_id="0" * 32)
    values = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert {e["action_id"] for e in values} == {SHARE_IN_CHANNEL, FEEDBACK_HELPFUL, FEEDBACK_NOT_HELPFUL}
    for element in values:
        assert len(element["value"]) <= BUTTON_VALUE_LIMIT
        value = json.loads(element["value"])  # raises on a truncated value
        assert isinstance(value, dict)
        if element["action_id"] == SHARE_IN_CHANNEL:
            assert value == {"result": "0" * 32}


def real_ledger():  # noqa: ANN201 - bot.knowledge.ledger.Ledger
    import chromadb

    from bot.knowledge.ledger import Ledger

    return Ledger(chromadb.EphemeralClient(), "blocks-test")


def test_a_private_result_is_saved_as_the_channel_will_see_it() -> None:
    ledger = real_ledger()
    result = CommandResult("brief", "Acme", "brief", Data(_brief_data(2)))
    private = reviewable_blocks(result, ledger, "U1")
    (button,) = [e for b in private if b["type"] == "actions" for e in b["elements"]
                 if e["action_id"] == SHARE_IN_CHANNEL]
    saved = ledger.get(f"result:{json.loads(button['value'])['result']}")
    assert saved is not None and saved["user"] == "U1"
    assert [b for b in saved["blocks"] if b.get("block_id") != "share"] == \
        [b for b in private if b.get("block_id") != "share"]
    assert SHARE_IN_CHANNEL not in json.dumps(saved["blocks"])  # the shared copy carries no share button


def test_home_view_lists_every_command() -> None:
    view = build_home_view()
    assert view["type"] == "home"
    assert len(view["blocks"]) <= 100
    text = "\n".join(mrkdwn_texts(view["blocks"]))
    for command in COMMANDS:
        assert f"/{command}" in text


# ---------------------------------------------------------------- manifest.yaml

MANIFEST = yaml.safe_load((REPO / "manifest.yaml").read_text(encoding="utf-8"))
EVENTS = {"app_mention", "message.im", "message.channels", "message.groups", "app_home_opened",
          "assistant_thread_started", "assistant_thread_context_changed"}
# Scopes Slack requires for each event the app subscribes to, and for each Web API method the code calls.
EVENT_SCOPES = {
    "app_mention": {"app_mentions:read"}, "message.im": {"im:history"}, "message.channels": {"channels:history"},
    "message.groups": {"groups:history"}, "app_home_opened": set(),
    "assistant_thread_started": {"assistant:write"}, "assistant_thread_context_changed": {"assistant:write"},
}
METHOD_SCOPES = {
    "chat_postMessage": {"chat:write"},  # say() in every conversation listener
    "assistant_threads_setStatus": {"assistant:write"},  # set_status()
    "assistant_threads_setSuggestedPrompts": {"assistant:write"},  # set_suggested_prompts()
    "conversations_replies": {"channels:history", "groups:history"},  # follow-ups in public and private channels
    "conversations_history": {"im:history"},  # follow-ups in a direct message outside a thread
    "conversations_info": {"channels:read", "groups:read"},  # is the channel shared with another org?
    "users_info": {"users:read"},  # guests
    "users_lookupByEmail": {"users:read", "users:read.email"},  # the digest: an account owner's Slack user
    "users_list": {"users:read", "users:read.email"},  # the same for many owners at once (emails need the scope)
    "views_publish": set(),
}
BOLT_HELPERS = {"say": "chat_postMessage", "set_status": "assistant_threads_setStatus",
                "set_suggested_prompts": "assistant_threads_setSuggestedPrompts"}


def methods_called_by_the_code() -> set[str]:
    source = "\n".join(p.read_text(encoding="utf-8") for p in (REPO / "bot").rglob("*.py"))
    # Slack Web API methods on a WebClient (`client.users_info(`); Chroma's client methods are not Slack's
    families = ("admin", "apps", "assistant", "auth", "bookmarks", "bots", "canvases", "chat", "conversations",
                "dnd", "emoji", "files", "functions", "pins", "reactions", "reminders", "search", "team",
                "usergroups", "users", "views", "workflows")
    # on a client (`client.users_info(`), or by name through a pacing wrapper (`.call("users_list", …)`)
    named = re.findall(r"\bclient\.([a-z]+_[A-Za-z_]+)\(", source) + \
        re.findall(r"\.call\(\"([a-z]+_[A-Za-z_]+)\"", source)
    called = {m for m in named if m.split("_")[0] in families}
    called |= {method for helper, method in BOLT_HELPERS.items() if re.search(rf"\b{helper}\(", source)}
    return called


def test_manifest_lists_exactly_the_five_commands_pointing_at_the_events_url() -> None:
    commands = MANIFEST["features"]["slash_commands"]
    assert sorted(c["command"] for c in commands) == sorted(f"/{c}" for c in COMMANDS)
    assert len(commands) == 5
    assert all(c["url"].endswith("/slack/events") for c in commands)


def test_manifest_subscribes_to_exactly_the_events_handled() -> None:
    settings = MANIFEST["settings"]
    assert set(settings["event_subscriptions"]["bot_events"]) == EVENTS
    assert len(settings["event_subscriptions"]["bot_events"]) == len(EVENTS)
    assert settings["event_subscriptions"]["request_url"].endswith("/slack/events")
    assert settings["interactivity"]["is_enabled"] is True  # the buttons
    features = MANIFEST["features"]
    assert features["app_home"]["home_tab_enabled"] is True
    assert features["app_home"]["messages_tab_enabled"] is True  # DMs
    assert "assistant_view" in features  # the assistant pane


def test_every_scope_is_needed_and_every_need_has_its_scope() -> None:
    scopes = set(MANIFEST["oauth_config"]["scopes"]["bot"])
    called = methods_called_by_the_code()
    unknown = called - set(METHOD_SCOPES)
    assert not unknown, f"the code calls {unknown}: add their scopes to this test and the manifest"
    needed = {"commands"}
    for event in MANIFEST["settings"]["event_subscriptions"]["bot_events"]:
        needed |= EVENT_SCOPES[event]
    for method in called:
        needed |= METHOD_SCOPES[method]
    assert scopes - needed == set(), f"scopes nothing needs: {scopes - needed}"
    assert needed - scopes == set(), f"scopes missing: {needed - scopes}"
    assert "user" not in MANIFEST["oauth_config"]["scopes"]  # no user token
