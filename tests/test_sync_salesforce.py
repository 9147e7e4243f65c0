"""The Salesforce connector through the real simple-salesforce client against a local mock of the APIs."""

from __future__ import annotations

import csv
import json
import shutil
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from salesforce_mock import SalesforceMock, sf_id
from sync_helpers import fake_embeddings, run_cli

from bot.knowledge.crm import map_headers
from bot.runtime import Services, build_services
from bot.settings import SettingsError, load_settings
from bot.sync.base import Batch, Change, CrmAuthError
from bot.sync.runner import Checkpoints, run_sync, sync_now
from bot.sync.salesforce import SalesforceConnector, SalesforceSyncError


@pytest.fixture
def mock() -> Iterator[SalesforceMock]:
    with SalesforceMock() as server:
        yield server


def connect(mock: SalesforceMock, **options: Any) -> SalesforceConnector:
    options.setdefault("bulk_poll", 0.01)
    options.setdefault("sleep", lambda seconds: None)
    return SalesforceConnector(instance_url=mock.url, session_id=mock.session_id, **options)


def pull(connector: SalesforceConnector, checkpoint: dict[str, Any] | None = None, *,
         full: bool = False) -> tuple[list[Change], dict[str, Any], list[Batch]]:
    batches = list(connector.batches(checkpoint, full=full))
    changes = [change for batch in batches for change in batch.changes]
    return changes, (batches[-1].checkpoint if batches else dict(checkpoint or {})), batches


def by_id(changes: list[Change]) -> dict[str, Change]:
    ids = [change.id for change in changes]
    assert len(ids) == len(set(ids)), "a record came out twice"
    return {change.id: change for change in changes}


# ---------------------------------------------------------------------- rows


def test_full_pull_gives_export_rows_per_role(mock: SalesforceMock) -> None:
    mock.generate(accounts=4, contacts_per_account=3, opportunities_per_account=1, tasks_per_account=2,
                  events_per_account=1, leads=3, users=3)
    connector = connect(mock)
    changes, checkpoint, _ = pull(connector)
    found = by_id(changes)

    roles: dict[str, int] = {}
    for change in changes:
        roles[change.role] = roles.get(change.role, 0) + 1
    assert roles == {"owner": 3, "account": 4, "contact": 12, "opportunity": 4, "lead": 3, "activity": 12}
    assert not connector.problems
    assert set(checkpoint) == {"User", "Account", "Contact", "Opportunity", "Lead", "Task", "Event"}

    assert found["001MK0000000100001"].row == {
        "Id": "001MK0000000100001", "Name": "Company 00001 Ltd", "Industry": "Retail", "NumberOfEmployees": "137",
        "AnnualRevenue": "2000000", "BillingCountry": "United States", "BillingCity": "City 1",
        "Website": "www.company00001.example", "OwnerId": "005MK0000000000002"}
    opportunity = next(c for c in changes if c.role == "opportunity" and c.row["Name"] == "Company 00002 - Deal 0")
    assert opportunity.row["StageName"] == "Proposal"
    assert opportunity.row["Amount"] == "75000"
    assert opportunity.row["CloseDate"] == "2026-03-15"
    assert opportunity.row["Owner"] == "Owner3 Rep"
    assert opportunity.row["AccountId"] == "001MK0000000100002"
    # owners: the last one is deactivated
    assert found["005MK0000000000003"].row == {"Id": "005MK0000000000003", "Name": "Owner3 Rep",
                                                 "Email": "owner3@seller.example", "IsActive": "false"}
    # a task with no Type says what its subtype says; with no WhatId it belongs to its account
    email = next(c for c in changes if c.row.get("Subject") == "Call 1 with Company 00000")
    assert email.role == "activity"
    assert email.row["Type"] == "Email"
    assert email.row["WhatId"] == "001MK0000000100000"
    assert email.row["ActivityDate"] == "2025-02-01"
    # an event with no ActivityDate takes its start's date; with no Type it is a meeting
    meeting = next(c for c in changes if c.row.get("Subject") == "Meeting 0 at Company 00001")
    assert meeting.row["ActivityDate"] == "2025-03-02"
    assert meeting.row["Type"] == "Meeting"
    # a custom field labelled like a lead header comes out under its label; an unrelated one does not
    lead = found["00QMK0000000600002"]
    assert lead.row["Lead Score"] == "20" and lead.row["Page Views"] == "2"
    assert "Favourite Colour" not in lead.row and "Lead_Score__c" not in lead.row
    # the checkpoint holds each object's newest SystemModstamp, normalised
    assert all(stamp.endswith("Z") and len(stamp) == 24 for stamp in checkpoint.values())


