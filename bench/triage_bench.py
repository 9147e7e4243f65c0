"""Triage throughput: 10,000 marketing-automation leads from a CSV export.

    .venv/bin/python bench/triage_bench.py [--leads 10000]
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

from bot.knowledge import titles  # noqa: E402
from bot.services.evaluation import load_titles  # noqa: E402
from bot.services.triage import triage_file  # noqa: E402

DECORATIONS = ["", " EMEA", ", Europe", " (m/w/d)", " | Global", " - Spain", " H/F", " II"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=10_000)
    args = parser.parse_args()
    rng = random.Random(5)
    base = [row["title"] for row in load_titles()]
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
            titles.classify_title.cache_clear()
            started = time.perf_counter()
            result = triage_file(path)
            runs.append(time.perf_counter() - started)
        summary = result.summary
        print(f"triage of {summary['total']:,} leads (CSV parse + titles + verdicts, cold title cache): "
              f"median {statistics.median(runs):.2f} s, best {min(runs):.2f} s over {len(runs)} runs")
        print(f"verdicts: {summary['pursue']} pursue, {summary['nurture']} nurture, "
              f"{summary['not_worth_chasing']} not worth chasing "
              f"({summary['engaged_but_not_worth_chasing']} highly engaged)")


if __name__ == "__main__":
    main()
