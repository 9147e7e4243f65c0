"""Operating figures for `python -m bot serve` (HTTP mode, waitress + Bolt, signed requests, loopback only).

    .venv/bin/python bench/production_bench.py refresh [--questions 500]   # ingest twice while answering
    .venv/bin/python bench/production_bench.py paused [--pause 60]         # the Chroma server paused mid-traffic

refresh: the sample knowledge is copied, ingested and served; /ask commands arrive at a steady rate while
another process adds a document and runs `python -m bot ingest`, twice. Counted: results that are an error
message instead of an answer, and whether questions about each new document cite it.

paused: the bot talks to a Chroma server (`chroma run`); commands arrive at a steady rate; the server is
stopped with SIGSTOP for --pause seconds and resumed. Counted: the longest wait from a command to its reply
during the pause (each Chroma call is bounded, and a breaker fails the others fast), and when answers resume.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from serving import free_port, serve_env, signed_command, wait_until_up  # noqa: E402
from slack_mock import SlackMock  # noqa: E402

from bench.slack_bench import SECRET, percentile  # noqa: E402
from bot.listeners.replies import FAILED, STORE_DOWN  # noqa: E402

WORK = ROOT / ".data" / "bench" / "production"
ERRORS = (FAILED, STORE_DOWN)  # what a user reads instead of an answer
QUESTIONS = ["what is the next step on the Acme deal?", "who is the CFO at Brightwater Health?",
             "what proof do we have for a CFO?", "what are the payment terms?"]
NEW_DOCS = [("refresh-1.md", "Zephyrine warranty", "The Zephyrine warranty covers every plant for nine years."),
            ("refresh-2.md", "Quorvex rebate", "The Quorvex rebate returns four percent of annual spend.")]


class Bot:
    """The mock Slack API, the real server in its own process, and signed slash commands with their replies."""

    def __init__(self, *, chroma_path: Path, knowledge_path: Path, **env: str):
        self.mock = SlackMock().start()
        self.port = free_port()
        self.env = serve_env(self.port, chroma_path=chroma_path, knowledge_path=knowledge_path,
                             slack_url=self.mock.url, secret=SECRET, LOG_LEVEL="WARNING", **env)
        self.sent: dict[int, float] = {}
        self.seen: dict[int, tuple[float, str]] = {}
        self._stop = threading.Event()
        self.process: subprocess.Popen[bytes] | None = None

    def ingest(self) -> float:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "bot", "ingest", "--json"], cwd=ROOT, env=self.env, check=True,
                       stdout=subprocess.DEVNULL)
        return time.perf_counter() - started

    def start(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "bot", "serve"], cwd=ROOT, env=self.env)
        wait_until_up(self.port, path="/readyz", timeout=90, process=self.process)
        threading.Thread(target=self._watch, daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        if self.process:
            self.process.terminate()
            self.process.wait(timeout=15)
        self.mock.stop()

    def ask(self, index: int, question: str) -> None:
        request = signed_command(f"http://127.0.0.1:{self.port}/slack/events", "/ask", question,
                                 response_url=f"{self.mock.url}response/{index}", secret=SECRET,
                                 trigger_id=f"t{index}")
        self.sent[index] = time.monotonic()
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200, response.status
            response.read()

    def _watch(self) -> None:
        """Notes when each reply reaches its response_url (polled every 20 ms)."""
        done = 0
        while not self._stop.is_set():
            with self.mock.lock:
                calls = self.mock.calls[done:]
                done += len(calls)
            now = time.monotonic()
            for call in calls:
                if call.path.startswith("/response/"):
                    text = str(call.body.get("text") or "") + str(call.body.get("blocks") or "")
                    self.seen.setdefault(int(call.path.rsplit("/", 1)[1]), (now, text))
            time.sleep(0.02)

    def wait_replies(self, indexes: list[int], timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not all(i in self.seen for i in indexes):
            time.sleep(0.1)


def steady(bot: Bot, count: int, rate: float, question: Any, start: int = 0) -> threading.Thread:
    def run() -> None:
        for n in range(start, start + count):
            due = started + (n - start) / rate
            time.sleep(max(0.0, due - time.monotonic()))
            try:
                bot.ask(n, question(n))
            except Exception as exc:  # an ack failure is a figure too
                print(f"  command {n} not acknowledged: {exc}")
    started = time.monotonic()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def refresh(args: argparse.Namespace) -> None:
    shutil.rmtree(WORK / "refresh", ignore_errors=True)
    knowledge = WORK / "refresh" / "knowledge"
    shutil.copytree(ROOT / "knowledge", knowledge)
    bot = Bot(chroma_path=WORK / "refresh" / "chroma", knowledge_path=knowledge)
    print(f"first ingest: {bot.ingest():.1f} s")
    bot.start()
    try:
        traffic = steady(bot, args.questions, args.rate, lambda n: QUESTIONS[n % len(QUESTIONS)])
        probes: list[tuple[int, str]] = []
        for number, (name, topic, fact) in enumerate(NEW_DOCS):
            time.sleep(args.questions / args.rate / (len(NEW_DOCS) + 1))
            (knowledge / "content" / name).write_text(f"# {topic}\n\n{fact}\n", encoding="utf-8")
            took = bot.ingest()
            print(f"ingest {number + 1} while answering (adds content/{name}): {took:.1f} s")
            time.sleep(6)  # serve checks the store's generation every 5 s
            index = 100_000 + number
            bot.ask(index, f"what does the {topic} cover?")
            probes.append((index, name))
        traffic.join()
        indexes = list(range(args.questions)) + [i for i, _ in probes]
        bot.wait_replies(indexes)
        errors = [i for i in range(args.questions) if any(e in bot.seen.get(i, (0, ""))[1] for e in ERRORS)]
        missing = [i for i in indexes if i not in bot.seen]
        waits = [bot.seen[i][0] - bot.sent[i] for i in range(args.questions) if i in bot.seen]
        print(f"{args.questions} /ask at {args.rate:g}/s while two ingests ran in another process: "
              f"{len(errors)} errors, {len(missing)} without a reply; reply p50 {statistics.median(waits):.2f} s, "
              f"p99 {percentile(waits, 0.99):.2f} s")
        for index, name in probes:
            text = bot.seen.get(index, (0, ""))[1]
            print(f"  question about the new document {name}: {'cited' if name in text else 'NOT cited'}")
    finally:
        bot.stop()


def wait_for_heartbeat(port: int, server: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """Until the Chroma server on `port` answers its heartbeat."""
    import chromadb

    deadline = time.monotonic() + timeout
    while True:
        if server.poll() is not None:
            raise RuntimeError(f"chroma run exited with {server.returncode}")
        try:
            chromadb.HttpClient(host="127.0.0.1", port=port).heartbeat()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def paused(args: argparse.Namespace) -> None:
    shutil.rmtree(WORK / "paused", ignore_errors=True)
    port = free_port()
    log = (WORK / "paused.log")
    log.parent.mkdir(parents=True, exist_ok=True)
    server = subprocess.Popen([str(Path(sys.executable).parent / "chroma"), "run", "--path",
                               str(WORK / "paused" / "server"), "--host", "127.0.0.1", "--port", str(port)],
                              stdout=log.open("wb"), stderr=subprocess.STDOUT)
    bot = Bot(chroma_path=WORK / "paused" / "unused", knowledge_path=ROOT / "knowledge", CHROMA_HOST="127.0.0.1",
              CHROMA_PORT=str(port))
    try:
        wait_for_heartbeat(port, server)
        print(f"ingest into the Chroma server: {bot.ingest():.1f} s")
        bot.start()
        before, total = 10.0, args.pause + 30.0
        count = int(total * args.rate)
        traffic = steady(bot, count, args.rate, lambda n: QUESTIONS[n % len(QUESTIONS)])
        time.sleep(before)
        server.send_signal(signal.SIGSTOP)
        paused_at = time.monotonic()
        print(f"Chroma server paused (SIGSTOP) for {args.pause:g} s")
        time.sleep(args.pause)
        server.send_signal(signal.SIGCONT)
        resumed_at = time.monotonic()
        traffic.join()
        bot.wait_replies(list(range(count)))
        during = [i for i in range(count) if paused_at <= bot.sent.get(i, 0) < resumed_at]
        waits = [bot.seen[i][0] - bot.sent[i] for i in during if i in bot.seen]
        told = sum(1 for i in during if STORE_DOWN in bot.seen.get(i, (0, ""))[1])
        answered_after = [bot.seen[i][0] - resumed_at for i in range(count)
                          if bot.sent.get(i, 0) >= resumed_at and i in bot.seen
                          and not any(e in bot.seen[i][1] for e in ERRORS)]
        missing = [i for i in range(count) if i not in bot.seen]
        print(f"{len(during)} /ask sent during the pause: longest wait for a reply {max(waits):.1f} s, "
              f"median {statistics.median(waits):.2f} s; {told} told the store isn't answering; "
              f"{len(missing)} of {count} without any reply")
        if answered_after:
            print(f"after resuming: answers again {min(answered_after):.1f} s after SIGCONT")
    finally:
        server.send_signal(signal.SIGCONT)
        bot.stop()
        server.terminate()
        server.wait(timeout=15)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", choices=["refresh", "paused"])
    parser.add_argument("--questions", type=int, default=500)
    parser.add_argument("--rate", type=float, default=5.0, help="commands per second")
    parser.add_argument("--pause", type=float, default=60.0)
    args = parser.parse_args()
    {"refresh": refresh, "paused": paused}[args.scenario](args)


if __name__ == "__main__":
    main()
