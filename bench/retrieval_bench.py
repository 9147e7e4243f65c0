"""Retrieval latency at 100,000 chunks with the local model already loaded.

    .venv/bin/python bench/retrieval_bench.py [--chunks 100000] [--queries 300]

The store is built once under .data/bench/ (embedding 100k texts takes minutes) and reused.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.corpus import TOPICS, TRIGGERS, corpus_texts  # noqa: E402
from bot.knowledge.documents import Chunk  # noqa: E402
from bot.knowledge.embeddings import LocalMiniLM  # noqa: E402
from bot.runtime import build_services  # noqa: E402
from bot.settings import load_settings  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    embeddings = LocalMiniLM()
    settings = load_settings(env_file=None, chroma_path=ROOT / ".data" / "bench" / f"chroma-{args.chunks}",
                             collection_prefix="bench")
    services = build_services(settings, embeddings=embeddings)
    have = services.store.count()
    if have < args.chunks:
        texts = corpus_texts(args.chunks)[have:]
        print(f"building the store: embedding {len(texts):,} chunks (once) ...", flush=True)
        started = time.perf_counter()
        for start in range(0, len(texts), 2000):
            part = texts[start:start + 2000]
            chunks = [Chunk(f"bench-{have + start + i}", text,
                            {"kind": "crm", "type": "activity", "source": "bench", "ref": f"activity:{have + start + i}",
                             "account_id": f"acc-{(have + start + i) % 5000}", "account_name": "", "title": "bench"})
                      for i, text in enumerate(part)]
            services.store.add(chunks, embeddings.embed_documents(part))
            print(f"  {have + start + len(part):,} chunks, {time.perf_counter() - started:.0f} s", flush=True)
    print(f"store: {services.store.count():,} chunks")

    questions = [f"which customer {TRIGGERS[i % len(TRIGGERS)]} and asked about {TOPICS[i % len(TOPICS)]}?"
                 for i in range(args.queries)]
    embeddings.embed_query("warm up")
    services.retriever.search(questions[0], k=5)
    from bot.knowledge.accounts import Account

    cases = (
        ("search k=5 (plain semantic)", lambda q, i: services.retriever.search(q, k=5)),
        ("retrieve k=5 (what ask uses: wide search, intents, literal names)",
         lambda q, i: services.retriever.retrieve(q, k=5)),
        ("retrieve k=5 naming an account (its records ranked exactly)",
         lambda q, i: services.retriever.retrieve(q, k=5, account=Account(id=f"acc-{i % 5000}", name="bench"))),
    )
    for label, call in cases:
        timings = []
        for index, question in enumerate(questions):
            started = time.perf_counter()
            call(question, index)
            timings.append((time.perf_counter() - started) * 1000)
        print(f"{label}: p50 {statistics.median(timings):.1f} ms, p95 {percentile(timings, 0.95):.1f} ms, "
              f"max {max(timings):.1f} ms over {len(timings)} queries (query embedding included)")
    timings = []
    for question in questions:
        vector = embeddings.embed_query(question)
        started = time.perf_counter()
        services.retriever.search_vector(vector, k=5)
        timings.append((time.perf_counter() - started) * 1000)
    print(f"vector search only: p50 {statistics.median(timings):.1f} ms, p95 {percentile(timings, 0.95):.1f} ms")


if __name__ == "__main__":
    main()
