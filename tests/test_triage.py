"""Lead triage: who a rep should pursue, nurture or not chase, and the move that goes with it.

Fit (who the person is) decides the verdict; engagement (what they clicked) never buys a junior a
rep's time. The bottom-up move for an engaged junior names the account's real senior people when
the CRM knows them, and the role to find when it does not.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date, timedelta
from pathlib import Path

import pytest

from bot.cli import main, run_ingest
from bot.console import render_triage
from bot.knowledge.titles import LEVELS
from bot.runtime import build_services
from bot.services.evaluation import evaluate_triage, load_titles
from bot.services.triage import (
    VERDICTS,
    Lead,
    SeniorContact,
    judge,
    senior_contacts,
    triage_account,
    triage_file,
    triage_leads,
)

SAMPLE = Path(__file__).resolve().parent.parent / "knowledge"
TODAY = date(2026, 11, 27)
CONTRACT_KEYS = {"name", "title", "company", "level", "function", "verdict", "reasons", "next_move"}


def days_ago(days: int) -> str:
    return (TODAY - timedelta(days=days)).isoformat()


def text_of(verdict) -> str:  # noqa: ANN001
    return " ".join(verdict.reasons)


# ---------------------------------------------------------------- fit beats engagement

@pytest.mark.parametrize("title", [
    "Procurement Intern",
    "Werkstudentin Controlling",
    "Stagiaire achats",
    "Becaria de compras",
    "Executive Assistant to the CFO",
    "Supply Chain Analyst",
])
def test_a_very_engaged_junior_or_analyst_is_still_not_worth_chasing(title: str) -> None:
    lead = Lead(name="Robin Keane", title=title, company="Acme Corporation", score=99, page_views=120,
                form_submissions=9, last_activity=days_ago(2))
    verdict = judge(lead, today=TODAY)
    assert verdict.verdict == "not_worth_chasing"
    assert verdict.engagement == "hot"
    reasons = text_of(verdict)
    assert "not buying power" in reasons
    assert "99" in reasons and "120" in reasons  # the activity it discounts is shown, not hidden
    assert "budget" in reasons.lower()
    move = verdict.next_move
    assert "bottom-up" in move.lower()
    assert "introduction" in move.lower()
    assert "Robin Keane" in move


@pytest.mark.parametrize("title", ["CFO", "Directrice financière", "Finanzvorständin", "Director General",
                                   "Assistant Vice President, Finance"])
def test_a_senior_buyer_with_almost_no_engagement_is_pursued(title: str) -> None:
    lead = Lead(name="Dana Whitfield", title=title, company="Acme Corporation", score=3, page_views=0,
                form_submissions=0)
    verdict = judge(lead, today=TODAY)
    assert verdict.verdict == "pursue"
    assert verdict.title.budget_authority
    assert "does not matter" in text_of(verdict)  # low engagement is explained away, not held against them
    assert "Dana Whitfield" in verdict.next_move
    assert "top-down" in verdict.next_move.lower()


@pytest.mark.parametrize(("title", "score"), [
    ("Procurement Manager", 95), ("Responsable achats", 12), ("Teamleiter Einkauf", 60), ("Gerente de Compras", 80),
])
def test_a_manager_is_nurtured_as_a_champion_whatever_the_score(title: str, score: int) -> None:
    verdict = judge(Lead(name="Alex Morgan", title=title, score=score, page_views=30, form_submissions=2), today=TODAY)
    assert verdict.title.level == "manager"
    assert verdict.verdict == "nurture"
    assert "champion" in verdict.next_move.lower()


def test_chief_of_staff_opens_doors_but_is_not_pursued_as_a_buyer() -> None:
    verdict = judge(Lead(name="Brianna Scott", title="Chief of Staff", score=52, page_views=10), today=TODAY)
    assert verdict.verdict == "nurture"
    assert not verdict.title.budget_authority


@pytest.mark.parametrize("title", ["", "n/a", "Freelance"])
@pytest.mark.parametrize(("score", "expected"), [(50, "nurture"), (88, "nurture"), (49, "not_worth_chasing"),
                                                  (5, "not_worth_chasing")])
def test_an_unknown_title_is_qualified_first_only_when_engaged(title: str, score: int, expected: str) -> None:
    verdict = judge(Lead(name="Kim Lee", title=title, score=score), today=TODAY)
    assert verdict.title.level == "unknown"
    assert verdict.verdict == expected
    if expected == "nurture":
        assert verdict.next_move.lower().startswith("qualify first")
        assert "Kim Lee" in verdict.next_move
    else:
        assert "qualify" not in verdict.next_move.lower()


def test_reasons_for_an_unknown_title_do_not_call_heavy_activity_little_engagement() -> None:
    verdict = judge(Lead(name="Kim Lee", title="n/a", score=30, page_views=120, form_submissions=9), today=TODAY)
    assert verdict.verdict == "not_worth_chasing"  # score under 50: no sales time without a title
    assert verdict.engagement == "hot"
    assert "little engagement" not in text_of(verdict), verdict.reasons


def test_engagement_older_than_90_days_cools_a_lead() -> None:
    def judged(days: int, score: int):  # noqa: ANN202
        return judge(Lead(name="Sam Ortiz", title="Procurement Analyst", score=score, page_views=40,
                          form_submissions=4, last_activity=days_ago(days)), today=TODAY)

    assert judged(10, 95).engagement == "hot"
    assert judged(90, 95).engagement == "hot"        # exactly 90 days is still recent
    assert judged(91, 95).engagement == "warm"       # older: hot cools to warm
    assert "last active 200 days ago" in text_of(judged(200, 95))
    old_and_modest = judge(Lead(name="Sam Ortiz", title="Procurement Analyst", score=45, page_views=9,
                                last_activity=days_ago(180)), today=TODAY)
    recent_and_modest = judge(Lead(name="Sam Ortiz", title="Procurement Analyst", score=45, page_views=9,
                                   last_activity=days_ago(5)), today=TODAY)
    assert recent_and_modest.engagement == "warm"
    assert old_and_modest.engagement == "cold"
    # a cold junior gets no bottom-up play: there is no live interest to use
    assert "bottom-up" in recent_and_modest.next_move.lower()
    assert "bottom-up" not in old_and_modest.next_move.lower()
    assert old_and_modest.verdict == "not_worth_chasing"


def test_summary_counts_only_recent_hot_leads_as_engaged_but_not_worth_chasing() -> None:
    leads = [
        Lead(name="Recent Intern", title="Finance Intern", score=97, page_views=80, last_activity=days_ago(3)),
        Lead(name="Stale Intern", title="Finance Intern", score=97, page_views=80, last_activity=days_ago(150)),
        Lead(name="The CFO", title="CFO", score=2),
    ]
    summary = triage_leads(leads, today=TODAY).summary
    assert summary["total"] == 3
    assert summary["not_worth_chasing"] == 2 and summary["pursue"] == 1 and summary["nurture"] == 0
    assert summary["engaged_but_not_worth_chasing"] == 1


def test_verdicts_are_listed_pursue_first_then_nurture_then_not_worth_chasing() -> None:
    leads = [
        Lead(name="Intern", title="Marketing Intern", score=99),
        Lead(name="Manager", title="Logistics Manager", score=40),
        Lead(name="Director", title="Director of Procurement", score=1),
        Lead(name="Chief", title="COO", score=1),
    ]
    result = triage_leads(leads, today=TODAY)
    assert [v.verdict for v in result.verdicts] == ["pursue", "pursue", "nurture", "not_worth_chasing"]
    assert [v.lead.name for v in result.verdicts][:2] == ["Chief", "Director"]  # most senior first


def test_bottom_up_move_prefers_the_senior_of_the_juniors_own_function() -> None:
    seniors = [SeniorContact("Helen Carver", "Chief Financial Officer", "finance", "executive"),
               SeniorContact("Rachel Osei", "Head of Indirect Procurement", "procurement", "director")]
    verdict = judge(Lead(name="Chloe Adams", title="Purchasing Assistant", score=80, page_views=30),
                    seniors=seniors, today=TODAY)
    move = verdict.next_move
    assert "Rachel Osei (Head of Indirect Procurement)" in move
    if "Helen Carver" in move:
        assert move.index("Rachel Osei") < move.index("Helen Carver")


@pytest.mark.parametrize(("title", "role"), [
    ("Procurement Intern", "CPO or head of procurement"),
    ("Stagiaire contrôle de gestion", "CFO or finance director"),
    ("IT Support Intern", "CIO or IT director"),
])
def test_without_senior_contacts_the_move_names_the_role_to_find(title: str, role: str) -> None:
    verdict = judge(Lead(name="Jo Park", title=title, score=90, page_views=50), today=TODAY)
    assert role in verdict.next_move
    assert "no senior contact on file" in verdict.next_move


# ---------------------------------------------------------------- the sample CRM, for real

def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


SENIOR_TITLE = re.compile(r"^(chief|vp|vice president|head of|director|directora|directeur|directrice|jefe|jefa)\b",
                          re.IGNORECASE)


def crm_people(account_name: str) -> dict[str, list[dict[str, str]]]:
    """The account's people straight from the sample CSVs: contacts, seniors among them, and its leads."""
    account = next(a for a in _read_csv(SAMPLE / "crm" / "accounts.csv") if a["Name"] == account_name)
    contacts = [c for c in _read_csv(SAMPLE / "crm" / "contacts.csv") if c["AccountId"] == account["Id"]]
    for contact in contacts:
        contact["name"] = f"{contact['FirstName']} {contact['LastName']}"
    domain = account["Website"].removeprefix("www.")
    leads = [row for row in _read_csv(SAMPLE / "crm" / "leads.csv") if row["Email"].endswith("@" + domain)]
    for lead in leads:
        lead["name"] = f"{lead['First Name']} {lead['Last Name']}"
    return {"contacts": contacts, "seniors": [c for c in contacts if SENIOR_TITLE.match(c["Title"])], "leads": leads}


