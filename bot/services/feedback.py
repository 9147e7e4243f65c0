"""Helpful / not helpful votes, stored durably next to the knowledge (works with a Chroma server too)."""

from __future__ import annotations

import hashlib
import time
from typing import Any

from bot.knowledge.ledger import SideCollection


class FeedbackStore(SideCollection):
    """`client`: a Chroma client, or a function returning the store's current one."""

    def __init__(self, client: Any, prefix: str):
        super().__init__(client, f"{prefix}_feedback", "feedback")

    def record(self, *, user: str, helpful: bool, kind: str, reference: str, channel: str | None = None) -> str:
        at = time.time()
        vote_id = hashlib.sha1(f"{user}|{kind}|{reference}|{at}".encode()).hexdigest()[:20]
        self.collection.upsert(ids=[vote_id], embeddings=[[1.0]], documents=[reference[:2000]], metadatas=[{
            "user": user, "helpful": helpful, "kind": kind, "channel": channel or "", "at": at}])
        return vote_id

    def all(self) -> list[dict[str, Any]]:
        got = self.collection.get(include=["metadatas", "documents"])
        return [{**meta, "reference": doc} for meta, doc in zip(got["metadatas"] or [], got["documents"] or [])]