def test_rows_map_onto_the_crm_headers_of_their_role(mock: SalesforceMock) -> None:
    mock.generate(accounts=1, leads=1)
    changes, _, _ = pull(connect(mock))
    wanted = {
        "account": {"id", "name", "industry", "employees", "revenue", "country", "city", "website"},
        "contact": {"id", "account_id", "first_name", "last_name", "title", "email", "department"},
        "opportunity": {"id", "account_id", "name", "stage", "amount", "close_date", "next_step", "probability",
                        "owner"},
        "activity": {"id", "date", "type", "subject", "description", "contact_id", "account_id"},
        "lead": {"id", "first_name", "last_name", "title", "company", "email", "source", "last_activity",
                 "country", "score", "page_views"},
    }
    for change in changes:
        if change.role in wanted:
            assert wanted[change.role] <= set(map_headers(change.role, list(change.row)).values()), change.role


# ---------------------------------------------------------------------- auth and transport


def test_username_password_login_through_the_soap_endpoint(mock: SalesforceMock) -> None:
    mock.generate(accounts=2)
    connector = SalesforceConnector(username=mock.username, password=mock.password,
                                    security_token=mock.security_token, domain="login", session=mock.transport(),
                                    sleep=lambda s: None)
    changes, _, _ = pull(connector)
    assert mock.logins == 1
    assert mock.requests[0] == ("POST", "/services/Soap/u/59.0")
    assert sum(1 for c in changes if c.role == "account") == 2


def test_login_without_a_security_token_from_a_trusted_network() -> None:
    with SalesforceMock(security_token="") as org:
        org.generate(accounts=1)
        connector = SalesforceConnector(username=org.username, password=org.password, session=org.transport())
        assert connector.current_ids("account") == {"001MK0000000100000"}
        assert org.logins == 1


@pytest.mark.parametrize("domain, login_host", [
    ("login", "login.salesforce.com"), ("test", "test.salesforce.com"), ("acme.my", "acme.my.salesforce.com"),
    ("acme.my.salesforce.com", "acme.my.salesforce.com"), ("https://acme.my.salesforce.com/", "acme.my.salesforce.com"),
])
def test_the_domain_may_be_written_as_a_my_domain_host_or_url(mock: SalesforceMock, domain: str,
                                                               login_host: str) -> None:
    SalesforceConnector(username=mock.username, password=mock.password, security_token=mock.security_token,
                        domain=domain, session=mock.transport()).current_ids("owner")
    assert mock.redirected[0] == f"https://{login_host}/services/Soap/u/59.0"
    # then the instance the login answered with
    assert mock.redirected[1].startswith(f"https://127.0.0.1:{mock.url.rsplit(':', 1)[1]}/services/data/v59.0/")


def test_wrong_password_is_one_clear_error(mock: SalesforceMock) -> None:
    connector = SalesforceConnector(username=mock.username, password="wrong", security_token=mock.security_token,
                                    session=mock.transport(), sleep=lambda s: None)
    with pytest.raises(CrmAuthError, match="^SALESFORCE_USERNAME, SALESFORCE_PASSWORD.*INVALID_LOGIN"):
        list(connector.batches(None))


def test_settings_login_at_the_instance_url_and_again_when_the_session_expires(mock: SalesforceMock) -> None:
    mock.generate(accounts=3)
    settings = load_settings(env_file=None, salesforce_username=mock.username, salesforce_password=mock.password,
                             salesforce_security_token=mock.security_token, salesforce_instance_url=mock.url)
    connector = SalesforceConnector.from_settings(settings, sleep=lambda s: None)
    first, checkpoint, _ = pull(connector)
    assert mock.logins == 1 and first
    mock.expire_sessions()
    mock.update("Account", "001MK0000000100000", Name="Company 00000 Renamed")
    again, _, _ = pull(connector, checkpoint)
    assert mock.logins == 2
    assert [c.row["Name"] for c in again] == ["Company 00000 Renamed"]