def all_sample_contact_names() -> set[str]:
    contacts = {f"{c['FirstName']} {c['LastName']}" for c in _read_csv(SAMPLE / "crm" / "contacts.csv")}
    hubspot = {f"{c['First Name']} {c['Last Name']}" for c in _read_csv(SAMPLE / "crm" / "hubspot-contacts.csv")}
    return contacts | hubspot


# The sample's marketing dates are recent relative to the day after its last activity.
SAMPLE_TODAY = max(date.fromisoformat(row["Last Activity Date"])
                   for row in _read_csv(SAMPLE / "crm" / "leads.csv")) + timedelta(days=1)


@pytest.fixture
def sample_services(make_settings, fake_embeddings):  # noqa: ANN001, ANN201
    """The bundled sample knowledge ingested into a temporary store (fake embeddings: filters, not similarity)."""
    settings = make_settings(knowledge_path=SAMPLE)
    services = build_services(settings, embeddings=fake_embeddings)
    report = run_ingest(services, [], show_progress=False)
    assert not report.errors, report.errors
    return services


@pytest.mark.parametrize("account_name", ["Brightwater Health", "Distribuciones Solana S.L."])
def test_account_triage_sends_the_engaged_junior_to_a_real_senior_of_that_account(sample_services,
                                                                                 account_name: str) -> None:
    people = crm_people(account_name)
    seniors = {c["name"] for c in people["seniors"]}
    assert seniors, "the sample account should have senior contacts"
    hottest = max(people["leads"], key=lambda row: float(row["HubSpot Score"]))

    account = sample_services.retriever.resolve_account(account_name).account
    assert account is not None and account.name == account_name
    result = triage_account(sample_services.retriever, account.id, account.name, today=SAMPLE_TODAY)
    by_name = {v.lead.name: v for v in result.verdicts}

    assert len(by_name) == len(result.verdicts), "a person in both the CRM and the marketing tool is listed once"
    junior = by_name[hottest["name"]]
    assert junior.verdict == "not_worth_chasing"
    assert f"score {hottest['HubSpot Score']}" in text_of(junior)  # the marketing score was merged in
    named = {name for name in all_sample_contact_names() if name in junior.next_move} - {hottest["name"]}
    assert named & seniors, f"no senior of {account_name} named in: {junior.next_move}"
    assert named <= seniors, f"names people who are not seniors of {account_name}: {named - seniors}"
    # and every senior on file is someone the rep should pursue
    assert {n for n, v in by_name.items() if v.verdict == "pursue"} >= seniors


