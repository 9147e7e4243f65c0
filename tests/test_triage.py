"""Lead triage: who a rep should pursue, nurture or not chase, and the move that goes with it.

Fit (who the person is) decides the verdict; engagement (what they clicked) never buys a junior a
rep's time. The expected verdicts come from the contract's policy table (DESIGN.md, "Lead level"):

| level                | verdict                                                                   |
| executive            | pursue with any engagement                                                |
| vp, director         | pursue in one of the profile's buying_functions, else nurture             |
| manager              | nurture; not_worth_chasing when barely engaged                            |
| individual, unknown  | nurture when engaged; not_worth_chasing when barely engaged               |
| junior               | not_worth_chasing whatever the score; the move names the senior to ask for |

"Engaged" is hot or warm by the profile's thresholds (defaults: hot at score 70, 25 page views or
3 forms; warm at 40, 8 or 1), and activity older than the profile's window (90 days) cools a lead.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml
from fake_openai import SAMPLE_TODAY, make_ctx

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
TODAY = SAMPLE_TODAY  # the `ctx` fixture's "today"
CONTRACT_KEYS = {"name", "title", "company", "level", "function", "verdict", "reasons", "next_move"}
# the sample seller's buying functions, read from its profile file (not from the code that parses it)
BUYING = set(yaml.safe_load((SAMPLE / "seller.yaml").read_text(encoding="utf-8"))["buying_functions"])

# engagement by the default thresholds: hot (score >= 70), warm (score >= 40), cold (below both)
ENGAGEMENT = {
    "hot": {"score": 99, "page_views": 120, "form_submissions": 9},
    "warm": {"score": 45},
    "cold": {"score": 5, "page_views": 1, "form_submissions": 0},
}


def days_ago(days: int) -> str:
    return (TODAY - timedelta(days=days)).isoformat()


def text_of(verdict) -> str:  # noqa: ANN001
    return " ".join(verdict.reasons)


def lead(title: str, engagement: str = "cold", *, name: str = "Robin Keane", **extra: object) -> Lead:
    return Lead(name=name, title=title, company="Acme Corporation", last_activity=days_ago(2),
                **{**ENGAGEMENT[engagement], **extra})


def contract_verdict(level: str, function: str, engagement: str, buying: set[str] = BUYING) -> str:
    """The contract's default policy table, as written."""
    engaged = engagement in ("hot", "warm")
    if level == "executive":
        return "pursue"
    if level in ("vp", "director"):
        return "pursue" if function in buying else "nurture"
    if level in ("manager", "individual", "unknown"):
        return "nurture" if engaged else "not_worth_chasing"
    return "not_worth_chasing"  # junior, whatever the score


def profile_ctx(tmp_path: Path, text: str):  # noqa: ANN201
    """A context over a seller profile written for the test (merged over the generic defaults)."""
    folder = tmp_path / "seller"
    folder.mkdir(exist_ok=True)
    (folder / "seller.yaml").write_text(text, encoding="utf-8")
    return make_ctx(folder)


# ---------------------------------------------------------------- the policy table, one test per row

@pytest.mark.parametrize("engagement", ["cold", "hot"])
@pytest.mark.parametrize("title", ["CFO", "Directrice financière", "Finanzvorständin", "Director General",
                                   "Geschäftsführer", "Chief Marketing Officer"])
def test_policy_an_executive_is_pursued_with_any_engagement(ctx, title: str, engagement: str) -> None:
    verdict = judge(lead(title, engagement, name="Dana Whitfield"), ctx)
    assert verdict.title.level == "executive"
    assert verdict.verdict == "pursue"  # even a CMO: the buying-function rule is for VPs and directors
    assert "Dana Whitfield" in verdict.next_move
    assert "top-down" in verdict.next_move.lower()
    if engagement == "cold":
        assert "does not matter" in text_of(verdict)  # low engagement is explained away, not held against them


@pytest.mark.parametrize("title", ["Assistant Vice President, Finance", "VP Operations", "Director of Procurement",
                                   "Head of IT", "Jefa de compras", "Directora de operaciones"])
def test_policy_a_vp_or_director_in_a_buying_function_is_pursued(ctx, title: str) -> None:
    verdict = judge(lead(title, "cold", name="Dana Whitfield"), ctx)
    assert verdict.title.level in ("vp", "director")
    assert verdict.title.function in BUYING
    assert verdict.verdict == "pursue"
    assert "does not matter" in text_of(verdict)
    assert "top-down" in verdict.next_move.lower()


