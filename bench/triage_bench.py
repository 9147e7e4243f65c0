"""Triage throughput: 10,000 marketing-automation leads from a CSV export, with the nearest-neighbour title reader.

    .venv/bin/python bench/triage_bench.py [--leads 10000]

Titles come from the authored and the real-world evaluation files, decorated (" EMEA", " (m/w/d)", …) so most
strings are distinct. Each run starts cold: the title cache and the neighbour reader's per-title vectors are
cleared, so every distinct title the rules leave open is embedded again (in one batch). The title bank's own
vectors are read from their cache file, as in a running bot.
"""

from __future__ import annotations

import argparse
import csv
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.runtime import build_services  # noqa: E402
from bot.services.evaluation import EVALS, load_titles  # noqa: E402
from bot.services.triage import triage_file  # noqa: E402
from bot.settings import load_settings  # noqa: E402

DECORATIONS = ["", " EMEA", ", Europe", " (m/w/d)", " | Global", " - Spain", " H/F", " II"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=10_000)
    args = parser.parse_args()
    rng = random.Random(5)
    base = [row["title"] for row in load_titles() + load_titles(EVALS / "titles_realworld.csv")]
    services = build_services(load_settings(None))
    ctx = services.context()
    reader = ctx.profile.titles
    started = time.perf_counter()
    bank = reader.neighbours.matrix if reader.neighbours else None
    print(f"title bank: {0 if bank is None else bank.shape[0]:,} labelled titles ready in "
          f"{time.perf_counter() - started:.2f} s ({services.embeddings.name})")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "hubspot-export.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["First Name", "Last Name", "Job Title", "Company Name", "Email", "HubSpot Score",
                             "Number of Pageviews", "Number of Form Submissions", "Last Activity Date"])
            for i in range(args.leads):
                title = rng.choice(base) + rng.choice(DECORATIONS)  # mostly distinct strings: no cache luck
                writer.writerow([f"First{i}", f"Last{i}", title, f"Company {i % 700}", f"p{i}@example.com",
                                 rng.randint(0, 100), rng.randint(0, 150), rng.randint(0, 12),
                                 f"2026-{rng.randint(1, 11):02d}-{rng.randint(1, 28):02d}"])
        runs = []
        for _ in range(5):
            reader.read.cache_clear()
            reader._rules.cache_clear()
            if reader.neighbours:
                reader.neighbours._vectors.clear()
            started = time.perf_counter()
            result = triage_file(path, ctx)
            runs.append(time.perf_counter() - started)
        opened = sum(1 for t in {v.lead.title for v in result.verdicts} if not reader.settled_by_rules(t or ""))
        embedded = len(reader.neighbours._vectors) if reader.neighbours else 0
        summary = result.summary
        print(f"{opened:,} distinct titles the rules leave open, read by their nearest labelled titles; "
              f"{embedded:,} of them embedded (the others are in the bank once region and gender markers are off)")
        print(f"triage of {summary['total']:,} leads (CSV parse + titles + verdicts, cold title cache): "
              f"median {statistics.median(runs):.2f} s, best {min(runs):.2f} s over {len(runs)} runs")
        print(f"verdicts: {summary['pursue']} pursue, {summary['nurture']} nurture, "
              f"{summary['not_worth_chasing']} not worth chasing "
              f"({summary['engaged_but_not_worth_chasing']} highly engaged)")


if __name__ == "__main__":
    main()