@pytest.mark.parametrize("account_name", ["Brightwater Health", "Distribuciones Solana S.L."])
def test_account_triage_shows_the_marketing_score_of_every_contact_the_marketing_tool_knows(
        sample_services, account_name: str) -> None:
    """leads.csv spells company names loosely ("Brightwater", "Solana Distribuciones"); the email is the person."""
    people = crm_people(account_name)
    contact_emails = {c["Email"].lower() for c in people["contacts"]}
    known = [row for row in people["leads"] if row["Email"].lower() in contact_emails]
    assert known
    account = sample_services.retriever.resolve_account(account_name).account
    result = triage_account(sample_services.retriever, account.id, account.name, today=SAMPLE_TODAY)
    by_name = {v.lead.name: v for v in result.verdicts}
    missing = {row["name"]: row["Company Name"] for row in known
               if f"score {row['HubSpot Score']}" not in text_of(by_name[row["name"]])}
    assert not missing, f"marketing score not merged for {missing}"


def test_purchasing_junior_at_solana_is_pointed_to_the_head_of_purchasing(sample_services) -> None:
    people = crm_people("Distribuciones Solana S.L.")
    buyer_head = next(c["name"] for c in people["seniors"] if "compras" in c["Title"].lower())
    assistant = next(c["name"] for c in people["contacts"] if re.match(r"asistente de compras", c["Title"], re.I))
    account = sample_services.retriever.resolve_account("Distribuciones Solana").account
    result = triage_account(sample_services.retriever, account.id, account.name, today=SAMPLE_TODAY)
    verdict = next(v for v in result.verdicts if v.lead.name == assistant)
    assert verdict.verdict == "not_worth_chasing"
    assert buyer_head in verdict.next_move