@pytest.mark.parametrize("engagement", ["cold", "hot"])
@pytest.mark.parametrize("title", ["Director of Marketing", "Head of Marketing", "VP Sales", "Head of HR",
                                   "Directora de Marketing"])
def test_policy_a_vp_or_director_outside_the_buying_functions_is_nurtured(ctx, title: str, engagement: str) -> None:
    verdict = judge(lead(title, engagement, name="Lee Chambers"), ctx)
    assert verdict.title.level in ("vp", "director")
    assert verdict.title.function not in BUYING
    assert verdict.verdict == "nurture"  # and a hot score does not promote them
    move = verdict.next_move
    assert move.startswith("Ask Lee Chambers who owns the budget"), move  # ask them for the owner
    assert "introduction" in move


def test_policy_the_profile_says_which_functions_buy(ctx, tmp_path: Path) -> None:
    marketing_buys = profile_ctx(tmp_path, "buying_functions: [marketing, finance]\n")
    director = lead("Director of Marketing")
    assert judge(director, ctx).verdict == "nurture"
    assert judge(director, marketing_buys).verdict == "pursue"
    # and a function the profile no longer lists stops buying
    assert judge(lead("Director of Procurement"), ctx).verdict == "pursue"
    assert judge(lead("Director of Procurement"), marketing_buys).verdict == "nurture"


@pytest.mark.parametrize("engagement", ["hot", "warm"])
@pytest.mark.parametrize("title", ["Procurement Manager", "Responsable achats", "Teamleiter Einkauf",
                                   "Gerente de Compras", "Planning Lead"])
def test_policy_an_engaged_manager_is_nurtured_as_a_champion(ctx, title: str, engagement: str) -> None:
    verdict = judge(lead(title, engagement, name="Alex Morgan"), ctx)
    assert verdict.title.level == "manager"
    assert verdict.engagement == engagement
    assert verdict.verdict == "nurture"
    assert "champion" in verdict.next_move.lower()
    assert "Alex Morgan" in verdict.next_move


@pytest.mark.parametrize("title", ["Procurement Manager", "Responsable achats", "Teamleiter Einkauf"])
def test_policy_a_barely_engaged_manager_is_not_worth_chasing(ctx, title: str) -> None:
    verdict = judge(lead(title, "cold", name="Alex Morgan"), ctx)
    assert verdict.title.level == "manager"
    assert verdict.engagement == "cold"
    assert verdict.verdict == "not_worth_chasing"
    assert "score 5" in text_of(verdict)  # the figures behind "barely engaged" are shown
    assert "champion" not in verdict.next_move.lower()
    assert verdict.next_move == "No sales time: leave in marketing nurture."


@pytest.mark.parametrize("engagement", ["hot", "warm"])
@pytest.mark.parametrize("title", ["Supply Chain Analyst", "Analista de compras", "Buyer", "", "n/a", "Freelance"])
def test_policy_an_engaged_individual_or_unknown_title_is_nurtured(ctx, title: str, engagement: str) -> None:
    verdict = judge(lead(title, engagement, name="Kim Lee"), ctx)
    assert verdict.title.level in ("individual", "unknown")
    assert verdict.verdict == "nurture"  # a way in (the old policy did not chase engaged analysts at all)
    assert "Kim Lee" in verdict.next_move
    if verdict.title.level == "unknown":
        assert verdict.next_move.startswith("Qualify first")
    else:
        assert "introduction" in verdict.next_move
        assert "not a buyer" in text_of(verdict)


def test_an_unknown_title_with_heavy_activity_is_qualified_not_called_barely_engaged(ctx) -> None:
    verdict = judge(Lead(name="Kim Lee", title="n/a", score=30, page_views=120, form_submissions=9), ctx)
    assert verdict.engagement == "hot"  # 120 page views, whatever the score
    assert verdict.verdict == "nurture"
    assert verdict.next_move.startswith("Qualify first: find out Kim Lee's role")
    assert "page views 120" in text_of(verdict)
    assert "barely" not in text_of(verdict).lower() and "little engagement" not in text_of(verdict)


@pytest.mark.parametrize("title", ["Supply Chain Analyst", "Analista de compras", "", "n/a", "Freelance"])
def test_policy_a_barely_engaged_individual_or_unknown_title_is_not_worth_chasing(ctx, title: str) -> None:
    verdict = judge(lead(title, "cold", name="Kim Lee"), ctx)
    assert verdict.title.level in ("individual", "unknown")
    assert verdict.verdict == "not_worth_chasing"
    assert "qualify" not in verdict.next_move.lower()
    assert "No sales time" in verdict.next_move


