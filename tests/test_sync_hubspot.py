"""HubSpot sync through the real hubspot-api-client against a local mock of HubSpot's API (tests/hubspot_mock.py):
full then incremental, paging past the search cap, equal timestamps, 429/500, deletions, bad records, labels."""

from __future__ import annotations

import collections
import json
from typing import Any

import pytest
from hubspot_mock import GENERATED_FROM, HubSpotMock
from sync_helpers import CountingEmbeddings, hubspot, no_crm_settings_from_the_shell, run_cli  # noqa: F401 (fixtures)

from bot.knowledge.embeddings import Named
from bot.runtime import Services, build_services
from bot.sync.base import Change, CrmAuthError
from bot.sync.hubspot import HubSpotConnector
from bot.sync.runner import run_sync


@pytest.fixture
def counting() -> CountingEmbeddings:
    return CountingEmbeddings()


@pytest.fixture
def synced(make_settings, hubspot: HubSpotMock, counting: CountingEmbeddings) -> Services:
    settings = make_settings(hubspot_token=hubspot.token, hubspot_api_url=hubspot.url)
    return build_services(settings, embeddings=Named(counting, "fake:deterministic"))


class Sleeps(list):
    """Stands in for time.sleep: records the waits instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(round(seconds, 3))


def connector(mock: HubSpotMock, **options: Any) -> HubSpotConnector:
    return HubSpotConnector(mock.token, base_url=mock.url, **options)


def changes_of(conn: HubSpotConnector, checkpoint: dict[str, Any] | None = None) -> list[Change]:
    return [change for batch in conn.batches(checkpoint) for change in batch.changes]


def stored(services: Services, record_type: str) -> dict[str, dict[str, Any]]:
    """record id -> (text, metadata) of the synced chunks of one type."""
    got = services.store.chunks.get(where={"type": record_type}, include=["documents", "metadatas"])
    return {meta["record_id"]: {"text": text, **meta} for text, meta in zip(got["documents"], got["metadatas"])}


# ---------------------------------------------------------------------- full, then incremental

def test_full_sync_then_incremental_embeds_only_what_changed(synced: Services, hubspot: HubSpotMock,
                                                             counting: CountingEmbeddings) -> None:
    counts = hubspot.generate(300)
    objects = sum(counts.values())  # companies, contacts, deals, engagements
    report = run_sync(synced, "hubspot")
    assert report.failure is None and report.errors == []
    assert (report.added, report.updated, report.removed) == (objects + 12, 0, 0)  # and 12 owners
    assert len(counting.texts) == objects + 12
    assert synced.store.count() == objects + 12

    deal = sorted(hubspot.records["deals"])[3]
    note = sorted(hubspot.records["notes"])[0]
    company = sorted(hubspot.records["companies"])[2]
    hubspot.update("deals", deal, amount="123456")
    hubspot.update("notes", note, hs_note_body="<p>Budget approved by the CFO &amp; the board.</p>")
    hubspot.update("companies", company, numberofemployees="4321")
    counting.texts.clear()
    report = run_sync(synced, "hubspot")
    assert (report.added, report.updated, report.unchanged, report.removed) == (0, 3, 0, 0)
    assert len(counting.texts) == 3  # nothing else was embedded again
    assert "Amount: 123,456." in stored(synced, "opportunity")[deal]["text"]
    assert "Budget approved by the CFO & the board." in stored(synced, "activity")[note]["text"]

    counting.texts.clear()
    report = run_sync(synced, "hubspot")  # nothing changed: the look-back window reads the three again
    assert (report.added, report.updated, report.removed) == (0, 0, 0)
    assert report.unchanged == 3
    assert counting.texts == []


def test_renamed_company_rewrites_the_records_that_show_its_name(synced: Services, hubspot: HubSpotMock,
                                                                  counting: CountingEmbeddings) -> None:
    hubspot.generate(200)
    run_sync(synced, "hubspot")
    company = "10000004"
    shown = [r for r in stored(synced, "contact").values() if r["account_id"] == company]
    assert shown and all("at Lumen Foods 00004" in r["text"] for r in shown)
    hubspot.update("companies", company, name="Quillon Freight")
    counting.texts.clear()
    report = run_sync(synced, "hubspot")
    assert report.updated == 1
    mine = [r for kind in ("contact", "opportunity", "activity") for r in stored(synced, kind).values()
            if r["account_id"] == company]
    assert mine and all(r["account_name"] == "Quillon Freight" for r in mine)
    assert all("at Quillon Freight" in r["text"] and "Lumen" not in r["text"] for r in mine)
    assert report.relinked == len(mine)
    assert len(counting.texts) == 1 + len(mine)  # the company and what shows its name, nothing else


# ---------------------------------------------------------------------- paging

def test_search_pages_past_the_10000_result_cap_without_loss_or_repeat(hubspot: HubSpotMock) -> None:
    for k in range(10_500):  # seven companies share each timestamp: page boundaries fall among equal ones
        hubspot.add("companies", {"name": f"Company {k:05d}"}, modified=GENERATED_FROM + (k // 7), id=str(10**6 + k))
    conn = connector(hubspot)
    ids = collections.Counter(c.id for c in changes_of(conn) if c.role == "account")
    assert len(ids) == 10_500 and set(ids.values()) == {1}
    searches = hubspot.searches("companies")
    assert len(searches) > 100  # it paged (100 a page) ...
    # ... by timestamp, never by result offset: an `after` cursor stops at the cap (the mock answers 400 past it)
    assert not any(body.get("after") for body in searches)


def test_more_records_at_one_instant_than_a_page_holds(hubspot: HubSpotMock) -> None:
    for k in range(250):
        hubspot.add("contacts", {"firstname": "Ana", "lastname": f"Costa {k}"}, modified=GENERATED_FROM,
                    id=str(5_000 + k))
    hubspot.add("contacts", {"firstname": "Later", "lastname": "One"}, modified=GENERATED_FROM + 60, id="9000")
    conn = connector(hubspot, page_size=100)
    ids = collections.Counter(c.id for c in changes_of(conn) if c.role == "contact")
    assert len(ids) == 251 and set(ids.values()) == {1}
    by_id = [b for b in hubspot.searches("contacts")
             if any(f["propertyName"] == "hs_object_id" for g in b["filterGroups"] for f in g["filters"])]
    assert by_id  # read in id order at that instant


def test_resuming_from_a_checkpoint_among_equal_timestamps(hubspot: HubSpotMock) -> None:
    for k in range(230):  # ten share each timestamp
        hubspot.add("deals", {"dealname": f"Deal {k}", "dealstage": "qualifiedtobuy"},
                    modified=GENERATED_FROM + (k // 10), id=str(7_000 + k))
    conn = connector(hubspot, page_size=25)
    first: list[Change] = []
    checkpoint = None
    for batch in conn.batches(None):
        first.extend(c for c in batch.changes if c.role == "opportunity")
        if batch.checkpoint and first:
            checkpoint = batch.checkpoint
        if len(first) >= 110:  # stopped after a few pages, mid-way through a run of equal timestamps
            break
    assert checkpoint is not None and checkpoint["deals"]["seen"]
    rest = [c for c in changes_of(connector(hubspot, page_size=25), checkpoint) if c.role == "opportunity"]
    together = collections.Counter(c.id for c in first + rest)
    assert len(together) == 230 and set(together.values()) == {1}


# ---------------------------------------------------------------------- faults

def test_429_waits_for_retry_after(hubspot: HubSpotMock) -> None:
    hubspot.generate(60)
    hubspot.fail("POST", "/crm/v3/objects/contacts/search", 429, headers={"Retry-After": "2"})
    sleeps = Sleeps()
    conn = connector(hubspot, sleep=sleeps)
    changes = changes_of(conn)
    assert sleeps == [2.0]
    assert hubspot.served_429 == 1
    assert len([c for c in changes if c.role == "contact"]) == 18


def test_500_is_retried_with_backoff(hubspot: HubSpotMock) -> None:
    hubspot.generate(60)
    hubspot.fail("POST", "/crm/v4/associations/deals/companies/batch/read", 500, times=2)
    sleeps = Sleeps()
    changes = changes_of(connector(hubspot, sleep=sleeps))
    assert sleeps == [1.0, 2.0]
    deals = [c for c in changes if c.role == "opportunity"]
    assert len(deals) == 9 and all(c.row["Associated Company ID"] for c in deals)


def test_a_failing_hubspot_is_given_up_on_and_the_next_run_resumes(synced: Services, hubspot: HubSpotMock) -> None:
    hubspot.generate(100)
    hubspot.fail("POST", "/crm/v3/objects/deals/search", 503, times=1_000)
    sleeps = Sleeps()
    report = run_sync(synced, "hubspot", connector=connector(hubspot, sleep=sleeps), write_batch=10)
    assert report.failure and "gave up after 6 attempt(s)" in report.failure
    assert len(sleeps) == 5 and sum(sleeps) <= 120  # bounded, never forever
    assert "companies" in report.checkpoint and "deals" not in report.checkpoint
    written = report.added
    hubspot.faults.clear()
    again = run_sync(synced, "hubspot")
    assert again.failure is None
    assert again.added + written == 100 + 12 and again.removed == 0


def test_rate_limit_headers_pause_calls_before_hubspot_refuses(hubspot: HubSpotMock) -> None:
    hubspot.generate(40)
    hubspot.rate_limit(4, 250)
    changes = changes_of(connector(hubspot))  # real sleeps: the window must pass
    assert hubspot.served_429 == 0
    assert len([c for c in changes if c.role != "owner"]) == 40


def test_a_refused_token_is_one_clear_error(synced: Services, hubspot: HubSpotMock) -> None:
    hubspot.generate(10)
    with pytest.raises(CrmAuthError, match=r"^HUBSPOT_TOKEN: HubSpot refused it \(401 on list owners\)"):
        run_sync(synced, "hubspot", connector=HubSpotConnector("wrong-token", base_url=hubspot.url))
    assert synced.store.count() == 0
    assert len(hubspot.requests) == 1  # a refusal is not retried


def test_a_refused_token_exits_2_with_one_line_naming_the_variable(make_settings, hubspot: HubSpotMock,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    hubspot.generate(10)
    settings = make_settings(hubspot_token="wrong-token", hubspot_api_url=hubspot.url)
    services = build_services(settings, embeddings=Named(CountingEmbeddings(), "fake:deterministic"))
    status, out = run_cli(services, "sync", "hubspot", "--json")
    assert status == 2
    assert json.loads(out)["error"].startswith("HUBSPOT_TOKEN: HubSpot refused it (401")
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and lines[0].startswith("error: HUBSPOT_TOKEN:")


# ---------------------------------------------------------------------- deletions and bad records

def test_deleted_record_is_removed(synced: Services, hubspot: HubSpotMock) -> None:
    hubspot.generate(100)
    run_sync(synced, "hubspot")
    contact = sorted(hubspot.records["contacts"])[4]
    assert contact in stored(synced, "contact")
    hubspot.archive("contacts", contact)  # deleted in HubSpot: listed with archived=true
    report = run_sync(synced, "hubspot")
    assert report.removed == 1
    assert contact not in stored(synced, "contact")
    assert not synced.store.sources.get(ids=[f"sync/hubspot/contact/{contact}"])["ids"]


def test_record_gone_without_trace_is_removed_by_the_prune(synced: Services, hubspot: HubSpotMock) -> None:
    hubspot.generate(100)
    run_sync(synced, "hubspot")
    note = sorted(hubspot.records["notes"])[1]
    hubspot.remove("notes", note)  # purged or merged away: never listed as archived
    assert run_sync(synced, "hubspot").removed == 0
    report = run_sync(synced, "hubspot", full=True)
    assert report.removed == 1
    assert note not in stored(synced, "activity")


def test_bad_record_is_reported_with_type_and_id_and_the_rest_loads(synced: Services, hubspot: HubSpotMock) -> None:
    counts = hubspot.generate(100, bad=1)
    report = run_sync(synced, "hubspot")
    assert {"object": "account", "id": "10000000", "error": "missing an account name"} in report.errors
    assert report.added == sum(counts.values()) - 1 + 12
    assert "10000000" not in stored(synced, "account")


# ---------------------------------------------------------------------- what the rows say

def test_rows_read_like_hubspot_exports(hubspot: HubSpotMock) -> None:
    owner = hubspot.add_owner("Dana", "Reyes", "dana.reyes@seller.example", id="77")
    company = hubspot.add("companies", {"name": "Brightwater Foods", "industry": "FOOD_BEVERAGE",
                                        "hubspot_owner_id": owner})
    contact = hubspot.add("contacts", {"firstname": "Sam", "lastname": "Ortiz", "jobtitle": "Procurement Analyst"},
                          associations={"companies": [company]})
    deal = hubspot.add("deals", {"dealname": "Renewal", "dealstage": "closedwon", "amount": "90000",
                                 "hubspot_owner_id": owner}, associations={"companies": [company]})
    note = hubspot.add("notes", {"hs_timestamp": "2025-03-04T09:00:00.000Z",
                                 "hs_note_body": "<p>Asked for <b>pricing</b>&nbsp;&amp; terms.</p><p>Next: demo.</p>"},
                       associations={"contacts": [contact], "companies": [company]})
    meeting = hubspot.add("meetings", {"hs_timestamp": "2025-03-05T09:00:00.000Z", "hs_meeting_title": "Review"},
                          associations={"deals": [deal]})
    rows = {(c.role, c.id): c.row for c in changes_of(connector(hubspot))}
    assert rows[("owner", "77")] == {"Id": "77", "Name": "Dana Reyes", "Email": "dana.reyes@seller.example",
                                     "IsActive": "true"}
    assert rows[("account", company)]["Industry"] == "Food & Beverage"  # the label, as an export shows it
    assert rows[("account", company)]["Company owner"] == "Dana Reyes"
    assert rows[("contact", contact)]["Associated Company ID"] == company
    assert rows[("opportunity", deal)]["Deal Stage"] == "Closed Won"  # from the pipelines API
    assert rows[("opportunity", deal)]["Deal owner"] == "Dana Reyes"
    assert rows[("activity", note)]["Notes"] == "Asked for pricing & terms.\nNext: demo."
    assert (rows[("activity", note)]["Activity type"], rows[("activity", note)]["Contact ID"]) == ("NOTE", contact)
    assert rows[("activity", meeting)]["WhatId"] == deal  # logged on the deal only


def test_owners_are_stored_as_owner_records(synced: Services, hubspot: HubSpotMock) -> None:
    hubspot.add_owner("Dana", "Reyes", "dana.reyes@seller.example", id="77")
    hubspot.add_owner("Old", "Timer", "old.timer@seller.example", id="78", archived=True)
    run_sync(synced, "hubspot")
    owners = {rid: json.loads(meta["data"]) for rid, meta in stored(synced, "owner").items()}
    assert owners["77"]["name"] == "Dana Reyes" and owners["77"]["email"] == "dana.reyes@seller.example"
    assert owners["78"]["active"] == "false"


def test_deal_links_to_its_company_and_reads_its_stage_label(synced: Services, hubspot: HubSpotMock) -> None:
    company = hubspot.add("companies", {"name": "Acme Corporation"})
    deal = hubspot.add("deals", {"dealname": "Acme renewal", "dealstage": "presentationscheduled",
                                 "amount": "1200000"}, associations={"companies": [company]})
    run_sync(synced, "hubspot")
    record = stored(synced, "opportunity")[deal]
    assert record["account_id"] == company and record["account_name"] == "Acme Corporation"
    assert "Stage: Presentation Scheduled." in record["text"]
    assert record["source"] == f"sync/hubspot/opportunity/{deal}"


def test_the_client_talks_to_the_configured_url(hubspot: HubSpotMock) -> None:
    hubspot.generate(10)
    with HubSpotMock() as other:  # a second HubSpot, the one configured
        other.generate(20)
        changes = changes_of(connector(other))
    assert hubspot.requests == []
    assert len([c for c in changes if c.role != "owner"]) == 20
    paths = {path for _, path, _ in other.requests}
    assert {"/crm/v3/owners", "/crm/v3/pipelines/deals", "/crm/v3/objects/companies/search",
            "/crm/v4/associations/contacts/companies/batch/read"} <= paths


def test_a_deleted_company_hands_its_name_to_the_one_sharing_it(synced: Services, hubspot: HubSpotMock) -> None:
    """Two companies share a core name ("Acme Corp", "Acme Inc"); a contact with no associated company links by
    that name to the first. When the first is deleted, the contact links to the other, as a clean sync would."""
    first = hubspot.add("companies", {"name": "Acme Corp"}, modified=GENERATED_FROM, id="501")
    other = hubspot.add("companies", {"name": "Acme Inc"}, modified=GENERATED_FROM + 1, id="502")
    contact = hubspot.add("contacts", {"firstname": "Lee", "lastname": "Park", "jobtitle": "CFO", "company": "Acme"},
                          modified=GENERATED_FROM + 2, id="601")
    run_sync(synced, "hubspot")
    assert stored(synced, "contact")[contact]["account_id"] == first
    hubspot.archive("companies", first)
    report = run_sync(synced, "hubspot")
    assert report.failure is None and report.removed == 1
    assert stored(synced, "contact")[contact]["account_id"] == other
    assert report.relinked == 1


def test_a_run_with_a_prune_lists_the_owners_once(synced: Services, hubspot: HubSpotMock) -> None:
    hubspot.generate(30)
    run_sync(synced, "hubspot")
    before = len(hubspot.requests)
    report = run_sync(synced, "hubspot", full=True)  # --full: every id listed for the prune, owners too
    assert report.failure is None and report.removed == 0
    owners = [query for _, path, query in hubspot.requests[before:] if path == "/crm/v3/owners"]
    assert [query.get("archived") for query in owners] == [["False"], ["True"]]  # active, then deactivated
