"""A local mock of Slack's Web API and response_url endpoint that records every call.

Stdlib ThreadingHTTPServer on 127.0.0.1, port 0. Web API methods answer {"ok": true, ...}; a test can
set per-method replies (e.g. users.info for a guest), or override `answer` for an HTTP status and headers (a 429
with Retry-After). GET parameters (users.lookupByEmail, users.list) are read into the call's body. Any other path
(a response_url) is recorded too.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

BOT_USER_ID = "UBOT"
BOT_ID = "BBOT"


@dataclass
class Call:
    path: str
    body: dict[str, Any]
    headers: dict[str, str]

    @property
    def method(self) -> str:
        return self.path.rsplit("/", 1)[-1]


class SlackMock:
    def __init__(self, *, poll_interval: float = 0.5) -> None:
        """`poll_interval`: how soon stop() returns (serve_forever looks for shutdown this often)."""
        self.calls: list[Call] = []
        self.replies: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()
        mock = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:  # noqa: N802
                path, _, query = self.path.partition("?")
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                if "json" in (self.headers.get("Content-Type") or ""):
                    body = json.loads(raw or "{}")
                else:
                    body = {k: v[0] for k, v in parse_qs(raw).items()}
                    for key in ("blocks", "view", "prompts"):
                        if isinstance(body.get(key), str):
                            try:
                                body[key] = json.loads(body[key])
                            except json.JSONDecodeError:
                                pass
                body.update({k: v[0] for k, v in parse_qs(query).items()})
                call = Call(path, body, dict(self.headers))
                with mock.lock:
                    mock.calls.append(call)
                status, headers, reply = mock.answer(call)
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST  # noqa: N815

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": poll_interval},
                                       daemon=True)

    def answer(self, call: Call) -> tuple[int, dict[str, str], dict[str, Any]]:
        """(HTTP status, extra headers, JSON body) for a call; a subclass overrides it for statuses other than 200."""
        return 200, {}, self.reply_for(call)

    def reply_for(self, call: Call) -> dict[str, Any]:
        method = call.method
        if method in self.replies:
            return self.replies[method]
        if method == "auth.test":
            return {"ok": True, "user_id": BOT_USER_ID, "bot_id": BOT_ID, "team_id": "T1", "user": "revenue-bot"}
        if method == "users.info":
            return {"ok": True, "user": {"id": call.body.get("user"), "is_restricted": False,
                                         "is_ultra_restricted": False}}
        if method == "conversations.info":
            return {"ok": True, "channel": {"id": call.body.get("channel"), "is_ext_shared": False}}
        if method == "conversations.replies":
            return {"ok": True, "messages": []}
        if method == "chat.postMessage":
            return {"ok": True, "channel": call.body.get("channel"), "ts": f"{time.time():.6f}",
                    "message": {"text": call.body.get("text")}}
        return {"ok": True}

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/"

    def start(self) -> "SlackMock":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def find(self, method_or_path: str) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.method == method_or_path or c.path == method_or_path]

    def wait_for(self, method_or_path: str, count: int = 1, timeout: float = 10.0) -> list[Call]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.find(method_or_path)
            if len(found) >= count:
                return found
            time.sleep(0.02)
        raise AssertionError(f"no {count} call(s) to {method_or_path} within {timeout}s; got "
                             f"{[c.path for c in self.calls]}")