def test_senior_contacts_of_an_account_match_the_crm_file(sample_services) -> None:
    people = crm_people("Brightwater Health")
    account = sample_services.retriever.resolve_account("Brightwater Health").account
    found = {s.name for s in senior_contacts(sample_services.retriever, account.id)}
    assert found == {c["name"] for c in people["seniors"]}


def test_a_file_of_leads_uses_the_crm_to_name_seniors_or_the_role_to_find(sample_services, tmp_path: Path) -> None:
    foods = crm_people("Brightwater Foods")
    procurement_head = next(c["name"] for c in foods["seniors"] if "procurement" in c["Title"].lower())
    export = tmp_path / "export.csv"
    export.write_text(
        "First Name,Last Name,Job Title,Company Name,HubSpot Score,Number of Pageviews,"
        "Number of Form Submissions,Original Source,Last Activity Date\n"
        f"Ellie,Watts,Procurement Assistant,Brightwater Foods Ltd,91,44,5,Organic Search,{SAMPLE_TODAY - timedelta(3)}\n"
        f"Tomasz,Nowak,Finance Intern,Quillon Freight Sp. z o.o.,94,61,6,Paid Search,{SAMPLE_TODAY - timedelta(2)}\n",
        encoding="utf-8",
    )
    result = triage_file(export, retriever=sample_services.retriever, today=SAMPLE_TODAY)
    by_name = {v.lead.name: v for v in result.verdicts}
    known, unknown = by_name["Ellie Watts"], by_name["Tomasz Nowak"]
    assert known.verdict == unknown.verdict == "not_worth_chasing"
    assert known.as_dict()["company"] == "Brightwater Foods"  # resolved to the CRM account
    assert procurement_head in known.next_move
    assert "CFO or finance director" in unknown.next_move
    assert "no senior contact on file" in unknown.next_move
    assert not {n for n in all_sample_contact_names() if n in unknown.next_move}


# ---------------------------------------------------------------- exports as they come

HUBSPOT = """\
"First Name","Last Name","Job Title","Company Name","HubSpot Score","Number of Pageviews","Number of Form Submissions","Original Source","Last Activity Date"
"Maya","Thompson","Planning Intern","Cascadia Outdoor Supply Co.","94","61","6","Paid Social","2026-11-25"
"Nicole","Fraser","VP Finance","Cascadia Outdoor Supply Co.","4","1","0","Offline Sources","2026-03-02"
"Thijs","Peters","Planning Lead","Van Leeuwen Distributie","58","12","1","Referrals","2026-11-18"
"Quinn","Avery","","Harbor Lane Foods","71","30","3","Organic Search","2026-11-20"
"""

