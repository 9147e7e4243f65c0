"""Latency of ask, brief, draft and triage on the sample knowledge, without a language model.

    .venv/bin/python bench/services_bench.py [--runs 30]

The local embedding model is loaded and warmed first; the store is the sample knowledge,
ingested into .data/bench/sample (unchanged files are skipped on later runs).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.knowledge.ingest import ingest  # noqa: E402
from bot.runtime import build_services  # noqa: E402
from bot.services.answering import answer_question  # noqa: E402
from bot.services.briefs import build_brief  # noqa: E402
from bot.services.drafts import draft_outreach  # noqa: E402
from bot.services.triage import triage_account  # noqa: E402
from bot.settings import load_settings  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = [
    "What is the next step on the Acme deal?",
    "What proof do we have for retail CFOs on working capital?",
    "How do we position against Corvane on implementation time?",
    "Is Vantara SOC 2 certified?",
    "Who did we meet at Nordwind about the S/4HANA migration?",
    "What should I ask a COO in the first call?",
]
ACCOUNTS = ["Acme Corporation", "Brightwater Health", "Nordwind Logistik GmbH", "Groupe Laurentin SA"]


def timed(label: str, runs: int, call) -> None:  # noqa: ANN001
    timings = []
    for i in range(runs):
        started = time.perf_counter()
        call(i)
        timings.append((time.perf_counter() - started) * 1000)
    ordered = sorted(timings)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    print(f"{label}: p50 {statistics.median(timings):.0f} ms, p95 {p95:.0f} ms over {runs} runs")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    settings = load_settings(env_file=None, chroma_path=ROOT / ".data" / "bench" / "sample",
                             knowledge_path=ROOT / "knowledge")
    services = build_services(settings)
    ingest(services.store, services.embeddings, [settings.knowledge_path], root=settings.knowledge_path)
    services.retriever.refresh()
    services.embeddings.embed_query("warm up")
    accounts = [services.retriever.resolve_account(name).account for name in ACCOUNTS]
    print(f"store: {services.store.count()} chunks; model: {services.embeddings.name}; no language model")
    timed("ask", args.runs, lambda i: answer_question(QUESTIONS[i % len(QUESTIONS)], retriever=services.retriever))
    timed("brief", args.runs, lambda i: build_brief(services.retriever, accounts[i % len(accounts)]))
    timed("draft", args.runs, lambda i: draft_outreach(services.retriever, accounts[i % len(accounts)]))
    timed("triage --account", args.runs,
          lambda i: triage_account(services.retriever, accounts[i % len(accounts)].id, accounts[i % len(accounts)].name))


if __name__ == "__main__":
    main()
