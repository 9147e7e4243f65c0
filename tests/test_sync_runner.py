"""The sync runner: one path with the exports (a brief reads the same from a file or from the API), a sync stopped
or killed anywhere resumes to exactly a clean sync, `sync --json`, settings errors, one replica at a time."""

from __future__ import annotations

import csv
import html
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hubspot_mock import DEFAULT_STAGES, HubSpotMock, enum_value
from langchain_core.embeddings import DeterministicFakeEmbedding
from sync_helpers import fake_embeddings, hubspot, no_crm_settings_from_the_shell, run_cli  # noqa: F401 (fixtures)

from bot.cli import main
from bot.knowledge.store import KnowledgeStore
from bot.runtime import Services, build_services
from bot.services.briefs import build_brief
from bot.settings import Settings
from bot.sync import runner
from bot.sync.runner import Checkpoints, lease_for, run_sync, start_sync_scheduler

REPO = Path(__file__).resolve().parent.parent
SAMPLE_CRM = REPO / "knowledge" / "crm"


@pytest.fixture
def store_at(make_settings, hubspot: HubSpotMock, tmp_path: Path) -> Callable[..., Services]:
    """Services over a store of their own (a folder name), HubSpot configured to the mock."""

    def make(name: str, embeddings: Any = None, **overrides: Any) -> Services:
        knowledge = tmp_path / f"knowledge-{name}"
        (knowledge / "crm").mkdir(parents=True, exist_ok=True)
        settings = make_settings(chroma_path=tmp_path / f"chroma-{name}", knowledge_path=knowledge,
                                 hubspot_token=hubspot.token, hubspot_api_url=hubspot.url, **overrides)
        return build_services(settings, embeddings=embeddings or fake_embeddings())

    return make


def snapshot(services: Services) -> dict[str, Any]:
    """Everything the store holds: chunk ids with their texts and metadata, manifest sources with digests."""
    got = services.store.chunks.get(include=["documents", "metadatas"])
    chunks = {cid: (text, meta) for cid, text, meta in zip(got["ids"], got["documents"], got["metadatas"])}
    assert len(chunks) == len(got["ids"])
    sources = services.store.sources.get(include=["metadatas"])
    return {"chunks": chunks, "sources": {s: m["digest"] for s, m in zip(sources["ids"], sources["metadatas"])}}


def assert_same_store(left: dict[str, Any], right: dict[str, Any]) -> None:
    assert set(left["chunks"]) == set(right["chunks"])  # same chunk ids: nothing lost, nothing duplicated
    assert left["chunks"] == right["chunks"]  # same texts and metadata
    assert left["sources"] == right["sources"]  # every object finished, with the same digest
    per_source: dict[str, int] = {}
    for _, meta in left["chunks"].values():
        per_source[meta["source"]] = per_source.get(meta["source"], 0) + 1
    assert set(per_source.values()) == {1}  # one chunk per object, no leftovers


# ---------------------------------------------------------------------- one path with the exports

