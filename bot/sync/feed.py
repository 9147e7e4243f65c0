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

from bot.knowledge.crm import ALIASES, CrmFile, map_headers, to_record
from bot.knowledge.documents import Chunk
from bot.knowledge.embeddings import NamedEmbeddings
from bot.knowledge.ingest import API_SOURCES, PIPELINE_VERSION, _directory_from_store
from bot.knowledge.records import Directory, crm_chunks
from bot.knowledge.store import KnowledgeStore
from bot.knowledge.titles import DEFAULT_READER
from bot.profile import SellerProfile
from bot.sync.base import Change, SyncProblem

logger = logging.getLogger(__name__)

SOURCE_PREFIX = API_SOURCES  # "sync/": a plain ingest leaves these sources alone
READ_PAGE = 1000  # ids per Chroma read
DIRECTORY_ROLES = ("account", "contact", "opportunity")  # the records a records.Directory holds
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
        self._directory: Directory | None = None
        self._fetched: set[str] = set()  # record ids looked up in the store this run
        self._complete = False  # every directory record of the store is loaded

    @property
    def prefix(self) -> str:
        return f"{SOURCE_PREFIX}{self.system}/"

    @property
    def directory(self) -> Directory:
        """Accounts, contacts and deals from the store (files or any CRM), kept current as batches land.

        Loaded lazily: what a batch's records point at by id (and what those point at), a page of ids per read,
        so an incremental run does not read the whole CRM. A record that can only be linked by a name or an
        email (the Directory's indexes over every record) makes it load everything once, as the file ingest does."""
        if self._directory is None:
            self._directory = Directory()
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
        if not self._complete:
            self._directory = _directory_from_store(self.store, skip=set())
            self._complete = True

    def _fetch(self, ids: set[str]) -> list[dict[str, object]]:
        wanted = sorted(ids - self._fetched)
        self._fetched.update(wanted)
        found: list[dict[str, object]] = []
        for start in range(0, len(wanted), READ_PAGE):
            where = {"$and": [{"kind": "crm"}, {"type": {"$in": list(DIRECTORY_ROLES)}},
                              {"record_id": {"$in": wanted[start:start + READ_PAGE]}}]}
            for _, _, meta in _scan(self.store, where, include=["metadatas"]):
                if meta:
                    record = json.loads(str(meta["data"]))
                    self.directory.add(record)
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
        own = [self._render(role, record_id, record) for role, record_id, record in readable]
        gone_sources = [source_of(self.system, role, record_id) for role, record_id in gone]
        states = self._digests([r.source for r in own] + gone_sources)
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
        states.update(self._digests([r.source for r in dependents]))
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
            old = _held(directory, role, record_id)
            if old is None:
                continue
            if _shown(old) != _shown(record):
                affected.add(_account_of(directory, old))
                moved.append(record)
            elif old == record:
                unmoved[(role, record_id)] = ""
        for role, record_id in gone:
            old = _held(directory, role, record_id)
            if old is not None:
                affected.add(_account_of(directory, old))
                _drop(directory, role, record_id)
        for role, _, record in readable:
            if role in DIRECTORY_ROLES:
                directory.add(record)
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
            where = {"$and": [{"kind": "crm"}, {"account_id": {"$in": ordered[start:start + READ_PAGE]}}]}
            for _, _, meta in _scan(self.store, where, include=["metadatas"]):
                if not meta or not str(meta.get("source", "")).startswith(self.prefix):
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

    def _digests(self, sources: Sequence[str]) -> dict[str, str]:
        """Manifest digest by source, for the sources that have an entry ("" for one never finished)."""
        found: dict[str, str] = {}
        unique = list(dict.fromkeys(sources))
        for start in range(0, len(unique), READ_PAGE):
            got = self.store.sources.get(ids=unique[start:start + READ_PAGE], include=["metadatas"])
            for source, meta in zip(got["ids"], got["metadatas"] or []):
                found[source] = str((meta or {}).get("digest") or "")
        return found

    def _write(self, items: list[_Rendered], states: dict[str, str]) -> None:
        if not items:
            return
        # a new object's entry first (no digest: not finished), so a stopped run leaves no chunk outside the manifest
        self._record([(item.source, "", 0, []) for item in items if item.source not in states])
        chunks = [chunk for item in items for chunk in item.chunks]
        current, known = self._stored(chunks)
        todo = [c for c in chunks if c.id not in current]
        texts = sorted({c.text for c in todo if c.text not in known})
        if texts:
            known.update(zip(texts, self.embeddings.embed_documents(texts)))
        if todo:
            self.store.add(todo, [known[c.text] for c in todo])
        keep = {c.id for c in chunks}
        stale = [chunk_id for chunk_id in self._chunk_ids([item.source for item in items]) if chunk_id not in keep]
        if stale:
            self.store.chunks.delete(ids=stale)
        self._record([(item.source, item.digest, len(item.chunks), item.problems) for item in items])
        for item in items:
            states[item.source] = item.digest

    def _stored(self, chunks: list[Chunk]) -> tuple[set[str], dict[str, list[float]]]:
        """Ids stored exactly as given (nothing to write) and vectors of texts stored under the same id.

        Read by id only: with one source per object, a lookup per source (as `KnowledgeStore.known_vectors` does
        for files) would be one query per object. A changed object's text is new anyway."""
        current: set[str] = set()
        known: dict[str, list[float]] = {}
        for start in range(0, len(chunks), READ_PAGE):
            part = {c.id: c for c in chunks[start:start + READ_PAGE]}
            got = self.store.chunks.get(ids=list(part), include=["documents", "metadatas", "embeddings"])
            vectors = got.get("embeddings")
            if vectors is None:
                continue
            for index, chunk_id in enumerate(got["ids"]):
                chunk = part[chunk_id]
                if got["documents"][index] != chunk.text:
                    continue
                meta = {k: v for k, v in (got["metadatas"][index] or {}).items() if k != "text_hash"}
                if meta == chunk.metadata:
                    current.add(chunk_id)
                else:
                    known[chunk.text] = [float(x) for x in vectors[index]]
        return current, known

    def _chunk_ids(self, sources: list[str]) -> list[str]:
        ids: list[str] = []
        for start in range(0, len(sources), READ_PAGE):
            where = {"source": {"$in": sources[start:start + READ_PAGE]}}
            ids.extend(chunk_id for chunk_id, _, _ in _scan(self.store, where, include=[]))
        return ids

    def _record(self, entries: Iterable[tuple[str, str, int, list[str]]]) -> None:
        """Manifest entries for many sources in one write each thousand: the layout of
        KnowledgeStore.record_source, which writes one source per call (about 30 ms each embedded)."""
        rows = list(entries)
        for start in range(0, len(rows), READ_PAGE):
            part = rows[start:start + READ_PAGE]
            self.store.sources.upsert(
                ids=[source for source, _, _, _ in part],
                embeddings=[[1.0]] * len(part),
                metadatas=[{"digest": digest, "chunks": count,
                            "errors": json.dumps([{"file": source, "line": None, "error": e} for e in problems])}
                           for source, digest, count, problems in part],
            )
        self.store.bump()  # readers (serve, other replicas) see the change at their next check

    def forget(self, sources: Sequence[str], states: dict[str, str] | None = None) -> int:
        """Remove these objects (chunks and manifest entries); how many the manifest held."""
        unique = list(dict.fromkeys(sources))
        if not unique:
            return 0
        held = states if states is not None else self._digests(unique)
        for start in range(0, len(unique), READ_PAGE):
            part = unique[start:start + READ_PAGE]
            self.store.chunks.delete(where={"source": {"$in": part}})
            self.store.sources.delete(ids=part)
        self.store.bump()
        directory = self._directory
        if directory is not None:
            for source in unique:
                role, record_id = source[len(self.prefix):].split("/", 1)
                _drop(directory, role, record_id)
        return sum(1 for source in unique if source in held)

    def stored_ids(self, role: str) -> set[str]:
        """Ids of `role` this CRM has in the manifest (what the prune compares with the CRM's current ids)."""
        head = f"{self.prefix}{role}/"
        got = self.store.sources.get(include=[])
        return {source[len(head):] for source in got["ids"] if source.startswith(head)}

    def stored_roles(self) -> set[str]:
        got = self.store.sources.get(include=[])
        return {source[len(self.prefix):].split("/", 1)[0] for source in got["ids"] if source.startswith(self.prefix)}