@pytest.mark.parametrize("engagement", ["hot", "warm", "cold"])
@pytest.mark.parametrize("title", ["Procurement Intern", "Werkstudentin Controlling", "Stagiaire achats",
                                   "Becaria de compras", "Executive Assistant to the CFO",
                                   "Graduate Trainee, Supply Chain"])
def test_policy_a_junior_is_not_worth_chasing_whatever_the_score(ctx, title: str, engagement: str) -> None:
    verdict = judge(lead(title, engagement), ctx)
    assert verdict.title.level == "junior"
    assert verdict.verdict == "not_worth_chasing"
    assert "budget" in text_of(verdict).lower()
    move = verdict.next_move
    assert "Robin Keane" in move
    assert "ask for an introduction to the" in move  # the senior person to ask them for
    if engagement == "hot":
        reasons = text_of(verdict)
        assert "not buying power" in reasons
        assert "99" in reasons and "120" in reasons  # the activity it discounts is shown, not hidden
        assert "bottom-up" in move.lower()


def test_the_profile_tunes_thresholds_but_never_the_junior_rule(ctx, tmp_path: Path) -> None:
    eager = profile_ctx(tmp_path, "engagement:\n  hot: {score: 10, page_views: 2, form_submissions: 1}\n"
                                  "  warm: {score: 5, page_views: 1, form_submissions: 1}\n")
    analyst = Lead(name="Kim Lee", title="Procurement Analyst", score=12)
    intern = Lead(name="Jo Park", title="Procurement Intern", score=12)
    assert judge(analyst, ctx).engagement == "cold"
    assert judge(analyst, ctx).verdict == "not_worth_chasing"
    assert judge(analyst, eager).engagement == "hot"
    assert judge(analyst, eager).verdict == "nurture"
    assert judge(intern, eager).engagement == "hot"
    assert judge(intern, eager).verdict == "not_worth_chasing"


# ---------------------------------------------------------------- engagement and recency

def test_engagement_older_than_90_days_cools_a_lead(ctx) -> None:
    def judged(days: int, score: int):  # noqa: ANN202
        return judge(Lead(name="Sam Ortiz", title="Procurement Analyst", score=score, page_views=40,
                          form_submissions=4, last_activity=days_ago(days)), ctx)

    assert judged(10, 95).engagement == "hot"
    assert judged(90, 95).engagement == "hot"        # exactly 90 days is still recent
    assert judged(91, 95).engagement == "warm"       # older: hot cools to warm
    assert "last active 200 days ago" in text_of(judged(200, 95))
    old_and_modest = judge(Lead(name="Sam Ortiz", title="Procurement Analyst", score=45, page_views=9,
                                last_activity=days_ago(180)), ctx)
    recent_and_modest = judge(Lead(name="Sam Ortiz", title="Procurement Analyst", score=45, page_views=9,
                                   last_activity=days_ago(5)), ctx)
    assert recent_and_modest.engagement == "warm"
    assert old_and_modest.engagement == "cold"
    # an analyst with live interest is a way in; the same analyst gone quiet gets no sales time
    assert recent_and_modest.verdict == "nurture"
    assert old_and_modest.verdict == "not_worth_chasing"


def test_the_engagement_window_comes_from_the_profile(ctx, tmp_path: Path) -> None:
    short = profile_ctx(tmp_path, "engagement: {window_days: 30}\n")
    analyst = Lead(name="Sam Ortiz", title="Procurement Analyst", score=95, last_activity=days_ago(45))
    assert judge(analyst, ctx).engagement == "hot"
    assert judge(analyst, short).engagement == "warm"


def test_today_is_the_contexts_date_not_the_clock() -> None:
    analyst = Lead(name="Sam Ortiz", title="Procurement Analyst", score=95, last_activity="2020-03-01")
    then = make_ctx(today=date(2020, 3, 11))
    later = make_ctx(today=date(2021, 3, 11))
    assert judge(analyst, then).engagement == "hot"
    assert "last active 10 days ago" in text_of(judge(analyst, then))
    assert judge(analyst, later).engagement == "warm"


def test_summary_counts_only_recent_hot_leads_as_engaged_but_not_worth_chasing(ctx) -> None:
    leads = [
        Lead(name="Recent Intern", title="Finance Intern", score=97, page_views=80, last_activity=days_ago(3)),
        Lead(name="Stale Intern", title="Finance Intern", score=97, page_views=80, last_activity=days_ago(150)),
        Lead(name="The CFO", title="CFO", score=2),
    ]
    summary = triage_leads(leads, ctx).summary
    assert summary["total"] == 3
    assert summary["not_worth_chasing"] == 2 and summary["pursue"] == 1 and summary["nurture"] == 0
    assert summary["engaged_but_not_worth_chasing"] == 1


