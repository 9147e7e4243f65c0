"""A 200 MB CRM export through the real ingest: wall time, chunks stored, peak RSS; and a run killed mid-way.

Generates a Salesforce-style activities export (about 866,000 rows, 200 MB: quoted notes with commas, some
over several lines, accents and dashes) beside a few thousand accounts and contacts, then runs `ingest` on it in
a child process into a temporary embedded Chroma store, and reads the child's peak RSS from the kernel
(wait4's ru_maxrss) while sampling its RSS as it goes.

Embedding 866k rows with the local model takes hours on two cores, so the memory figure at full size uses a
cheap deterministic stand-in (384 dimensions, like the local model; the output says which one ran):
`--embedding local` measures the real model at a smaller `--rows`.

With the embedded store, Chroma keeps the collection's vector index in the memory of any process that opens
it (about 2 KB a vector at 384 dimensions), so the bench also measures a process that only opens the finished
store and answers one query. `--server` writes to a Chroma server (`chroma run`, the production path) instead:
the ingest process then holds only the pipeline, and the server's own peak is printed beside it.

`--resume-check` also ingests the same export into a second store, kills that ingest (SIGKILL) half-way,
runs it again, and checks that the store equals the clean run's and that nothing written before the kill
was embedded again.

    .venv/bin/python bench/big_csv_bench.py                          # 866k rows, stand-in, embedded store
    .venv/bin/python bench/big_csv_bench.py --server                 # the same into a Chroma server
    .venv/bin/python bench/big_csv_bench.py --rows 20000 --embedding local
    .venv/bin/python bench/big_csv_bench.py --rows 50000 --resume-check
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

TYPES = ["Call", "Meeting", "Email", "Web visit", "Webinar"]
TOPICS = ["working capital", "inventory levels", "forecast accuracy", "supplier risk", "invoice matching",
          "spend under management", "on-time delivery", "ERP integration", "security review", "pricing"]
WORDS = ("the team reviewed our plan to reduce inventory while protecting service levels and asked for a "
         "business case with payback period supplier consolidation savings forecast accuracy across regions "
         "phased rollout pilot plant finance wants evidence from similar customers réunion budget validé").split()


# ---------------------------------------------------------------- the export

def write_export(folder: Path, rows: int, seed: int = 7) -> Path:
    """accounts.csv, contacts.csv and an activities.csv of `rows` rows (about 230 bytes a row)."""
    rng = random.Random(seed)
    crm = folder / "crm"
    crm.mkdir(parents=True, exist_ok=True)
    accounts, contacts = 2000, 12000
    with (crm / "accounts.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Id", "Name", "Industry", "NumberOfEmployees", "AnnualRevenue", "BillingCountry"])
        for i in range(accounts):
            writer.writerow([f"001B{i:06d}", f"Company {i} {rng.choice(['Foods', 'Logistics', 'Health', 'Motors'])}",
                             rng.choice(["Retail", "Manufacturing", "Healthcare"]), rng.randint(50, 20000),
                             rng.randint(5, 900) * 1_000_000, rng.choice(["France", "Germany", "United States"])])
    with (crm / "contacts.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Id", "AccountId", "FirstName", "LastName", "Title", "Email"])
        for i in range(contacts):
            writer.writerow([f"003B{i:06d}", f"001B{rng.randrange(accounts):06d}", f"First{i}", f"Last{i}",
                             rng.choice(["Chief Financial Officer", "VP Operations", "Directeur financier",
                                         "Procurement Analyst", "IT Manager"]), f"person{i}@example.com"])
    path = crm / "activities.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Id", "ActivityDate", "Type", "Subject", "Description", "WhoId", "WhatId"])
        for i in range(rows):
            notes = (f"Discussed {rng.choice(TOPICS)} and {rng.choice(TOPICS)} – next step, a “business case”; "
                     + " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 12))) + ".")
            if i % 50 == 0:
                notes += "\nAttendees: finance, procurement and operations."  # a note over two lines
            writer.writerow([f"00TB{i:09d}", f"2026-{rng.randint(1, 11):02d}-{rng.randint(1, 28):02d}",
                             rng.choice(TYPES), f"{rng.choice(TOPICS).capitalize()} follow-up {i}", notes,
                             f"003B{rng.randrange(contacts):06d}", f"001B{rng.randrange(accounts):06d}"])
    return path


# ---------------------------------------------------------------- the child: one ingest, as the CLI runs it

def rss_mb(pid: int | str = "self") -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def stand_in(record: Path | None) -> Any:
    import numpy as np
    from langchain_core.embeddings import Embeddings

    class HashEmbedding(Embeddings):
        """384 dimensions from a hash of the text: deterministic, costs microseconds, not a model."""

        name = "stand-in:hash-384"

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            note(texts, record)
            out = []
            for text in texts:
                seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
                vector = np.random.default_rng(seed).standard_normal(384)
                out.append((vector / np.linalg.norm(vector)).tolist())
            return out

        def embed_query(self, text: str) -> list[float]:
            return self.embed_documents([text])[0]

    return HashEmbedding()


def local_model(record: Path | None) -> Any:
    from bot.knowledge.embeddings import LocalE5

    class Recorded(LocalE5):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            note(texts, record)
            return super().embed_documents(texts)

    return Recorded()


def note(texts: list[str], record: Path | None) -> None:
    """Append the hash of every text sent to the model, so the parent can tell what a run embedded."""
    if record is not None:
        with record.open("a") as handle:
            handle.write("".join(hashlib.sha1(t.encode()).hexdigest() + "\n" for t in texts))


def child_ingest(args: argparse.Namespace) -> None:
    from bot.knowledge.ingest import ingest
    from bot.runtime import build_services
    from bot.settings import load_settings

    record = Path(args.record) if args.record else None
    embeddings = stand_in(record) if args.embedding == "stand-in" else local_model(record)
    server = {"chroma_host": "127.0.0.1", "chroma_port": args.chroma_port} if args.chroma_port else {}
    settings = load_settings(env_file=None, chroma_path=Path(args.chroma), knowledge_path=Path(args.knowledge),
                             **server)
    services = build_services(settings, embeddings=embeddings)
    started = time.perf_counter()
    written = 0

    def progress(total: int, files: int):  # noqa: ANN202 - the CLI's progress hook
        def advance(count: int) -> None:
            nonlocal written
            written += count
            print(json.dumps({"written": written, "total": total, "rss_mb": round(rss_mb()),
                              "s": round(time.perf_counter() - started, 1)}), file=sys.stderr, flush=True)
        return advance

    report = ingest(services.store, embeddings, [settings.knowledge_path], root=settings.knowledge_path,
                    progress=progress, profile=services.profile)
    print(json.dumps({"chunks": report.chunks, "stored": services.store.count(), "added": report.added,
                      "unchanged": report.unchanged, "errors": len(report.errors),
                      "seconds": round(time.perf_counter() - started, 1)}), flush=True)


def child_floor(args: argparse.Namespace) -> None:
    """Open the finished store and answer one query, as `serve` does: what the store alone costs in memory."""
    import numpy as np

    from bot.knowledge.store import open_store
    from bot.settings import load_settings

    settings = load_settings(env_file=None, chroma_path=Path(args.chroma))
    store = open_store(settings, embedding_model="stand-in:hash-384" if args.embedding == "stand-in"
                       else "local:multilingual-e5-small-q4")
    vector = np.random.default_rng(1).standard_normal(384)
    hits = store.query((vector / np.linalg.norm(vector)).tolist(), k=5)
    print(json.dumps({"hits": len(hits), "count": store.count()}), flush=True)


def child_dump(args: argparse.Namespace) -> None:
    """A digest of every stored chunk (id, text, metadata, vector as float32) and of the manifest."""
    import chromadb
    import numpy as np

    client = chromadb.PersistentClient(path=args.chroma, settings=chromadb.config.Settings(anonymized_telemetry=False))
    out: dict[str, Any] = {"chunks": {}, "texts": []}
    try:
        chunks = client.get_collection("sales_chunks")
    except Exception:
        chunks = None
    offset = 0
    while chunks is not None:
        got = chunks.get(include=["documents", "metadatas", "embeddings"], limit=5000, offset=offset)
        for i, text, meta, vector in zip(got["ids"], got["documents"], got["metadatas"], got["embeddings"]):
            digest = hashlib.sha1(text.encode() + json.dumps(meta, sort_keys=True).encode()
                                  + np.asarray(vector, dtype=np.float32).tobytes()).hexdigest()
            out["chunks"][i] = digest
            out["texts"].append(hashlib.sha1(text.encode()).hexdigest())
        if len(got["ids"]) < 5000:
            break
        offset += 5000
    try:
        sources = client.get_collection("sales_sources").get(include=["metadatas"])
        out["manifest"] = {s: [m["digest"], m["chunks"]] for s, m in zip(sources["ids"], sources["metadatas"])}
    except Exception:
        out["manifest"] = {}
    Path(args.out).write_text(json.dumps(out))


# ---------------------------------------------------------------- the parent: runs, kills, measures

def run_child(knowledge: Path, chroma: Path, embedding: str, *, record: Path | None = None,
              kill_at: float | None = None, port: int | None = None, mode: str = "ingest") -> dict[str, Any]:
    """One ingest in a child process. `kill_at`: SIGKILL once this share of the chunks is written."""
    command = [sys.executable, __file__, "--child", mode, "--knowledge", str(knowledge), "--chroma", str(chroma),
               "--embedding", embedding] + (["--record", str(record)] if record else []) \
        + (["--chroma-port", str(port)] if port else [])
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    samples: list[float] = []
    progress: list[dict[str, Any]] = []
    other: list[str] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.5):
            samples.append(rss_mb(child.pid))

    def read_progress() -> None:
        assert child.stderr is not None
        for line in child.stderr:
            try:
                step = json.loads(line)
            except json.JSONDecodeError:
                other.append(line)
                continue
            progress.append(step)
            if kill_at is not None and step["written"] >= kill_at * step["total"]:
                os.kill(child.pid, signal.SIGKILL)

    threads = [threading.Thread(target=sample, daemon=True), threading.Thread(target=read_progress, daemon=True)]
    for thread in threads:
        thread.start()
    assert child.stdout is not None
    out = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    stop.set()
    for thread in threads:
        thread.join(timeout=5)
    result: dict[str, Any] = {"wall_s": round(time.perf_counter() - started, 1), "peak_rss_mb": usage.ru_maxrss / 1024,
                              "samples": samples, "progress": progress, "rc": child.returncode}
    if child.returncode == 0:
        result.update(json.loads(out.strip().splitlines()[-1]))
    elif kill_at is None:
        raise SystemExit(f"ingest failed (rc {child.returncode}):\n{''.join(other)[-3000:]}")
    return result


def dump(chroma: Path, out: Path) -> dict[str, Any]:
    subprocess.run([sys.executable, __file__, "--child", "dump", "--chroma", str(chroma), "--out", str(out)],
                   check=True, cwd=REPO)
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def start_server(path: Path) -> tuple[subprocess.Popen, int]:
    """`chroma run` on a free loopback port (the production path: CHROMA_HOST/CHROMA_PORT)."""
    import socket

    import chromadb

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = (path.parent / "chroma-server.log").open("wb")
    server = subprocess.Popen([str(Path(sys.executable).parent / "chroma"), "run", "--path", str(path),
                               "--host", "127.0.0.1", "--port", str(port)], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while True:
        try:
            chromadb.HttpClient(host="127.0.0.1", port=port).heartbeat()
            return server, port
        except Exception:
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("chroma run did not start") from None
            time.sleep(0.3)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def show_run(label: str, run: dict[str, Any]) -> None:
    flat = [p for p in run["progress"] if p["total"]]
    marks = [flat[int(i * (len(flat) - 1) / 4)] for i in range(5)] if flat else []
    print(f"{label}: {run.get('stored', '?'):,} chunks stored in {run['wall_s']:,.1f} s wall "
          f"(ingest {run.get('seconds', '?')} s); peak RSS {run['peak_rss_mb']:,.0f} MB")
    if marks:
        print("   RSS as it went: " + ", ".join(f"{m['written']:,} written {m['rss_mb']:,} MB" for m in marks))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=866_000)
    parser.add_argument("--embedding", choices=["stand-in", "local"], default="stand-in")
    parser.add_argument("--server", action="store_true",
                        help="write to a Chroma server (`chroma run`) instead of the embedded store")
    parser.add_argument("--resume-check", action="store_true", help="also kill an ingest half-way and re-run it")
    parser.add_argument("--kill-at", type=float, default=0.5, help="share of chunks written when the kill comes")
    parser.add_argument("--child", choices=["ingest", "dump", "floor"], help=argparse.SUPPRESS)
    parser.add_argument("--chroma-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--knowledge", help=argparse.SUPPRESS)
    parser.add_argument("--chroma", help=argparse.SUPPRESS)
    parser.add_argument("--record", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "ingest":
        return child_ingest(args)
    if args.child == "dump":
        return child_dump(args)
    if args.child == "floor":
        return child_floor(args)
    if args.server and args.resume_check:
        parser.error("--resume-check reads the embedded store: run it without --server")

    from bot.knowledge.ingest import EMBED_BATCH

    with tempfile.TemporaryDirectory(prefix="big-csv-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        export = write_export(root / "knowledge", args.rows)
        size = export.stat().st_size / 1e6
        print(f"export: {args.rows:,} activity rows, {size:,.0f} MB (+ 2,000 accounts, 12,000 contacts), "
              f"written in {time.perf_counter() - started:.0f} s")
        which = ("stand-in (hash of the text, 384 dimensions; not a model)" if args.embedding == "stand-in"
                 else "local model (multilingual-e5-small q4, the default)")
        server, port = start_server(root / "server") if args.server else (None, None)
        print(f"embedding: {which}; batches of {EMBED_BATCH:,} chunks; "
              + (f"Chroma server (`chroma run`, pid {server.pid})" if server else "embedded Chroma store"))
        try:
            clean = run_child(root / "knowledge", root / "clean", args.embedding, record=root / "clean.txt", port=port)
            show_run("clean ingest", clean)
            print(f"   {clean['stored'] / max(clean['seconds'], 0.1):,.0f} chunks/s; "
                  f"the RSS target is 1,500 MB: {'met' if clean['peak_rss_mb'] <= 1500 else 'NOT met'}")
            again = run_child(root / "knowledge", root / "clean", args.embedding, record=root / "again.txt", port=port)
            embedded_again = len((root / "again.txt").read_text().split()) if (root / "again.txt").exists() else 0
            print(f"re-run, nothing changed: {again['unchanged']} files unchanged, {embedded_again} texts embedded, "
                  f"{again['wall_s']:.1f} s, peak RSS {again['peak_rss_mb']:,.0f} MB")
            if server:
                print(f"the Chroma server holding the {clean['stored']:,} vectors: peak RSS "
                      f"{peak_rss_mb(server.pid):,.0f} MB")
            else:
                floor = run_child(root / "knowledge", root / "clean", args.embedding, mode="floor")
                print(f"opening this store and answering one query (no ingest; what `serve` pays for it): "
                      f"peak RSS {floor['peak_rss_mb']:,.0f} MB")
        finally:
            if server:
                server.terminate()
                server.wait(timeout=30)
        if not args.resume_check:
            return

        killed = run_child(root / "knowledge", root / "resumed", args.embedding, record=root / "killed.txt",
                           kill_at=args.kill_at)
        before = dump(root / "resumed", root / "before.json")
        print(f"killed (SIGKILL) after {killed['progress'][-1]['written']:,} chunks reported written, "
              f"{killed['wall_s']:.1f} s: the store holds {len(before['chunks']):,} chunks, "
              f"{sum(1 for digest, _ in before['manifest'].values() if digest)} source(s) marked complete")
        resumed = run_child(root / "knowledge", root / "resumed", args.embedding, record=root / "resumed.txt")
        show_run("re-run after the kill", resumed)
        embedded = (root / "resumed.txt").read_text().split()
        written_before = set(before["texts"])
        twice = sum(1 for t in embedded if t in written_before)
        reference, after = dump(root / "clean", root / "clean.json"), dump(root / "resumed", root / "after.json")
        same = reference["chunks"] == after["chunks"] and reference["manifest"] == after["manifest"]
        print(f"   embedded {len(embedded):,} texts = {clean['stored']:,} - {len(before['chunks']):,} written before "
              f"the kill{'' if len(embedded) == clean['stored'] - len(before['chunks']) else ' (NOT equal)'}; "
              f"embedded again of those: {twice}")
        print(f"   store after the re-run equals the clean run's (ids, texts, metadata, vectors, manifest): {same}")
        if not same or twice:
            raise SystemExit(1)


if __name__ == "__main__":
    main()