def _read_csv(name: str) -> list[dict[str, str]]:
    with (SAMPLE_CRM / name).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def seed_from_sample_exports(mock: HubSpotMock, crm: Path) -> list[str]:
    """The sample HubSpot exports loaded into the mock as HubSpot holds them (stage ids, enumeration values,
    HTML bodies, associations), and written to `crm` as HubSpot's export shows the same records (stage labels,
    text; marketing touches HubSpot has no engagement for become notes). Returns the company names."""
    labels = {sid: label for sid, label, _ in DEFAULT_STAGES}
    companies = _read_csv("hubspot-companies.csv")
    for c in companies:
        mock.options[("companies", "industry")][enum_value(c["Industry"])] = c["Industry"]
        mock.add("companies", {"name": c["Company name"], "industry": enum_value(c["Industry"]),
                               "numberofemployees": c["Number of Employees"], "annualrevenue": c["Annual Revenue"],
                               "country": c["Country/Region"], "city": c["City"]}, id=c["Record ID"])
    (crm / "hubspot-companies.csv").write_text((SAMPLE_CRM / "hubspot-companies.csv").read_text(encoding="utf-8"),
                                               encoding="utf-8")
    for c in _read_csv("hubspot-contacts.csv"):
        mock.add("contacts", {"firstname": c["First Name"], "lastname": c["Last Name"], "jobtitle": c["Job Title"],
                              "email": c["Email"]},
                 associations={"companies": [c["Associated Company ID"]] if c["Associated Company ID"] else []},
                 id=c["Record ID"])
    (crm / "hubspot-contacts.csv").write_text((SAMPLE_CRM / "hubspot-contacts.csv").read_text(encoding="utf-8"),
                                              encoding="utf-8")
    deals = json.loads((SAMPLE_CRM / "hubspot-deals.json").read_text(encoding="utf-8"))
    owners: dict[str, str] = {}
    for d in deals:
        if d["Owner"] not in owners:
            first, _, last = d["Owner"].partition(" ")
            owners[d["Owner"]] = mock.add_owner(first, last, f"{first.lower()}@seller.example")
        mock.add("deals", {"dealname": d["Deal Name"], "dealstage": d["Deal Stage"], "amount": d["Amount"],
                           "closedate": f"{d['Close Date']}T00:00:00.000Z", "hs_next_step": d["Next Step"],
                           "hubspot_owner_id": owners[d["Owner"]]},
                 associations={"companies": [d["Associated Company ID"]]}, id=d["Record ID"])
        d["Deal Stage"] = labels[d["Deal Stage"]]
    (crm / "hubspot-deals.json").write_text(json.dumps(deals, ensure_ascii=False, indent=1), encoding="utf-8")
    activities = json.loads((SAMPLE_CRM / "hubspot-activities.json").read_text(encoding="utf-8"))
    for a in activities:
        kind = {"MEETING": "meetings", "CALL": "calls", "EMAIL": "emails"}.get(a["Activity type"], "notes")
        when = f"{a['Activity date']}T10:00:00.000Z"
        properties = {
            "notes": {"hs_note_body": f"<p>{html.escape(a['Notes'])}</p>"},
            "meetings": {"hs_meeting_title": a["Subject"], "hs_meeting_body": f"<p>{html.escape(a['Notes'])}</p>"},
            "calls": {"hs_call_title": a["Subject"], "hs_call_body": a["Notes"]},
            "emails": {"hs_email_subject": a["Subject"], "hs_email_text": a["Notes"]},
        }[kind]
        links = {"contacts": [a["Contact ID"]] if a["Contact ID"] else [],
                 "companies": [a["Associated Company ID"]] if a["Associated Company ID"] else []}
        mock.add(kind, {"hs_timestamp": when, **properties}, associations=links, id=a["Activity ID"])
        if kind == "notes":  # HubSpot exports a note as a NOTE, with no subject
            a["Activity type"] = "NOTE"
            del a["Subject"]
    (crm / "hubspot-activities.json").write_text(json.dumps(activities, ensure_ascii=False, indent=1),
                                                 encoding="utf-8")
    return [c["Company name"] for c in companies]