def test_verdicts_are_listed_pursue_first_then_nurture_then_not_worth_chasing(ctx) -> None:
    leads = [
        Lead(name="Intern", title="Marketing Intern", score=99),
        Lead(name="Manager", title="Logistics Manager", score=40),
        Lead(name="Director", title="Director of Procurement", score=1),
        Lead(name="Chief", title="COO", score=1),
    ]
    result = triage_leads(leads, ctx)
    assert [v.verdict for v in result.verdicts] == ["pursue", "pursue", "nurture", "not_worth_chasing"]
    assert [v.lead.name for v in result.verdicts][:2] == ["Chief", "Director"]  # most senior first


# ---------------------------------------------------------------- who to ask for

def test_bottom_up_move_prefers_the_senior_of_the_juniors_own_function(ctx) -> None:
    seniors = [SeniorContact("Helen Carver", "Chief Financial Officer", "finance", "executive"),
               SeniorContact("Rachel Osei", "Head of Indirect Procurement", "procurement", "director")]
    verdict = judge(Lead(name="Chloe Adams", title="Purchasing Assistant", score=80, page_views=30), ctx,
                    seniors=seniors)
    move = verdict.next_move
    assert "Rachel Osei (Head of Indirect Procurement)" in move
    if "Helen Carver" in move:
        assert move.index("Rachel Osei") < move.index("Helen Carver")


def test_a_director_outside_the_buying_functions_is_asked_for_a_buying_owner(ctx) -> None:
    """Contract: a VP or director outside the buying functions is nurtured "(ask them for the owner in a
    buying function)": the person the move names must be that owner, not a senior of their own function."""
    seniors = [SeniorContact("Victor Hale", "VP Marketing", "marketing", "vp"),
               SeniorContact("Helen Carver", "Chief Financial Officer", "finance", "executive")]
    verdict = judge(lead("Director of Marketing", "hot", name="Lee Chambers"), ctx, seniors=seniors)
    assert verdict.verdict == "nurture"
    move = verdict.next_move
    assert "Helen Carver (Chief Financial Officer)" in move
    if "Victor Hale" in move:
        assert move.index("Helen Carver") < move.index("Victor Hale"), move


@pytest.mark.parametrize(("title", "role"), [
    # the sample seller's personas (knowledge/seller.yaml): CPO for procurement, CFO for finance, CIO for IT
    ("Procurement Intern", "the CPO"),
    ("Stagiaire contrôle de gestion", "the CFO"),
    ("IT Support Intern", "the CIO"),
])
def test_without_senior_contacts_the_move_names_the_profiles_persona_to_find(ctx, title: str, role: str) -> None:
    verdict = judge(Lead(name="Jo Park", title=title, score=90, page_views=50), ctx)
    assert f"ask for an introduction to {role} (no senior contact on file yet)" in verdict.next_move


def test_without_a_profile_the_role_to_find_comes_from_the_generic_personas(generic_ctx) -> None:
    # bot/defaults/seller.yaml names the procurement persona "Head of Procurement"
    verdict = judge(Lead(name="Jo Park", title="Procurement Intern", score=90, page_views=50), generic_ctx)
    assert "ask for an introduction to the Head of Procurement" in verdict.next_move


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
    for row in leads:
        row["name"] = f"{row['First Name']} {row['Last Name']}"
    return {"contacts": contacts, "seniors": [c for c in contacts if SENIOR_TITLE.match(c["Title"])], "leads": leads}


def all_sample_contact_names() -> set[str]:
    contacts = {f"{c['FirstName']} {c['LastName']}" for c in _read_csv(SAMPLE / "crm" / "contacts.csv")}
    hubspot = {f"{c['First Name']} {c['Last Name']}" for c in _read_csv(SAMPLE / "crm" / "hubspot-contacts.csv")}
    return contacts | hubspot


