"""Retrieval: filters, exact per-account records, grounded answers (fake and real embeddings, embedded and server Chroma)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from chroma_helpers import chroma_server  # noqa: F401

from bot.cli import run_ingest
from bot.runtime import build_services
from bot.services.answering import answer_question

REPO = Path(__file__).resolve().parent.parent


def ingest(services) -> None:
    report = run_ingest(services, [], show_progress=False)
    assert report.errors == [], report.errors


@pytest.fixture
def mixed(small_crm):
    k = small_crm
    k.crm("opportunities.csv", """\
        Id,Name,StageName,Amount,AccountId
        006A,Acme renewal,Negotiation,1200000,001A
        006B,Brightwater pilot,Prospecting,50000,001B
        """)
    k.content("northwind-case-study.md", "---\ntitle: Northwind case study\ntype: case_study\n---\nNorthwind cut freight spend 18%.\n")
    k.content("cfo-persona.md", "---\ntitle: The CFO\ntype: persona\n---\nThe CFO cares about payback and cash.\n")
    k.content("globex-battlecard.md", "---\ntitle: Versus Globex\ntype: battlecard\n---\nWe go live in six weeks, Globex in six months.\n")
    return k


# ---------------------------------------------------------------- fast: fake embeddings

def test_search_finds_the_passage_it_was_given(services, mixed) -> None:
    ingest(services)
    [persona] = services.store.get({"source": "content/cfo-persona.md"})
    hits = services.retriever.search(persona[1], k=3)
    assert hits[0].metadata["source"] == "content/cfo-persona.md"
    assert hits[0].score == pytest.approx(1.0, abs=1e-3)
    assert hits[0].source_info() == {"id": "content/cfo-persona.md", "title": "The CFO", "type": "persona",
                                     "account": None, "path": "content/cfo-persona.md"}


def test_filters_restrict_results(services, mixed) -> None:
    ingest(services)
    [persona] = services.store.get({"source": "content/cfo-persona.md"})
    question = persona[1]  # the closest passage overall is content, so filters must override similarity

    crm = services.retriever.search(question, k=20, kind="crm")
    assert len(crm) == 9 and all(h.metadata["kind"] == "crm" for h in crm)

    content = services.retriever.search(question, k=20, kind="content")
    assert {h.metadata["source"] for h in content} == {"content/cfo-persona.md", "content/northwind-case-study.md",
                                                         "content/globex-battlecard.md"}

    typed = services.retriever.search(question, k=20, types=["case_study", "battlecard"])
    assert sorted(h.metadata["type"] for h in typed) == ["battlecard", "case_study"]

    acme = services.retriever.search(question, k=20, account_id="001A")
    assert {h.metadata["account_id"] for h in acme} == {"001A"}
    assert sorted(h.metadata["type"] for h in acme) == ["account", "contact", "contact", "opportunity"]

    both = services.retriever.search(question, k=20, kind="crm", types=["opportunity"], account_id="001B")
    assert [h.metadata["title"] for h in both] == ["Brightwater pilot at Brightwater Foods"]


def test_account_records_returns_every_record_not_the_top_k(services, small_crm) -> None:
    rows = "".join(f"0060{n:02d},Acme deal {n},Prospecting,{n * 1000},001A\n" for n in range(30))
    rows += "006X,Brightwater deal,Prospecting,1000,001B\n"
    small_crm.crm("opportunities.csv", "Id,Name,StageName,Amount,AccountId\n" + rows, dedent=False)
    ingest(services)
    deals = services.retriever.account_records("001A", "opportunity")
    assert len(deals) == 30
    assert {h.record["name"] for h in deals} == {f"Acme deal {n}" for n in range(30)}
    everything = services.retriever.account_records("001A")
    assert len(everything) == 33  # the account, two contacts, thirty deals
    assert all(h.metadata["account_id"] == "001A" for h in everything)


def test_retrieve_for_an_account_brings_its_own_records(services, mixed) -> None:
    ingest(services)
    account = services.retriever.resolve_account("Brightwater Foods").account
    hits = services.retriever.retrieve("where does the pilot stand?", k=5, account=account)
    assert any(h.metadata.get("account_id") == "001B" for h in hits)


def test_newest_record_date_is_the_newest_past_activity_or_lead(services, small_crm) -> None:
    """An export is a snapshot: its "now" is its newest activity or lead date, never a date in the future."""
    from datetime import date

    assert services.retriever.newest_record_date() is None  # nothing ingested yet
    small_crm.crm("activities.csv", """\
        Id,ActivityDate,Type,Subject,WhoId,WhatId
        00T1,2024-03-01,Call,Kickoff,003A,001A
        00T2,2999-01-01,Meeting,Planned far ahead,003A,001A
        """)
    small_crm.crm("leads.csv", """\
        First Name,Last Name,Job Title,Company Name,HubSpot Score,Last Activity Date
        Sam,Ortiz,Procurement Analyst,Acme Corporation,45,2024-02-20
        """)
    small_crm.crm("opportunities.csv", "Id,Name,CloseDate,AccountId\n006A,Acme renewal,2025-06-30,001A\n")
    ingest(services)  # run_ingest refreshes the retriever
    assert services.retriever.newest_record_date() == date(2024, 3, 1)  # a deal's close date is a plan, not news
    small_crm.crm("leads.csv", """\
        First Name,Last Name,Job Title,Company Name,HubSpot Score,Last Activity Date
        Sam,Ortiz,Procurement Analyst,Acme Corporation,45,2024-04-15
        """)
    ingest(services)
    assert services.retriever.newest_record_date() == date(2024, 4, 15)


def test_empty_store_answers_i_dont_know(services) -> None:
    answer = answer_question("What is the next step on the Acme renewal?", retriever=services.retriever)
    assert answer.grounded is False
    assert "I don't know" in answer.text
    assert answer.sources == []
    assert answer.as_dict() == {"answer": answer.text, "sources": [], "grounded": False}


# ---------------------------------------------------------------- slow: the bundled model

CORPUS = {
    "content/northwind-case-study.md": """\
        ---
        title: "Northwind Logistics: freight audit case study"
        type: case_study
        personas: [CFO, VP Logistics]
        industries: [Logistics]
        ---
        # Northwind Logistics

        ## Challenge
        Northwind's finance team audited carrier invoices by hand. Duplicate charges and wrong fuel
        surcharges went unnoticed, and month-end close took twelve days.

        ## Results
        After automated freight audit, Northwind cut freight spend by 18% in the first year,
        recovered $2.1 million in overcharges and paid back the investment in 7 months.
        Month-end close went from twelve days to four.
        """,
    "content/cfo-persona.md": """\
        ---
        title: "Persona: the Chief Financial Officer"
        type: persona
        personas: [CFO]
        ---
        The CFO owns the budget and answers to the board for cash flow and margin. CFOs care about
        payback period, predictable spend and audit-ready controls. They do not want a feature tour;
        they want the business case in their own numbers.
        """,
    "content/globex-battlecard.md": """\
        ---
        title: "Battlecard: competing against Globex"
        type: battlecard
        ---
        ## Where we win
        We go live in six weeks; Globex projects typically take six months and need consultants.
        ## Landmines
        Ask the prospect how many Globex customers run without a systems integrator.
        """,
    "content/security-faq.md": """\
        ---
        title: Security and compliance FAQ
        type: faq
        ---
        We are SOC 2 Type II certified and renew the audit every year. Customer data is encrypted at
        rest with AES-256 and in transit with TLS 1.2 or later. Data stays in the EU or US region the
        customer chooses.
        """,
    "crm/accounts.csv": """\
        Id,Name,Industry,NumberOfEmployees,BillingCity,BillingCountry
        001A,Acme Corporation,Manufacturing,1200,Chicago,USA
        001B,Brightwater Foods,Food & Beverage,800,Portland,USA
        """,
    "crm/opportunities.csv": """\
        Id,Name,StageName,Amount,CloseDate,NextStep,AccountId
        006A,Acme renewal,Negotiation,1200000,2024-06-30,Send the MSA redlines to Acme legal by Friday,001A
        006B,Brightwater pilot,Prospecting,50000,2024-09-30,Book discovery call with the COO,001B
        """,
}


@pytest.fixture
def realistic(knowledge):
    for relative, text in CORPUS.items():
        knowledge.write(relative, text)
    return knowledge


def assert_cited(answer, root: Path) -> None:
    numbers = {int(n) for n in re.findall(r"\[(\d+)\]", answer.text)}
    assert numbers, answer.text
    assert numbers == set(range(1, len(answer.sources) + 1))
    for source in answer.sources:
        assert (root / source["path"]).is_file()
        assert source["title"]


def check_answers(services, root: Path) -> None:
    answer = answer_question("How much did Northwind save on freight, and what was the payback?",
                             retriever=services.retriever)
    assert answer.grounded, answer.text
    assert answer.sources[0]["path"] == "content/northwind-case-study.md"
    assert "18%" in answer.text
    assert_cited(answer, root)

    security = answer_question("Are we SOC 2 certified?", retriever=services.retriever)
    assert security.grounded and security.sources[0]["path"] == "content/security-faq.md"
    assert_cited(security, root)

    deal = answer_question("What is the next step on the Acme renewal?", retriever=services.retriever)
    assert deal.grounded
    assert deal.sources[0]["path"] == "crm/opportunities.csv"
    assert deal.sources[0]["account"] == "Acme Corporation"
    assert "MSA redlines" in deal.text

    weather = answer_question("what's the weather in Paris tomorrow?", retriever=services.retriever)
    assert weather.grounded is False
    assert weather.sources == []
    assert "I don't know" in weather.text


@pytest.mark.slow
def test_grounded_answers_with_the_local_model(settings, local_embeddings, realistic) -> None:
    services = build_services(settings, embeddings=local_embeddings)
    ingest(services)
    check_answers(services, realistic.root)


@pytest.mark.slow
def test_grounded_answers_through_a_chroma_server(make_settings, local_embeddings, realistic, chroma_server,
                                                  tmp_path: Path) -> None:
    host, port = chroma_server
    settings = make_settings(chroma_host=host, chroma_port=port, chroma_path=tmp_path / "must-stay-unused")
    services = build_services(settings, embeddings=local_embeddings)
    ingest(services)
    assert not (tmp_path / "must-stay-unused").exists()  # the embedded store was not used
    check_answers(services, realistic.root)
    # idempotent against the server too, from a fresh client
    again = run_ingest(build_services(settings, embeddings=local_embeddings), [], show_progress=False)
    assert (again.added, again.updated, again.unchanged) == (0, 0, len(CORPUS))