def test_an_expired_session_id_is_not_retried_forever(mock: SalesforceMock) -> None:
    mock.expire_sessions()
    with pytest.raises(CrmAuthError, match="^SALESFORCE_SESSION_ID: Salesforce refused it"):
        list(connect(mock).batches(None))


def test_settings_that_cannot_work_name_the_variable() -> None:
    with pytest.raises(SettingsError, match="SALESFORCE_USERNAME"):
        SalesforceConnector.from_settings(load_settings(env_file=None))
    with pytest.raises(SettingsError, match="^SALESFORCE_INSTANCE_URL: required with SALESFORCE_SESSION_ID"):
        SalesforceConnector(session_id="x")
    with pytest.raises(SettingsError, match="SALESFORCE_INSTANCE_URL: must be https"):
        SalesforceConnector(session_id="x", instance_url="http://example.com")


# ---------------------------------------------------------------------- incremental windows


def test_incremental_pull_returns_only_what_changed(mock: SalesforceMock) -> None:
    mock.generate(accounts=5, leads=2)
    connector = connect(mock)
    _, checkpoint, _ = pull(connector)

    mock.update("Account", "001MK0000000100003", Industry="Retail")
    mock.update("Contact", "003MK0000000200001", Title="Chief Executive Officer")
    added = mock.add("Opportunity", {"AccountId": "001MK0000000100003", "Name": "Company 00003 - Expansion",
                                     "StageName": "Qualification", "Amount": 120000.0, "CloseDate": "2026-06-30",
                                     "OwnerId": "005MK0000000000001"})
    mock.delete("Task", "00TMK0000000400005")

    changes, after, _ = pull(connector, checkpoint)
    found = by_id(changes)
    assert set(found) == {"001MK0000000100003", "003MK0000000200001", added["Id"], "00TMK0000000400005"}
    assert found["001MK0000000100003"].row["Industry"] == "Retail"
    assert found["003MK0000000200001"].row["Title"] == "Chief Executive Officer"
    assert found[added["Id"]].row["Amount"] == "120000" and not found[added["Id"]].deleted
    assert found["00TMK0000000400005"].deleted and found["00TMK0000000400005"].role == "activity"
    assert after["Account"] > checkpoint["Account"] and after["Lead"] == checkpoint["Lead"]

    nothing, unchanged, batches = pull(connector, after)
    assert nothing == [] and batches == [] and unchanged == after
    # the windows are REST queries from the checkpoint, never a bulk job
    assert not mock.paths("/jobs/query")
    assert any("SystemModstamp+%3E+2025-01-06T09" in path for path in mock.paths("/queryAll"))


def test_window_boundaries_inside_equal_timestamps_lose_and_repeat_nothing(mock: SalesforceMock) -> None:
    """Seven records share each second and pages hold five: every page ends inside a group. A sync killed after
    any batch and resumed from that batch's checkpoint delivers every record exactly once."""
    mock.page_size = 5
    mock.generate(accounts=12, contacts_per_account=2, opportunities_per_account=0, tasks_per_account=0,
                  events_per_account=0, leads=0, users=1, same_second=7)
    every = by_id(pull(connect(mock))[0])
    assert len(every) == 1 + 12 + 24

    clean = list(connect(mock).batches(None))
    assert len(clean) > 3
    for kill_after in range(len(clean)):
        delivered = [c.id for batch in clean[:kill_after + 1] for c in batch.changes]
        resumed, _, _ = pull(connect(mock), clean[kill_after].checkpoint)
        delivered += [c.id for c in resumed]
        assert sorted(delivered) == sorted(every), f"killed after batch {kill_after}"
    # a batch never ends inside a group of equal timestamps
    stamps = {str(r["Id"]): r["SystemModstamp"] for name in ("User", "Account", "Contact") for r in mock.records[name]}
    for batch in clean:
        for name, stamp in batch.checkpoint.items():
            later = [c for later_batch in clean[clean.index(batch) + 1:] for c in later_batch.changes
                     if stamps[c.id] == datetime.fromisoformat(stamp.replace("Z", "+00:00")) and c.role == {"User": "owner", "Account": "account",
                                                          "Contact": "contact"}.get(name)]
            assert not later, f"{name} checkpoint {stamp} cut a group"


