"""`python -m bot sync`: pull what changed in each configured CRM into the store, from where the last run stopped;
and the same on a schedule inside `serve` (SYNC_INTERVAL), one replica at a time.

The checkpoint lives in the ledger beside the knowledge (`<prefix>_sync_ledger`, so every replica and the
command line share it) and moves only after the batch it follows is written: a run killed anywhere is finished
by the next one, which reads again at most one batch (found unchanged, nothing re-embedded). It is tied to the
store it describes: after `ingest --rebuild` (a new manifest collection) the next sync reads everything again.

Deletions: each connector reports what its CRM lists as deleted; a prune (on `--full`, and once a day) compares
the ids the CRM lists now with the objects stored, and removes the difference.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from bot.knowledge.ledger import Ledger
from bot.sync.base import Change, Connector, CrmAuthError, SyncError
from bot.sync.feed import Feed, SyncReport, source_of

logger = logging.getLogger(__name__)

SYSTEMS = ("hubspot", "salesforce")
LEASE_SLOT = 30.0  # seconds: a replica that dies mid-sync hands over within two slots
PRUNE_EVERY = 24 * 3600.0
WRITE_BATCH = 500  # changes written to the store together
SALESFORCE_SETTINGS = ("SALESFORCE_USERNAME, SALESFORCE_PASSWORD and SALESFORCE_SECURITY_TOKEN (or SALESFORCE_SESSION_ID "
                       "with SALESFORCE_INSTANCE_URL)")
NOT_CONFIGURED = f"no CRM to sync: set HUBSPOT_TOKEN for HubSpot, or {SALESFORCE_SETTINGS} for Salesforce"


class SyncBusy(RuntimeError):
    """Another process or replica holds this CRM's sync."""


class SyncStopped(SyncError):
    """The run stopped between batches (shutdown, or the lease went to another replica); the checkpoint holds."""


def configured_systems(settings: Any) -> list[str]:
    found = []
    if settings.hubspot_token:
        found.append("hubspot")
    if settings.salesforce_username or settings.salesforce_session_id:
        found.append("salesforce")
    return found


def missing_settings(system: str) -> str:
    if system == "hubspot":
        return "hubspot: not configured: set HUBSPOT_TOKEN (a HubSpot private app's access token)"
    return f"salesforce: not configured: set {SALESFORCE_SETTINGS}"


def connector_for(system: str, settings: Any) -> Connector:
    """Each connector module offers `from_settings(settings)`."""
    if system not in SYSTEMS:
        raise ValueError(f"unknown CRM {system!r}: one of {', '.join(SYSTEMS)}")
    module = importlib.import_module(f"bot.sync.{system}")
    factory: Callable[[Any], Connector] = module.from_settings
    return factory(settings)


# ---------------------------------------------------------------------- checkpoints

class Checkpoints:
    """Per CRM: where the next run resumes, for which store, and when the last prune ran."""

    def __init__(self, client: Any, prefix: str):
        self.ledger = Ledger(client, f"{prefix}_sync", ttl=None)  # checkpoints are replaced, never left to expire
        self._docs: dict[str, dict[str, Any]] = {}

    def load(self, system: str) -> dict[str, Any]:
        self._docs[system] = self.ledger.get(f"checkpoint:{system}") or {}
        return dict(self._docs[system])

    def save(self, system: str, **values: Any) -> None:
        doc = {**(self._docs[system] if system in self._docs else self.load(system)), **values, "saved_at": time.time()}
        self.ledger.put(f"checkpoint:{system}", doc)
        self._docs[system] = doc


def store_identity(store: Any) -> str:
    """The manifest collection's id: a rebuilt store (ingest --rebuild) has a new one."""
    return str(store.sources.id)


# ---------------------------------------------------------------------- one run

