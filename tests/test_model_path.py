"""The model path: one deadline per command, a bounded number of calls, and every model output checked.

Each command (an answer, a brief, a draft, a campaign) waits for the model at most COMMAND_BUDGET ×
OPENAI_TIMEOUT in total, retries included; it makes a fixed, small number of calls; and what the model wrote
is used only when its citations point at sources it was given and it ties each fact to the account it came
from. Everything runs through the real `openai` client against the local fake endpoint (tests/fake_openai.py),
with a one-second OPENAI_TIMEOUT so the deadlines are short.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from fake_openai import FakeOpenAI, Request, SampleKnowledge, fake_openai, run_cli  # noqa: F401

from bot.cli import run_ingest
from bot.llm import COMMAND_BUDGET, FALLBACK_NOTE, Model, ModelUnavailable, build_model
from bot.runtime import Services, build_services
from bot.services.answering import answer_question
from bot.services.briefs import build_brief
from bot.services.campaigns import build_campaign
from bot.services.drafts import draft_outreach

TIMEOUT = 1.0  # OPENAI_TIMEOUT in these tests
BUDGET = COMMAND_BUDGET * TIMEOUT  # 1.5 s: what a command may wait for the model in all
# the budget plus the time to compose the fallback on a loaded two-core machine; a hanging model cost 2.5 s before
# (two 1 s attempts and a back-off), and two full calls take 2 s
BOUND = BUDGET + 0.3


@pytest.fixture
def model(fake_openai: FakeOpenAI, sample: SampleKnowledge) -> Model:
    built = build_model(sample.settings(**fake_openai.model_settings(openai_timeout=TIMEOUT)))
    assert built is not None
    return built


def source_number(request: Request, *, account: str = "", title: str = "") -> int:
    """The number the service gave the first source of this account (or with this title) in its prompt."""
    for number, attributes in re.findall(r'<source n="(\d+)"([^>]*)>', request.user):
        if (not account or f'account="{account}"' in attributes) and (not title or f'title="{title}' in attributes):
            return int(number)
    raise AssertionError(f"no source of {account or title!r} was sent:\n{request.user}")


def timed(run: Callable[[], Any]) -> tuple[Any, float]:
    started = time.monotonic()
    result = run()
    return result, time.monotonic() - started


# ================================================================ one deadline per command, bounded calls

COMMANDS: dict[str, Callable[[SampleKnowledge, Any, Model], Any]] = {
    "answer": lambda sample, ctx, model: answer_question("What is the next step on the Acme renewal?",
                                                         retriever=sample.retriever, model=model),
    "brief": lambda sample, ctx, model: build_brief(sample.retriever, sample.account("Acme Corporation"), ctx,
                                                    model=model),
    "draft": lambda sample, ctx, model: draft_outreach(sample.retriever, sample.account("Acme Corporation"), ctx,
                                                       model=model),
    "campaign": lambda sample, ctx, model: build_campaign(sample.retriever, ctx, persona="CFO", touches=12,
                                                          model=model),
}


def note_of(result: Any) -> str:
    return str(getattr(result, "note", "") or "")


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_hanging_model_costs_a_command_at_most_its_budget(sample: SampleKnowledge, ctx, model: Model,
                                                             fake_openai: FakeOpenAI, command: str) -> None:
    fake_openai.hang(30)

    result, elapsed = timed(lambda: COMMANDS[command](sample, ctx, model))

    assert result.engine == "composer"
    assert note_of(result) == FALLBACK_NOTE.format(reason="timeout")
    assert elapsed <= BOUND, elapsed
    assert len(fake_openai.requests) == 1  # a call that timed out is not retried: it already had its full share


def test_one_deadline_covers_every_call_of_a_command(sample: SampleKnowledge, ctx, model: Model,
                                                     fake_openai: FakeOpenAI) -> None:
    # the first reply comes under the per-call timeout (0.9 s) and fails the draft's checks: it is regenerated;
    # the second would come after 2 s, and only the deadline (0.6 s left), not the per-call 1 s, ends it at 1.5 s
    delays = [0.9 * TIMEOUT, 2.0]

    def slow(request: Request) -> str:
        fake_openai._release.wait(delays.pop(0) if delays else 0.0)
        return "SUBJECT: Quick one\nBODY:\nCan we book a demo this week?"

    fake_openai.respond = slow
    fake_openai.reply("unused")
    composed = draft_outreach(sample.retriever, sample.account("Acme Corporation"), ctx)

    draft, elapsed = timed(lambda: COMMANDS["draft"](sample, ctx, model))

    assert len(fake_openai.requests) == 2
    assert elapsed <= BOUND, elapsed  # 1.9 s with the per-call timeout alone
    assert draft.engine == "composer" and draft.note == FALLBACK_NOTE.format(reason="timeout")
    assert (draft.subject, draft.body) == (composed.subject, composed.body)


def twelve_touches(request: Request) -> str:
    cite = source_number(request)
    return "\n\n".join(f"TOUCH {n}\nSUBJECT: Step {n}\nBODY:\nWhat would a better forecast change for you [{cite}]?"
                       for n in range(1, 13))


def test_a_slow_model_writes_a_twelve_touch_campaign_in_one_call(sample: SampleKnowledge, ctx, model: Model,
                                                                 fake_openai: FakeOpenAI) -> None:
    fake_openai.delay = 0.7 * TIMEOUT  # twelve calls of this would take 8.4 s
    fake_openai.respond = twelve_touches
    fake_openai.reply("unused")

    campaign, elapsed = timed(lambda: COMMANDS["campaign"](sample, ctx, model))

    assert len(fake_openai.requests) == 1
    assert elapsed <= BOUND, elapsed
    assert campaign.engine == "model" and campaign.note is None
    assert [t.subject for t in campaign.touches] == [f"Step {n}" for n in range(1, 13)]
    assert all(t.body == "What would a better forecast change for you?" and t.hits for t in campaign.touches)


def test_a_server_error_is_retried_once_within_the_deadline(sample: SampleKnowledge, ctx, model: Model,
                                                            fake_openai: FakeOpenAI) -> None:
    fake_openai.fail(500)

    brief, elapsed = timed(lambda: COMMANDS["brief"](sample, ctx, model))

    assert len(fake_openai.requests) == 2
    assert brief.engine == "composer" and brief.note == FALLBACK_NOTE.format(reason="server error 500")
    assert elapsed <= BOUND, elapsed


def test_a_spent_budget_or_call_allowance_asks_nothing(model: Model, fake_openai: FakeOpenAI) -> None:
    fake_openai.reply("Follow-up rewritten")
    spent = model.session(calls=2, budget=0)
    with pytest.raises(ModelUnavailable, match="timeout"):
        spent.complete("condense", question="and the pricing?", history="- who is the CFO?")
    assert fake_openai.requests == []

    once = model.session(calls=1)
    assert once.complete("condense", question="and the pricing?", history="- who is the CFO?") == "Follow-up rewritten"
    with pytest.raises(ModelUnavailable, match="too many model calls"):
        once.complete("condense", question="and the pricing?", history="- who is the CFO?")
    assert len(fake_openai.requests) == 1

    fake_openai.hang(30)
    failing = model.session(calls=2)
    with pytest.raises(ModelUnavailable, match="timeout"):
        failing.complete("condense", question="q", history="- h")
    started = time.monotonic()
    with pytest.raises(ModelUnavailable, match="timeout"):  # the same command does not wait on it twice
        failing.complete("condense", question="q", history="- h")
    assert time.monotonic() - started < 0.5
    assert len(fake_openai.requests) == 2


# ================================================================ citations checked on every model output

def test_a_brief_summary_citing_a_fact_that_was_not_given_is_not_used(sample: SampleKnowledge, fake_embeddings,
                                                                      fake_openai: FakeOpenAI) -> None:
    fake_openai.reply("Summary [99]: Acme Corporation is about to sign.")
    services = build_services(sample.settings(**fake_openai.model_settings(openai_timeout=TIMEOUT)),
                              embeddings=fake_embeddings)

    status, out = run_cli(services, "brief", "--json", "Acme Corporation")

    assert status == 0
    shown = json.loads(out)
    assert len(fake_openai.requests) == 1
    assert "[99]" not in out and "about to sign" not in out
    assert shown["summary"].startswith("Acme Corporation (Manufacturing")  # the composed summary
    assert shown["summary"].endswith(f"_{FALLBACK_NOTE.format(reason='reply without valid citations')}_")


@pytest.mark.parametrize("reply, reason", [
    ("Acme Corporation is in good shape and about to sign.", "reply without valid citations"),
    ("Brightwater Health signed off the budget last week [{n}].", "reply names an account that its sources are not about"),
], ids=["uncited", "another-account"])
def test_a_brief_summary_that_cites_nothing_or_names_another_account_is_not_used(
        sample: SampleKnowledge, ctx, model: Model, fake_openai: FakeOpenAI, reply: str, reason: str) -> None:
    fake_openai.reply(reply.format(n=1))  # [1] is the asked account's own record

    brief = build_brief(sample.retriever, sample.account("Acme Corporation"), ctx, model=model)

    assert brief.engine == "composer" and brief.note == FALLBACK_NOTE.format(reason=reason)
    assert "Brightwater" not in brief.as_dict()["summary"] and "about to sign" not in brief.as_dict()["summary"]


def test_a_brief_summary_with_valid_citations_is_what_the_rep_sees(sample: SampleKnowledge, ctx, model: Model,
                                                                   fake_openai: FakeOpenAI) -> None:
    reply = "Acme Corporation, a manufacturer in Cleveland [1], has open work in progress [2][3]."
    fake_openai.reply(reply)

    brief = build_brief(sample.retriever, sample.account("Acme Corporation"), ctx, model=model)

    assert brief.engine == "model" and brief.note is None
    assert brief.as_dict()["summary"] == reply


@pytest.mark.parametrize("body, reason", [
    ("Acme Corporation could release working capital as peers did [99]. Worth a look?",
     "reply without valid citations"),
    ("Acme Corporation already did this [1]. Worth a look?", "reply names an account that its sources are not about"),
    ("A peer cut inventory sharply. Worth a look?", "reply without valid citations"),  # a touch that cites nothing
], ids=["unknown-source", "crm-account-in-outbound-copy", "uncited"])
def test_a_campaign_touch_that_fails_its_citations_keeps_the_composed_sequence(
        sample: SampleKnowledge, ctx, model: Model, fake_openai: FakeOpenAI, body: str, reason: str) -> None:
    composed = build_campaign(sample.retriever, ctx, persona="CFO").as_dict()
    fake_openai.reply("\n\n".join(f"TOUCH {n}\nSUBJECT: s{n}\nBODY:\n{body if n == 3 else 'Fair question? [1]'}"
                               for n in range(1, 5)))

    campaign = build_campaign(sample.retriever, ctx, persona="CFO", model=model)

    assert campaign.engine == "composer" and campaign.note == FALLBACK_NOTE.format(reason=reason)
    assert campaign.as_dict()["touches"] == composed["touches"]


def test_a_draft_citing_an_unknown_source_or_another_account_is_not_used(sample: SampleKnowledge, ctx, model: Model,
                                                                         fake_openai: FakeOpenAI) -> None:
    composed = draft_outreach(sample.retriever, sample.account("Acme Corporation"), ctx)
    opening, rest = composed.body.split("\n\n", 1)
    for body, reason in [
        (f"{opening} [99]\n\n{rest}", "reply without valid citations"),
        (f"{opening}\n\nBrightwater Health saw the same last quarter.\n\n{rest}",
         "reply names an account that its sources are not about"),
    ]:
        fake_openai.requests.clear()
        fake_openai.reply(f"SUBJECT: {composed.subject}\nBODY:\n{body}")

        draft = draft_outreach(sample.retriever, sample.account("Acme Corporation"), ctx, model=model)

        assert len(fake_openai.requests) == 1
        assert draft.engine == "composer" and draft.note == FALLBACK_NOTE.format(reason=reason)
        assert draft.body == composed.body and "Brightwater" not in draft.body


def test_a_good_model_draft_is_used_with_its_markers_taken_out(sample: SampleKnowledge, ctx, model: Model,
                                                               fake_openai: FakeOpenAI) -> None:
    composed = draft_outreach(sample.retriever, sample.account("Acme Corporation"), ctx)
    opening, rest = composed.body.split("\n\n", 1)
    fake_openai.reply(f"SUBJECT: A better subject\nBODY:\n{opening} [1]\n\n{rest}")

    draft = draft_outreach(sample.retriever, sample.account("Acme Corporation"), ctx, model=model)

    assert draft.engine == "model" and draft.subject == "A better subject"
    assert draft.body == composed.body  # the email carries its sources beside it, not as [n] inside it


# ================================================================ facts tied to the account they came from

ACCOUNTS_CSV = """\
Id,Name,Industry,BillingCity,BillingCountry
001A,Acme Corporation,Manufacturing,Chicago,USA
001B,Brightwater Foods,Food & Beverage,Portland,USA
"""
OPPORTUNITIES_CSV = """\
Id,Name,StageName,Amount,CloseDate,NextStep,AccountId
006A,Acme renewal,Negotiation,1200000,2027-01-15,Send the revised 3-year ROI model to Dana Reyes by Friday,001A
006F,Zephyr rollout,Proposal,300000,2027-03-01,Zephyr rollout plan goes to the plant director by Friday,001B
"""
QUESTION = "What is the next step on the Zephyr rollout at Acme?"


@pytest.fixture
def two_accounts(make_settings, fake_embeddings, fake_openai: FakeOpenAI, knowledge) -> Services:
    """Acme (001A) and Brightwater Foods (001B), whose Zephyr deal a question about Acme also retrieves."""
    knowledge.crm("accounts.csv", ACCOUNTS_CSV)
    knowledge.crm("opportunities.csv", OPPORTUNITIES_CSV)
    services = build_services(make_settings(**fake_openai.model_settings(openai_timeout=TIMEOUT)),
                              embeddings=fake_embeddings)
    assert services.model is not None
    assert not run_ingest(services, [], show_progress=False).errors
    return services


def answer_with(services: Services, fake_openai: FakeOpenAI, respond: Callable[[Request], str]) -> Any:
    fake_openai.respond = respond
    fake_openai.reply("unused")
    answer = answer_question(QUESTION, retriever=services.retriever, model=services.model)
    assert len(fake_openai.requests) == 1
    assert source_number(fake_openai.requests[0], account="Brightwater Foods")  # the other account's deal was sent
    assert answer.account_id == "001A"  # the question is about Acme
    return answer


def test_an_answer_giving_another_accounts_record_as_the_asked_accounts_is_rejected(
        two_accounts: Services, fake_openai: FakeOpenAI) -> None:
    answer = answer_with(two_accounts, fake_openai, lambda request: (
        "The next step at Acme is to send the Zephyr rollout plan to the plant director "
        f"[{source_number(request, account='Brightwater Foods')}]."))

    assert answer.engine == "composer"
    assert answer.note == FALLBACK_NOTE.format(reason="reply gives another account's record as this account's")
    assert "The next step at Acme" not in answer.as_dict()["answer"]


def test_an_answer_naming_another_account_for_the_asked_accounts_record_is_rejected(
        two_accounts: Services, fake_openai: FakeOpenAI) -> None:
    answer = answer_with(two_accounts, fake_openai, lambda request: (
        "Brightwater Foods must send the revised 3-year ROI model to Dana Reyes by Friday "
        f"[{source_number(request, account='Acme Corporation')}]."))

    assert answer.engine == "composer"
    assert answer.note == FALLBACK_NOTE.format(reason="reply names an account that its sources are not about")


def test_an_answer_that_ties_each_fact_to_its_own_account_passes(two_accounts: Services,
                                                                 fake_openai: FakeOpenAI) -> None:
    def respond(request: Request) -> str:
        acme = source_number(request, account="Acme Corporation")
        other = source_number(request, account="Brightwater Foods")
        return (f"No Zephyr rollout is on file for Acme; its next step is the revised 3-year ROI model for Dana Reyes "
                f"[{acme}]. The Zephyr rollout belongs to Brightwater Foods [{other}].")

    answer = answer_with(two_accounts, fake_openai, respond)

    assert answer.engine == "model" and answer.note is None
    assert answer.as_dict()["answer"] == fake_openai.respond(fake_openai.requests[0])  # type: ignore[misc]


def test_an_account_ingested_since_the_last_answer_is_known_to_the_next_check(
        two_accounts: Services, fake_openai: FakeOpenAI, knowledge) -> None:
    """The account names a reply is checked against are cached with the resolver and renewed with it."""
    def respond(request: Request) -> str:
        return ("Cobalt Mills must send the revised 3-year ROI model to Dana Reyes by Friday "
                f"[{source_number(request, account='Acme Corporation')}].")

    assert answer_with(two_accounts, fake_openai, respond).engine == "model"  # no account has that name yet
    knowledge.crm("more-accounts.csv", "Id,Name,Industry,BillingCity,BillingCountry\n"
                                       "001C,Cobalt Mills,Manufacturing,Leeds,UK\n")
    assert not run_ingest(two_accounts, [], show_progress=False).errors
    fake_openai.requests.clear()

    answer = answer_with(two_accounts, fake_openai, respond)

    assert answer.engine == "composer"
    assert answer.note == FALLBACK_NOTE.format(reason="reply names an account that its sources are not about")