def test_an_expired_query_cursor_reads_again_from_the_checkpoint(mock: SalesforceMock) -> None:
    mock.page_size = 4
    mock.generate(accounts=10, contacts_per_account=2, opportunities_per_account=0, tasks_per_account=0,
                  events_per_account=0, leads=0, users=1)
    connector = connect(mock)
    changes: list[Change] = []
    for number, batch in enumerate(connector.batches(None)):
        changes.extend(batch.changes)
        if number == 2:
            mock.expire_cursors()  # the runner took more than 15 minutes to write this batch
    assert len(by_id(changes)) == 1 + 10 + 20


# ---------------------------------------------------------------------- Bulk API 2.0


def test_first_sync_above_the_threshold_uses_bulk_and_gives_the_same_rows(mock: SalesforceMock) -> None:
    mock.generate(accounts=40, contacts_per_account=2, opportunities_per_account=1, tasks_per_account=1,
                  events_per_account=1, leads=3, users=2)
    rest, rest_checkpoint, _ = pull(connect(mock))
    assert not mock.paths("/jobs/query")

    bulk_connector = connect(mock, bulk_threshold=30, bulk_page_size=25)
    bulk, bulk_checkpoint, _ = pull(bulk_connector)
    jobs = mock.paths("/jobs/query")
    assert any("locator=" in path for path in jobs), "results read in several pages"
    created = [q for method, q in mock.requests if method == "POST" and q.endswith("/jobs/query")]
    assert len(created) == 5  # accounts, contacts, opportunities, tasks, events: 40 or more each
    assert by_id(bulk) == by_id(rest)
    assert bulk_checkpoint == rest_checkpoint
    assert not bulk_connector.problems

    # then windows again, through REST
    mock.update("Account", "001MK0000000100007", Website="www.renamed.example")
    jobs_before = len(mock.paths("/jobs/query"))
    changes, _, _ = pull(bulk_connector, bulk_checkpoint)
    assert [c.row["Website"] for c in changes] == ["www.renamed.example"]
    assert len(mock.paths("/jobs/query")) == jobs_before


def test_bulk_checkpoint_stops_before_what_changed_while_the_job_ran(mock: SalesforceMock) -> None:
    mock.generate(accounts=12, contacts_per_account=0, opportunities_per_account=0, tasks_per_account=0,
                  events_per_account=0, leads=0, users=1)
    connector = connect(mock, bulk_threshold=5)
    batches = connector.batches(None)
    first = next(batches)  # users (REST)
    assert first.changes[0].role == "owner"
    newest = max(mock.records["Account"], key=lambda r: r["SystemModstamp"])["SystemModstamp"]
    rest = list(batches)
    assert rest[-1].checkpoint["Account"] == newest.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert all("Account" not in b.checkpoint for b in rest[:-1])  # moves only once the job is read whole


def test_a_bulk_job_that_fails_part_way_is_run_again_without_repeats(mock: SalesforceMock) -> None:
    mock.generate(accounts=30, contacts_per_account=0, opportunities_per_account=0, tasks_per_account=0,
                  events_per_account=0, leads=0, users=1)
    mock.server_error(path="/results?maxRecords=10&locator=", times=1)  # the second page of results
    connector = connect(mock, bulk_threshold=10, bulk_page_size=10)
    changes, _, _ = pull(connector)
    assert len(by_id(changes)) == 31
    assert len([q for method, q in mock.requests if method == "POST" and q.endswith("/jobs/query")]) == 2


# ---------------------------------------------------------------------- limits and faults


def test_request_limit_exceeded_and_500_are_retried_with_backoff(mock: SalesforceMock) -> None:
    mock.generate(accounts=3)
    clean, _, _ = pull(connect(mock))

    mock.limit_exceeded(path="/queryAll/?q=SELECT+Id%2C+AccountId%2C+FirstName", times=2)
    mock.server_error(path="/sobjects/Opportunity/describe", times=1)
    mock.fail(503, "SERVER_UNAVAILABLE", path="/query/?q=SELECT+Id%2C+Name%2C+Email", times=1)
    waits: list[float] = []
    connector = connect(mock, sleep=waits.append, backoff=0.5)
    changes, _, _ = pull(connector)
    assert by_id(changes) == by_id(clean)
    assert sorted(waits) == [0.5, 0.5, 2.0, 4.0]  # 5xx from 0.5 s; the API limit from 2 s, doubling