def run_sync(services: Any, system: str, *, full: bool = False, connector: Connector | None = None,
             lease: SyncLease | None = None, stop: threading.Event | None = None,
             write_batch: int = WRITE_BATCH) -> SyncReport:
    """One sync of one CRM. Problems with single records are in the report's errors; a run that cannot go on
    (the CRM unreachable after its retries, the lease lost, a stop) ends with `report.failure` saying why, after
    everything up to the last saved checkpoint was written."""
    store = services.store
    checkpoints = Checkpoints(lambda: store.client, services.settings.collection_prefix)
    saved = checkpoints.load(system)
    identity = store_identity(store)
    checkpoint = saved.get("checkpoint") if saved.get("store") == identity else None
    if saved and checkpoint is None:
        logger.info("%s: the store was rebuilt since the last sync: reading everything again", system)
    connector = connector or connector_for(system, services.settings)
    feed = Feed(store, services.embeddings, system=system, profile=services.profile)
    report = SyncReport(system, checkpoint=dict(checkpoint or {}))
    # the prune lists every id in the CRM: on --full, and once a day; not after a first sync into a store that
    # held nothing of this CRM (everything in it was just read)
    prune = full or time.time() - float(saved.get("pruned_at") or 0) > PRUNE_EVERY
    if prune and not full and checkpoint is None and not feed.stored():
        prune = False
    started = time.monotonic()
    pending: list[Change] = []
    unsaved: dict[str, Any] | None = None

    def flush() -> None:
        """Write what is pending, then save the checkpoint of the last batch it came from."""
        nonlocal pending, unsaved
        if pending:
            feed.apply(pending, report)
            pending = []
        if unsaved is not None:
            checkpoints.save(system, store=identity, checkpoint=unsaved)
            report.checkpoint, unsaved = unsaved, None
            logger.debug("%s: checkpoint saved after %d batches", system, report.batches)

    try:
        for batch in connector.batches(None if full else checkpoint, full=full):
            _check(lease, stop)
            # small batches are written together (a write to the store costs about the same for 1 or 500
            # objects); a checkpoint is saved only with the writes it follows
            pending.extend(batch.changes)
            if batch.checkpoint:  # an empty one: nothing to resume from yet (the batch is redone if stopped)
                unsaved = batch.checkpoint
            report.batches += 1
            if len(pending) >= write_batch:
                flush()
            if report.batches % 50 == 0:
                logger.info("%s: %d batches, %d added, %d updated, %d unchanged so far", system, report.batches,
                            report.added, report.updated, report.unchanged)
        flush()
        _check(lease, stop)
        if prune:
            _prune(feed, connector, report)
        if prune or "pruned_at" not in saved:
            checkpoints.save(system, pruned_at=time.time())
    except CrmAuthError:  # a setting to fix, not a run to resume: the command line says so and exits 2
        raise
    except SyncStopped as exc:
        report.failure = str(exc)
    except SyncError as exc:  # the CRM gave up on us; the message says what happened
        logger.warning("%s sync stopped: %s", system, exc)
        report.failure = str(exc)
    except Exception as exc:  # the store failed, or something unforeseen: the next run resumes from the checkpoint
        logger.warning("%s sync stopped: %s", system, exc, exc_info=logger.isEnabledFor(logging.DEBUG))
        report.failure = f"{type(exc).__name__}: {exc}"
    finally:
        report.errors.extend(p.as_dict() for p in connector.problems)
        for role, count in feed.skipped.items():
            logger.info("%s: %d %s record(s) read but not stored: the CRM export mapping has no %r role yet",
                        system, count, role, role)
        if report.added or report.updated or report.removed or report.relinked:
            services.retriever.written_here()
        logger.info("%s sync: %d added, %d updated, %d unchanged, %d removed, %d re-linked, %d problem(s) in %.1f s",
                    system, report.added, report.updated, report.unchanged, report.removed, report.relinked,
                    len(report.errors), time.monotonic() - started)
    return report


def _check(lease: SyncLease | None, stop: threading.Event | None) -> None:
    if stop is not None and stop.is_set():
        raise SyncStopped("stopping: the sync ends after the last written batch and resumes from there")
    if lease is not None and lease.lost:
        raise SyncStopped("another replica took over this sync (the lease expired): stopped after the last "
                          "written batch")


def _prune(feed: Feed, connector: Connector, report: SyncReport) -> None:
    """Remove the stored objects the CRM no longer lists."""
    stored_by_role = feed.stored()  # one read of the manifest for every role
    for role in sorted(stored_by_role):
        try:
            current = connector.current_ids(role)
        except Exception as exc:  # a partial list must never delete anything
            report.problem(role, "", f"prune skipped: could not list the current {role} ids ({exc})")
            continue
        stored = stored_by_role[role]
        if stored and not current:
            report.problem(role, "", f"prune skipped: {feed.system} lists no {role} at all while {len(stored)} "
                                     "are stored (a missing scope or permission?)")
            continue
        gone = sorted(stored - current)
        if gone:
            logger.info("%s: %d %s record(s) no longer in the CRM: removed", feed.system, len(gone), role)
            report.removed += feed.forget([source_of(feed.system, role, record_id) for record_id in gone])


# ---------------------------------------------------------------------- one replica at a time

