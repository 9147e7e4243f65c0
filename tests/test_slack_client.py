"""The Web API client the app builds: a 429 is waited out (Retry-After) and retried, a bounded number of times."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bot.app import build_client


class RateLimited(BaseHTTPRequestHandler):
    """Answers 429 with Retry-After: 1 to the first `limited` calls, then ok."""

    calls = 0
    limited = 1

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).calls += 1
        if type(self).calls <= type(self).limited:
            self.send_response(429)
            self.send_header("Retry-After", "1")
            body = json.dumps({"ok": False, "error": "ratelimited"}).encode()
        else:
            self.send_response(200)
            body = json.dumps({"ok": True, "ts": "1.0"}).encode()
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def serve(limited: int) -> tuple[ThreadingHTTPServer, type[RateLimited]]:
    handler = type("Handler", (RateLimited,), {"calls": 0, "limited": limited})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, handler


def test_a_429_is_waited_out_and_the_message_is_posted(make_settings) -> None:
    server, handler = serve(limited=1)
    try:
        host, port = server.server_address[:2]
        client = build_client(make_settings(slack_bot_token="xoxb-test", slack_api_url=f"http://{host}:{port}/"))
        assert client.chat_postMessage(channel="C1", text="hello")["ok"]
        assert handler.calls == 2
    finally:
        server.shutdown()


def test_retries_are_bounded(make_settings) -> None:
    import pytest
    from slack_sdk.errors import SlackApiError

    server, handler = serve(limited=10)
    try:
        host, port = server.server_address[:2]
        client = build_client(make_settings(slack_bot_token="xoxb-test", slack_api_url=f"http://{host}:{port}/"))
        with pytest.raises(SlackApiError):
            client.chat_postMessage(channel="C1", text="hello")
        assert handler.calls == 3  # the call and two retries
    finally:
        server.shutdown()
