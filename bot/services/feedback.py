"""Helpful / not helpful votes, stored durably next to the knowledge (works with a Chroma server too)."""

from __future__ import annotations

import hashlib
import time
from typing import Any


class FeedbackStore:
    def __init__(self, client: Any, prefix: str):
        self.client = client
        self.name = f"{prefix}_feedback"
        self._collection: Any = None

    @property
    def collection(self) -> Any:
        if self._collection is None:
            self._collection = self.client.get_or_create_collection(
                self.name, metadata={"role": "feedback"}, embedding_function=None)
        return self._collection

    def record(self, *, user: str, helpful: bool, kind: str, reference: str, channel: str | None = None) -> str:
        at = time.time()
        vote_id = hashlib.sha1(f"{user}|{kind}|{reference}|{at}".encode()).hexdigest()[:20]
        self.collection.upsert(ids=[vote_id], embeddings=[[1.0]], documents=[reference[:2000]], metadatas=[{
            "user": user, "helpful": helpful, "kind": kind, "channel": channel or "", "at": at}])
        return vote_id

    def all(self) -> list[dict[str, Any]]:
        got = self.collection.get(include=["metadatas", "documents"])
        return [{**meta, "reference": doc} for meta, doc in zip(got["metadatas"] or [], got["documents"] or [])]