MARKETO = """\
Id,First Name,Last Name,Email Address,Job Title,Company,Lead Score,Lead Source
1042,Lea,Schmidt,lea.schmidt@hk-pharma.de,Werkstudentin Controlling,Hoffmann & Kessler Pharma AG,95,Website
1043,Claudia,Berger,claudia.berger@hk-pharma.de,Finanzvorständin,Hoffmann & Kessler Pharma AG,6,Trade Show
1044,Markus,Lang,markus.lang@hk-pharma.de,Einkaufsmanager,Hoffmann & Kessler Pharma AG,40,Webinar
1045,,,unknown@hk-pharma.de,,Hoffmann & Kessler Pharma AG,12,Website
"""

SALESFORCE = """\
FirstName,LastName,Title,Company,LeadSource
Hugo,Martin,Alternant supply chain,Moreau & Fils,Web
Sylvie,Chevalier,Directrice administrative et financière,Fabrications Moreau & Fils,Partner Referral
Antoine,Dubois,Responsable des achats,Fabrications Moreau & Fils,Trade Show
"""


def write_export(tmp_path: Path, text: str, *, name: str = "export.csv", bom: bool = False,
                 delimiter: str | None = None) -> Path:
    if delimiter:
        text = text.replace(",", delimiter)
    path = tmp_path / name
    path.write_bytes(("\ufeff" if bom else "").encode() + text.encode("utf-8"))
    return path


def verdicts_by_name(result) -> dict[str, str]:  # noqa: ANN001
    return {v.lead.name: v.verdict for v in result.verdicts}


@pytest.mark.parametrize("name", ["export.csv", "Export (1).csv", "download-2026-11-27.csv"])
def test_hubspot_export_loads_unedited(tmp_path: Path, name: str) -> None:
    result = triage_file(write_export(tmp_path, HUBSPOT, name=name), today=TODAY)
    assert not result.errors
    assert verdicts_by_name(result) == {"Maya Thompson": "not_worth_chasing", "Nicole Fraser": "pursue",
                                        "Thijs Peters": "nurture", "Quinn Avery": "nurture"}
    maya = next(v for v in result.verdicts if v.lead.name == "Maya Thompson")
    assert "score 94" in text_of(maya) and "page views 61" in text_of(maya)
    assert maya.as_dict()["company"] == "Cascadia Outdoor Supply Co."
    quinn = next(v for v in result.verdicts if v.lead.name == "Quinn Avery")
    assert quinn.next_move.lower().startswith("qualify first")


def test_hubspot_export_saved_by_excel_with_semicolons_and_a_bom(tmp_path: Path) -> None:
    path = write_export(tmp_path, HUBSPOT, bom=True, delimiter=";")
    result = triage_file(path, today=TODAY)
    assert not result.errors
    assert verdicts_by_name(result)["Maya Thompson"] == "not_worth_chasing"
    assert verdicts_by_name(result)["Nicole Fraser"] == "pursue"


def test_marketo_export_loads_unedited(tmp_path: Path) -> None:
    result = triage_file(write_export(tmp_path, MARKETO, bom=True), today=TODAY)
    assert not result.errors
    verdicts = verdicts_by_name(result)
    assert verdicts["Lea Schmidt"] == "not_worth_chasing"
    assert verdicts["Claudia Berger"] == "pursue"
    assert verdicts["Markus Lang"] == "nurture"
    assert len(result.verdicts) == 4  # the row with only an email is judged too (unknown, not engaged)
    nameless = next(v for v in result.verdicts if v.lead.email == "unknown@hk-pharma.de")
    assert nameless.verdict == "not_worth_chasing" and nameless.title.level == "unknown"
    lea = next(v for v in result.verdicts if v.lead.name == "Lea Schmidt")
    assert "score 95" in text_of(lea)


def test_salesforce_lead_export_without_scores_loads_unedited(tmp_path: Path) -> None:
    result = triage_file(write_export(tmp_path, SALESFORCE), today=TODAY)
    assert not result.errors
    assert verdicts_by_name(result) == {"Hugo Martin": "not_worth_chasing", "Sylvie Chevalier": "pursue",
                                        "Antoine Dubois": "nurture"}
    hugo = next(v for v in result.verdicts if v.lead.name == "Hugo Martin")
    assert "no engagement data" in text_of(hugo) or "cold" in hugo.engagement


