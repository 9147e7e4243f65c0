"""Idempotent ingestion: unchanged files skipped, changed ones replaced, vanished ones removed."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from array import array
from collections.abc import Callable, Container, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TypeVar

import numpy as np

from bot.knowledge.content import CONTENT_SUFFIXES, load_content_file
from bot.knowledge.crm import TABLE_SUFFIXES, CrmExport, CrmFile
from bot.knowledge.documents import Chunk, LoadError, chunk_id
from bot.knowledge.embeddings import NamedEmbeddings
from bot.knowledge.records import Directory, crm_chunks
from bot.knowledge.store import KnowledgeStore
from bot.knowledge.titles import DEFAULT_READER, TitleReader
from bot.profile import SellerProfile

logger = logging.getLogger(__name__)

# Bump when loaders or chunking change, so the next ingest re-embeds everything once.
PIPELINE_VERSION = "10"
CRM_SUFFIXES = {*TABLE_SUFFIXES, ".json", ".jsonl"}
# Chunks embedded and written together: memory stays flat whatever the size of a file, and a run that is
# stopped keeps every batch written before it (the next run embeds only the rest).
EMBED_BATCH = 2000
# Records held at once while a big export is linked and chunked.
RECORD_BATCH = 5000
# Records whose account links are fingerprinted together (fixed: a file's digest must not depend on batch sizes).
FINGERPRINT_BATCH = 20000
# The roles whose records make up the directory every other record is linked through (those Directory.add keeps).
DIRECTORY_ROLES = ("account", "contact", "opportunity")
# Files that cannot be parsed are reported with their name, never allowed to stop the run.
_UNREADABLE = (RecursionError, ValueError, TypeError, UnicodeError, OSError)
# Formats that hold knowledge but that ingest does not read: said, never skipped in silence (images and the like
# beside the documents are passed over without a word).
UNREAD_FORMATS = {".xlsx", ".xlsm", ".xls", ".ods", ".numbers", ".docx", ".doc", ".odt", ".rtf", ".pages",
                  ".pptx", ".ppt", ".odp", ".key", ".eml", ".msg"}
# The digest of a source whose chunks are being replaced: no file has it, so a stopped run is never taken for done.
REPLACING = "replacing"

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
    """A new or changed source: its chunks are produced lazily, a batch at a time."""

    source: str
    digest: str
    is_new: bool
    count: int
    chunks: Callable[[], Iterator[Chunk]]
    errors: list[LoadError]  # complete once `chunks()` is exhausted
    written: _Written = field(default_factory=lambda: _Written())
    failed: bool = False


def discover(paths: Sequence[Path], root: Path) -> tuple[list[Path], list[LoadError], list[Path]]:
    """The files to read under `paths`, the problems met (a file refused is reported under the name its source
    would have), and the folders that could not be listed (what the store holds from them is kept)."""
    files: list[Path] = []
    errors: list[LoadError] = []
    unlisted: list[Path] = []
    for path in paths:
        if path.is_dir():
            # links may point anywhere in the knowledge folder, also when only a part of it is read
            inside = root.resolve() if path.resolve().is_relative_to(root.resolve()) else path.resolve()
            for p in _walk(path, root, errors, unlisted):
                if p.is_symlink() and p.is_dir():  # never walked into: said, so its files are not missed in silence
                    errors.append(LoadError(_link_name(p, root), None,
                                            "a symbolic link to a folder: not followed, none of its files is read"))
                    continue
                if p.is_file() and p.suffix.lower() in UNREAD_FORMATS:  # knowledge, in a form ingest cannot read
                    errors.append(LoadError(_link_name(p, root), None, f"not read: ingest reads no {p.suffix} file "
                                            "(save a spreadsheet as CSV, a document as PDF, Markdown or text)"))
                    continue
                if not p.is_file() or not _supported(p):
                    continue
                if p.is_symlink() and not p.resolve().is_relative_to(inside):
                    # a link out of the knowledge folder (to /etc/…) is never read into the store
                    errors.append(LoadError(_link_name(p, root), None,
                                            "a symbolic link to a file outside the knowledge folder: not read"))
                    continue
                try:
                    empty = p.stat().st_size == 0
                except OSError as exc:  # gone or locked since the folder was listed: the rest still loads
                    errors.append(LoadError(_link_name(p, root), None, f"cannot read file: {exc.strerror}"))
                    continue
                if empty:
                    errors.append(LoadError(source_key(p, root), None, "empty file: nothing to load"))
                    continue
                files.append(p)
        elif path.is_file():
            if _supported(path):
                files.append(path)
            else:
                errors.append(LoadError(str(path), None, f"unsupported file type {path.suffix or '(none)'}"))
        else:
            errors.append(LoadError(str(path), None, "no such file or folder"))
    return files, errors, unlisted


def _walk(folder: Path, root: Path, errors: list[LoadError], unlisted: list[Path]) -> list[Path]:
    """Every entry under `folder` but hidden ones (a part starting with "."), in path order; links to folders are
    listed, never walked into. A folder that cannot be listed is reported (Path.rglob skips it in silence)."""

    def refused(exc: OSError) -> None:
        where = Path(exc.filename or folder)
        unlisted.append(where.resolve())
        errors.append(LoadError(_link_name(where, root), None,
                                f"cannot read this folder ({exc.strerror}): none of its files is loaded"))

    found: list[Path] = []
    for top, folders, names in os.walk(folder, onerror=refused):
        folders[:] = [name for name in folders if not name.startswith(".")]
        # "~$accounts.xlsx": the lock file Office writes beside a file it has open, no knowledge of its own
        found.extend(Path(top) / name for name in [*folders, *names] if not name.startswith((".", "~$")))
    return sorted(found)


def _link_name(link: Path, root: Path) -> str:
    """A link's own name, as a source would be named (`source_key` names the file it points to)."""
    return _named(link.parent.resolve() / link.name, root)


