"""Figures on every sample seller (tests/sellers/*.yaml): the `eval` outreach figures (drafts with a cited proof
point, triggers from the account's own history, campaigns passing their checks) and brief latency without a model.

    .venv/bin/python bench/seller_bench.py [--runs 5]

Uses the bundled local embedding model (as `make run` does); prints one block per seller.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5, help="brief timings per account")
    args = parser.parse_args()

    from bot.cli import run_ingest
    from bot.runtime import build_services
    from bot.services.briefs import build_brief
    from bot.services.context import Context, Today
    from bot.services.evaluation import evaluate_outreach
    from bot.settings import load_settings

    for labels_path in sorted((REPO / "tests" / "sellers").glob("*.yaml")):
        labels = yaml.safe_load(labels_path.read_text(encoding="utf-8"))
        with tempfile.TemporaryDirectory() as folder:
            settings = load_settings(env_file=None, chroma_path=Path(folder) / "chroma",
                                     knowledge_path=REPO / labels["knowledge"])
            services = build_services(settings)
            started = time.perf_counter()
            report = run_ingest(services, [], show_progress=False)
            ingest_s = time.perf_counter() - started
            as_of = labels["as_of"] if isinstance(labels["as_of"], date) else date.fromisoformat(labels["as_of"])
            ctx = Context(services.profile, services.wording, Today(as_of, "setting"))
            accounts = [services.retriever.resolve_account(a["name"]).account for a in labels["accounts"]]
            figures = evaluate_outreach(services.retriever, ctx)
            briefs = [build_brief(services.retriever, a, ctx) for a in accounts]
            first_kind = sum(1 for b, label in zip(briefs, labels["accounts"])
                             if (b.triggers[0].kind if b.triggers else None) == label.get("trigger"))
            states = sum(1 for b, label in zip(briefs, labels["accounts"])
                         if b.relationship and b.relationship.state == label["state"])
            build_brief(services.retriever, accounts[0], ctx)  # warm the query model
            timings = []
            for account in accounts:
                for _ in range(args.runs):
                    started = time.perf_counter()
                    build_brief(services.retriever, account, ctx)
                    timings.append((time.perf_counter() - started) * 1000)
            timings.sort()
            print(f"== {labels_path.stem} ({labels['knowledge']}): {len(accounts)} accounts, "
                  f"ingest {ingest_s:.1f} s, {len(report.errors)} load problem(s) reported")
            print(f"drafts with a cited proof point: {figures['drafts_with_cited_proof']:.0%} "
                  f"of {figures['accounts']}")
            print(f"drafts whose trigger comes from that account's own history: "
                  f"{figures['triggers_from_own_history']:.0%} of {figures['drafts_with_trigger']}")
            print(f"relationship state as labelled: {states}/{len(accounts)}; the trigger a rep would open with "
                  f"(first kind found) as labelled: {first_kind}/{len(accounts)}")
            print(f"drafts passing all checks: {figures['drafts_passing_checks']:.0%}")
            print(f"campaigns passing checks (one per persona): {figures['campaigns_passing_checks']:.0%} "
                  f"of {figures['campaigns']}")
            print(f"brief without a model: p50 {statistics.median(timings):.0f} ms, "
                  f"p95 {timings[int(0.95 * (len(timings) - 1))]:.0f} ms over {len(timings)} briefs")


if __name__ == "__main__":
    main()