@pytest.mark.parametrize("account_name", ["Brightwater Health", "Distribuciones Solana S.L."])
def test_account_triage_sends_the_engaged_junior_to_a_real_senior_of_that_account(sample, ctx,
                                                                                 account_name: str) -> None:
    people = crm_people(account_name)
    seniors = {c["name"] for c in people["seniors"]}
    assert seniors, "the sample account should have senior contacts"
    hottest = max(people["leads"], key=lambda row: float(row["HubSpot Score"]))

    account = sample.account(account_name)
    assert account.name == account_name
    result = triage_account(sample.retriever, account.id, account.name, ctx)
    by_name = {v.lead.name: v for v in result.verdicts}

    assert len(by_name) == len(result.verdicts), "a person in both the CRM and the marketing tool is listed once"
    junior = by_name[hottest["name"]]
    assert junior.title.level == "junior"
    assert junior.verdict == "not_worth_chasing"
    assert f"score {hottest['HubSpot Score']}" in text_of(junior)  # the marketing score was merged in
    named = {name for name in all_sample_contact_names() if name in junior.next_move} - {hottest["name"]}
    assert named & seniors, f"no senior of {account_name} named in: {junior.next_move}"
    assert named <= seniors, f"names people who are not seniors of {account_name}: {named - seniors}"
    # and every senior on file is someone the rep should pursue
    assert {n for n, v in by_name.items() if v.verdict == "pursue"} >= seniors


@pytest.mark.parametrize("account_name", ["Acme Corporation", "Brightwater Foods", "Brightwater Health",
                                          "Distribuciones Solana S.L."])
def test_every_verdict_on_a_sample_account_follows_the_contract_table(sample, ctx, account_name: str) -> None:
    account = sample.account(account_name)
    result = triage_account(sample.retriever, account.id, account.name, ctx)
    assert result.verdicts
    wrong = {v.lead.name: (v.title.level, v.title.function, v.engagement, v.verdict) for v in result.verdicts
             if v.verdict != contract_verdict(v.title.level, v.title.function, v.engagement)}
    assert not wrong, wrong


def test_an_engaged_analyst_in_the_sample_is_nurtured_as_a_way_in(sample, ctx) -> None:
    """Emily Tran (Supply Chain Analyst, Brightwater Health, HubSpot score 91): engaged, so a way in."""
    row = next(r for r in crm_people("Brightwater Health")["leads"] if r["Job Title"] == "Supply Chain Analyst")
    account = sample.account("Brightwater Health")
    result = triage_account(sample.retriever, account.id, account.name, ctx)
    emily = next(v for v in result.verdicts if v.lead.name == row["name"])
    assert emily.title.level == "individual"
    assert emily.engagement == "hot"
    assert emily.verdict == "nurture"
    assert f"score {row['HubSpot Score']}" in text_of(emily)


@pytest.mark.parametrize("account_name", ["Brightwater Health", "Distribuciones Solana S.L."])
def test_account_triage_shows_the_marketing_score_of_every_contact_the_marketing_tool_knows(
        sample, ctx, account_name: str) -> None:
    """leads.csv spells company names loosely ("Brightwater", "Solana Distribuciones"); the email is the person."""
    people = crm_people(account_name)
    contact_emails = {c["Email"].lower() for c in people["contacts"]}
    known = [row for row in people["leads"] if row["Email"].lower() in contact_emails]
    assert known
    account = sample.account(account_name)
    result = triage_account(sample.retriever, account.id, account.name, ctx)
    by_name = {v.lead.name: v for v in result.verdicts}
    missing = {row["name"]: row["Company Name"] for row in known
               if f"score {row['HubSpot Score']}" not in text_of(by_name[row["name"]])}
    assert not missing, f"marketing score not merged for {missing}"


def test_purchasing_junior_at_solana_is_pointed_to_the_head_of_purchasing(sample, ctx) -> None:
    people = crm_people("Distribuciones Solana S.L.")
    buyer_head = next(c["name"] for c in people["seniors"] if "compras" in c["Title"].lower())
    assistant = next(c["name"] for c in people["contacts"] if re.match(r"asistente de compras", c["Title"], re.I))
    account = sample.account("Distribuciones Solana")
    result = triage_account(sample.retriever, account.id, account.name, ctx)
    verdict = next(v for v in result.verdicts if v.lead.name == assistant)
    assert verdict.verdict == "not_worth_chasing"
    assert buyer_head in verdict.next_move


def test_senior_contacts_of_an_account_match_the_crm_file(sample, ctx) -> None:
    people = crm_people("Brightwater Health")
    account = sample.account("Brightwater Health")
    found = {s.name for s in senior_contacts(sample.retriever, account.id, ctx.profile)}
    assert found == {c["name"] for c in people["seniors"]}


