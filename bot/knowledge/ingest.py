"""Idempotent ingestion: unchanged files skipped, changed ones replaced, vanished ones removed."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.knowledge.content import CONTENT_SUFFIXES, load_content_file
from bot.knowledge.crm import CrmFile, read_crm_file
from bot.knowledge.documents import Chunk, LoadError
from bot.knowledge.embeddings import NamedEmbeddings
from bot.knowledge.records import Directory, crm_chunks
from bot.knowledge.store import KnowledgeStore
from bot.knowledge.titles import DEFAULT_READER
from bot.profile import SellerProfile

logger = logging.getLogger(__name__)

# Bump when loaders or chunking change, so the next ingest re-embeds everything once.
PIPELINE_VERSION = "9"
CRM_SUFFIXES = {".csv", ".json", ".jsonl"}
EMBED_BATCH = 1024

Progress = Callable[[int], None]


@dataclass
class IngestReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    chunks: int = 0
    errors: list[LoadError] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "added": self.added, "updated": self.updated, "unchanged": self.unchanged, "removed": self.removed,
            "errors": [e.as_dict() for e in self.errors],
        }


@dataclass
class _Pending:
    source: str
    digest: str
    chunks: list[Chunk]
    errors: list[LoadError]
    is_new: bool


def discover(paths: Sequence[Path]) -> tuple[list[Path], list[LoadError]]:
    files: list[Path] = []
    errors: list[LoadError] = []
    for path in paths:
        if path.is_dir():
            inside = path.resolve()
            for p in sorted(path.rglob("*")):
                if not p.is_file() or not _supported(p) or any(part.startswith(".") for part in p.relative_to(path).parts):
                    continue
                if p.is_symlink() and not p.resolve().is_relative_to(inside):
                    # a link out of the knowledge folder (to /etc/…) is never read into the store
                    errors.append(LoadError(str(p.relative_to(path)), None,
                                            "a symbolic link to a file outside the knowledge folder: not read"))
                    continue
                if p.stat().st_size == 0:
                    errors.append(LoadError(str(p.relative_to(path)), None, "empty file: nothing to load"))
                    continue
                files.append(p)
        elif path.is_file():
            if _supported(path):
                files.append(path)
            else:
                errors.append(LoadError(str(path), None, f"unsupported file type {path.suffix or '(none)'}"))
        else:
            errors.append(LoadError(str(path), None, "no such file or folder"))
    return files, errors


def _supported(path: Path) -> bool:
    return path.suffix.lower() in CRM_SUFFIXES | CONTENT_SUFFIXES


def source_key(path: Path, root: Path) -> str:
    """Files under the knowledge root are named relative to it, so the store survives a move."""
    resolved = path.resolve()
    try:
        return resolved.relative_to(root.resolve()).as_posix()
    except ValueError:
        return resolved.as_posix()


def ingest(
    store: KnowledgeStore,
    embeddings: NamedEmbeddings,
    paths: Sequence[Path],
    *,
    root: Path,
    progress: Callable[[int, int], Progress] | None = None,
    profile: SellerProfile | None = None,
) -> IngestReport:
    """The seller profile says how to read roles in documents and which deal stages exist."""
    report = IngestReport()
    titles = profile.titles if profile else DEFAULT_READER
    known_stage = profile.stage_known if profile else None
    rules = profile.fingerprint if profile else titles.fingerprint
    files, missing = discover(paths)
    report.errors.extend(missing)
    keyed = {source_key(f, root): f for f in files}
    states = store.source_states()

    vanished = _vanished(states, paths, root, keyed)

    # CRM files first: the account/contact directory links every other record to its account.
    # What is stored stands in for CRM files not read this run, minus files being re-read or gone.
    parsed: dict[str, CrmFile] = {}
    keyed_failed: set[str] = set()
    directory = _directory_from_store(store, skip=set(keyed) | set(vanished))
    for source, path in keyed.items():
        if path.suffix.lower() in CRM_SUFFIXES:
            try:
                parsed[source] = read_crm_file(path, source, known_stage=known_stage)
            except (RecursionError, ValueError, TypeError, UnicodeError, OSError) as exc:
                # one unreadable file is reported with its name; every other file still loads
                report.errors.append(LoadError(source, None, f"could not be read ({type(exc).__name__}: {exc})"))
                keyed_failed.add(source)
                continue
            if not parsed[source].records and not parsed[source].errors:
                report.errors.append(LoadError(source, None, "no records in this file (a header only?)"))
            for _, record in parsed[source].records:
                directory.add(record)

    pending: list[_Pending] = []
    for source, path in keyed.items():
        if source in keyed_failed:
            continue
        shown = directory.fingerprint_for([r for _, r in parsed[source].records]) if source in parsed else ""
        digest = _digest(path, shown, rules)
        state = states.get(source)
        if state and state.digest == digest:
            report.unchanged += 1
            report.errors.extend(state.errors)  # still worth telling: the file was not fixed
            continue
        if source in parsed:
            crm = parsed[source]
            try:
                chunks, dangling = crm_chunks(crm, source, directory, titles=titles)
            except (RecursionError, ValueError, TypeError) as exc:
                report.errors.append(LoadError(source, None, f"could not be read ({type(exc).__name__}: {exc})"))
                continue
            errors = sorted([*crm.errors, *dangling], key=lambda e: e.line or 0)
        else:
            try:
                loaded = load_content_file(path, source)
            except (RecursionError, ValueError, TypeError, UnicodeError, OSError) as exc:
                report.errors.append(LoadError(source, None, f"could not be read ({type(exc).__name__}: {exc})"))
                continue
            chunks, errors = loaded.chunks, loaded.errors
        report.errors.extend(errors)
        pending.append(_Pending(source, digest, chunks, errors, is_new=state is None))

    for source in vanished:
        store.forget_source(source)
        report.removed += 1

    _embed_and_store(store, embeddings, pending, progress)
    for item in pending:
        report.added += item.is_new
        report.updated += not item.is_new
        report.chunks += len(item.chunks)
    return report


def _digest(path: Path, fingerprint: str, rules: str) -> str:
    digest = hashlib.sha256()
    digest.update(f"{PIPELINE_VERSION}|{rules}|{fingerprint}|".encode())
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _vanished(states: Mapping[str, object], paths: Sequence[Path], root: Path, present: dict[str, Path]) -> list[str]:
    """Sources recorded under a scanned folder that no longer exist on disk."""
    folders = [p.resolve() for p in paths if p.is_dir()]
    gone = []
    for source in states:
        if source in present:
            continue
        absolute = Path(source) if Path(source).is_absolute() else root.resolve() / source
        if any(absolute.is_relative_to(folder) for folder in folders) and not absolute.exists():
            gone.append(source)
    return gone


def _directory_from_store(store: KnowledgeStore, *, skip: set[str]) -> Directory:
    """Accounts, contacts and deals already ingested, for runs over a single file."""
    directory = Directory()
    for _, _, meta in store.get({"$and": [{"kind": "crm"}, {"type": {"$in": ["account", "contact", "opportunity"]}}]}):
        if meta.get("source") not in skip:
            directory.add(json.loads(str(meta["data"])))
    return directory


def _embed_and_store(
    store: KnowledgeStore,
    embeddings: NamedEmbeddings,
    pending: list[_Pending],
    progress: Callable[[int, int], Progress] | None,
) -> None:
    """Embed every changed chunk in large batches, then replace each source.

    A changed file usually differs in a few rows: vectors of chunks whose text is unchanged are
    reused from the store, so appending ten activities re-embeds ten texts, not the whole export.
    """
    total = sum(len(p.chunks) for p in pending)
    advance = progress(total, len(pending)) if progress and total else None
    queue: list[_Pending] = []
    buffered: list[Chunk] = []
    known: dict[str, list[float]] = {}
    for item in pending:
        if not item.is_new:
            known.update(store.vectors_by_text(item.source))
        store.chunks.delete(where={"source": item.source})
        buffered.extend(item.chunks)
        queue.append(item)
        if len(buffered) >= EMBED_BATCH:
            _flush(store, embeddings, buffered, known, advance)
            _commit_sources(store, queue)
            buffered, queue, known = [], [], {}
    if buffered:
        _flush(store, embeddings, buffered, known, advance)
    _commit_sources(store, queue)


def _flush(store: KnowledgeStore, embeddings: NamedEmbeddings, chunks: list[Chunk],
           known: dict[str, list[float]], advance: Progress | None) -> None:
    todo = sorted({c.text for c in chunks if c.text not in known})
    fresh = dict(zip(todo, embeddings.embed_documents(todo)))
    store.add(chunks, [known.get(c.text) or fresh[c.text] for c in chunks])
    if advance:
        advance(len(chunks))


def _commit_sources(store: KnowledgeStore, queue: list[_Pending]) -> None:
    # The manifest is written last: an interrupted run re-ingests the file next time.
    for item in queue:
        store.record_source(item.source, item.digest, len(item.chunks), item.errors)