class SyncLease:
    """One process or replica at a time holds a CRM's sync, through the shared ledger.

    Time is cut into slots of `slot` seconds, and `Ledger.claim` gives each slot's key to exactly one claimant.
    The holder owns the current slot and the next one, claiming ahead from a heartbeat every third of a slot,
    so no one else can win a slot while it runs; it gives them back when done. A holder that dies stops claiming:
    its slots run out and another replica wins the next free one (within two slots). A holder that misses a slot
    (paused past it) finds the slot taken, sets `lost` and stops after its current batch. Replicas' clocks must
    agree to within a third of a slot (NTP does far better)."""

    def __init__(self, ledger: Ledger, name: str, *, slot: float = LEASE_SLOT, clock: Callable[[], float] = time.time,
                 wait: float = 0.0):
        self.ledger = ledger
        self.name = name
        self.slot = slot
        self.clock = clock
        self.lost = False
        self.wait = wait  # how long `with lease:` waits for it
        self._held: set[int] = set()
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None
        self._lock = threading.Lock()

    def _key(self, slot: int) -> str:
        return f"lease:{self.name}:{slot}"

    def _now(self) -> int:
        return int(self.clock() // self.slot)

    def acquire(self, *, wait: float = 0.0) -> bool:
        """Hold the lease; with `wait`, keep trying that long (a holder that died frees it within two slots)."""
        deadline = time.monotonic() + wait
        while True:
            now = self._now()
            if self.ledger.claim(self._key(now)):
                break
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(self.slot / 4, max(0.0, deadline - time.monotonic())))
        self._held = {now}
        self._renew()
        if self.lost:
            return False
        self._stop.clear()
        self._beat = threading.Thread(target=self._heartbeat, name=f"{self.name}-lease", daemon=True)
        self._beat.start()
        return True

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.slot / 3):
            try:
                self._renew()
            except Exception:  # the store unreachable: keep the slots we have; they tell the others we run
                logger.warning("renewing the %s lease failed", self.name, exc_info=True)
            if self.lost:
                return

    def _renew(self) -> None:
        with self._lock:
            now = self._now()
            for slot in (now, now + 1):
                if slot in self._held:
                    continue
                if self.ledger.claim(self._key(slot)):
                    self._held.add(slot)
                else:
                    logger.warning("%s: slot %d was claimed by another replica: this sync stops", self.name, slot)
                    self.lost = True
                    return
            self._held = {slot for slot in self._held if slot >= now}

    def release(self) -> None:
        self._stop.set()
        if self._beat is not None:
            self._beat.join(timeout=5)
        with self._lock:
            mine = [self._key(slot) for slot in self._held if slot >= self._now()]
            self._held = set()
        if mine and not self.lost:
            try:  # free now rather than at the end of the slot: a command-line run can follow at once
                self.ledger.forget(mine)
            except Exception:
                logger.debug("releasing the %s lease failed; it runs out by itself", self.name, exc_info=True)

    def __enter__(self) -> SyncLease:
        if not self.acquire(wait=self.wait):
            raise SyncBusy(f"a {self.name.split(':')[-1]} sync is already running (in another process or replica); "
                           "try again when it is done")
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def lease_for(services: Any, system: str, *, slot: float | None = None, wait: float = 0.0) -> SyncLease:
    ledger = Ledger(lambda: services.store.client, services.settings.collection_prefix)
    return SyncLease(ledger, f"sync:{system}", slot=LEASE_SLOT if slot is None else slot, wait=wait)


def sync_now(services: Any, system: str, *, full: bool = False, connector: Connector | None = None,
             slot: float | None = None) -> SyncReport:
    """A sync that holds the lease while it runs (the command line). A lease left by a run that was killed
    frees itself within two slots, so it waits that long; SyncBusy if a live sync still holds it then."""
    slot = LEASE_SLOT if slot is None else slot
    with lease_for(services, system, slot=slot, wait=2 * slot + 1) as lease:
        return run_sync(services, system, full=full, connector=connector, lease=lease)


# ---------------------------------------------------------------------- on a schedule

def start_sync_scheduler(services: Any, stop: threading.Event, *, interval: float | None = None,
                         slot: float = LEASE_SLOT,
                         connectors: dict[str, Callable[[], Connector]] | None = None) -> threading.Thread | None:
    """Sync every configured CRM every SYNC_INTERVAL seconds in a background thread, until `stop` is set.

    Every replica runs one; in each interval one replica wins the interval's key in the shared ledger and syncs,
    and the lease keeps a sync that outlasts its interval from overlapping the next. None when off."""
    every = float(services.settings.sync_interval if interval is None else interval)
    systems = list(connectors) if connectors else configured_systems(services.settings)
    if every <= 0 or not systems:
        return None
    thread = threading.Thread(target=_schedule, args=(services, stop, every, systems, slot, connectors or {}),
                              name="crm-sync", daemon=True)
    thread.start()
    logger.info("CRM sync every %g s: %s", every, ", ".join(systems))
    return thread


def _schedule(services: Any, stop: threading.Event, every: float, systems: list[str], slot: float,
              connectors: dict[str, Callable[[], Connector]]) -> None:
    ledger = Ledger(lambda: services.store.client, services.settings.collection_prefix)
    while not stop.is_set():
        window = int(time.time() // every)
        for system in systems:
            if stop.is_set():
                break
            try:
                if not ledger.claim(f"sync:{system}:window:{every:g}:{window}"):
                    continue  # another replica has this interval
                lease = SyncLease(ledger, f"sync:{system}", slot=slot)
                if not lease.acquire():
                    logger.info("%s: the previous sync is still running elsewhere; this interval is skipped", system)
                    continue
                try:
                    connector = connectors[system]() if system in connectors else None
                    run_sync(services, system, connector=connector, lease=lease, stop=stop)
                finally:
                    lease.release()
            except CrmAuthError as exc:  # one line each interval, not a trace: a setting to fix
                logger.error("scheduled %s sync: %s", system, exc)
            except Exception:  # the next interval tries again from the checkpoint
                logger.exception("scheduled %s sync failed", system)
        stop.wait(max(0.05, (window + 1) * every - time.time()))