def test_a_brief_reads_the_same_from_an_export_and_from_the_api(store_at, hubspot: HubSpotMock,
                                                                tmp_path: Path) -> None:
    from_files = store_at("files")
    from_api = store_at("api")
    for services in (from_files, from_api):  # the sample seller's profile on both sides
        (services.settings.knowledge_path / "seller.yaml").write_text(
            (REPO / "knowledge" / "seller.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    from_files, from_api = store_at("files"), store_at("api")
    names = seed_from_sample_exports(hubspot, from_files.settings.knowledge_path / "crm")

    exit_code = main(["ingest", "--json"], settings=from_files.settings, services_factory=lambda s: from_files,
                     stdout=io.StringIO())
    assert exit_code == 0
    report = run_sync(from_api, "hubspot")
    assert report.failure is None and report.errors == []

    assert len(names) == 7
    for name in names:
        briefs = []
        for services in (from_files, from_api):
            account = services.retriever.resolve_account(name).account
            assert account is not None, name
            brief = build_brief(services.retriever, account, services.context()).as_dict()
            for source in brief["sources"]:
                source.pop("path")  # the one difference: crm/hubspot-deals.json vs sync/hubspot/opportunity/<id>
            briefs.append(brief)
        assert briefs[0] == briefs[1], name
        assert briefs[0]["opportunities"] or briefs[0]["activities"]


# ---------------------------------------------------------------------- stopped, killed, resumed

class Boom(RuntimeError):
    pass


def _stop_on_call(target: Any, name: str, after: int, monkeypatch: pytest.MonkeyPatch,
                  when: Callable[..., bool] = lambda *a, **k: True) -> None:
    """The `after`-th call of target.name (that `when` accepts) raises, as a process killed there would stop."""
    original = getattr(target, name)
    calls = {"n": 0}

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if when(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == after:
                raise Boom(f"stopped in {name}")
        return original(*args, **kwargs)

    monkeypatch.setattr(target, name, wrapped)


STOP_POINTS = {
    # before a batch's chunks are written (embedding)
    "embedding": lambda mp: _stop_on_call(DeterministicFakeEmbedding, "embed_documents", 4, mp),
    # after its chunks are written, before their digests (the manifest) are
    "manifest": lambda mp: _stop_on_call(KnowledgeStore, "record_sources", 3, mp,
                                         when=lambda self, entries, **_: any(e[1] for e in list(entries))),
    # after everything is written, before the checkpoint is saved
    "checkpoint": lambda mp: _stop_on_call(Checkpoints, "save", 3, mp),
}


@pytest.mark.parametrize("where", sorted(STOP_POINTS))
def test_a_stopped_sync_resumes_to_exactly_a_clean_sync(store_at, hubspot: HubSpotMock, where: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    hubspot.generate(400, bad=1)
    clean = store_at("clean")
    assert run_sync(clean, "hubspot", write_batch=40).failure is None

    resumed = store_at("resumed")
    with monkeypatch.context() as patch:
        STOP_POINTS[where](patch)
        stopped = run_sync(resumed, "hubspot", write_batch=40)
    assert stopped.failure and "Boom" in stopped.failure
    assert 0 < resumed.store.count() < clean.store.count()
    # the CRM moves on in between: a record changes, one is deleted
    contact = sorted(hubspot.records["contacts"])[-1]
    hubspot.update("contacts", contact, jobtitle="Chief Operating Officer")
    hubspot.archive("notes", sorted(hubspot.records["notes"])[-1])
    again = run_sync(store_at("resumed"), "hubspot", write_batch=40)
    assert again.failure is None
    assert run_sync(clean, "hubspot", write_batch=40).failure is None  # the clean store follows the same changes
    assert_same_store(snapshot(store_at("resumed")), snapshot(clean))


CHILD = """
import sys
from langchain_core.embeddings import DeterministicFakeEmbedding
import bot.sync.runner
from bot.cli import main
bot.sync.runner.LEASE_SLOT = 1.0  # a killed run's lease runs out in two seconds, not a minute
from bot.knowledge.embeddings import Named
from bot.runtime import build_services
sys.exit(main(sys.argv[1:], services_factory=lambda s: build_services(
    s, embeddings=Named(DeterministicFakeEmbedding(size=64), "fake:deterministic"))))
"""


def _sync_in_a_process(settings: Settings, hubspot: HubSpotMock, cwd: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(("SLACK_", "OPENAI_", "HUBSPOT_"))}
    env |= {"CHROMA_PATH": str(settings.chroma_path), "KNOWLEDGE_PATH": str(settings.knowledge_path),
            "HUBSPOT_TOKEN": hubspot.token, "HUBSPOT_API_URL": hubspot.url, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-c", CHILD, "sync", "hubspot", "--json"], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.slow
def test_a_sync_killed_with_sigkill_resumes_to_exactly_a_clean_sync(store_at, hubspot: HubSpotMock,
                                                                     tmp_path: Path) -> None:
    hubspot.generate(3000)
    killed = store_at("killed")
    settings = killed.settings
    del killed  # the child process owns the store while it runs
    child = _sync_in_a_process(settings, hubspot, tmp_path)
    deadline = time.monotonic() + 120
    while not hubspot.searches("meetings"):  # companies, contacts, deals and notes done or under way
        assert child.poll() is None, child.communicate()[1].decode()[-2000:]
        assert time.monotonic() < deadline
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    assert child.wait(timeout=30) == -signal.SIGKILL
    partial = store_at("killed").store.count()
    assert 0 < partial < 3000

    child = _sync_in_a_process(settings, hubspot, tmp_path)  # the same command again
    out, err = child.communicate(timeout=300)
    assert child.returncode == 0, err.decode()[-2000:]
    report = json.loads(out)
    assert report["added"] + report["updated"] + report["unchanged"] >= 3000 + 12 - partial

    clean = store_at("clean")
    assert run_sync(clean, "hubspot").failure is None
    assert_same_store(snapshot(store_at("killed")), snapshot(clean))


def test_a_rebuilt_store_is_synced_again_in_full(store_at, hubspot: HubSpotMock) -> None:
    hubspot.generate(50)
    services = store_at("a")
    assert run_sync(services, "hubspot").added == 62
    services.store.reset()  # ingest --rebuild
    report = run_sync(services, "hubspot")
    assert report.added == 62 and services.store.count() == 62


# ---------------------------------------------------------------------- the command

def test_sync_json_prints_one_object_of_the_contract(store_at, hubspot: HubSpotMock) -> None:
    hubspot.generate(40, bad=1)
    status, out = run_cli(store_at("a"), "sync", "--json")
    assert status == 0
    report = json.loads(out)
    assert set(report) == {"source", "added", "updated", "unchanged", "removed", "errors", "checkpoint"}
    assert report["source"] == "hubspot"
    assert (report["added"], report["updated"], report["unchanged"], report["removed"]) == (39 + 12, 0, 0, 0)
    assert report["errors"] == [{"object": "account", "id": "10000000", "error": "missing an account name"},
                                *report["errors"][1:]]
    assert all(set(e) == {"object", "id", "error"} for e in report["errors"])
    assert {"owners", "companies", "contacts", "deals", "notes", "meetings", "calls", "emails"} <= set(report["checkpoint"])

    status, out = run_cli(store_at("a"), "sync", "hubspot", "--json")
    again = json.loads(out)
    assert status == 0 and (again["added"], again["updated"], again["removed"]) == (0, 0, 0)


def test_sync_prints_a_summary_without_json(store_at, hubspot: HubSpotMock) -> None:
    hubspot.generate(20)
    status, out = run_cli(store_at("a"), "sync", "hubspot")
    assert status == 0
    assert out.splitlines()[0] == "hubspot: 32 added, 0 updated, 0 unchanged, 0 removed."


def test_no_crm_configured_is_one_line_and_exit_2(make_settings, capsys: pytest.CaptureFixture[str]) -> None:
    settings = make_settings()
    status = main(["sync"], settings=settings, services_factory=lambda s: build_services(s, embeddings=fake_embeddings()),
                  stdout=io.StringIO())
    assert status == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1
    assert lines[0].startswith("error: no CRM to sync")
    assert "HUBSPOT_TOKEN" in lines[0] and "SALESFORCE_USERNAME" in lines[0]


def test_a_named_crm_that_is_not_configured_is_one_line_and_exit_2(store_at,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    status, out = run_cli(store_at("a"), "sync", "salesforce", "--json")
    assert status == 2
    assert "SALESFORCE_USERNAME" in json.loads(out)["error"]
    assert len([line for line in capsys.readouterr().err.splitlines() if line.strip()]) == 1


def test_sync_while_another_holds_it_is_refused(store_at, hubspot: HubSpotMock,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    hubspot.generate(20)
    services = store_at("a")
    monkeypatch.setattr(runner, "LEASE_SLOT", 0.5)
    with lease_for(services, "hubspot"):  # a replica's scheduled sync under way (renewing its lease)
        started = time.monotonic()
        status, out = run_cli(services, "sync", "--json")
        assert time.monotonic() - started >= 2  # it waited two slots for a holder that might have died
    assert status == 1
    assert "already running" in json.loads(out)["error"]
    assert services.store.count() == 0
    status, out = run_cli(services, "sync", "--json")  # released: the next one runs at once
    assert status == 0 and json.loads(out)["added"] == 32


# ---------------------------------------------------------------------- on a schedule

def test_two_replicas_schedulers_never_sync_together(store_at, hubspot: HubSpotMock,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    hubspot.generate(30)
    services = store_at("shared", sync_interval=1)
    runs: list[tuple[str, float, float]] = []
    original = runner.run_sync

    def timed(services: Services, system: str, **kwargs: Any) -> Any:
        started = time.monotonic()
        time.sleep(1.6)  # a sync that outlasts its interval
        try:
            return original(services, system, **kwargs)
        finally:
            runs.append((threading.current_thread().name, started, time.monotonic()))

    monkeypatch.setattr(runner, "run_sync", timed)
    stop = threading.Event()
    replicas = []
    for name in ("replica-a", "replica-b"):  # two processes' schedulers over one shared store
        thread = start_sync_scheduler(services, stop, slot=0.5)
        assert thread is not None
        thread.name = name
        replicas.append(thread)
    time.sleep(6.5)
    stop.set()
    for thread in replicas:
        thread.join(timeout=30)
    runs.sort(key=lambda run: run[1])
    assert len(runs) >= 2
    for before, after in zip(runs, runs[1:]):
        assert after[1] >= before[2], f"{before} overlaps {after}"
    assert services.store.count() == 42


def test_the_scheduler_is_off_without_an_interval_or_a_crm(store_at, make_settings) -> None:
    stop = threading.Event()
    assert start_sync_scheduler(store_at("a"), stop) is None  # SYNC_INTERVAL=0
    no_crm = build_services(make_settings(sync_interval=60), embeddings=fake_embeddings())
    assert start_sync_scheduler(no_crm, stop) is None


def test_a_file_ingest_keeps_synced_objects(store_at, hubspot: HubSpotMock) -> None:
    hubspot.generate(20)
    services = store_at("a")
    run_sync(services, "hubspot")
    status, _ = run_cli(services, "ingest", "--json")
    assert services.store.count() == 32


def test_the_live_directory_hands_a_shared_name_over_when_its_holder_goes_or_is_renamed() -> None:
    from bot.sync.feed import LiveDirectory

    def account(record_id: str, name: str) -> dict[str, object]:
        return {"record_type": "account", "id": record_id, "name": name}

    by_name = {"record_type": "contact", "id": "c1", "account_name": "Acme"}
    directory = LiveDirectory()
    directory.put(account("a1", "Acme Corp"))
    directory.put(account("a2", "Acme Inc"))
    assert directory.account_id_for(by_name) == "a1"
    directory.put(account("a1", "Zenith Corp"))  # renamed: the old name now leads to the other account
    assert directory.account_id_for(by_name) == "a2"
    assert directory.account_id_for({**by_name, "account_name": "Zenith"}) == "a1"
    assert directory.remove("account", "a2") is not None
    assert directory.account_id_for(by_name) is None and directory.get("account", "a2") is None
    directory.put({"record_type": "contact", "id": "k1", "email": "pat@acme.example"})
    directory.put({"record_type": "contact", "id": "k2", "email": "PAT@acme.example"})
    directory.remove("contact", "k2")
    lead = {"record_type": "lead", "id": "l1", "email": "pat@acme.example"}
    directory.put({**account("a3", "Pat Holdings"), "id": "a3"})
    directory.put({"record_type": "contact", "id": "k1", "email": "pat@acme.example", "account_id": "a3"})
    assert directory.account_id_for(lead) == "a3"


def test_refused_credentials_in_the_scheduler_are_one_log_line(store_at, caplog: pytest.LogCaptureFixture) -> None:
    from bot.sync.base import CrmAuthError

    def refused() -> Any:
        raise CrmAuthError("HUBSPOT_TOKEN: HubSpot refused it (401 on list owners)")

    services = store_at("a")
    stop = threading.Event()
    with caplog.at_level("INFO", logger="bot.sync.runner"):
        thread = start_sync_scheduler(services, stop, interval=0.2, slot=0.5, connectors={"hubspot": refused})
        assert thread is not None
        deadline = time.monotonic() + 10
        while not any("HUBSPOT_TOKEN" in r.getMessage() for r in caplog.records) and time.monotonic() < deadline:
            time.sleep(0.02)
        stop.set()
        thread.join(timeout=10)
    refusals = [r for r in caplog.records if "HUBSPOT_TOKEN" in r.getMessage()]
    assert refusals and all(r.levelname == "ERROR" and r.exc_info is None for r in refusals)
    assert refusals[0].getMessage() == "scheduled hubspot sync: HUBSPOT_TOKEN: HubSpot refused it (401 on list owners)"