def test_bad_rows_are_reported_with_file_and_line_and_the_rest_is_judged(tmp_path: Path) -> None:
    path = write_export(tmp_path, (
        "First Name,Last Name,Job Title,Company Name,HubSpot Score,Number of Pageviews\n"    # line 1
        "Ana,Ruiz,Becaria de compras,Clínicas Levante,97,80\n"                              # line 2
        'Inés,Castillo,"Jefa de compras\n(Compras corporativas)",Clínicas Levante,35,4\n'   # lines 3-4
        "Diego,Romero,Técnico de aprovisionamiento,Clínicas Levante,69\n"                   # line 5: a column short
        "Rosa,Martínez,Directora de operaciones,Clínicas Levante,22,3\n"                    # line 6
        "Alberto,Sanz,Director financiero,Clínicas Levante,high,9\n"                        # line 7: not a number
        "Lucas,Gil,Analista de compras,Clínicas Levante,81,40\n"                            # line 8
    ))
    result = triage_file(path, today=TODAY)
    errors = {e.line: e for e in result.errors}
    assert set(errors) == {5, 7}
    assert all(e.file == str(path) for e in result.errors)
    assert "column" in errors[5].error
    assert "high" in errors[7].error or "number" in errors[7].error
    assert verdicts_by_name(result) == {"Ana Ruiz": "not_worth_chasing", "Inés Castillo": "pursue",
                                        "Rosa Martínez": "pursue", "Lucas Gil": "not_worth_chasing"}
    assert "5" in str(errors[5]) and path.name in str(errors[5])


# ---------------------------------------------------------------- the command line

@pytest.fixture
def run(settings, services):  # noqa: ANN001, ANN201
    """`python -m bot …` in-process over the test's (empty) store; returns (status, stdout)."""

    def run_command(*argv: str, over=None) -> tuple[int, str]:  # noqa: ANN001
        out = io.StringIO()
        chosen = over or services
        status = main(list(argv), settings=chosen.settings, services_factory=lambda s: chosen,
                      stdin=io.StringIO(""), stdout=out)
        return status, out.getvalue()

    return run_command


def test_cli_triage_json_prints_one_object_with_the_contract(run, tmp_path: Path) -> None:
    path = write_export(tmp_path, HUBSPOT)
    status, out = run("triage", str(path), "--json")
    assert status == 0
    payload = json.loads(out)  # the whole of stdout is one JSON object
    assert isinstance(payload, dict)
    assert len(payload["leads"]) == 4
    for lead in payload["leads"]:
        assert CONTRACT_KEYS <= set(lead)
        assert lead["verdict"] in VERDICTS
        assert lead["level"] in LEVELS
        assert isinstance(lead["reasons"], list) and lead["reasons"]
        assert all(isinstance(r, str) and r for r in lead["reasons"])
        assert isinstance(lead["next_move"], str) and lead["next_move"]
    maya = next(lead for lead in payload["leads"] if lead["name"] == "Maya Thompson")
    assert (maya["title"], maya["company"], maya["level"], maya["verdict"]) == (
        "Planning Intern", "Cascadia Outdoor Supply Co.", "junior", "not_worth_chasing")
    summary = payload["summary"]
    assert isinstance(summary, dict)
    assert summary.get("total") == 4
    assert sum(summary[v] for v in VERDICTS) == 4


def test_cli_triage_json_reports_bad_rows_and_still_judges_the_rest(run, tmp_path: Path) -> None:
    path = write_export(tmp_path, HUBSPOT + '"Zoe","Hart","Buyer","Harbor Lane Foods","lots","3","0","Web","2026-11-01"\n')
    status, out = run("triage", str(path), "--json")
    assert status == 0
    payload = json.loads(out)
    assert len(payload["leads"]) == 4
    assert [(e["file"], e["line"]) for e in payload["errors"]] == [(str(path), 6)]
    assert "lots" in payload["errors"][0]["error"] or "number" in payload["errors"][0]["error"]


