"""The Chroma store: one collection of chunks, one manifest of ingested sources.

Embedded (`PersistentClient` at CHROMA_PATH) by default, a Chroma server when CHROMA_HOST is set.
The chunk collection records which embedding model built it; opening it with another one fails.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Container, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import chromadb

from bot.knowledge.documents import Chunk, LoadError
from bot.settings import Settings

logger = logging.getLogger(__name__)

# Rows read back per Chroma `get`: its memory for one call grows with the rows returned (tens of KB a row with
# metadata), so ingest reads a big source in pages and its peak does not depend on the size of a file.
READ_PAGE = 1000
# Chunks sent per Chroma write: a write of thousands of vectors can outlast a server call's timeout
# (SERVER_TIMEOUT) on a busy machine, while a few hundred take a second or two.
WRITE_PAGE = 500


class StoreError(RuntimeError):
    """The store cannot be used as configured; the message says what to do."""


class EmbeddingMismatch(StoreError):
    pass


@dataclass(frozen=True)
class SourceState:
    source: str
    digest: str
    chunks: int
    errors: tuple[LoadError, ...]


class StoreUnavailable(StoreError):
    """The Chroma server did not answer in time (or is known to be down): fail fast, say so, try again later."""


SERVER_TIMEOUT = 10.0  # seconds one call to a Chroma server may take (connecting: 3 s)
COOLDOWN = 10.0  # after a failure, calls fail at once for this long; then one call probes the server


class ServerBreaker:
    """Bounds every call to a Chroma server and stops a paused or dead server from holding threads.

    Each HTTP call has a timeout. After a call times out or cannot connect, calls fail at once with
    StoreUnavailable for COOLDOWN seconds; then a single call probes the server while the others keep failing
    fast, and its success closes the breaker. So with the server paused, no request waits more than one timeout.
    """

    def __init__(self, where: str, *, timeout: float | None = None, cooldown: float | None = None):
        self.where = where
        self.timeout = SERVER_TIMEOUT if timeout is None else timeout
        self.cooldown = COOLDOWN if cooldown is None else cooldown
        self._lock = threading.Lock()
        self._down_until = 0.0  # 0: closed
        self._probing = False

    def _admit(self) -> bool:
        """Whether this call may go to the server; True for the one probe after a cooldown."""
        with self._lock:
            if not self._down_until:
                return False
            if time.monotonic() < self._down_until or self._probing:
                raise StoreUnavailable(f"the Chroma server at {self.where} is not answering; retrying shortly")
            self._probing = True
            return True

    def _settle(self, ok: bool) -> None:
        with self._lock:
            self._probing = False
            self._down_until = 0.0 if ok else time.monotonic() + self.cooldown

    def wrap(self, session: Any) -> None:
        import httpx

        send = session.request
        session.timeout = httpx.Timeout(self.timeout, connect=min(3.0, self.timeout))

        def request(*args: Any, **kwargs: Any) -> Any:
            probe = self._admit()
            try:
                response = send(*args, **kwargs)
            except httpx.TransportError as exc:  # a timeout, a refused or dropped connection
                self._settle(False)
                logger.warning("Chroma server at %s: %s", self.where, type(exc).__name__)
                raise StoreUnavailable(f"the Chroma server at {self.where} did not answer within "
                                       f"{self.timeout:g} s ({type(exc).__name__})") from None
            except BaseException:
                if probe:
                    self._settle(True)  # it answered, even if with an error
                raise
            if probe or self._down_until:
                self._settle(True)
            return response

        session.request = request


def open_client(settings: Settings) -> Any:
    """A Chroma client: HTTP when CHROMA_HOST is set (every call bounded, see ServerBreaker), else embedded at
    CHROMA_PATH."""
    chroma_settings = chromadb.config.Settings(anonymized_telemetry=False)
    if settings.chroma_host:
        where = f"{settings.chroma_host}:{settings.chroma_port}"
        try:
            client = chromadb.HttpClient(host=settings.chroma_host, port=settings.chroma_port, settings=chroma_settings)
        except Exception as exc:
            raise StoreError(f"cannot reach the Chroma server at {where} ({exc})") from None
        session = getattr(getattr(client, "_server", None), "_session", None)
        if session is not None:  # chromadb creates its HTTP session with no timeout at all
            ServerBreaker(where).wrap(session)
        else:
            logger.warning("this chromadb version hides its HTTP session: calls to %s are not bounded", where)
        return client
    settings.chroma_path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(settings.chroma_path), settings=chroma_settings)


class KnowledgeStore:
    def __init__(self, client: Any, *, prefix: str, embedding_model: str, reopen: Callable[[], Any] | None = None):
        self.client = client
        self.prefix = prefix
        self.embedding_model = embedding_model
        self._chunks: Any = None
        self._sources: Any = None
        self._reopen = reopen
        self._reopen_lock = threading.Lock()

    def reopen(self) -> bool:
        """Drop this process's view of an embedded store and open it again: after an ingest by another process
        (a CLI run, a cron job) Chroma's in-memory vector index no longer matches the files ("Error finding id").
        False when there is nothing to reopen (a Chroma server is always current)."""
        if self._reopen is None:
            return False
        with self._reopen_lock:
            old = self.client
            try:
                old.close()
            except Exception:  # an older client without close(), or already closed
                logger.debug("closing the old Chroma client failed", exc_info=True)
            self.client = self._reopen()
            self._chunks = self._sources = None
        logger.info("reopened the embedded store after a change by another process")
        return True

    # -- collections, created lazily so read-only commands never write

    @property
    def chunks_name(self) -> str:
        return f"{self.prefix}_chunks"

    @property
    def sources_name(self) -> str:
        return f"{self.prefix}_sources"

    def check_model(self) -> None:
        """Refuse to mix vectors from two embedding models in one collection."""
        try:
            existing = self.client.get_collection(self.chunks_name)
        except Exception:
            return
        built_with = (existing.metadata or {}).get("embedding_model")
        if built_with and built_with != self.embedding_model:
            raise EmbeddingMismatch(
                f"the store '{self.chunks_name}' was built with {built_with} but EMBEDDINGS selects "
                f"{self.embedding_model}; run `python -m bot ingest --rebuild`, or use another COLLECTION_PREFIX"
            )

    @property
    def chunks(self) -> Any:
        if self._chunks is None:
            self.check_model()
            self._chunks = self.client.get_or_create_collection(
                self.chunks_name,
                metadata={"embedding_model": self.embedding_model},
                configuration={"hnsw": {"space": "cosine", "ef_search": 100}},
                embedding_function=None,
            )
        return self._chunks

    @property
    def sources(self) -> Any:
        if self._sources is None:
            self._sources = self.client.get_or_create_collection(
                self.sources_name, metadata={"role": "manifest"}, embedding_function=None
            )
        return self._sources

    def reset(self) -> None:
        for name in (self.chunks_name, self.sources_name):
            try:
                self.client.delete_collection(name)
            except Exception:
                pass
        self._chunks = self._sources = None

    # -- manifest

    def source_states(self) -> dict[str, SourceState]:
        got = self.sources.get(include=["metadatas"])
        states: dict[str, SourceState] = {}
        for source, meta in zip(got["ids"], got["metadatas"] or []):
            errors = tuple(LoadError(**e) for e in json.loads(str(meta.get("errors") or "[]")))
            states[source] = SourceState(source, str(meta["digest"]), int(meta.get("chunks", 0)), errors)
        return states

    def generation(self) -> str:
        """A token that changes whenever an ingest or a sync, in any process, commits a change: read from the
        manifest collection's metadata (one small read, whatever the number of sources; 20,000 synced objects made
        the full fingerprint below cost 0.3-0.9 s). A store written before the token existed is fingerprinted."""
        try:
            manifest = self.client.get_collection(self.sources_name)
            token = (manifest.metadata or {}).get("generation")
            if token:
                return str(token)
            got = manifest.get(include=["metadatas"])
        except Exception:
            return ""
        pairs = sorted((source, str((meta or {}).get("digest"))) for source, meta in zip(got["ids"], got["metadatas"] or []))
        return hashlib.sha256(json.dumps(pairs).encode()).hexdigest()[:16]

    def record_source(self, source: str, digest: str, chunks: int, errors: Sequence[LoadError]) -> None:
        self.sources.upsert(
            ids=[source],
            embeddings=[[1.0]],
            metadatas=[{"digest": digest, "chunks": chunks, "errors": json.dumps([e.as_dict() for e in errors])}],
        )
        self.bump()

    def forget_source(self, source: str) -> None:
        self.forget_sources([source])

    # -- many sources at once (the CRM sync keeps one source per object: a call per source would not scale)

    def record_sources(self, entries: Sequence[tuple[str, str, int, Sequence[LoadError]]], *,
                       existing: bool = False) -> None:
        """Manifest entries (source, digest, chunks, errors) for many sources, WRITE_PAGE per write and one bump;
        the layout of `record_source`. `existing`: every one of these sources has an entry already, so only the
        metadata is written (the entry's placeholder vector is left alone)."""
        rows = list(entries)
        if not rows:
            return
        step = self._write_page()
        for start in range(0, len(rows), step):
            part = rows[start:start + step]
            ids = [source for source, _, _, _ in part]
            metadatas = [{"digest": digest, "chunks": chunks, "errors": json.dumps([e.as_dict() for e in errors])}
                         for _, digest, chunks, errors in part]
            if existing:
                self.sources.update(ids=ids, metadatas=metadatas)
            else:
                self.sources.upsert(ids=ids, embeddings=[[1.0]] * len(part), metadatas=metadatas)
        self.bump()

    def source_digests(self, sources: Sequence[str]) -> dict[str, str]:
        """The manifest digest of each of these sources that has an entry ("" for one written but never
        finished), read by id, READ_PAGE at a time."""
        found: dict[str, str] = {}
        unique = list(dict.fromkeys(sources))
        for start in range(0, len(unique), READ_PAGE):
            got = self.sources.get(ids=unique[start:start + READ_PAGE], include=["metadatas"])
            for source, meta in zip(got["ids"], got["metadatas"] or []):
                found[source] = str((meta or {}).get("digest") or "")
        return found

    def source_ids(self, prefix: str = "") -> list[str]:
        """Every manifest source starting with `prefix`, in one read of the ids alone."""
        return [source for source in self.sources.get(include=[])["ids"] if source.startswith(prefix)]

    def forget_sources(self, sources: Sequence[str]) -> None:
        """`forget_source` for many: their chunks and manifest entries, in pages a Chroma server answers in time."""
        unique = list(dict.fromkeys(sources))
        if not unique:
            return
        self._delete(self.chunks, self.chunk_ids(unique))
        self._delete(self.sources, unique)
        self.bump()

    def chunk_ids(self, sources: Sequence[str]) -> list[str]:
        """The ids of these sources' chunks."""
        ids: list[str] = []
        for start in range(0, len(sources), READ_PAGE):
            where = {"source": {"$in": list(sources[start:start + READ_PAGE])}}
            ids.extend(chunk_id for chunk_id, _, _ in self.scan(where, include=[], page=READ_PAGE * 5))
        return ids

    def remove_stale_many(self, sources: Sequence[str], *, keep: Container[str]) -> int:
        """`remove_stale` for many sources at once: delete their chunks whose ids are not in `keep`; how many."""
        stale = [chunk_id for chunk_id in self.chunk_ids(list(dict.fromkeys(sources))) if chunk_id not in keep]
        self._delete(self.chunks, stale)
        return len(stale)

    def bump(self) -> None:
        """Tell every reader (other processes, other replicas) that the store changed: a new generation token."""
        try:
            self.sources.modify(metadata={"role": "manifest", "generation": uuid.uuid4().hex})
        except Exception:  # readers then notice later through a change of their own; never fail a write over it
            logger.warning("could not mark the store as changed", exc_info=True)

    # -- chunks

    def replace_source(self, source: str, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]]) -> None:
        self.add(chunks, vectors)
        self.remove_stale(source, keep={c.id for c in chunks})

    def add(self, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]]) -> None:
        batch = self._write_page()
        for start in range(0, len(chunks), batch):
            part = chunks[start:start + batch]
            self.chunks.upsert(
                ids=[c.id for c in part],
                documents=[c.text for c in part],
                metadatas=[_stored_metadata(c) for c in part],
                embeddings=[list(v) for v in vectors[start:start + batch]],
            )

    def known_vectors(self, chunks: Sequence[Chunk]) -> tuple[set[str], dict[str, list[float]]]:
        """What the store already holds of these chunks: the ids stored exactly as given (nothing to write),
        and vectors by text for the others whose text it holds under the same id or in the same source (a
        changed file keeps most of its rows; a stopped run left some chunks written). Bounded by `chunks`."""
        current, known = self.known_by_id(chunks)
        missing: dict[str, set[str]] = {}
        for chunk in chunks:
            if chunk.id not in current and chunk.text not in known:
                missing.setdefault(str(chunk.metadata.get("source", "")), set()).add(chunk.text)
        for source, texts in missing.items():
            known.update(self.vectors_by_text(source, texts))
        return current, known

    def known_by_id(self, chunks: Sequence[Chunk]) -> tuple[set[str], dict[str, list[float]]]:
        """Read by the chunks' ids alone: the ids stored exactly as given (nothing to write), and the vectors of
        those stored with the same text but other metadata (by text)."""
        current: set[str] = set()
        known: dict[str, list[float]] = {}
        for start in range(0, len(chunks), READ_PAGE):
            part = {c.id: c for c in chunks[start:start + READ_PAGE]}
            got = self.chunks.get(ids=list(part), include=["documents", "metadatas", "embeddings"])
            embeddings = got.get("embeddings")
            for index, chunk_id in enumerate(got["ids"]):
                chunk = part[chunk_id]
                if got["documents"][index] != chunk.text or embeddings is None:
                    continue
                if got["metadatas"][index] == _stored_metadata(chunk):
                    current.add(chunk_id)
                else:
                    known[chunk.text] = [float(x) for x in embeddings[index]]
        return current, known

    def vectors_by_text(self, source: str, texts: Iterable[str]) -> dict[str, list[float]]:
        """Vectors the source already holds for these texts, for reuse when its file changes."""
        wanted = {_text_hash(text): text for text in texts}
        found: dict[str, list[float]] = {}
        hashes = sorted(wanted)
        for start in range(0, len(hashes), READ_PAGE):
            got = self.chunks.get(
                where={"$and": [{"source": source}, {"text_hash": {"$in": hashes[start:start + READ_PAGE]}}]},
                include=["documents", "embeddings"],
            )
            embeddings = got.get("embeddings")
            if embeddings is None:
                continue
            for text, vector in zip(got["documents"] or [], embeddings):
                if wanted.get(_text_hash(text)) == text:
                    found[text] = [float(x) for x in vector]
        return found

    def remove_stale(self, source: str, *, keep: Container[str]) -> int:
        """Delete the source's chunks whose ids are not in `keep` (rows gone from the file); how many.

        Deleted a batch at a time as the source is paged through, so a file whose every row changed does not
        gather all its old ids at once."""
        removed = offset = 0
        page = READ_PAGE * 5  # ids only: cheap to read
        stale: list[str] = []
        while True:
            ids = self.chunks.get(where={"source": source}, include=[], limit=page, offset=offset)["ids"]
            stale.extend(chunk_id for chunk_id in ids if chunk_id not in keep)
            offset += len(ids)
            if stale and (len(stale) >= page or len(ids) < page):
                self._delete(self.chunks, stale)
                offset -= len(stale)  # what followed the deleted chunks moved up by as many places
                removed += len(stale)
                stale = []
            if len(ids) < page:
                return removed

    def scan(self, where: dict[str, Any], *, include: Sequence[str] = ("documents", "metadatas"),
             page: int = READ_PAGE) -> Iterator[tuple[str, str | None, dict[str, Any] | None]]:
        """(id, text, metadata) of the matching chunks, READ_PAGE at a time."""
        offset = 0
        while True:
            got = self.chunks.get(where=where, include=list(include), limit=page, offset=offset)
            ids = got["ids"]
            texts = got.get("documents") or [None] * len(ids)
            metadatas = got.get("metadatas") or [None] * len(ids)
            yield from zip(ids, texts, metadatas)
            if len(ids) < page:
                return
            offset += page

    def _write_page(self) -> int:
        return max(1, min(WRITE_PAGE, int(self.client.get_max_batch_size())))

    def _delete(self, collection: Any, ids: Sequence[str]) -> None:
        """Delete `ids` from `collection` in pages a Chroma server answers within its timeout."""
        step = self._write_page()
        for start in range(0, len(ids), step):
            collection.delete(ids=list(ids[start:start + step]))

    def count(self) -> int:
        try:
            return int(self.client.get_collection(self.chunks_name).count())
        except Exception:
            return 0

    def query(self, vector: Sequence[float], *, k: int,
              where: dict[str, Any] | None = None) -> list[tuple[str, str, dict[str, Any], float]]:
        result = self.chunks.query(
            query_embeddings=[list(vector)], n_results=k, where=where or None,
            include=["documents", "metadatas", "distances"],
        )
        return list(zip(result["ids"][0], result["documents"][0], result["metadatas"][0], result["distances"][0]))

    def get(self, where: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
        result = self.chunks.get(where=where, include=["documents", "metadatas"])
        return list(zip(result["ids"], result["documents"], result["metadatas"]))


def _text_hash(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def _stored_metadata(chunk: Chunk) -> dict[str, Any]:
    """A chunk's metadata as written: with the hash of its text, so a vector can be found again by text."""
    return {**chunk.metadata, "text_hash": _text_hash(chunk.text)}


def open_store(settings: Settings, *, embedding_model: str, client: Any = None) -> KnowledgeStore:
    # an embedded store is reopened after another process wrote to it (its in-memory index would be stale);
    # a client passed in (a test's, a server's) is the caller's to manage
    reopen = (lambda: open_client(settings)) if client is None and not settings.chroma_host else None
    return KnowledgeStore(client or open_client(settings), prefix=settings.collection_prefix,
                          embedding_model=embedding_model, reopen=reopen)