def _supported(path: Path) -> bool:
    return path.suffix.lower() in CRM_SUFFIXES | CONTENT_SUFFIXES


def source_key(path: Path, root: Path) -> str:
    """Files under the knowledge root are named relative to it, so the store survives a move."""
    return _named(path.resolve(), root)


def _named(absolute: Path, root: Path) -> str:
    try:
        return absolute.relative_to(root.resolve()).as_posix()
    except ValueError:
        return absolute.as_posix()


def ingest(
    store: KnowledgeStore,
    embeddings: NamedEmbeddings,
    paths: Sequence[Path],
    *,
    root: Path,
    progress: Callable[[int, int], Progress] | None = None,
    profile: SellerProfile | None = None,
    batch_size: int = EMBED_BATCH,
) -> IngestReport:
    """The seller profile says how to read roles in documents and which deal stages exist.

    CRM exports are streamed: a file is read a row at a time, and its chunks are embedded and written
    `batch_size` at a time, so memory does not grow with the file. A source is marked done in the manifest
    only once all of its chunks are written; a run that was stopped is finished by the next one, which finds
    the chunks already written by their ids and embeds only the rest.
    """
    report = IngestReport()
    titles = profile.titles if profile else DEFAULT_READER
    known_stage = profile.stage_known if profile else None
    rules = profile.fingerprint if profile else titles.fingerprint
    files, missing, unlisted = discover(paths, root)
    report.errors.extend(missing)
    keyed = {source_key(f, root): f for f in files}
    states = store.source_states()
    errors: dict[str, list[LoadError]] = {}  # per source, reported in file order at the end

    vanished = _vanished(states, paths, root, keyed, unlisted)

    # CRM files first: the account/contact directory links every other record to its account.
    # What is stored stands in for CRM files not read this run, minus files being re-read or gone.
    exports: dict[str, CrmExport] = {}
    directory = fill_directory(store, Directory(), skip=set(keyed) | set(vanished))
    for source, path in keyed.items():
        if path.suffix.lower() in CRM_SUFFIXES:
            try:
                export = CrmExport(path, source, known_stage=known_stage)
                if export.role in DIRECTORY_ROLES:
                    for _, record, _ in export.records():
                        if record is not None:
                            directory.add(record)
            except _UNREADABLE as exc:
                # one unreadable file is reported with its name; every other file still loads
                errors[source] = [_unreadable(source, exc)]
                continue
            exports[source] = export

    pending: list[_Pending] = []
    for source, path in keyed.items():
        if source in errors:
            continue
        crm = exports.get(source)
        try:
            shown, count = _fingerprint(crm, directory) if crm else ("", 0)
        except _UNREADABLE as exc:
            errors[source] = [_unreadable(source, exc)]
            continue
        digest = _digest(path, shown, rules)
        state = states.get(source)
        is_new = state is None or not state.digest  # never stored whole (a run stopped while adding it)
        if state and state.digest == digest:
            report.unchanged += 1
            errors[source] = list(state.errors)  # still worth telling: the file was not fixed
            continue
        if crm is not None:
            found: list[LoadError] = []
            item = _Pending(source, digest, is_new, count, _crm_chunk_stream(crm, directory, titles, found), found)
        else:
            try:
                loaded = load_content_file(path, source)
            except _UNREADABLE as exc:
                errors[source] = [_unreadable(source, exc)]
                continue
            item = _Pending(source, digest, is_new, len(loaded.chunks), partial(iter, loaded.chunks), loaded.errors)
        errors[source] = item.errors
        pending.append(item)

    for source in vanished:
        store.forget_source(source)
        report.removed += 1

    _embed_and_store(store, embeddings, pending, progress, batch_size)
    for item in pending:
        if item.failed:
            continue
        report.added += item.is_new
        report.updated += not item.is_new
        report.chunks += len(item.written)
    report.errors.extend(error for source in keyed for error in errors.get(source, ()))
    return report