def test_cli_triage_account_ambiguous_lists_both_candidates(run, sample_services, capsys) -> None:
    status, out = run("triage", "--account", "brightwater", "--json", over=sample_services)
    assert status == 2
    payload = json.loads(out)
    assert "Brightwater Foods" in payload["error"] and "Brightwater Health" in payload["error"]
    status, out = run("triage", "--account", "brightwater", over=sample_services)
    assert status == 2
    err = capsys.readouterr().err
    assert "Brightwater Foods" in err and "Brightwater Health" in err


def test_cli_triage_account_json(run, sample_services) -> None:
    status, out = run("triage", "--account", "Brightwater Health", "--json", over=sample_services)
    assert status == 0
    payload = json.loads(out)
    assert payload["leads"] and {lead["company"] for lead in payload["leads"]} == {"Brightwater Health"}
    assert payload["summary"]["not_worth_chasing"] >= 1 and payload["summary"]["pursue"] >= 1


@pytest.mark.parametrize("argv", [("triage",), ("triage", "--json"), ("triage", "leads.csv", "--account", "Acme")])
def test_cli_triage_needs_exactly_one_of_file_or_account(run, tmp_path: Path, argv: tuple[str, ...]) -> None:
    (tmp_path / "leads.csv").write_text(HUBSPOT, encoding="utf-8")
    status, out = run(*[str(tmp_path / a) if a == "leads.csv" else a for a in argv])
    assert status == 2
    if "--json" in argv:
        assert "error" in json.loads(out)


def test_cli_triage_missing_file_exits_2_naming_it(run, tmp_path: Path, capsys) -> None:
    missing = tmp_path / "no-such-export.csv"
    status, out = run("triage", str(missing), "--json")
    assert status == 2
    assert "no-such-export.csv" in json.loads(out)["error"]
    status, _ = run("triage", str(missing))
    assert status == 2
    assert "no-such-export.csv" in capsys.readouterr().err


def test_cli_triage_human_output_shows_not_worth_chasing_with_reasons(run, tmp_path: Path) -> None:
    status, out = run("triage", str(write_export(tmp_path, HUBSPOT)))
    assert status == 0
    lines = out.splitlines()
    assert any(line.startswith("NOT WORTH CHASING: Maya Thompson") and "Planning Intern" in line for line in lines)
    assert any(line.startswith("PURSUE: Nicole Fraser") for line in lines)
    start = next(i for i, line in enumerate(lines) if line.startswith("NOT WORTH CHASING: Maya Thompson"))
    block = lines[start + 1:start + 6]
    assert any("not buying power" in line for line in block)
    assert any("bottom-up" in line.lower() for line in block)
    assert "1 not worth chasing" in lines[0]


def test_render_triage_lists_every_lead_with_its_reasons_and_problems(tmp_path: Path) -> None:
    path = write_export(tmp_path, HUBSPOT + '"Zoe","Hart","Buyer"\n')
    result = triage_file(path, today=TODAY)
    text = render_triage(result)
    for verdict in result.verdicts:
        assert verdict.lead.name in text
        for reason in verdict.reasons:
            assert reason in text
        assert verdict.next_move in text
    assert f"{path}:6" in text


# ---------------------------------------------------------------- the bundled evaluation

def test_bundled_title_evaluation_meets_its_bar() -> None:
    rows = load_titles()
    assert len(rows) >= 100
    figures = evaluate_triage(rows)
    assert figures["titles"] == len(rows)
    assert figures["level_accuracy"] >= 0.9, figures["errors"][:10]
    assert figures["not_worth_chasing_recall"] >= 0.95, figures["errors"][:10]


def test_evaluation_counts_a_wrong_verdict_as_an_error() -> None:
    rows = [{"title": "Procurement Intern", "level": "junior", "function": "procurement", "score": "99",
             "page_views": "120", "form_submissions": "9", "verdict": "not_worth_chasing"},
            {"title": "CFO", "level": "executive", "function": "finance", "score": "2", "page_views": "",
             "form_submissions": "", "verdict": "not_worth_chasing"}]  # a wrong label
    figures = evaluate_triage(rows)
    assert figures["level_accuracy"] == 1.0
    assert figures["verdict_accuracy"] == 0.5
    assert figures["not_worth_chasing_recall"] == 0.5
    assert [e["title"] for e in figures["errors"]] == ["CFO"]