def test_a_file_of_leads_uses_the_crm_to_name_seniors_or_the_role_to_find(sample, ctx, tmp_path: Path) -> None:
    foods = crm_people("Brightwater Foods")
    procurement_head = next(c["name"] for c in foods["seniors"] if "procurement" in c["Title"].lower())
    export = tmp_path / "export.csv"
    export.write_text(
        "First Name,Last Name,Job Title,Company Name,HubSpot Score,Number of Pageviews,"
        "Number of Form Submissions,Original Source,Last Activity Date\n"
        f"Ellie,Watts,Procurement Assistant,Brightwater Foods Ltd,91,44,5,Organic Search,{days_ago(3)}\n"
        f"Tomasz,Nowak,Finance Intern,Quillon Freight Sp. z o.o.,94,61,6,Paid Search,{days_ago(2)}\n",
        encoding="utf-8",
    )
    result = triage_file(export, ctx, retriever=sample.retriever)
    by_name = {v.lead.name: v for v in result.verdicts}
    known, unknown = by_name["Ellie Watts"], by_name["Tomasz Nowak"]
    assert known.verdict == unknown.verdict == "not_worth_chasing"
    assert known.as_dict()["company"] == "Brightwater Foods"  # resolved to the CRM account
    assert procurement_head in known.next_move
    assert "ask for an introduction to the CFO (no senior contact on file yet)" in unknown.next_move
    assert not {n for n in all_sample_contact_names() if n in unknown.next_move}


def test_the_sample_knowledge_is_judged_as_of_its_newest_record(sample, monkeypatch) -> None:
    """No as_of in knowledge/seller.yaml, no AS_OF setting: "today" is the newest activity or lead date."""
    monkeypatch.delenv("AS_OF", raising=False)
    newest = max([date.fromisoformat(r["ActivityDate"]) for r in _read_csv(SAMPLE / "crm" / "activities.csv")]
                 + [date.fromisoformat(r["Last Activity Date"]) for r in _read_csv(SAMPLE / "crm" / "leads.csv")])
    assert newest == date(2026, 11, 26)
    today = sample.services().context().today
    assert (today.date, today.source) == (newest, "newest_record")


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
def test_hubspot_export_loads_unedited(ctx, tmp_path: Path, name: str) -> None:
    result = triage_file(write_export(tmp_path, HUBSPOT, name=name), ctx)
    assert not result.errors
    # intern: junior; VP Finance: a buying function; Planning Lead: an engaged manager; no title, engaged: unknown
    assert verdicts_by_name(result) == {"Maya Thompson": "not_worth_chasing", "Nicole Fraser": "pursue",
                                        "Thijs Peters": "nurture", "Quinn Avery": "nurture"}
    maya = next(v for v in result.verdicts if v.lead.name == "Maya Thompson")
    assert "score 94" in text_of(maya) and "page views 61" in text_of(maya)
    assert maya.as_dict()["company"] == "Cascadia Outdoor Supply Co."
    quinn = next(v for v in result.verdicts if v.lead.name == "Quinn Avery")
    assert quinn.next_move.lower().startswith("qualify first")


def test_hubspot_export_saved_by_excel_with_semicolons_and_a_bom(ctx, tmp_path: Path) -> None:
    path = write_export(tmp_path, HUBSPOT, bom=True, delimiter=";")
    result = triage_file(path, ctx)
    assert not result.errors
    assert verdicts_by_name(result)["Maya Thompson"] == "not_worth_chasing"
    assert verdicts_by_name(result)["Nicole Fraser"] == "pursue"


def test_marketo_export_loads_unedited(ctx, tmp_path: Path) -> None:
    result = triage_file(write_export(tmp_path, MARKETO, bom=True), ctx)
    assert not result.errors
    verdicts = verdicts_by_name(result)
    assert verdicts["Lea Schmidt"] == "not_worth_chasing"
    assert verdicts["Claudia Berger"] == "pursue"
    assert verdicts["Markus Lang"] == "nurture"  # a manager with a score of 40: warm
    assert len(result.verdicts) == 4  # the row with only an email is judged too (unknown, not engaged)
    nameless = next(v for v in result.verdicts if v.lead.email == "unknown@hk-pharma.de")
    assert nameless.verdict == "not_worth_chasing" and nameless.title.level == "unknown"
    lea = next(v for v in result.verdicts if v.lead.name == "Lea Schmidt")
    assert "score 95" in text_of(lea)