def test_retries_are_bounded(mock: SalesforceMock) -> None:
    mock.generate(accounts=1)
    mock.limit_exceeded(path="/queryAll", times=100)
    waits: list[float] = []
    with pytest.raises(SalesforceSyncError, match="REQUEST_LIMIT_EXCEEDED") as raised:
        list(connect(mock, sleep=waits.append, max_retries=3, backoff=1, max_backoff=10).batches(None))
    assert raised.value.code == "REQUEST_LIMIT_EXCEEDED"
    assert waits == [4, 8, 10]


def test_a_bad_query_is_not_retried(mock: SalesforceMock) -> None:
    mock.generate(accounts=1)
    mock.fail(400, "MALFORMED_QUERY", path="/queryAll", times=5)
    waits: list[float] = []
    with pytest.raises(SalesforceSyncError, match="MALFORMED_QUERY"):
        list(connect(mock, sleep=waits.append).batches(None))
    assert waits == []


# ---------------------------------------------------------------------- deletions


def test_deleted_and_converted_records_come_out_deleted_and_leave_the_current_ids(mock: SalesforceMock) -> None:
    mock.generate(accounts=3, leads=3)
    connector = connect(mock)
    _, checkpoint, _ = pull(connector)
    mock.delete("Contact", "003MK0000000200001")
    mock.delete("Event", "00UMK0000000500007")
    mock.update("Lead", "00QMK0000000600001", IsConverted=True)
    mock.purge("Account", "001MK0000000100002")  # gone for good: only the prune can tell

    changes, _, _ = pull(connector, checkpoint)
    found = by_id(changes)
    assert {i for i, c in found.items() if c.deleted} == {"003MK0000000200001", "00UMK0000000500007",
                                                          "00QMK0000000600001"}
    assert found["00UMK0000000500007"].role == "activity" and found["00QMK0000000600001"].role == "lead"

    assert connector.current_ids("account") == {"001MK0000000100000", "001MK0000000100001"}
    assert "003MK0000000200001" not in connector.current_ids("contact")
    assert connector.current_ids("lead") == {"00QMK0000000600000", "00QMK0000000600002"}
    activities = connector.current_ids("activity")
    assert "00UMK0000000500007" not in activities and "00TMK0000000400005" in activities
    assert connector.current_ids("owner") == {sf_id("User", n) for n in (1, 2, 3)}
    # a first (full) pull never reports deletions
    first, _, _ = pull(connect(mock))
    assert not any(c.deleted for c in first)
    assert "003MK0000000200001" not in by_id(first)


def test_current_ids_of_a_large_object_come_through_bulk(mock: SalesforceMock) -> None:
    mock.generate(accounts=25, contacts_per_account=0, opportunities_per_account=0, tasks_per_account=0,
                  events_per_account=0, leads=0, users=1)
    mock.delete("Account", "001MK0000000100004")
    ids = connect(mock, bulk_threshold=10, bulk_page_size=7).current_ids("account")
    assert len(ids) == 24 and "001MK0000000100004" not in ids
    assert mock.paths("/jobs/query")


# ---------------------------------------------------------------------- bad records, what the user cannot see


def test_a_bad_record_is_a_problem_with_its_object_and_id_and_the_rest_still_comes(mock: SalesforceMock) -> None:
    mock.generate(accounts=2)
    bad_date = mock.add("Opportunity", {"AccountId": "001MK0000000100000", "Name": "Odd close date",
                                        "StageName": "Proposal", "CloseDate": "2026-13-45", "Amount": "a lot"})
    mock.add("Task", {"Id": None, "Subject": "Lost its id", "AccountId": "001MK0000000100000"})
    connector = connect(mock)
    changes, _, _ = pull(connector)

    problems = {(p.role, p.id): p.error for p in connector.problems}
    # the object type as HubSpot's problems and the feed's name it (the export role), the Salesforce object first
    # in the error
    assert set(problems) == {("opportunity", bad_date["Id"]), ("activity", "")}
    assert problems[("opportunity", bad_date["Id"])].startswith("Salesforce Opportunity: ")
    assert "CloseDate: not a date" in problems[("opportunity", bad_date["Id"])]
    assert "Amount: not an amount ('a lot')" in problems[("opportunity", bad_date["Id"])]
    assert problems[("activity", "")].startswith("Salesforce Task: a record without an Id")
    assert connector.problems[0].as_dict() == {"object": "opportunity", "id": bad_date["Id"],
                                               "error": problems[("opportunity", bad_date["Id"])]}
    # the record with bad values still comes, the bad fields empty; everything else is there
    found = by_id(changes)
    assert found[bad_date["Id"]].row["CloseDate"] == "" and found[bad_date["Id"]].row["Name"] == "Odd close date"
    assert sum(1 for c in changes if c.role == "account") == 2
    assert sum(1 for c in changes if c.role == "activity") == 2 * 3