def _unreadable(source: str, exc: BaseException) -> LoadError:
    return LoadError(source, None, f"could not be read ({type(exc).__name__}: {exc})")


def _fingerprint(export: CrmExport, directory: Directory) -> tuple[str, int]:
    """What a file's records show of other records (see `Directory.fingerprint_for`), and how many records it
    holds, from one pass that never holds more than FINGERPRINT_BATCH records."""
    parts: list[str] = []
    batch: list[dict[str, object]] = []
    count = 0
    for _, record, _ in export.records():
        if record is None:
            continue
        batch.append(record)
        count += 1
        if len(batch) == FINGERPRINT_BATCH:
            parts.append(directory.fingerprint_for(batch))
            batch = []
    if batch or not parts:
        parts.append(directory.fingerprint_for(batch))
    # a file of one batch keeps the digest it always had; a bigger one chains its batches
    return (parts[0] if len(parts) == 1 else hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]), count


def _crm_chunk_stream(export: CrmExport, directory: Directory, titles: TitleReader,
                      errors: list[LoadError]) -> Callable[[], Iterator[Chunk]]:
    """The export's chunks, a batch of records at a time, with the ids `crm_chunks` gives the whole file;
    the file's problems (rows, broken links) are gathered into `errors` on the way, in line order at the end."""

    def stream() -> Iterator[Chunk]:
        errors.clear()
        found: list[LoadError] = list(export.errors)
        ordinal = 0
        batch: list[tuple[int, dict[str, object]]] = []

        def chunks_of(records: list[tuple[int, dict[str, object]]]) -> list[Chunk]:
            chunks, dangling = crm_chunks(CrmFile(export.role, records=records), export.source, directory,
                                          titles=titles)
            found.extend(dangling)
            # crm_chunks numbers from 0 within the batch: give each chunk its ordinal in the whole file
            return [Chunk(chunk_id(export.source, ordinal + i, c.text), c.text, c.metadata)
                    for i, c in enumerate(chunks)]

        for line, record, problems in export.records():
            found.extend(problems)
            if record is not None:
                batch.append((line, record))
            if len(batch) == RECORD_BATCH:
                yield from chunks_of(batch)
                ordinal += len(batch)
                batch = []
        if batch:
            yield from chunks_of(batch)
            ordinal += len(batch)
        # (a note about the whole file, its encoding, says nothing of its rows)
        if not ordinal and export.readable and not any(problem.line for problem in found):
            found.append(LoadError(export.source, None, "no records in this file (a header only?)"))
        errors.extend(sorted(found, key=lambda e: e.line or 0))

    return stream


def _digest(path: Path, fingerprint: str, rules: str) -> str:
    digest = hashlib.sha256()
    digest.update(f"{PIPELINE_VERSION}|{rules}|{fingerprint}|".encode())
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


API_SOURCES = "sync/"  # objects written by `sync` from a CRM's API: sync/<system>/<role>/<id>, never a file


def _vanished(states: Mapping[str, object], paths: Sequence[Path], root: Path, present: dict[str, Path],
              unlisted: Sequence[Path] = ()) -> list[str]:
    """Sources recorded under a scanned folder that this run does not read: the file was deleted, emptied, or
    replaced by a link out of the folder, and a clean run would hold none of it. A synced object is no file (the
    sync's own prune removes what the CRM deleted); a folder that could not be listed keeps what it gave before."""
    folders = [p.resolve() for p in paths if p.is_dir()]
    gone = []
    for source in states:
        if source in present or _synced(source):
            continue
        absolute = Path(source) if Path(source).is_absolute() else root.resolve() / source
        if any(absolute.is_relative_to(folder) for folder in folders) and \
                not any(absolute.is_relative_to(folder) for folder in unlisted):
            gone.append(source)
    return gone


