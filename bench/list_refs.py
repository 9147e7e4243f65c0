"""Every citable source of a knowledge folder (ref, type, account, title): for writing evaluation labels.

    .venv/bin/python bench/list_refs.py examples/hr-software

Ingests into a throwaway store with a tiny stand-in embedding (no retrieval involved), then lists refs.
"""

from __future__ import annotations

import hashlib
import sys
import tempfile
from pathlib import Path

from bot.knowledge.embeddings import Named
from bot.knowledge.ingest import ingest
from bot.profile import load_profile
from bot.runtime import build_services
from bot.settings import load_settings


class _Hash:
    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.embed_query(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        digest = hashlib.sha256(text.encode()).digest()
        return [b / 255 for b in digest[:16]]


def main() -> None:
    knowledge = Path(sys.argv[1] if len(sys.argv) > 1 else "knowledge")
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(None, knowledge_path=knowledge, chroma_path=Path(tmp))
        services = build_services(settings, embeddings=Named(_Hash(), "hash"))  # type: ignore[arg-type]
        ingest(services.store, services.embeddings, [knowledge], root=knowledge, profile=load_profile(knowledge))
        seen = {}
        for _, _text, meta in services.store.get({"kind": {"$in": ["crm", "content"]}}):
            ref = str(meta.get("ref") or meta.get("source"))
            seen.setdefault(ref, (meta.get("type", ""), meta.get("account_name", ""), meta.get("title", "")))
        for ref, (kind, account, title) in sorted(seen.items()):
            print(f"{ref}\t{kind}\t{account}\t{title}")


if __name__ == "__main__":
    main()