def _scan(store: KnowledgeStore, where: dict[str, Any], *, include: list[str]) -> Iterable[tuple[str, Any, Any]]:
    """(id, text, metadata) of the matching chunks, a page at a time."""
    offset = 0
    while True:
        got = store.chunks.get(where=where, include=include, limit=READ_PAGE, offset=offset)
        ids = got["ids"]
        texts = got.get("documents") or [None] * len(ids)
        metas = got.get("metadatas") or [None] * len(ids)
        yield from zip(ids, texts, metas)
        if len(ids) < READ_PAGE:
            return
        offset += READ_PAGE


def _held(directory: Directory, role: str, record_id: str) -> dict[str, object] | None:
    table = {"account": directory.accounts, "contact": directory.contacts,
             "opportunity": directory.opportunities}.get(role)
    return table.get(record_id) if table is not None else None


def _drop(directory: Directory, role: str, record_id: str) -> None:
    """Forget a deleted record, and the name or email index entries that point at it."""
    table = {"account": directory.accounts, "contact": directory.contacts,
             "opportunity": directory.opportunities}.get(role)
    if table is None or table.pop(record_id, None) is None:
        return
    index = {"account": "_by_core", "contact": "_by_email"}.get(role)
    mapping = getattr(directory, index, None) if index else None
    if isinstance(mapping, dict):
        for key in [key for key, value in mapping.items() if value == record_id]:
            del mapping[key]


def _shown(record: dict[str, object]) -> tuple[object, ...]:
    return tuple(record.get(name) for name in SHOWN_FIELDS)


def _account_of(directory: Directory, record: dict[str, object]) -> str | None:
    if record.get("record_type") == "account":
        return str(record["id"])
    return directory.account_id_for(record)