def test_a_field_the_user_cannot_see_comes_out_empty(mock: SalesforceMock) -> None:
    mock.generate(accounts=2)
    mock.hidden["Account"] = {"AnnualRevenue"}
    changes, _, _ = pull(connect(mock))
    account = next(c for c in changes if c.role == "account")
    assert account.row["AnnualRevenue"] == "" and account.row["Industry"]
    assert not any("AnnualRevenue" in path for path in mock.paths("FROM+Account"))


def test_an_object_the_user_cannot_read_is_skipped_and_reported(mock: SalesforceMock) -> None:
    mock.generate(accounts=2, leads=2)
    mock.fail(404, "NOT_FOUND", "The requested resource does not exist", path="/sobjects/Lead/describe", times=1)
    connector = connect(mock)
    changes, checkpoint, _ = pull(connector)
    assert not any(c.role == "lead" for c in changes) and "Lead" not in checkpoint
    assert [(p.role, p.id) for p in connector.problems] == [("lead", "")]
    assert connector.problems[0].error.startswith("Salesforce Lead: not readable by the connected user")
    mock.fail(404, "NOT_FOUND", path="/sobjects/Lead/describe", times=1)
    with pytest.raises(SalesforceSyncError):
        connect(mock).current_ids("lead")  # never an empty set the prune would read as "all deleted"


def test_a_checkpoint_that_is_not_a_timestamp_syncs_that_object_in_full(mock: SalesforceMock) -> None:
    mock.generate(accounts=2, leads=0)
    _, checkpoint, _ = pull(connect(mock))
    changes, _, _ = pull(connect(mock), {**checkpoint, "Account": "not a time"})
    assert {c.role for c in changes} == {"account"}


# ---------------------------------------------------------------------- end to end, through the sync runner

REPO = Path(__file__).resolve().parent.parent
EXPORTS = tuple(name for name in ("users.csv", "accounts.csv", "contacts.csv", "opportunities.csv", "activities.csv")
                if (REPO / "knowledge/crm" / name).exists())  # the sample's Salesforce-shaped exports
SAMPLE_ACCOUNTS = [row["Name"] for row in csv.DictReader((REPO / "knowledge/crm/accounts.csv").open(encoding="utf-8"))]
# (One account has two equally senior contacts: the brief names them in the CRM's record-id order, wherever the
# records came from, a file or the API.)


def _knowledge(root: Path, exports: tuple[str, ...]) -> Path:
    (root / "crm").mkdir(parents=True)
    (root / "content").mkdir()
    shutil.copy(REPO / "knowledge/seller.yaml", root / "seller.yaml")
    for name in exports:
        shutil.copy(REPO / "knowledge/crm" / name, root / "crm" / name)
    return root


@pytest.fixture(scope="module")
def exported_and_synced(tmp_path_factory: pytest.TempPathFactory) -> tuple[Services, Services, dict[str, Any]]:
    """The sample CRM twice: ingested from its Salesforce-shaped CSV exports, and synced from a Salesforce org
    holding the same records, each into its own real Chroma store."""
    root = tmp_path_factory.mktemp("salesforce-e2e")
    files = build_services(load_settings(env_file=None, chroma_path=root / "chroma-files",
                                         knowledge_path=_knowledge(root / "files", EXPORTS)), embeddings=fake_embeddings())
    status, _ = run_cli(files, "ingest", "--json")
    assert status == 0
    with SalesforceMock() as org:
        org.load_export(REPO / "knowledge/crm")
        settings = load_settings(env_file=None, chroma_path=root / "chroma-synced",
                                 knowledge_path=_knowledge(root / "synced", ()), salesforce_username=org.username,
                                 salesforce_password=org.password, salesforce_security_token=org.security_token,
                                 salesforce_instance_url=org.url)
        synced = build_services(settings, embeddings=fake_embeddings())
        status, out = run_cli(synced, "sync", "salesforce", "--json")
        assert status == 0, out
    return files, synced, json.loads(out)


