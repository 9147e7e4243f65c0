"""Semantic search with metadata filters, account resolution and exact per-account retrieval."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

from bot.knowledge.accounts import Account, AccountResolver, Resolution
from bot.knowledge.embeddings import NamedEmbeddings
from bot.knowledge.store import KnowledgeStore


@dataclass(frozen=True)
class Hit:
    id: str
    text: str
    metadata: dict[str, Any]
    score: float  # cosine similarity, 1.0 is identical

    @property
    def ref(self) -> str:
        return str(self.metadata.get("ref") or self.metadata.get("source") or self.id)

    @property
    def record(self) -> dict[str, Any]:
        """The CRM record behind a chunk ({} for content)."""
        data = self.metadata.get("data")
        return json.loads(data) if data else {}

    def source_info(self) -> dict[str, Any]:
        meta = self.metadata
        return {
            "id": self.ref,
            "title": meta.get("title", ""),
            "type": meta.get("type", ""),
            "account": meta.get("account_name") or None,
            "path": meta.get("source", ""),
            **({"url": meta["url"]} if meta.get("url") else {}),
        }


class Retriever:
    def __init__(self, store: KnowledgeStore, embeddings: NamedEmbeddings):
        self.store = store
        self.embeddings = embeddings
        self._resolver: AccountResolver | None = None
        self._lock = threading.Lock()

    # -- accounts

    @property
    def resolver(self) -> AccountResolver:
        if self._resolver is None:
            with self._lock:
                if self._resolver is None:
                    accounts = []
                    for _, _, meta in self.store.get({"type": "account"}):
                        data = json.loads(meta["data"])
                        accounts.append(Account(id=str(meta["record_id"]), name=str(data.get("name", "")),
                                                industry=str(data.get("industry", "")),
                                                country=str(data.get("country", ""))))
                    self._resolver = AccountResolver(accounts)
        return self._resolver

    def refresh(self) -> None:
        """Forget cached accounts (after an ingest)."""
        self._resolver = None

    def resolve_account(self, name: str) -> Resolution:
        return self.resolver.resolve(name)

    def account_records(self, account_id: str, record_type: str | None = None) -> list[Hit]:
        """Every CRM record of one account, not the top k: a brief must see all of them."""
        where: dict[str, Any] = {"account_id": account_id}
        if record_type:
            where = {"$and": [where, {"type": record_type}]}
        hits = [Hit(i, text, meta, 1.0) for i, text, meta in self.store.get(where)]
        return sorted(hits, key=lambda h: (str(h.metadata.get("type")), str(h.metadata.get("date")), h.id))

    # -- search

    def search(
        self,
        query: str,
        *,
        k: int = 5,
        kind: str | None = None,
        types: list[str] | None = None,
        account_id: str | None = None,
    ) -> list[Hit]:
        vector = self.embeddings.embed_query(query)
        return self.search_vector(vector, k=k, kind=kind, types=types, account_id=account_id)

    def search_vector(
        self,
        vector: list[float],
        *,
        k: int,
        kind: str | None = None,
        types: list[str] | None = None,
        account_id: str | None = None,
    ) -> list[Hit]:
        clauses: list[dict[str, Any]] = []
        if kind:
            clauses.append({"kind": kind})
        if types:
            clauses.append({"type": {"$in": types}})
        if account_id:
            clauses.append({"account_id": account_id})
        where = clauses[0] if len(clauses) == 1 else ({"$and": clauses} if clauses else None)
        rows = self.store.query(vector, k=k, where=where)
        return [Hit(i, text, meta, 1.0 - float(distance)) for i, text, meta, distance in rows]

    def retrieve(self, question: str, *, k: int = 5, account: Account | None = None) -> list[Hit]:
        """What a question needs: the best passages overall, plus the named account's own records.

        When the question names an account, its records are searched separately and merged, so a
        deal's next step is not crowded out by similar-sounding content from other accounts.
        """
        vector = self.embeddings.embed_query(question)
        accounts = [account] if account else self.resolver.mentioned_in(question)
        general = self.search_vector(vector, k=k)
        if len(accounts) != 1:
            return general
        own = self.search_vector(vector, k=k, account_id=accounts[0].id)
        # the account's own records first when they are nearly as close as the best general hit
        merged: dict[str, Hit] = {}
        best = general[0].score if general else 0.0
        for hit in own:
            if hit.score >= best - 0.15:
                merged[hit.id] = Hit(hit.id, hit.text, hit.metadata, hit.score + 0.05)
        for hit in general:
            merged.setdefault(hit.id, hit)
        return sorted(merged.values(), key=lambda h: h.score, reverse=True)[:k]
