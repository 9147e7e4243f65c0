"""A small shared ledger beside the knowledge, so replicas agree without a second database.

Three uses, one Chroma collection (`<prefix>_ledger`), so it works the same embedded or on a Chroma server:
- `claim(key)`: exactly one replica wins a key (a Slack `event_id` delivered to two replicas is answered once).
  Chroma ignores an `add` of an id that exists, so the first writer's owner stays and every reader sees it;
  measured with 3 processes and 6 threads over 230 races, embedded and on a server: never two winners.
- `mark(key)` / `marked(key)`: a fact any replica can check (the bot has answered in this thread).
- `put(key, payload)` / `get(key)`: a small JSON document (a result as the user reviewed it, for sharing).

Entries expire after `ttl` seconds; expired ones are pruned now and then by whoever writes.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from typing import Any

logger = logging.getLogger(__name__)

DAY = 24 * 3600
PRUNE_EVERY = 3600


class SideCollection:
    """A small collection beside the knowledge, followed across a reopened client: `client` is a Chroma client or
    a function returning the current one (an embedded store reopens its client after another process's ingest)."""

    def __init__(self, client: Any, name: str, role: str):
        self._client_of = client if callable(client) else (lambda: client)
        self.name = name
        self.role = role
        self._cached: tuple[Any, Any] | None = None
        self._lock = threading.Lock()

    @property
    def collection(self) -> Any:
        client = self._client_of()
        cached = self._cached
        if cached is None or cached[0] is not client:
            with self._lock:
                collection = client.get_or_create_collection(self.name, metadata={"role": self.role},
                                                             embedding_function=None)
                self._cached = cached = (client, collection)
        return cached[1]


class Ledger(SideCollection):
    """`ttl`: seconds an entry counts (None: forever); `prefix` names the collection `<prefix>_ledger`."""

    def __init__(self, client: Any, prefix: str, *, ttl: float | None = 7 * DAY):
        super().__init__(client, f"{prefix}_ledger", "ledger")
        self.ttl = ttl
        self._pruned = 0.0

    def _add(self, entries: dict[str, str], kind: str, *, replace: bool = True, owner: str = "") -> None:
        if not entries:
            return
        now = time.time()
        write = self.collection.upsert if replace else self.collection.add  # add keeps the first writer's entry
        write(ids=list(entries), embeddings=[[1.0]] * len(entries), documents=list(entries.values()),
              metadatas=[{"kind": kind, "owner": owner, "at": now}] * len(entries))
        self._prune(now)

    def _entries(self, keys: list[str]) -> dict[str, tuple[dict[str, Any], str]]:
        """The live entries among `keys` (metadata, document)."""
        got = self.collection.get(ids=keys, include=["metadatas", "documents"])
        now, found = time.time(), {}
        for key, meta, document in zip(got["ids"], got["metadatas"] or [], got["documents"] or []):
            meta = dict(meta or {})
            if self.ttl is None or now - float(meta.get("at") or 0) <= self.ttl:
                found[key] = (meta, str(document or ""))
        return found

    def _meta(self, key: str) -> tuple[dict[str, Any], str] | None:
        return self._entries([key]).get(key)

    def claim(self, key: str) -> bool:
        """True for exactly one caller across every replica sharing the store."""
        token = uuid.uuid4().hex  # per claim: the same replica receiving a replay must lose too
        self._add({key: ""}, "claim", replace=False, owner=token)
        found = self._meta(key)
        return found is not None and found[0].get("owner") == token

    def mark(self, key: str) -> None:
        self._add({key: ""}, "mark")

    def marked(self, key: str) -> bool:
        return self._meta(key) is not None

    def put(self, key: str, payload: dict[str, Any]) -> None:
        self.put_many({key: payload})

    def put_many(self, payloads: dict[str, dict[str, Any]]) -> None:
        """Several documents in one write."""
        self._add({key: json.dumps(value, ensure_ascii=False) for key, value in payloads.items()}, "document")

    def get(self, key: str) -> dict[str, Any] | None:
        return self.get_many([key]).get(key)

    def get_many(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        """The documents found among `keys`, in one read."""
        found: dict[str, dict[str, Any]] = {}
        for key, (_, document) in self._entries(keys).items() if keys else ():
            value = json.loads(document) if document else None
            if isinstance(value, dict):
                found[key] = value
        return found

    def forget(self, keys: list[str]) -> None:
        if keys:
            self.collection.delete(ids=keys)

    def _prune(self, now: float) -> None:
        if self.ttl is None or now - self._pruned < PRUNE_EVERY:
            return
        self._pruned = now
        try:
            self.collection.delete(where={"at": {"$lt": now - self.ttl}})
        except Exception:  # pruning is housekeeping: never fail a request over it
            logger.debug("pruning the ledger failed", exc_info=True)