def test_sync_salesforce_writes_every_record_once(exported_and_synced: tuple[Services, Services, dict]) -> None:
    _, _, report = exported_and_synced
    rows = sum(sum(1 for _ in csv.DictReader((REPO / "knowledge/crm" / name).open(encoding="utf-8")))
               for name in EXPORTS)
    assert report["source"] == "salesforce"
    assert report["errors"] == []
    assert (report["added"], report["updated"], report["removed"]) == (rows, 0, 0)
    assert set(report["checkpoint"]) == {"User", "Account", "Contact", "Opportunity", "Task"}


@pytest.mark.parametrize("account", SAMPLE_ACCOUNTS)
def test_a_synced_account_briefs_as_the_export_does(exported_and_synced: tuple[Services, Services, dict],
                                                    account: str) -> None:
    files, synced, _ = exported_and_synced
    status, out = run_cli(files, "brief", "--json", account)
    assert status == 0
    from_files = json.loads(out)
    status, out = run_cli(synced, "brief", "--json", account)
    assert status == 0
    from_api = json.loads(out)
    # the same records cited in the same order; only where each came from differs
    assert [s["path"].split("/")[0] for s in from_api["sources"]] == ["sync"] * len(from_api["sources"])
    for brief in (from_files, from_api):
        for source in brief["sources"]:
            source.pop("path")
    assert from_api == from_files


def test_a_sync_killed_between_batches_resumes_to_what_a_clean_sync_writes(tmp_path: Path) -> None:
    with SalesforceMock(page_size=10) as org:
        org.generate(accounts=25, contacts_per_account=3, opportunities_per_account=1, tasks_per_account=2,
                     events_per_account=1, leads=12, users=3, same_second=4)

        def services(name: str) -> Services:
            settings = load_settings(env_file=None, chroma_path=tmp_path / name, knowledge_path=tmp_path / "k",
                                     salesforce_session_id=org.session_id, salesforce_instance_url=org.url)
            return build_services(settings, embeddings=fake_embeddings())

        clean = services("clean")
        whole = sync_now(clean, "salesforce")
        assert whole.errors == [] and whole.failure is None and whole.added > 200

        class KilledAfter:
            """The real connector, with the run stopped after a few written batches."""

            system = "salesforce"

            def __init__(self, batches: int, stop: threading.Event):
                self.inner = SalesforceConnector.from_settings(resumed.settings, bulk_poll=0.01)
                self.left, self.stop = batches, stop

            def batches(self, checkpoint: dict[str, Any] | None, *, full: bool = False) -> Iterator[Batch]:
                for batch in self.inner.batches(checkpoint, full=full):
                    yield batch
                    self.left -= 1
                    if self.left == 0:
                        self.stop.set()

            def current_ids(self, role: str) -> set[str]:
                return self.inner.current_ids(role)

            @property
            def problems(self) -> list[Any]:
                return self.inner.problems

        resumed = services("resumed")
        stop = threading.Event()
        killed = run_sync(resumed, "salesforce", connector=KilledAfter(9, stop), stop=stop,
                          write_batch=1)  # every batch written and its checkpoint saved
        assert killed.failure and killed.added < whole.added
        first = Checkpoints(lambda: resumed.store.client, resumed.settings.collection_prefix).load("salesforce")
        assert "Task" not in first["checkpoint"]  # stopped part-way
        rest = sync_now(resumed, "salesforce")
        assert rest.errors == [] and rest.failure is None
        assert killed.added + rest.added == whole.added  # the batch cut short is read again, found written

    def stored(services: Services) -> dict[str, tuple[str, str]]:
        found = {}
        for _, text, meta in services.store.scan({"kind": "crm"}, include=["documents", "metadatas"]):
            key = f"{meta['type']}:{meta['record_id']}"
            assert key not in found, f"{key} stored twice"
            found[key] = (text, str(meta["account_id"]))
        return found

    assert stored(resumed) == stored(clean)
