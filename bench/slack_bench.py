"""Fifty slash commands at once against the running HTTP server over loopback.

    .venv/bin/python bench/slack_bench.py [--commands 50]

Starts a mock Slack Web API / response_url server and the real server in its own process
(`python -m bot serve`: waitress + Bolt, sample knowledge, local embeddings), fires signed commands
concurrently and reports ack latency and whether every result reached its response_url.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from serving import free_port, serve_env, signed_command, wait_until_up  # noqa: E402
from slack_mock import SlackMock  # noqa: E402

SECRET = "bench-secret"
COMMANDS = [("/brief", "Acme"), ("/leads", "Brightwater Health"), ("/draft", "Nordwind --persona CFO"),
            ("/ask", "what is the next step on the Acme deal?"), ("/campaign", "CFO --industry Retail")]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--commands", type=int, default=50)
    args = parser.parse_args()
    mock = SlackMock().start()
    port = free_port()
    env = serve_env(port, chroma_path=ROOT / ".data" / "bench" / "sample", knowledge_path=ROOT / "knowledge",
                    slack_url=mock.url, secret=SECRET, LOG_LEVEL="WARNING")
    subprocess.run([sys.executable, "-m", "bot", "ingest", "--json"], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    server = subprocess.Popen([sys.executable, "-m", "bot", "serve"], cwd=ROOT, env=env)
    try:
        wait_until_up(port, timeout=60, process=server)
        run(args.commands, f"http://127.0.0.1:{port}/slack/events", mock)
    finally:
        server.terminate()
        server.wait(timeout=10)
        mock.stop()


def run(count: int, url: str, mock: SlackMock) -> None:
    def send(index: int) -> float:
        command, text = COMMANDS[index % len(COMMANDS)]
        request = signed_command(url, command, text, response_url=f"{mock.url}response/{index}", secret=SECRET,
                                 user=f"U{index}", trigger_id=f"t{index}")
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200
            response.read()
        return (time.perf_counter() - started) * 1000

    for warm in range(10_000, 10_005):  # warm-up: auth.test, the model, the caches
        send(warm)
    mock.wait_for("/response/10004", timeout=60)
    time.sleep(0.5)
    mock.calls.clear()
    gate = threading.Barrier(count + 1)  # every client thread started and waiting: then all send at once

    def send_at_once(index: int) -> float:
        gate.wait()
        return send(index)

    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(send_at_once, index) for index in range(count)]
        while gate.n_waiting < count:
            time.sleep(0.01)
        started = time.perf_counter()
        gate.wait()
        acks = [future.result() for future in futures]
    deadline = time.monotonic() + 120
    delivered: set[str] = set()
    while time.monotonic() < deadline and len(delivered) < count:
        delivered = {c.path for c in mock.calls if c.path.startswith("/response/")}
        time.sleep(0.05)
    total = time.perf_counter() - started
    print(f"{count} slash commands at once to `python -m bot serve` (waitress, signed requests): "
          f"{len(acks)} acknowledged with HTTP 200; ack p50 {statistics.median(acks):.0f} ms, "
          f"p99 {percentile(acks, 0.99):.0f} ms, max {max(acks):.0f} ms")
    print(f"results delivered to response_url: {len(delivered)}/{count}, last one after {total:.1f} s")


if __name__ == "__main__":
    main()