def test_salesforce_lead_export_without_scores_loads_unedited(ctx, tmp_path: Path) -> None:
    result = triage_file(write_export(tmp_path, SALESFORCE), ctx)
    assert not result.errors
    # no engagement data at all: only the executive is worth a rep's time
    assert verdicts_by_name(result) == {"Hugo Martin": "not_worth_chasing", "Sylvie Chevalier": "pursue",
                                        "Antoine Dubois": "not_worth_chasing"}
    hugo = next(v for v in result.verdicts if v.lead.name == "Hugo Martin")
    assert hugo.engagement == "cold"
    antoine = next(v for v in result.verdicts if v.lead.name == "Antoine Dubois")
    assert antoine.title.level == "manager" and antoine.engagement == "cold"
    assert "no engagement data" in text_of(antoine)  # says why, rather than showing zeros


def test_bad_rows_are_reported_with_file_and_line_and_the_rest_is_judged(ctx, tmp_path: Path) -> None:
    path = write_export(tmp_path, (
        "First Name,Last Name,Job Title,Company Name,HubSpot Score,Number of Pageviews\n"    # line 1
        "Ana,Ruiz,Becaria de compras,Clínicas Levante,97,80\n"                              # line 2
        'Inés,Castillo,"Jefa de compras\n(Compras corporativas)",Clínicas Levante,35,4\n'   # lines 3-4
        "Diego,Romero,Técnico de aprovisionamiento,Clínicas Levante,69\n"                   # line 5: a column short
        "Rosa,Martínez,Directora de operaciones,Clínicas Levante,22,3\n"                    # line 6
        "Alberto,Sanz,Director financiero,Clínicas Levante,high,9\n"                        # line 7: not a number
        "Lucas,Gil,Analista de compras,Clínicas Levante,81,40\n"                            # line 8
    ))
    result = triage_file(path, ctx)
    errors = {e.line: e for e in result.errors}
    assert set(errors) == {5, 7}
    assert all(e.file == str(path) for e in result.errors)
    assert "column" in errors[5].error
    assert "'high'" in errors[7].error and "not a number" in errors[7].error
    # the row with a bad score is still judged, on its title and without a score
    assert verdicts_by_name(result) == {"Ana Ruiz": "not_worth_chasing", "Inés Castillo": "pursue",
                                        "Rosa Martínez": "pursue", "Alberto Sanz": "pursue",
                                        "Lucas Gil": "nurture"}
    alberto = next(v for v in result.verdicts if v.lead.name == "Alberto Sanz")
    assert alberto.lead.score is None and "high" not in text_of(alberto)
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
    for item in payload["leads"]:
        assert CONTRACT_KEYS <= set(item)
        assert item["verdict"] in VERDICTS
        assert item["level"] in LEVELS
        assert isinstance(item["reasons"], list) and item["reasons"]
        assert all(isinstance(r, str) and r for r in item["reasons"])
        assert isinstance(item["next_move"], str) and item["next_move"]
    maya = next(item for item in payload["leads"] if item["name"] == "Maya Thompson")
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
    assert [(e["file"], e["line"]) for e in payload["errors"]] == [(str(path), 6)]
    assert "'lots'" in payload["errors"][0]["error"] and "not a number" in payload["errors"][0]["error"]
    # Zoe is still judged: a buyer (individual) with 3 page views and no usable score is barely engaged
    assert len(payload["leads"]) == 5
    zoe = next(item for item in payload["leads"] if item["name"] == "Zoe Hart")
    assert (zoe["level"], zoe["verdict"]) == ("individual", "not_worth_chasing")


def test_cli_triage_account_ambiguous_lists_both_candidates(run, sample, capsys) -> None:
    over = sample.services()
    status, out = run("triage", "--account", "brightwater", "--json", over=over)
    assert status == 2
    payload = json.loads(out)
    assert "Brightwater Foods" in payload["error"] and "Brightwater Health" in payload["error"]
    status, out = run("triage", "--account", "brightwater", over=over)
    assert status == 2
    err = capsys.readouterr().err
    assert "Brightwater Foods" in err and "Brightwater Health" in err


def test_cli_triage_account_json(run, sample) -> None:
    status, out = run("triage", "--account", "Brightwater Health", "--json", over=sample.services())
    assert status == 0
    payload = json.loads(out)
    assert payload["leads"] and {item["company"] for item in payload["leads"]} == {"Brightwater Health"}
    assert payload["summary"]["not_worth_chasing"] >= 1 and payload["summary"]["pursue"] >= 1


