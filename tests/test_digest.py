"""Digests and alerts (issue 13): who gets which lines on both sample sellers, and through a mock Slack Web API:
sent once across replicas, never to a guest, an opt-out that holds, lookups that fail into the dry-run list,
429s waited out, the buttons and the App Home switches through signed requests, the schedule.

Expected lines are written here from reading each seller's CRM export (accounts, contacts, activities, leads,
deals, and the users/owners file), never computed by the code under test.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from fake_openai import REPO, SampleKnowledge, run_cli
from slack_helpers import (  # noqa: F401
    SECRET,
    TOKEN,
    Harness,
    blocks_of,
    sample,
    visible_text,
)
from slack_mock import Call, SlackMock

from bot.blocks import DIGEST_OPEN, DIGEST_SUBSCRIPTIONS, build_alert_blocks, build_digest_blocks
from bot.formatting import escape

SELLERS = {"vantara": "knowledge", "hr-software": "examples/hr-software"}
TIMEOUT = 15

# ---------------------------------------------------------------- what a sales manager reads in each export

# Default profile: lines since 7 days before "today" (vantara 2026-11-26: from 2026-11-20; hr-software 2026-10-30,
# the profile's as_of: from 2026-10-24). Each line: (kind, account, a person or fact the line must name).
EXPECTED = {
    "vantara": {
        # accounts.csv OwnerId 005V000000kCm05 (Solana); HubSpot Altamira has no owner: its deal's Owner is Carlos
        "carlos.mendoza@vantara-systems.example": {
            ("no_executive", "Altamira Autopartes S.A. de C.V.", "Daniela Treviño"),  # analyst + becaria only
            ("no_executive", "Distribuciones Solana S.L.", "Lucía Navarro"),  # analyst + becaria only
            ("junior_hot_lead", "Altamira Autopartes S.A. de C.V.", "Daniela Treviño"),  # score 98, 2026-11-26
            ("junior_hot_lead", "Distribuciones Solana S.L.", "Lucía Navarro"),  # score 97, 2026-11-24
        },
        "james.whitmore@vantara-systems.example": {
            ("junior_hot_lead", "Brightwater Foods", "Sophie Turner"),  # Procurement Assistant, 2026-11-25
        },
        "jan.becker@vantara-systems.example": {
            ("no_executive", "Hoffmann & Kessler Pharma AG", "Lea Schmidt"),  # Sachbearbeiterin + Werkstudentin
            ("junior_hot_lead", "Hoffmann & Kessler Pharma AG", "Lea Schmidt"),
            ("junior_hot_lead", "Vandermeer Zuivel B.V.", "Lotte Mulder"),  # Finance Trainee, 2026-11-21
        },
        "priya.nair@vantara-systems.example": {
            ("no_executive", "Cascadia Outdoor Supply Co.", "Maya Thompson"),  # analyst + intern
            ("junior_hot_lead", "Cascadia Outdoor Supply Co.", "Maya Thompson"),
        },
        "sarah.klein@vantara-systems.example": {
            ("no_executive", "Brightwater Health", "Jordan Miles"),  # Supply Chain Analyst + Procurement Intern
            ("junior_hot_lead", "Brightwater Health", "Jordan Miles"),  # score 96, 2026-11-23
            ("junior_hot_lead", "Acme Corporation", "Hannah Cole"),  # Assistant to the CFO, 2026-11-20
        },
    },
    "hr-software": {
        "julien.marchetti@brevant.example": {
            ("no_executive", "Cabinet Lavergne & Associés", "Julie Besson"),  # Responsable RH + payroll only
            ("trigger", "Cliniques Véronèse SAS", "Valencia"),  # go-live sequence incl. the new clinic, 2026-10-30
            ("junior_hot_lead", "Cliniques Véronèse SAS", "Théo Guérin"),  # Stagiaire RH, score 94, 2026-10-28
        },
        "katharina.busch@brevant.example": {
            ("no_executive", "Hotelgruppe Sonnfeld GmbH", "Lena Voigt"),  # only the two juniors talk to us
            ("junior_hot_lead", "Hotelgruppe Sonnfeld GmbH", "Lena Voigt"),  # Werkstudentin, 2026-10-27
        },
        "alvaro.recio@brevant.example": {
            ("trigger", "Universidad Albéniz", "registro retributivo"),  # pay transparency, 2026-10-26
        },
    },
}
# Owners with an account and nothing new this week: listed (they own accounts) but given no line.
QUIET = {"vantara": {"elise.garnier@vantara-systems.example"},
         "hr-software": {"niamh.gallagher@brevant.example"}}

# An earlier digest changes what is new: the lines added when the owner's last digest was on this date.
SINCE_LAST = {
    # the Acme meeting of 2026-11-06: planning in parallel to the S/4HANA migration (erp_migration)
    "vantara": ("sarah.klein@vantara-systems.example", date(2026, 11, 5),
                {("trigger", "Acme Corporation", "S/4HANA")}),
    # Sonnfeld's note of 2026-09-09 on the new Chief People Officer; Melanie Kurz (HR-Assistentin, 2026-10-15)
    # and, at Weidenhof, Finn Hauser (Werkstudent, 2026-09-03) were hot juniors since then
    "hr-software": ("katharina.busch@brevant.example", date(2026, 9, 1),
                    {("trigger", "Hotelgruppe Sonnfeld GmbH", "Chief People Officer"),
                     ("junior_hot_lead", "Hotelgruppe Sonnfeld GmbH", "Melanie Kurz"),
                     ("junior_hot_lead", "Weidenhof Kliniken GmbH", "Finn Hauser")}),
}

# Alerts over the last 7 days: a senior lead in a buying function, a trigger at an account with an open deal.
ALERTS = {
    "vantara": {("senior_lead", "Nordwind Logistik GmbH", "Matthias Brandt")},  # CFO lead active 2026-11-26
    "hr-software": {("trigger", "Cliniques Véronèse SAS", "Valencia"),  # open deal in Negotiation
                    ("trigger", "Universidad Albéniz", "registro retributivo")},  # open renewal
}

# Deals added to a copy of each seller's export: one past its close date, owned by someone other than the account's
# owner; one at a new account whose only activity is old.
EXTRA = {
    "vantara": {
        "crm/digest-accounts.csv": "Id,Name,Industry,NumberOfEmployees,OwnerId\n"
                                   "001V000000XTRA1,Eastmoor Textiles Ltd,Manufacturing,900,005V000000kPn06\n",
        "crm/digest-opportunities.csv":
            "Id,AccountId,Name,StageName,Amount,CloseDate,Owner\n"
            "006V000000XTRA1,001V000000GiDO5,Harrowgate - Spare Parts Pilot,Proposal,45000,2026-10-31,Carlos Mendoza\n"
            "006V000000XTRA2,001V000000XTRA1,Eastmoor - Inventory Planning,Qualification,120000,2027-03-31,Priya Nair\n",
        "crm/digest-activities.csv": "Id,ActivityDate,Type,Subject,Description,WhoId,WhatId\n"
                                     "00TV000000XTRA1,2026-09-01,Meeting,Discovery,First call.,,001V000000XTRA1\n",
    },
    "hr-software": {
        "crm/digest-companies.csv": "Company ID;Company name;Industry;Number of Employees;HubSpot Owner\n"
                                    "CMP-3901;Lindqvist Facility Services AB;Facility Services;2.400;71000103\n",
        "crm/digest-deals.jsonl":
            '{"Deal Name": "Weidenhof - PayGrid DE restart", "Deal Stage": "Discovery", "Amount": 90000, '
            '"Close Date": "2026-09-30", "Owner": "Julien Marchetti", "Account ID": "CMP-3109"}\n'
            '{"Deal Name": "Lindqvist - PayGrid SE", "Deal Stage": "Proposal", "Amount": 150000, '
            '"Close Date": "2027-01-31", "Owner": "Niamh Gallagher", "Account ID": "CMP-3901"}\n',
        "crm/digest-activities.csv": "Activity date,Activity type,Subject,Notes,Account ID\n"
                                     "2026-09-10,Meeting,Discovery,First call with HR.,CMP-3901\n",
    },
}
EXTRA_EXPECTED = {
    "vantara": {("carlos.mendoza@vantara-systems.example", "overdue_opportunity", "Harrowgate - Spare Parts Pilot"),
                ("priya.nair@vantara-systems.example", "stalled_opportunity", "Eastmoor - Inventory Planning")},
    "hr-software": {("julien.marchetti@brevant.example", "overdue_opportunity", "Weidenhof - PayGrid DE restart"),
                    ("niamh.gallagher@brevant.example", "stalled_opportunity", "Lindqvist - PayGrid SE")},
}


# ---------------------------------------------------------------- both sellers, no Slack

@pytest.fixture(scope="module", params=sorted(SELLERS))
def seller(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    name = request.param
    yield name, SampleKnowledge(tmp_path_factory.mktemp(name), knowledge=REPO / SELLERS[name])


@pytest.fixture(scope="module", params=sorted(SELLERS))
def seller_with_deals(request: pytest.FixtureRequest,
                      tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    name = request.param
    folder = tmp_path_factory.mktemp(f"{name}-deals")
    knowledge = folder / "knowledge"
    shutil.copytree(REPO / SELLERS[name], knowledge)
    for relative, text in EXTRA[name].items():
        (knowledge / relative).write_text(text, encoding="utf-8")
    yield name, SampleKnowledge(folder, knowledge=knowledge)


def digests_of(services: Any, *, state: Any = None, only: str | None = None) -> Any:
    from bot.listeners.digest import compute_digests
    from bot.services.digest import DigestState

    return compute_digests(services, state or DigestState.for_services(services), only=only)


def lines(report: Any) -> dict[str, set[tuple[str, str]]]:
    return {d.owner.email: {(i.kind, i.account) for i in d.items} for d in report.digests if d.items}


def reset_state(services: Any) -> None:
    """The digest ledger (subscriptions, sent-log, Slack-user cache) as on a fresh install."""
    from bot.services.digest import DigestState

    name = DigestState.for_services(services).ledger.name
    if name in {getattr(c, "name", c) for c in services.store.client.list_collections()}:
        services.store.client.delete_collection(name)


def test_the_sample_sellers_have_owners_and_every_account_is_owned(seller: tuple[str, Any]) -> None:
    name, knowledge = seller
    report = digests_of(knowledge.services())
    assert report.unowned_accounts == []
    assert report.unmatched == []  # every owner named on an account or deal is in the users/owners file
    owners = {d.owner.email for d in report.digests}
    assert owners == set(EXPECTED[name]) | QUIET[name]


def test_the_right_owner_gets_the_right_lines(seller: tuple[str, Any]) -> None:
    name, knowledge = seller
    services = knowledge.services()
    reset_state(services)
    report = digests_of(services)
    got = {d.owner.email: d.items for d in report.digests if d.items}
    assert set(got) == set(EXPECTED[name])
    for email, expected in EXPECTED[name].items():
        items = got[email]
        assert {(i.kind, i.account) for i in items} == {(kind, account) for kind, account, _ in expected}, email
        for kind, account, named in expected:
            text = " ".join(i.text for i in items if (i.kind, i.account) == (kind, account))
            assert named in text, (email, kind, account, text)
    for digest in report.digests:
        for item in digest.items:
            assert item.sources and item.sources[0]["type"] == "account"
            assert all(s["account"] == item.account for s in item.sources)


# The bottom-up move of each no-executive line: the most senior engaged junior to ask for an introduction to the
# senior person not yet engaged (the CFO / finance head the seller sells to; at Sonnfeld the Chief People Officer
# whose appointment on 2026-09-01 a note records; at Lavergne the finance director Amandine Roche wrote to).
MOVES = {
    "vantara": {"Altamira Autopartes S.A. de C.V.": ("Luis Cantú", "Alejandro Garza (Director General)"),
                "Distribuciones Solana S.L.": ("Pablo Herrera", "Marta Ibáñez (Directora financiera)"),
                "Hoffmann & Kessler Pharma AG": ("Sabine Wolf", "Claudia Berger (Finanzvorständin)"),
                "Cascadia Outdoor Supply Co.": ("Ethan Wong", "Nicole Fraser (VP Finance)"),
                "Brightwater Health": ("Emily Tran", "Catherine Moore (Chief Financial Officer)")},
    "hr-software": {"Cabinet Lavergne & Associés": ("Amandine Roche", "Laurent Giraud (Directeur financier)"),
                    "Hotelgruppe Sonnfeld GmbH": ("Melanie Kurz", "Franziska Albers (Chief People Officer)")},
}


def test_the_bottom_up_move_names_who_to_reach(seller: tuple[str, Any]) -> None:
    name, knowledge = seller
    report = digests_of(knowledge.services())
    moves = {i.account: i.text.split("Bottom-up: ", 1)[-1] for d in report.digests for i in d.items
             if i.kind == "no_executive"}
    assert set(moves) == set(MOVES[name])
    for account, (broker, senior) in MOVES[name].items():
        assert moves[account].startswith(f"{broker} (") and moves[account].endswith(f"introduction to {senior}."), \
            (account, moves[account])


# Accounts where directors with budget authority in a buying function (HR for an HR-software seller) are engaged
# alongside juniors: someone who can sign is in the conversation, so neither the brief nor the digest says otherwise.
SIGNER_ENGAGED = {"vantara": set(),
                  "hr-software": {"Universidad Albéniz", "Costa Serena Hoteles S.L.", "Ashbourne Care Homes Ltd",
                                  "Servicios Integrales Ebro S.A."}}


def test_the_digest_says_no_executive_exactly_where_the_brief_does(seller: tuple[str, Any]) -> None:
    from bot.services.briefs import build_brief
    from bot.services.digest import load_snapshot

    name, knowledge = seller
    services = knowledge.services()
    ctx = services.context()
    flagged = {i.account for d in digests_of(services).digests for i in d.items if i.kind == "no_executive"}
    said, signers = set(), set()
    for entry in load_snapshot(services.store).accounts.values():
        if entry.account is None:
            continue
        brief = build_brief(services.retriever, knowledge.account(entry.name), ctx)
        gap = next((g for g in brief.coverage_gaps if g.startswith("No executive engaged")), None)
        if gap is not None and " — meanwhile " in gap:  # no executive engaged, juniors active: the brief's words
            said.add(entry.name)
        if gap is None and any(m.engaged and m.info.level in ("junior", "individual") for m in brief.committee):
            signers.add(entry.name)
    assert flagged == said
    assert flagged == {account for lines_ in EXPECTED[name].values() for kind, account, _ in lines_
                       if kind == "no_executive"}
    assert SIGNER_ENGAGED[name] <= signers and not SIGNER_ENGAGED[name] & flagged


def test_an_earlier_digest_makes_older_news_new(seller: tuple[str, Any]) -> None:
    from bot.services.digest import DigestState

    name, knowledge = seller
    services = knowledge.services()
    reset_state(services)
    state = DigestState.for_services(services)
    email, last, added = SINCE_LAST[name]
    owner = next(d.owner for d in digests_of(services).digests if d.owner.email == email)
    state.record_digests([owner], last)
    report = digests_of(services, state=state)
    items = next(d.items for d in report.digests if d.owner.email == email)
    base = {(kind, account) for kind, account, _ in EXPECTED[name].get(email, set())}
    assert {(i.kind, i.account) for i in items} == base | {(kind, account) for kind, account, _ in added}
    for kind, account, named in added:
        assert any(named in i.text for i in items if (i.kind, i.account) == (kind, account)), (kind, account)
    reset_state(services)


def test_deals_past_their_close_date_or_stalled_go_to_the_deal_owner(seller_with_deals: tuple[str, Any]) -> None:
    name, knowledge = seller_with_deals
    report = digests_of(knowledge.services())
    found = {(d.owner.email, i.kind, i.text.split("'")[1]) for d in report.digests for i in d.items
             if i.kind in ("overdue_opportunity", "stalled_opportunity")}
    assert found == EXTRA_EXPECTED[name]


def test_the_stalled_threshold_is_the_sellers(seller_with_deals: tuple[str, Any], tmp_path: Path) -> None:
    """`digest.stalled_days` in seller.yaml: at 100 days, a deal quiet for 50 or 86 days is not stalled yet."""
    name, knowledge = seller_with_deals
    services = knowledge.services()
    profile_path = Path(knowledge.knowledge) / "seller.yaml"
    original = profile_path.read_text(encoding="utf-8")
    try:
        profile_path.write_text(original + "\ndigest:\n  stalled_days: 100\n", encoding="utf-8")
        patient = knowledge.services()
        assert patient.profile.digest.stalled_days == 100
        kinds = {i.kind for d in digests_of(patient).digests for i in d.items}
        assert "stalled_opportunity" not in kinds and "overdue_opportunity" in kinds
    finally:
        profile_path.write_text(original, encoding="utf-8")
    assert "stalled_opportunity" in {i.kind for d in digests_of(services).digests for i in d.items}


def test_alerts_are_senior_leads_and_triggers_at_accounts_with_an_open_deal(seller: tuple[str, Any]) -> None:
    from datetime import timedelta

    from bot.services.digest import find_alerts, load_snapshot

    name, knowledge = seller
    services = knowledge.services()
    ctx = services.context()
    alerts = find_alerts(load_snapshot(services.store), ctx, since=ctx.date - timedelta(days=6))
    assert {(a.kind, a.account) for a in alerts} == {(kind, account) for kind, account, _ in ALERTS[name]}
    for kind, account, named in ALERTS[name]:
        assert any(named in a.text for a in alerts if (a.kind, a.account) == (kind, account))
    assert len({a.key for a in alerts}) == len(alerts)
    assert all(a.owner is not None for a in alerts)


def test_one_owner_only(seller: tuple[str, Any]) -> None:
    name, knowledge = seller
    email = sorted(EXPECTED[name])[0]
    report = digests_of(knowledge.services(), only=email.upper())
    assert [d.owner.email for d in report.digests] == [email]
    assert lines(report)[email] == {(kind, account) for kind, account, _ in EXPECTED[name][email]}


# ---------------------------------------------------------------- the owner role in any export

def test_owners_are_read_from_salesforce_users_and_hubspot_owners(tmp_path: Path) -> None:
    from bot.knowledge.crm import map_headers, read_crm_file

    users = tmp_path / "export.csv"  # no telling name: the header says it holds owners
    users.write_text("Id,FirstName,LastName,Email,IsActive\n005A,Ana,Ruiz,ana@seller.example,true\n"
                     "005B,Bo,Lind,,false\n", encoding="utf-8")
    parsed = read_crm_file(users, "export.csv")
    assert parsed.role == "owner" and not parsed.errors
    assert [r["name"] for _, r in parsed.records] == ["Ana Ruiz", "Bo Lind"]
    owners = tmp_path / "hubspot-owners.json"
    owners.write_text(json.dumps([{"Owner ID": "71", "First Name": "Cy", "Last Name": "Moss",
                                   "Email": "cy@seller.example"}]), encoding="utf-8")
    parsed = read_crm_file(owners, "hubspot-owners.json")
    assert parsed.role == "owner" and parsed.records[0][1]["id"] == "71"
    for header in ("OwnerId", "Owner ID", "HubSpot Owner", "hubspot_owner_id"):
        assert map_headers("account", ["Id", "Name", header])[header] == "owner_id"
        assert map_headers("opportunity", ["Id", "Name", header])[header] == "owner_id"
    assert map_headers("opportunity", ["Name", "Owner"])["Owner"] == "owner"


def test_owners_that_cannot_be_reached_are_listed(tmp_path: Path) -> None:
    """Inactive, without an email, or named on a record but missing from the users export."""
    knowledge = tmp_path / "knowledge"
    (knowledge / "crm").mkdir(parents=True)
    (knowledge / "crm" / "users.csv").write_text(
        "Id,Name,Email,IsActive\nU1,Ana Ruiz,ana@seller.example,true\nU2,Bo Lind,bo@seller.example,false\n"
        "U3,Cy Moss,,true\n", encoding="utf-8")
    (knowledge / "crm" / "accounts.csv").write_text(
        "Id,Name,OwnerId\nA1,Alpha Co,U1\nA2,Beta Co,U2\nA3,Gamma Co,U3\nA4,Delta Co,U9\nA5,Eps Co,\n",
        encoding="utf-8")
    (knowledge / "crm" / "opportunities.csv").write_text(
        "Id,AccountId,Name,StageName,CloseDate,Owner\nO1,A1,Alpha - Pilot,Proposal,2020-01-31,Dee Park\n",
        encoding="utf-8")
    services = SampleKnowledge(tmp_path, knowledge=knowledge).services(as_of=date(2020, 3, 1))
    report = digests_of(services)
    reasons = {(u["name"] or u["id"]): u["reason"] for u in report.unmatched}
    assert set(reasons) == {"Bo Lind", "Cy Moss", "U9", "Dee Park"}
    assert "inactive" in reasons["Bo Lind"] and "no email" in reasons["Cy Moss"]
    assert "not in the users/owners export" in reasons["U9"] and "not in the users/owners export" in reasons["Dee Park"]
    assert report.unowned_accounts == ["Eps Co"]
    # the overdue pilot belongs to its deal owner, who is not in the export: listed, with their line kept
    (dee,) = [d for d in report.digests if d.owner.name == "Dee Park"]
    assert [i.kind for i in dee.items] == ["overdue_opportunity"]


# ---------------------------------------------------------------- the command line

def test_cli_dry_run_prints_the_contract_shape_without_slack(seller: tuple[str, Any]) -> None:
    name, knowledge = seller
    services = knowledge.services()
    status, out = run_cli(services, "digest", "--dry-run", "--json")
    assert status == 0
    data = json.loads(out)
    assert set(data) == {"as_of", "digests", "unmatched_owners"}
    assert data["as_of"] == services.context().date.isoformat()
    assert data["unmatched_owners"] == []
    for digest in data["digests"]:
        assert set(digest) == {"owner", "items"}
        assert set(digest["owner"]) == {"id", "name", "email", "slack_user"}
        assert digest["owner"]["slack_user"] is None
        for item in digest["items"]:
            assert set(item) == {"kind", "account", "text", "sources"}
            assert all({"id", "title", "type", "account", "path"} <= set(s) for s in item["sources"])
    assert {d["owner"]["email"] for d in data["digests"]} == set(EXPECTED[name])


def test_cli_one_user_and_an_unknown_one(seller: tuple[str, Any]) -> None:
    name, knowledge = seller
    services = knowledge.services()
    email = sorted(EXPECTED[name])[-1]
    status, out = run_cli(services, "digest", "--dry-run", "--json", "--user", email)
    assert status == 0
    assert [d["owner"]["email"] for d in json.loads(out)["digests"]] == [email]
    status, out = run_cli(services, "digest", "--dry-run", "--json", "--user", "nobody@example.com")
    assert status == 2 and "no account owner" in json.loads(out)["error"]
    status, out = run_cli(services, "digest", "--dry-run", "--json", "--user", "x" + email)  # a typo
    assert status == 2 and email in json.loads(out)["error"]  # the owner meant, suggested
    status, text = run_cli(services, "digest", "--dry-run")
    assert status == 0 and email in text


# ---------------------------------------------------------------- Block Kit

def test_digest_blocks_are_compact_escaped_and_within_slacks_limits() -> None:
    from bot.services.digest import Item, Owner, OwnerDigest

    items = [Item("trigger" if n % 2 else "junior_hot_lead", f"Acct {n} <!channel>", f"A{n}",
                  f"Line {n}: <http://evil.example|click> @here " + "x" * 4000, []) for n in range(100)]
    digest = OwnerDigest(Owner("U1", "Ana", "ana@seller.example"), items, date(2026, 11, 20))
    blocks = build_digest_blocks(digest, as_of="2026-11-26", max_items=40, command_hint="python -m bot digest")
    assert len(blocks) <= 50
    raw = json.dumps(blocks)
    assert "<!channel>" not in raw and "<http://evil" not in raw and "@here" not in raw
    assert all(len(b["text"]["text"]) <= 3000 for b in blocks if b.get("type") == "section")
    actions = [b["accessory"]["action_id"] for b in blocks if b.get("accessory")]
    assert len(actions) == 40 and len(set(actions)) == 40 and all(a.startswith(DIGEST_OPEN) for a in actions)
    value = json.loads(next(b for b in blocks if b.get("accessory"))["accessory"]["value"])
    assert value["account_id"] and value["command"] in ("brief", "draft")
    assert "60 more" in visible_text({"blocks": blocks})


def test_an_alert_mentions_the_owner_only_by_a_real_user_id() -> None:
    from bot.services.digest import Alert, Owner

    alert = Alert("senior_lead", "k", "Acme", "A1", "New senior lead at Acme: <!here>", [], Owner("", "Ana", ""))
    assert "<@U123>" in json.dumps(build_alert_blocks(alert, owner="U123"))
    text = json.dumps(build_alert_blocks(alert, owner="<!channel>"))
    assert "<!channel>" not in text and "<!here>" not in text and "Ana" in text


# ---------------------------------------------------------------- the schedule

def test_cron_schedules() -> None:
    from bot.cron import CronSchedule

    monday_8 = datetime(2026, 11, 23, 8, 0)
    assert CronSchedule("0 8 * * MON").matches(monday_8)
    assert not CronSchedule("0 8 * * MON").matches(monday_8.replace(minute=1))
    assert not CronSchedule("0 8 * * tue").matches(monday_8)
    assert CronSchedule("*/15 7-9 * * 1-5").matches(monday_8.replace(minute=45))
    assert CronSchedule("0 8 * * 0").matches(datetime(2026, 11, 22, 8, 0))  # Sunday as 0 and 7
    assert CronSchedule("0 8 * * 7").matches(datetime(2026, 11, 22, 8, 0))
    assert CronSchedule("0 8 1 * MON").matches(datetime(2026, 12, 1, 8, 0))  # cron: either day field
    assert CronSchedule("0 8 1 * MON").matches(monday_8)
    assert not CronSchedule("0 8 1 JAN *").matches(monday_8)
    for bad in ("0 8 * *", "61 8 * * *", "0 8 * * FUNDAY", "0 25 * * *", "*/0 8 * * *"):
        with pytest.raises(ValueError):
            CronSchedule(bad)
    # what the DM's header calls the digest: only a cadence the schedule has
    assert [CronSchedule(e).cadence for e in ("0 8 * * MON", "30 7 * * *", "0 8 1 * *", "*/15 7-9 * * 1-5",
                                              "0 8 * * 1-5")] == ["weekly", "daily", "monthly", None, None]


def test_the_digest_wording_is_loaded_and_checked_with_the_others() -> None:
    from bot.wording import REQUIRED, load_all_wording

    assert "digest" in REQUIRED and load_all_wording()["digest"].has("no_executive")


# ---------------------------------------------------------------- through a mock Slack Web API

class SlackWithPeople(SlackMock):
    """The test mock plus what these tests need: a directory of members (users.lookupByEmail, users.list,
    users.info) and scripted answers with an HTTP status (a 429 with Retry-After, a 500)."""

    def __init__(self) -> None:
        super().__init__(poll_interval=0.05)
        self.members: dict[str, dict[str, Any]] = {}  # by email
        self.failing: dict[str, tuple[int, dict[str, Any]]] = {}  # email -> (status, body) for lookupByEmail
        self.script: dict[str, list[tuple[int, dict[str, str], dict[str, Any]]]] = {}  # method -> answers first
        self.restricted_by_info: set[str] = set()  # users.info says guest although the lookup said member

    def member(self, email: str, user: str, **flags: Any) -> None:
        self.members[email] = {"id": user, "name": email.split("@")[0], "profile": {"email": email},
                               "deleted": False, "is_bot": False, "is_restricted": False,
                               "is_ultra_restricted": False, **flags}

    def answer(self, call: Call) -> tuple[int, dict[str, str], dict[str, Any]]:
        with self.lock:
            queued = self.script.get(call.method)
            if queued:
                return queued.pop(0)
        if call.method == "users.lookupByEmail":
            email = call.body.get("email", "")
            if email in self.failing:
                status, body = self.failing[email]
                return status, {}, body
            if email in self.members:
                return 200, {}, {"ok": True, "user": self.members[email]}
            return 200, {}, {"ok": False, "error": "users_not_found"}
        if call.method == "users.list":
            return 200, {}, {"ok": True, "members": list(self.members.values()), "response_metadata": {}}
        if call.method == "users.info":
            user = call.body.get("user")
            known = next((m for m in self.members.values() if m["id"] == user), {"id": user})
            guest = user in self.restricted_by_info or known.get("is_restricted", False)
            return 200, {}, {"ok": True, "user": {**known, "is_restricted": guest}}
        return super().answer(call)

    def dms(self) -> dict[str, list[Call]]:
        found: dict[str, list[Call]] = {}
        for call in self.find("chat.postMessage"):
            found.setdefault(str(call.body.get("channel")), []).append(call)
        return found


VANTARA_PEOPLE = {"sarah.klein@vantara-systems.example": "USARAH", "james.whitmore@vantara-systems.example": "UJAMES",
                  "jan.becker@vantara-systems.example": "UJAN", "carlos.mendoza@vantara-systems.example": "UCARLOS",
                  "priya.nair@vantara-systems.example": "UPRIYA", "elise.garnier@vantara-systems.example": "UELISE"}


@pytest.fixture
def slack() -> Iterator[SlackWithPeople]:
    server = SlackWithPeople()
    server.start()
    for email, user in VANTARA_PEOPLE.items():
        server.member(email, user)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fresh(sample: Any) -> Any:  # noqa: F811 - the Slack sample store
    """The Slack sample (vantara + a hostile account) with an empty digest ledger."""
    reset_state(sample.services)
    return sample


def slack_services(sample: Any, slack: SlackWithPeople, **settings: Any) -> Any:  # noqa: F811
    return sample.build_services(slack_api_url=slack.url, **settings)


def run(services: Any, slack: SlackWithPeople, *, period: str | None = None, **sender_options: Any) -> Any:
    """One digest run as the scheduler does it, with pacing off (these tests are about what is sent)."""
    from slack_sdk import WebClient

    from bot.listeners.digest import Sender, run_digests
    from bot.listeners.guard import Guard
    from bot.services.digest import DigestState

    options = {"gaps": {m: 0.0 for m in ("chat_postMessage", "users_lookupByEmail", "users_list", "users_info")},
               "per_channel": 0.0, **sender_options}
    sender = Sender(WebClient(token=TOKEN, base_url=slack.url), **options)
    report, delivery = run_digests(services, sender=sender, state=DigestState.for_services(services),
                                   guard=Guard(services.settings), period=period or uuid.uuid4().hex)
    return report, delivery, sender


def crm_text(calls: list[Call]) -> str:
    return "\n".join(visible_text(c.body) for c in calls)


def test_each_owner_gets_one_dm_with_their_own_lines(fresh: Any, slack: SlackWithPeople) -> None:
    services = slack_services(fresh, slack)
    report, delivery, _ = run(services, slack)
    dms = slack.dms()
    expected = {VANTARA_PEOPLE[email]: lines_ for email, lines_ in EXPECTED["vantara"].items()}
    assert set(dms) == set(expected)
    for user, calls in dms.items():
        assert len(calls) == 1
        text = crm_text(calls)
        for _, account, named in expected[user]:
            assert escape(account) in text and named in text  # mrkdwn: "&" is written "&amp;"
        others = {a for u, ls in expected.items() if u != user for _, a, _ in ls} - {a for _, a, _ in expected[user]}
        assert not [a for a in others if escape(a) in text], user
        assert "<!channel>" not in json.dumps(calls[0].body)
    assert {s["slack_user"] for s in delivery.sent} == set(expected)
    assert {c.body["blocks"][0]["text"]["text"] for c in slack.find("chat.postMessage")} == \
        {"Your digest: 2026-11-26"}  # no DIGEST_CRON: no cadence to claim
    assert {d.owner.email: d.slack_user for d in report.digests} == VANTARA_PEOPLE  # everyone matched


def test_nothing_is_sent_twice_across_two_replicas(fresh: Any, slack: SlackWithPeople) -> None:
    replicas = [slack_services(fresh, slack), slack_services(fresh, slack)]
    period = "2026-11-23T08:00"
    start = threading.Barrier(len(replicas) * 2)
    errors: list[BaseException] = []
    reports: list[Any] = []

    def replica(services: Any) -> None:
        try:
            start.wait()
            reports.append(run(services, slack, period=period)[0])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=replica, args=(s,)) for s in replicas * 2]  # two runs on each replica
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    dms = slack.dms()
    assert set(dms) == {VANTARA_PEOPLE[e] for e in EXPECTED["vantara"]}
    assert {user: len(calls) for user, calls in dms.items()} == {user: 1 for user in dms}
    # the run was claimed: one replica computed it and asked Slack about each owner once, the others did nothing
    assert len([r for r in reports if r is not None]) == 1
    assert sorted(c.body["email"] for c in slack.find("users.lookupByEmail")) == sorted(VANTARA_PEOPLE)
    # a later run for the same period (a restart) sends nothing more
    report, delivery, _ = run(replicas[0], slack, period=period)
    assert report is None and delivery.sent == [] and len(slack.find("chat.postMessage")) == len(dms)


def test_a_guest_never_receives_crm_data(fresh: Any, slack: SlackWithPeople) -> None:
    services = slack_services(fresh, slack)
    slack.member("jan.becker@vantara-systems.example", "UJAN", is_restricted=True)  # the lookup says guest
    from bot.services.digest import DigestState

    # Priya's user comes from an hour-old cache entry: Guard's users.info, asked again, says she is a guest now
    DigestState.for_services(services).cache_people({"priya.nair@vantara-systems.example":
                                                     {"user": "UPRIYA", "guest": False, "reason": None,
                                                      "checked": time.time() - 3600}})
    slack.restricted_by_info.add("UPRIYA")
    report, delivery, _ = run(services, slack)
    dms = slack.dms()
    assert "USARAH" in dms  # the run did send: the silence below is not a failure to send at all
    assert "UJAN" not in dms and "UPRIYA" not in dms
    assert not [c for c in slack.find("chat.postMessage") if c.body.get("channel") in ("UJAN", "UPRIYA")]
    reasons = {u["email"]: u["reason"] for u in report.unmatched}
    assert "guest" in reasons["jan.becker@vantara-systems.example"]
    skipped = {s["email"]: s["reason"] for s in delivery.skipped}
    assert "guest" in skipped["priya.nair@vantara-systems.example"]
    assert any(c.body.get("user") == "UPRIYA" for c in slack.find("users.info"))


def test_a_guest_owner_never_receives_crm_data_in_an_alert(fresh: Any, slack: SlackWithPeople) -> None:
    from slack_sdk import WebClient

    from bot.listeners.digest import Sender, run_alerts
    from bot.listeners.guard import Guard
    from bot.services.digest import DigestState, Subscription

    # Jan owns Nordwind (the new CFO lead) and asked for senior-lead alerts by DM, then became a guest
    services = slack_services(fresh, slack, alert_channel="CALERTS")
    DigestState.for_services(services).subscribe("UJAN", Subscription(True, frozenset({"senior_lead"})))
    slack.member("jan.becker@vantara-systems.example", "UJAN", is_restricted=True)
    sender = Sender(WebClient(token=TOKEN, base_url=slack.url), gaps={"chat_postMessage": 0.0}, per_channel=0.0)
    delivery = run_alerts(services, sender=sender, state=DigestState.for_services(services),
                          guard=Guard(services.settings))
    dms = slack.dms()
    assert set(dms) == {"CALERTS"} and "Matthias Brandt" in visible_text(dms["CALERTS"][0].body)  # the team's copy
    assert "UJAN" not in json.dumps(dms["CALERTS"][0].body)  # not even mentioned (a mention would notify them)
    assert all(s["to"] != "UJAN" for s in delivery.sent)


def test_a_guest_clicking_a_digest_button_gets_no_crm_data(fresh: Any, slack: SlackWithPeople) -> None:
    harness = Harness(fresh, slack, services=slack_services(fresh, slack))
    slack.restricted_by_info.add("UGUEST")
    value = json.dumps({"command": "brief", "account_id": "001V000000zp88r", "text": "Brightwater Health"})
    response, path = harness.click(f"{DIGEST_OPEN}_0", value, user="UGUEST", channel="DGUEST")
    assert response.status == 200
    (reply,) = slack.wait_for(path, timeout=TIMEOUT)
    assert "guest" in visible_text(reply.body)
    assert "Brightwater" not in visible_text(reply.body)


def test_a_digest_button_opens_the_brief_or_a_draft_privately(fresh: Any, slack: SlackWithPeople) -> None:
    harness = Harness(fresh, slack, services=slack_services(fresh, slack))
    for command, heading in (("brief", "Account brief: Brightwater Health"), ("draft", "Outreach draft")):
        value = json.dumps({"command": command, "account_id": "001V000000zp88r", "text": "Brightwater Health"})
        response, path = harness.click(f"{DIGEST_OPEN}_3", value, user="USARAH", channel="DSARAH")
        assert response.status == 200
        (reply,) = slack.wait_for(path, timeout=TIMEOUT)
        assert reply.body["response_type"] == "ephemeral"
        assert heading in visible_text(reply.body)


def test_an_opt_out_in_app_home_holds(fresh: Any, slack: SlackWithPeople) -> None:
    services = slack_services(fresh, slack)
    harness = Harness(fresh, slack, services=services)
    # App Home shows Sarah's switches, all on by default for the digest
    harness.event("app_home_opened", {"user": "USARAH"})
    (published,) = slack.wait_for("views.publish", timeout=TIMEOUT)
    checkboxes = next(e for b in published.body["view"]["blocks"] if b.get("type") == "actions"
                      for e in b["elements"] if e.get("action_id") == DIGEST_SUBSCRIPTIONS)
    assert [o["value"] for o in checkboxes["initial_options"]] == ["digest"]
    # she unticks the digest and ticks the trigger alerts: a signed block_actions from the home tab
    payload = {"type": "block_actions", "user": {"id": "USARAH", "team_id": "T1"}, "api_app_id": "A1",
               "team": {"id": "T1"}, "container": {"type": "view", "view_id": "V1"},
               "trigger_id": "1.2.3", "view": {"id": "V1", "type": "home"},
               "actions": [{"type": "checkboxes", "action_id": DIGEST_SUBSCRIPTIONS, "block_id": "digest_subscriptions",
                            "selected_options": [{"value": "alert:trigger", "text": {"type": "plain_text",
                                                                                     "text": "x"}}],
                            "action_ts": "1.0"}]}
    response = harness.dispatch(urlencode({"payload": json.dumps(payload)}),
                                content_type="application/x-www-form-urlencoded")
    assert response.status == 200
    republished = slack.wait_for("views.publish", count=2, timeout=TIMEOUT)[-1]
    checkboxes = next(e for b in republished.body["view"]["blocks"] if b.get("type") == "actions"
                      for e in b["elements"] if e.get("action_id") == DIGEST_SUBSCRIPTIONS)
    assert [o["value"] for o in checkboxes["initial_options"]] == ["alert:trigger"]
    # another replica's run: everyone else gets a digest, Sarah none
    _, delivery, _ = run(slack_services(fresh, slack), slack)
    dms = slack.dms()
    assert "UJAN" in dms and "USARAH" not in dms
    assert {s["email"]: s["reason"] for s in delivery.skipped}["sarah.klein@vantara-systems.example"] == \
        "switched off in App Home"
    # nor does the command line show her digest as one to be sent
    status, out = run_cli(services, "digest", "--dry-run", "--json")
    assert status == 0
    assert "sarah.klein@vantara-systems.example" not in {d["owner"]["email"] for d in json.loads(out)["digests"]}


def test_cli_json_when_sending_keeps_the_contract_shape(fresh: Any, slack: SlackWithPeople) -> None:
    status, out = run_cli(slack_services(fresh, slack), "digest", "--json")
    assert status == 0
    assert len(slack.dms()) == len(EXPECTED["vantara"])  # it did send
    assert set(json.loads(out)) == {"as_of", "digests", "unmatched_owners"}


def test_lookup_failures_degrade_to_the_dry_run_list(fresh: Any, slack: SlackWithPeople) -> None:
    services = slack_services(fresh, slack)
    del slack.members["carlos.mendoza@vantara-systems.example"]  # users_not_found
    slack.failing["jan.becker@vantara-systems.example"] = (500, {"ok": False, "error": "internal_error"})
    status, out = run_cli(services, "digest", "--dry-run", "--json")
    assert status == 0
    data = json.loads(out)
    owners = {d["owner"]["email"]: d["owner"]["slack_user"] for d in data["digests"]}
    assert owners["carlos.mendoza@vantara-systems.example"] is None and owners["jan.becker@vantara-systems.example"] is None
    assert owners["sarah.klein@vantara-systems.example"] == "USARAH"
    reasons = {u["email"]: u["reason"] for u in data["unmatched_owners"]}
    assert set(reasons) == {"carlos.mendoza@vantara-systems.example", "jan.becker@vantara-systems.example"}
    assert "no Slack user" in reasons["carlos.mendoza@vantara-systems.example"]
    assert "lookup failed" in reasons["jan.becker@vantara-systems.example"]
    assert slack.find("chat.postMessage") == []  # a dry run sends nothing
    # sending: the others get theirs; the failed lookup is not cached, so the next run asks Slack again
    lookups = len([c for c in slack.find("users.lookupByEmail") if c.body["email"].startswith("jan.")])
    _, delivery, _ = run(services, slack)
    assert set(slack.dms()) == {"USARAH", "UJAMES", "UPRIYA"}
    assert len([c for c in slack.find("users.lookupByEmail") if c.body["email"].startswith("jan.")]) == lookups + 1
    assert len([c for c in slack.find("users.lookupByEmail") if c.body["email"].startswith("sarah.")]) == 1  # cached


def test_a_429_with_retry_after_is_waited_out(fresh: Any, slack: SlackWithPeople) -> None:
    services = slack_services(fresh, slack)
    limited = (429, {"Retry-After": "1"}, {"ok": False, "error": "ratelimited"})
    slack.script["chat.postMessage"] = [limited, limited]
    started = time.monotonic()
    _, delivery, sender = run(services, slack)
    assert time.monotonic() - started >= 2.0  # two Retry-After: 1 waited out
    assert sender.rate_limited == 2 and delivery.rate_limited == 2
    posted = [c.body.get("channel") for c in slack.find("chat.postMessage")]
    assert len(posted) == len(EXPECTED["vantara"]) + 2  # the first DM was tried three times, sent once
    assert posted[0] == posted[1] == posted[2]
    assert len(delivery.sent) == len(EXPECTED["vantara"])


def test_many_new_owners_are_matched_with_one_users_list(fresh: Any, slack: SlackWithPeople) -> None:
    from slack_sdk import WebClient

    from bot.listeners.digest import Sender, SlackPeople
    from bot.services.digest import DigestState, Owner

    services = slack_services(fresh, slack)
    owners = [Owner(f"X{n}", f"Rep {n}", f"rep{n}@seller.example") for n in range(40)]
    for n in range(0, 40, 2):
        slack.member(f"rep{n}@seller.example", f"UREP{n}")
    sender = Sender(WebClient(token=TOKEN, base_url=slack.url), gaps={"users_list": 0.0})
    found = SlackPeople(sender, DigestState.for_services(services)).match(owners)
    assert len(slack.find("users.list")) == 1 and slack.find("users.lookupByEmail") == []
    assert {k for k, m in found.items() if m.slack_user} == {f"rep{n}@seller.example" for n in range(0, 40, 2)}
    # another replica a moment later: Slack's fresh answers are shared through the ledger, nothing is asked again
    again = SlackPeople(sender, DigestState.for_services(slack_services(fresh, slack))).match(owners)
    assert again == found and len(slack.find("users.list")) == 1 and slack.find("users.info") == []


def test_alerts_go_to_the_channel_once_and_by_dm_to_a_subscribed_owner(fresh: Any, slack: SlackWithPeople) -> None:
    from slack_sdk import WebClient

    from bot.listeners.digest import Sender, run_alerts
    from bot.listeners.guard import Guard
    from bot.services.digest import DigestState, Subscription

    replicas = [slack_services(fresh, slack, alert_channel="CALERTS") for _ in range(2)]
    DigestState.for_services(replicas[0]).subscribe("UJAN", Subscription(True, frozenset({"senior_lead"})))
    for services in replicas * 2:
        sender = Sender(WebClient(token=TOKEN, base_url=slack.url), gaps={"chat_postMessage": 0.0}, per_channel=0.0)
        run_alerts(services, sender=sender, state=DigestState.for_services(services), guard=Guard(services.settings))
    dms = slack.dms()
    (alert,) = dms["CALERTS"]  # Matthias Brandt, the new CFO lead at Nordwind: once, whichever replica found it
    text = visible_text(alert.body)
    assert "Matthias Brandt" in text and "Nordwind" in text and "<@UJAN>" in text
    (copy,) = dms["UJAN"]  # Jan asked for senior-lead alerts by DM
    assert "Matthias Brandt" in visible_text(copy.body)
    assert set(dms) == {"CALERTS", "UJAN"}


def test_no_alert_reaches_a_channel_shared_with_another_organisation(fresh: Any, slack: SlackWithPeople) -> None:
    from slack_sdk import WebClient

    from bot.listeners.digest import Sender, run_alerts
    from bot.listeners.guard import Guard
    from bot.services.digest import DigestState

    services = slack_services(fresh, slack, alert_channel="CSHARED")
    slack.replies["conversations.info"] = {"ok": True, "channel": {"id": "CSHARED", "is_ext_shared": True}}
    sender = Sender(WebClient(token=TOKEN, base_url=slack.url), gaps={"chat_postMessage": 0.0})
    run_alerts(services, sender=sender, state=DigestState.for_services(services), guard=Guard(services.settings))
    assert slack.find("conversations.info")  # it was checked
    assert slack.find("chat.postMessage") == []


def test_the_scheduler_sends_at_the_cron_minute_in_serve(fresh: Any, slack: SlackWithPeople) -> None:
    from slack_sdk import WebClient

    from bot.listeners.digest import start_digest_scheduler

    services = slack_services(fresh, slack, digest_cron="0 8 * * MON")
    now = [datetime(2026, 11, 23, 7, 58, 30)]
    stop = threading.Event()
    thread = start_digest_scheduler(services, stop, client=WebClient(token=TOKEN, base_url=slack.url), tick=0.05,
                                    clock=lambda: now[0])
    assert thread is not None
    try:
        time.sleep(0.3)
        assert slack.find("chat.postMessage") == []  # 07:58: not yet
        now[0] = datetime(2026, 11, 23, 8, 1, 10)  # the tick that sees 08:01 also sees the 08:00 it skipped over
        slack.wait_for("chat.postMessage", count=len(EXPECTED["vantara"]), timeout=60)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
    posts = slack.find("chat.postMessage")
    assert len(posts) == len(EXPECTED["vantara"])
    assert {c.body["blocks"][0]["text"]["text"] for c in posts} == {"Your weekly digest: 2026-11-26"}  # 0 8 * * MON


def test_a_bad_digest_cron_is_a_settings_error(fresh: Any, slack: SlackWithPeople) -> None:
    from bot.listeners.digest import start_digest_scheduler
    from bot.settings import SettingsError, load_settings

    for bad in ("0 8 * * FUNDAY", "0 8 * *", "61 8 * * *"):
        with pytest.raises(SettingsError, match="^DIGEST_CRON") as caught:
            load_settings(env_file=None, digest_cron=bad)
        assert "\n" not in str(caught.value)
    assert load_settings(env_file=None, digest_cron="0 8 * * MON").digest_schedule is not None
    assert start_digest_scheduler(slack_services(fresh, slack), threading.Event()) is None  # off by default


def test_serve_refuses_a_bad_digest_cron_at_start(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(("SLACK_", "OPENAI_", "DIGEST_"))}
    env.update({"DIGEST_CRON": "0 8 * * FUNDAY", "SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET,
                "CHROMA_PATH": str(tmp_path / "store"), "KNOWLEDGE_PATH": str(tmp_path / "knowledge"),
                "PYTHONPATH": str(REPO)})
    done = subprocess.run([sys.executable, "-m", "bot", "serve"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().startswith("error: DIGEST_CRON") and len(done.stderr.strip().splitlines()) == 1
