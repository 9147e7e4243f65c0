"""Fifty slash commands at once against the running HTTP server over loopback.

    .venv/bin/python bench/slack_bench.py [--commands 50]

Starts a mock Slack Web API / response_url server, the real app (waitress + Bolt, signed requests,
sample knowledge, local embeddings), fires the commands concurrently and reports ack latency and
whether every result reached its response_url.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import waitress  # noqa: E402
from slack_mock import SlackMock  # noqa: E402
from slack_sdk import WebClient  # noqa: E402
from slack_sdk.signature import SignatureVerifier  # noqa: E402

from bot.app import create_app  # noqa: E402
from bot.knowledge.ingest import ingest  # noqa: E402
from bot.runtime import build_services  # noqa: E402
from bot.server import wsgi_app  # noqa: E402
from bot.settings import load_settings  # noqa: E402

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
    settings = load_settings(env_file=None, slack_bot_token="xoxb-bench", slack_signing_secret=SECRET,
                             slack_api_url=mock.url, chroma_path=ROOT / ".data" / "bench" / "sample",
                             knowledge_path=ROOT / "knowledge")
    services = build_services(settings)
    ingest(services.store, services.embeddings, [settings.knowledge_path], root=settings.knowledge_path)
    services.retriever.refresh()
    services.embeddings.embed_query("warm up")
    app = create_app(settings, services=services, client=WebClient(token="xoxb-bench", base_url=mock.url))
    server = waitress.create_server(wsgi_app(app), host="127.0.0.1", port=0, threads=16)
    threading.Thread(target=server.run, daemon=True).start()
    url = f"http://127.0.0.1:{server.effective_port}/slack/events"
    verifier = SignatureVerifier(SECRET)

    def send(index: int) -> float:
        command, text = COMMANDS[index % len(COMMANDS)]
        body = urlencode({"command": command, "text": text, "user_id": f"U{index}", "channel_id": "C1",
                          "team_id": "T1", "trigger_id": f"t{index}", "response_url": f"{mock.url}response/{index}"})
        stamp = str(int(time.time()))
        request = urllib.request.Request(url, data=body.encode(), method="POST", headers={
            "Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": verifier.generate_signature(timestamp=stamp, body=body)})
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200
            response.read()
        return (time.perf_counter() - started) * 1000

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.commands) as pool:
        acks = list(pool.map(send, range(args.commands)))
    deadline = time.monotonic() + 120
    delivered: set[str] = set()
    while time.monotonic() < deadline and len(delivered) < args.commands:
        delivered = {c.path for c in mock.calls if c.path.startswith("/response/")}
        time.sleep(0.05)
    total = time.perf_counter() - started
    print(f"{args.commands} slash commands at once: {len(acks)} acknowledged (HTTP 200); ack p50 "
          f"{statistics.median(acks):.0f} ms, p99 {percentile(acks, 0.99):.0f} ms, max {max(acks):.0f} ms")
    print(f"results delivered to response_url: {len(delivered)}/{args.commands}, last one after {total:.1f} s")
    server.close()
    mock.stop()


if __name__ == "__main__":
    main()