def _synced(source: str) -> bool:
    """An object `sync` wrote (sync/<system>/<role>/<id>), not a file that happens to sit in a `sync/` folder."""
    return source.startswith(API_SOURCES) and not _supported(Path(source))


DirectoryT = TypeVar("DirectoryT", bound=Directory)


def fill_directory(store: KnowledgeStore, directory: DirectoryT, *, skip: Container[str] = frozenset()) -> DirectoryT:
    """`directory` with the accounts, contacts and deals the store holds (files and every CRM), but those of the
    `skip` sources: what a run over some files, or a sync, links its new records against."""
    where = {"$and": [{"kind": "crm"}, {"type": {"$in": list(DIRECTORY_ROLES)}}]}
    for _, _, meta in store.scan(where, include=["metadatas"]):
        if meta and meta.get("source") not in skip:
            directory.add(json.loads(str(meta["data"])))
    return directory


class _Written(Container[str]):
    """The ids of a source's chunks written this run, in 8 bytes each (866k ids as a set of str: about 100 MB)."""

    def __init__(self) -> None:
        self._hashes = array("Q")
        self._sorted: np.ndarray | None = None

    @staticmethod
    def _hash(chunk_id: str) -> int:
        return int.from_bytes(hashlib.blake2b(chunk_id.encode(), digest_size=8).digest(), "little")

    def add(self, chunk_id: str) -> None:
        self._hashes.append(self._hash(chunk_id))
        self._sorted = None

    def __len__(self) -> int:
        return len(self._hashes)

    def __contains__(self, chunk_id: object) -> bool:
        if self._sorted is None:
            self._sorted = np.unique(np.frombuffer(self._hashes, dtype=np.uint64))
        wanted = np.uint64(self._hash(str(chunk_id)))
        at = int(np.searchsorted(self._sorted, wanted))
        return at < len(self._sorted) and self._sorted[at] == wanted


def _embed_and_store(
    store: KnowledgeStore,
    embeddings: NamedEmbeddings,
    pending: list[_Pending],
    progress: Callable[[int, int], Progress] | None,
    batch_size: int,
) -> None:
    """Embed and write the chunks of every changed source `batch_size` at a time, then close each source.

    Small files share a batch, a big one spans many. A chunk already stored with the same id (so the same
    text) is not embedded again: that is how a stopped run resumes. A changed file usually differs in a few
    rows: a chunk whose text the source already holds reuses its vector, so appending ten activities embeds
    ten texts, not the whole export. A source is closed (its chunks that are no longer in the file removed,
    then its manifest entry written) only after its last chunk is written.
    """
    total = sum(p.count for p in pending)
    advance = progress(total, len(pending)) if progress and total else None
    batch: list[Chunk] = []
    streamed: list[_Pending] = []  # every chunk of these is in `batch` or already written
    for item in pending:
        # Before its first chunk, the source's entry stops marking any version complete: a new one gets no digest
        # (if this run stops, the chunks it wrote belong to a known source, finished by the next run or removed
        # with the file), a changed one a digest no file has (if this run stops and the file is then put back as
        # it was, the next run does not take it for unchanged while it holds chunks of the abandoned version or
        # misses some of its own).
        store.record_source(item.source, "" if item.is_new else REPLACING, 0, [])
        chunks = item.chunks()
        while True:
            try:
                chunk = next(chunks)
            except StopIteration:
                streamed.append(item)
                break
            except _UNREADABLE as exc:  # the file changed or vanished under us: the next run reads it again
                item.failed = True
                item.errors[:] = [_unreadable(item.source, exc)]
                break
            item.written.add(chunk.id)
            batch.append(chunk)
            if len(batch) >= batch_size:
                _write_batch(store, embeddings, batch, advance)
                batch = []
                _close_sources(store, streamed)
                streamed = []
    if batch:
        _write_batch(store, embeddings, batch, advance)
    _close_sources(store, streamed)


def _write_batch(store: KnowledgeStore, embeddings: NamedEmbeddings, chunks: list[Chunk],
                 advance: Progress | None) -> None:
    current, known = store.known_vectors(chunks)
    todo = [c for c in chunks if c.id not in current]
    texts = sorted({c.text for c in todo if c.text not in known})
    if texts:
        known.update(zip(texts, embeddings.embed_documents(texts)))
    store.add(todo, [known[c.text] for c in todo])
    if advance:
        advance(len(chunks))


def _close_sources(store: KnowledgeStore, items: list[_Pending]) -> None:
    # The manifest is written last: a run stopped before this point reads the file again next time.
    for item in items:
        store.remove_stale(item.source, keep=item.written)
        store.record_source(item.source, item.digest, len(item.written), item.errors)