A_SNAPSHOT = {
    "accounts.csv": "Id,Name,Industry\n001A,Acme Corporation,Manufacturing\n",
    "contacts.csv": "Id,FirstName,LastName,Title,Email,AccountId\n"
                    "003A,Dana,Reyes,Chief Financial Officer,dana.reyes@acme.example,001A\n",
    "activities.csv": "Id,ActivityDate,Type,Subject,WhoId,WhatId\n00T1,2024-03-01,Call,Kickoff,003A,001A\n",
    # an analyst, warm (score 45), last active 10 days before the export's newest record
    "leads.csv": "First Name,Last Name,Job Title,Company Name,Email,HubSpot Score,Number of Pageviews,"
                 "Number of Form Submissions,Last Activity Date\n"
                 "Sam,Ortiz,Procurement Analyst,Acme Corporation,sam.ortiz@acme.example,45,9,0,2024-02-20\n",
}


@pytest.mark.parametrize(("profile_as_of", "setting_as_of", "engagement", "verdict"), [
    (None, None, "warm", "nurture"),                             # today = the newest record, 2024-03-01
    (None, date(2024, 12, 1), "cold", "not_worth_chasing"),      # the AS_OF setting: 285 days later, gone cold
    ("2024-03-05", date(2024, 12, 1), "warm", "nurture"),        # the profile's as_of wins over the setting
])
def test_cli_triage_judges_as_of_the_export_not_the_clock(knowledge, make_settings, fake_embeddings, run,
                                                          profile_as_of, setting_as_of, engagement, verdict) -> None:
    for name, text in A_SNAPSHOT.items():
        knowledge.crm(name, text, dedent=False)
    if profile_as_of:
        knowledge.write("seller.yaml", f"as_of: {profile_as_of}\n")
    services = build_services(make_settings(as_of=setting_as_of), embeddings=fake_embeddings)
    assert not run_ingest(services, [], show_progress=False).errors
    status, out = run("triage", "--account", "Acme Corporation", "--json", over=services)
    assert status == 0
    sam = next(item for item in json.loads(out)["leads"] if item["name"] == "Sam Ortiz")
    assert (sam["engagement"], sam["verdict"]) == (engagement, verdict)


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


def test_render_triage_lists_every_lead_with_its_reasons_and_problems(ctx, tmp_path: Path) -> None:
    path = write_export(tmp_path, HUBSPOT + '"Zoe","Hart","Buyer"\n')
    result = triage_file(path, ctx)
    text = render_triage(result)
    for verdict in result.verdicts:
        assert verdict.lead.name in text
        for reason in verdict.reasons:
            assert reason in text
        assert verdict.next_move in text
    assert f"{path}:6" in text


# ---------------------------------------------------------------- the bundled evaluation

def test_bundled_title_evaluation_meets_its_bar(ctx) -> None:
    rows = load_titles()
    assert len(rows) >= 100
    figures = evaluate_triage(rows, ctx)
    assert figures["titles"] == len(rows)
    assert figures["level_accuracy"] >= 0.9, figures["errors"][:10]
    assert figures["not_worth_chasing_recall"] >= 0.95, figures["errors"][:10]


def test_bundled_title_evaluation_labels_follow_the_contract_table(ctx) -> None:
    """Each labelled verdict is what the contract's table gives for the row's own labelled level and function."""
    def number(value: str) -> float | None:
        return float(value) if value else None

    from bot.services.triage import engagement_of

    stale = []
    for row in load_titles():
        probe = Lead(name="eval", title=row["title"], score=number(row.get("score", "")),
                     page_views=number(row.get("page_views", "")),
                     form_submissions=number(row.get("form_submissions", "")))
        engagement, _ = engagement_of(probe, ctx.date, ctx.profile)
        expected = contract_verdict(row["level"], row["function"], engagement)
        if row["verdict"] != expected:
            stale.append((row["title"], row["level"], row["function"], engagement, row["verdict"], expected))
    assert not stale, f"{len(stale)} labels disagree with the contract, e.g. {stale[:5]}"


def test_evaluation_counts_a_wrong_verdict_as_an_error(ctx) -> None:
    rows = [{"title": "Procurement Intern", "level": "junior", "function": "procurement", "score": "99",
             "page_views": "120", "form_submissions": "9", "verdict": "not_worth_chasing"},
            {"title": "CFO", "level": "executive", "function": "finance", "score": "2", "page_views": "",
             "form_submissions": "", "verdict": "not_worth_chasing"}]  # a wrong label
    figures = evaluate_triage(rows, ctx)
    assert figures["level_accuracy"] == 1.0
    assert figures["verdict_accuracy"] == 0.5
    assert figures["not_worth_chasing_recall"] == 0.5
    assert [e["title"] for e in figures["errors"]] == ["CFO"]
