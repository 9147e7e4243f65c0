"""Synced CRM objects into the store through the same path as the exports.

A change arrives as the row the CRM's export would have. `crm.map_headers` and `crm.to_record` make the
canonical record (with the seller profile's stages), a `records.Directory` of the whole store links it to its
account, `records.crm_chunks` writes its document, and the store keeps it like an ingested file: so a brief reads
the same whether an account came from a file or from the API.

Each synced object is its own source in the store's manifest, `sync/<system>/<role>/<id>`, with a digest of
what it renders to (its chunks' ids, texts and metadata, and the ingest's rules version). An object whose
rendering did not change is not written; a changed one is re-embedded alone; a deleted one is forgotten. When an
account is renamed, or a contact's name, title or account changes, the synced records that show it (its
account's contacts, deals and activities) are rendered again and the ones whose text changed are rewritten, as
the file ingest does through its link fingerprint.

Writes are ordered so that a run stopped anywhere is finished by the next one: the manifest entry of a new object
exists before its chunks (a stopped run leaves no chunk the manifest does not know), the records that show a
changed one are written before it (until it is written, the next run still sees the old version and redoes them),
and an object's digest is written last.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.knowledge.accounts import core_name
from bot.knowledge.crm import ALIASES, CrmFile, map_headers, to_record
from bot.knowledge.documents import Chunk, LoadError
from bot.knowledge.embeddings import NamedEmbeddings
from bot.knowledge.ingest import API_SOURCES, DIRECTORY_ROLES, PIPELINE_VERSION, fill_directory
from bot.knowledge.records import Directory, crm_chunks
from bot.knowledge.store import READ_PAGE, KnowledgeStore
from bot.knowledge.titles import DEFAULT_READER
from bot.profile import SellerProfile
from bot.sync.base import Change, SyncProblem

logger = logging.getLogger(__name__)

SOURCE_PREFIX = API_SOURCES  # "sync/": a plain ingest leaves these sources alone
# fields of a directory record that other records show or link through (see Directory.fingerprint_for)
SHOWN_FIELDS = ("name", "title", "email", "account_id", "account_name", "company")


def source_of(system: str, role: str, record_id: str) -> str:
    return f"{SOURCE_PREFIX}{system}/{role}/{record_id}"


@dataclass
class SyncReport:
    source: str
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)
    checkpoint: dict[str, Any] = field(default_factory=dict)
    relinked: int = 0  # records rewritten because a record they show changed (not CRM changes themselves)
    batches: int = 0
    failure: str | None = None  # why the run stopped before the end (it resumes from `checkpoint`)

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "added": self.added, "updated": self.updated, "unchanged": self.unchanged,
                "removed": self.removed, "errors": self.errors, "checkpoint": self.checkpoint}

    def problem(self, role: str, record_id: str, error: str) -> None:
        self.errors.append(SyncProblem(role, record_id, error).as_dict())


@dataclass
class _Rendered:
    role: str
    id: str
    source: str
    chunks: list[Chunk]
    problems: list[str]
    digest: str


class Feed:
    """Writes batches of changes from one CRM into the store."""

    def __init__(self, store: KnowledgeStore, embeddings: NamedEmbeddings, *, system: str,
                 profile: SellerProfile | None = None):
        self.store = store
        self.embeddings = embeddings
        self.system = system
        self.titles = profile.titles if profile else DEFAULT_READER
        self.known_stage = profile.stage_known if profile else None
        # the same rules the file ingest puts in its digests: a new rules version rewrites what they change
        self.rules = f"{PIPELINE_VERSION}|{profile.fingerprint if profile else self.titles.fingerprint}"
        self.skipped: Counter[str] = Counter()
        self._directory: LiveDirectory | None = None
        self._fetched: set[str] = set()  # record ids looked up in the store this run
        self._gone: set[str] = set()  # sources of directory records deleted this run (still in the store a while)
        self._complete = False  # every directory record of the store is loaded

    @property
    def prefix(self) -> str:
        return f"{SOURCE_PREFIX}{self.system}/"

    @property
    def directory(self) -> LiveDirectory:
        """Accounts, contacts and deals from the store (files or any CRM), kept current as batches land.

        Loaded lazily: what a batch's records point at by id (and what those point at), a page of ids per read,
        so an incremental run does not read the whole CRM. A record that can only be linked by a name or an
        email (the Directory's indexes over every record) makes it load everything once, as the file ingest does."""
        if self._directory is None:
            self._directory = LiveDirectory()
        return self._directory

    def _prepare(self, records: Iterable[dict[str, object]], ids: Iterable[str] = ()) -> None:
        if self._complete:
            return
        wanted = set(ids)
        records = list(records)
        for _ in range(3):  # a record -> its contact or deal -> their account
            for record in records:
                wanted.update(str(record[k]) for k in ("id", "account_id", "contact_id") if record.get(k))
            records = self._fetch(wanted - self._fetched)
            if not records:
                break
            wanted = set()

    def _needs_everything(self, records: Iterable[dict[str, object]]) -> bool:
        """A record the ids do not link but a name or email might: the Directory's indexes need every record."""
        directory = self.directory
        for record in records:
            named = any(record.get(k) for k in ("account_name", "company")) or (
                record.get("record_type") == "lead" and record.get("email"))
            if named and record.get("record_type") != "account":
                by_id = {k: v for k, v in record.items() if k not in ("account_name", "company", "email")}
                if directory.account_id_for(by_id) is None:
                    return True
        return False

    def _load_everything(self) -> None:
        """Every directory record of the store, then what this run already holds over it (it is newer): the
        records this run changed, without the ones it deleted (their chunks go only at the end of the batch)."""
        if self._complete:
            return
        loaded = directory_from_store(self.store, skip=self._gone)
        for record in self.directory.records():
            loaded.put(record)
        self._directory = loaded
        self._complete = True

    def _fetch(self, ids: set[str]) -> list[dict[str, object]]:
        """The directory records with these ids, read by `record_id` alone: a filter on one indexed field (with
        the kind and type conditions Chroma took many times longer on a store of 20,000 objects)."""
        wanted = sorted(ids - self._fetched)
        self._fetched.update(wanted)
        found: list[dict[str, object]] = []
        for start in range(0, len(wanted), READ_PAGE):
            where = {"record_id": {"$in": wanted[start:start + READ_PAGE]}}
            for _, _, meta in self.store.scan(where, include=["metadatas"]):
                if meta and meta.get("kind") == "crm" and meta.get("type") in DIRECTORY_ROLES:
                    record = json.loads(str(meta["data"]))
                    self.directory.put(record)
                    found.append(record)
        return found

    # ------------------------------------------------------------------ a batch

    def apply(self, changes: Sequence[Change], report: SyncReport) -> None:
        latest: dict[tuple[str, str], Change] = {}
        for change in changes:  # the same object twice in a batch: its last state counts
            latest[(change.role, str(change.id))] = change
        readable: list[tuple[str, str, dict[str, object]]] = []
        gone: list[tuple[str, str]] = []
        for (role, record_id), change in latest.items():
            if role not in ALIASES:  # a role the export mapping does not know: nothing to store it as
                self.skipped[role] += 1
                continue
            if change.deleted:
                gone.append((role, record_id))
                continue
            try:
                record, problems = to_record(role, dict(change.row), map_headers(role, list(change.row)),
                                             known_stage=self.known_stage)
            except ValueError as exc:  # unusable (no name...): reported, and not kept in the store either
                report.problem(role, record_id, str(exc))
                gone.append((role, record_id))
                continue
            record["id"] = record_id
            for problem in problems:
                report.problem(role, record_id, problem)
            readable.append((role, record_id, record))

        self._prepare((record for _, _, record in readable), (record_id for _, record_id in gone))
        if self._needs_everything(record for _, _, record in readable):
            self._load_everything()
        affected, unmoved = self._relink(readable, gone)
        gone_sources = [source_of(self.system, role, record_id) for role, record_id in gone]
        # deleted objects stay in the store until the end of the batch: a directory loaded from it meanwhile
        # must not take them back
        self._gone.difference_update(source_of(self.system, role, record_id) for role, record_id, _ in readable)
        self._gone.update(gone_sources)
        own = [self._render(role, record_id, record) for role, record_id, record in readable]
        states = self.store.source_digests([r.source for r in own] + gone_sources)
        changed: list[_Rendered] = []
        for item in own:
            for problem in item.problems:
                report.problem(item.role, item.id, problem)
            state = states.get(item.source)
            if state == item.digest:
                report.unchanged += 1
                continue
            changed.append(item)
            if state:
                report.updated += 1
            else:
                report.added += 1
            if (item.role, item.id) in unmoved:
                # stored as it is now but its digest not written: a run stopped mid-write; what shows it may
                # not be rewritten yet
                affected.add(unmoved[(item.role, item.id)])
        shown = self._showing(affected, set(latest))
        self._prepare(record for _, _, record in shown)
        if self._needs_everything(record for _, _, record in shown):
            self._load_everything()
        dependents = [self._render(role, record_id, record) for role, record_id, record in shown]
        states.update(self.store.source_digests([r.source for r in dependents]))
        stale = [r for r in dependents if states.get(r.source) != r.digest]
        self._write(stale + changed, states)
        report.relinked += len(stale)
        report.removed += self.forget(gone_sources, states)

    def _relink(self, readable: list[tuple[str, str, dict[str, object]]],
                gone: list[tuple[str, str]]) -> tuple[set[str], dict[tuple[str, str], str]]:
        """Update the directory. Returns the accounts whose records show something that changed, and the
        directory records stored exactly as they are now (with their account)."""
        directory = self.directory
        affected: set[str | None] = set()
        moved: list[dict[str, object]] = []
        unmoved: dict[tuple[str, str], str] = {}
        for role, record_id, record in readable:
            old = directory.get(role, record_id)
            if old is None:
                continue
            if _shown(old) != _shown(record):
                affected.add(_account_of(directory, old))
                moved.append(record)
            elif old == record:
                unmoved[(role, record_id)] = ""
        for role, record_id in gone:
            old = directory.get(role, record_id)
            if old is not None:
                affected.add(_account_of(directory, old))
                directory.remove(role, record_id)
        for role, _, record in readable:
            if role in DIRECTORY_ROLES:
                directory.put(record)
        affected.update(_account_of(directory, record) for record in moved)
        for role, record_id, record in readable:
            if (role, record_id) in unmoved:
                unmoved[(role, record_id)] = _account_of(directory, record) or ""
        return {a for a in affected if a}, {k: v for k, v in unmoved.items() if v}

    def _showing(self, accounts: set[str], exclude: set[tuple[str, str]]) -> list[tuple[str, str, dict[str, object]]]:
        """This CRM's stored records under these accounts (files are re-linked by the next file ingest)."""
        if not accounts:
            return []
        found: dict[str, tuple[str, str, dict[str, object]]] = {}
        ordered = sorted(accounts)
        for start in range(0, len(ordered), READ_PAGE):
            where = {"account_id": {"$in": ordered[start:start + READ_PAGE]}}
            for _, _, meta in self.store.scan(where, include=["metadatas"]):
                if not meta or meta.get("kind") != "crm" or not str(meta.get("source", "")).startswith(self.prefix):
                    continue
                key = (str(meta["type"]), str(meta["record_id"]))
                if key not in exclude:
                    found[str(meta["source"])] = (key[0], key[1], json.loads(str(meta["data"])))
        return list(found.values())

    def _render(self, role: str, record_id: str, record: dict[str, object]) -> _Rendered:
        source = source_of(self.system, role, record_id)
        chunks, dangling = crm_chunks(CrmFile(role, records=[(0, record)]), source, self.directory, titles=self.titles)
        shown = [[c.id, c.text, c.metadata] for c in chunks]
        digest = hashlib.sha256(json.dumps([self.rules, shown], sort_keys=True, ensure_ascii=False).encode()).hexdigest()
        return _Rendered(role, record_id, source, chunks, [d.error for d in dangling], digest)

    # ------------------------------------------------------------------ the store

    def _write(self, items: list[_Rendered], states: dict[str, str]) -> None:
        if not items:
            return
        # a new object's entry first (no digest: not finished), so a stopped run leaves no chunk outside the manifest
        self.store.record_sources([(item.source, "", 0, []) for item in items if item.source not in states])
        chunks = [chunk for item in items for chunk in item.chunks]
        # by id only: with one source per object, the look-up by text within a source that the file ingest makes
        # (KnowledgeStore.known_vectors) would be one query per object; a changed object's text is new anyway
        current, known = self.store.known_by_id(chunks)
        todo = [c for c in chunks if c.id not in current]
        texts = sorted({c.text for c in todo if c.text not in known})
        if texts:
            known.update(zip(texts, self.embeddings.embed_documents(texts)))
        if todo:
            self.store.add(todo, [known[c.text] for c in todo])
        self.store.remove_stale_many([item.source for item in items], keep={c.id for c in chunks})
        # every one has its entry by now (written above, or by an earlier run): the digest alone is written
        self.store.record_sources([(item.source, item.digest, len(item.chunks),
                                    [LoadError(item.source, None, problem) for problem in item.problems])
                                   for item in items], existing=True)
        for item in items:
            states[item.source] = item.digest

    def forget(self, sources: Sequence[str], states: dict[str, str] | None = None) -> int:
        """Remove these objects (chunks and manifest entries); how many the manifest held."""
        unique = list(dict.fromkeys(sources))
        if not unique:
            return 0
        held = states if states is not None else self.store.source_digests(unique)
        self.store.forget_sources(unique)
        directory = self._directory
        if directory is not None:
            for source in unique:
                directory.remove(*self._role_and_id(source))
        return sum(1 for source in unique if source in held)

    def stored(self) -> dict[str, set[str]]:
        """Ids by role of this CRM's objects in the manifest (what the prune compares with the CRM's current
        ids), from one read of the manifest."""
        found: dict[str, set[str]] = {}
        for source in self.store.source_ids(self.prefix):
            role, record_id = self._role_and_id(source)
            found.setdefault(role, set()).add(record_id)
        return found

    def _role_and_id(self, source: str) -> tuple[str, str]:
        """The role and record id of one of this CRM's sources (`source_of` the other way)."""
        role, _, record_id = source[len(self.prefix):].partition("/")
        return role, record_id


class LiveDirectory(Directory):
    """A `records.Directory` that records can also leave or change in: its name and email indexes follow.

    Two accounts may share a core name (the index keeps the first): when that one goes, or is renamed, the
    other takes its place, as a directory built from the store again would have it."""

    def tables(self) -> dict[str, dict[str, dict[str, object]]]:
        return {"account": self.accounts, "contact": self.contacts, "opportunity": self.opportunities}

    def get(self, role: str, record_id: str) -> dict[str, object] | None:
        table = self.tables().get(role)
        return table.get(record_id) if table is not None else None

    def records(self) -> list[dict[str, object]]:
        return [record for table in self.tables().values() for record in table.values()]

    def put(self, record: dict[str, object]) -> None:
        """Add a record, or replace the one held under its id."""
        role, record_id = str(record["record_type"]), str(record["id"])
        old = self.get(role, record_id)
        if old is not None and _index_key(old) != _index_key(record):
            self.remove(role, record_id)
        self.add(record)

    def remove(self, role: str, record_id: str) -> dict[str, object] | None:
        """Forget a record (deleted); the name or email index entry that pointed at it goes to another record with
        the same key, if one is held."""
        table = self.tables().get(role)
        record = table.pop(record_id, None) if table is not None else None
        if record is None:
            return None
        key = _index_key(record)
        if role == "account" and key and self._by_core.get(key) == record_id:
            del self._by_core[key]
            heir = next((other for other, held in self.accounts.items() if _index_key(held) == key), None)
            if heir is not None:
                self._by_core[key] = heir
        elif role == "contact" and key and self._by_email.get(key) == record_id:
            del self._by_email[key]
            heirs = [other for other, held in self.contacts.items() if _index_key(held) == key]
            if heirs:
                self._by_email[key] = heirs[-1]  # `add` lets the last one added hold an email
        return record


def directory_from_store(store: KnowledgeStore, *, skip: Iterable[str] = ()) -> LiveDirectory:
    """Accounts, contacts and deals of the store (files and every CRM), but those of the `skip` sources."""
    return fill_directory(store, LiveDirectory(), skip=set(skip))


def _index_key(record: dict[str, object]) -> str:
    """What the Directory indexes a record by: an account's core name, a contact's email."""
    if record.get("record_type") == "account":
        return core_name(str(record.get("name") or ""))
    if record.get("record_type") == "contact":
        return str(record.get("email") or "").lower()
    return ""


def _shown(record: dict[str, object]) -> tuple[object, ...]:
    return tuple(record.get(name) for name in SHOWN_FIELDS)


def _account_of(directory: Directory, record: dict[str, object]) -> str | None:
    if record.get("record_type") == "account":
        return str(record["id"])
    return directory.account_id_for(record)
