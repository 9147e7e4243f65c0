"""Serving the Slack app: HTTP mode (`/slack/events`) or Socket Mode, each with `/healthz`, `/readyz` and
`/metrics` on PORT, and a graceful stop."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sized
from typing import Any
from urllib.parse import parse_qs

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk.signature import SignatureVerifier

from bot.observability import count_error, count_request, observe_ack, render_metrics
from bot.settings import Settings, SettingsError

logger = logging.getLogger(__name__)


MAX_BODY = 1_000_000  # Slack's payloads are a few KB; anything near this is not from Slack


def _reply(start_response: Callable[..., Any], status: str, message: str) -> list[bytes]:
    body = json.dumps({"ok": status.startswith("2"), "error": message}).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def _json(start_response: Callable[..., Any], status: str, payload: dict[str, Any]) -> list[bytes]:
    body = json.dumps(payload).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def _refusal(environ: dict[str, Any], raw: bytes, verifier: SignatureVerifier | None) -> tuple[str, str, str] | None:
    """Why a request to /slack/events is refused before Bolt sees it (status, reason, error kind), or None.

    Checked in this order: size, signature (when a signing secret is set), then the body's shape, so an unsigned
    request is 401 whatever its body, and a signed but malformed one 400 — never a 500 and a traceback.
    """
    headers = {"x-slack-request-timestamp": environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", ""),
               "x-slack-signature": environ.get("HTTP_X_SLACK_SIGNATURE", "")}
    if verifier is not None:
        timestamp = headers["x-slack-request-timestamp"]
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 60 * 5:
            unsigned = not timestamp or not headers["x-slack-signature"]
            return "401 Unauthorized", "missing or stale timestamp", "refused_unsigned" if unsigned else "refused_stale"
        # over the raw bytes: a body that is not UTF-8 must still be checked, not crash the check
        expected = "v0=" + hmac.new(verifier.signing_secret.encode(), b"v0:" + timestamp.encode() + b":" + raw,
                                    hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, headers["x-slack-signature"]):
            return "401 Unauthorized", "invalid signature", "refused_signature"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "400 Bad Request", "body is not UTF-8", "refused_malformed"
    if "json" in str(environ.get("CONTENT_TYPE") or ""):
        try:
            if not isinstance(json.loads(text), dict):
                return "400 Bad Request", "JSON body is not an object", "refused_malformed"
        except (ValueError, RecursionError):
            return "400 Bad Request", "invalid JSON body", "refused_malformed"
    else:
        payload = parse_qs(text).get("payload")
        if payload:
            try:
                if not isinstance(json.loads(payload[0]), dict):
                    return "400 Bad Request", "payload is not a JSON object", "refused_malformed"
            except (ValueError, RecursionError):
                return "400 Bad Request", "invalid payload", "refused_malformed"
    return None


# interactive payload types (buttons, modals, shortcuts): the "action" kind in the metrics
_INTERACTIVE = {"block_actions", "block_suggestion", "view_submission", "view_closed", "shortcut", "message_action",
                "interactive_message", "dialog_submission"}


def _request_kind(environ: dict[str, Any], raw: bytes) -> str:
    """command, event, action or other, for the metrics; the body was already checked by _refusal."""
    try:
        text = raw.decode("utf-8")
        if "json" in str(environ.get("CONTENT_TYPE") or ""):
            return "event" if json.loads(text).get("type") == "event_callback" else "other"
        form = parse_qs(text)
        if form.get("command"):
            return "command"
        if form.get("payload"):
            return "action" if json.loads(form["payload"][0]).get("type") in _INTERACTIVE else "other"
    except (ValueError, RecursionError, AttributeError):
        pass
    return "other"


def _outcome(status: str, environ: dict[str, Any]) -> str:
    code = status[:1]
    if code == "2":
        return "retry" if environ.get("HTTP_X_SLACK_RETRY_NUM") else "ok"
    if status.startswith("503"):
        return "unavailable"
    return "refused" if code == "4" else "error"


class _Measured:
    """A response body that records the request once the server has written it (WSGI servers call close())."""

    def __init__(self, body: Iterable[bytes], done: Callable[[], None]):
        self.body = body
        self.done = done

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.body)

    def __len__(self) -> int:
        return len(self.body) if isinstance(self.body, Sized) else 0

    def close(self) -> None:
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            self.done()


def readiness(services: Any) -> tuple[bool, dict[str, Any]]:
    """Whether this replica can answer: the store reachable with its knowledge in it, the embedding model loaded."""
    checks: dict[str, Any] = {}
    try:
        checks["chunks"] = int(services.store.chunks.count())
        checks["store"] = checks["chunks"] > 0
    except Exception as exc:  # a server down, a path unreadable: not ready, and say why in one word
        checks["store"], checks["error"] = False, type(exc).__name__
    model = getattr(services.embeddings, "_model", True)  # the local models load lazily; others are remote
    checks["model"] = model is not None
    return bool(checks["store"] and checks["model"]), checks


Application = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def wsgi_app(app: App, *, signing_secret: str | None = None, ready: Callable[[], tuple[bool, dict[str, Any]]] | None
             = None, live: Callable[[], dict[str, Any]] | None = None, stopping: threading.Event | None = None,
             slack_events: bool = True) -> Application:
    """Slack events on POST /slack/events; GET /healthz (liveness), /readyz (readiness), /metrics (Prometheus).

    Requests are checked before Bolt parses them: too large is 413, unsigned 401, malformed 400. A refused body
    is never logged (one line: the reason and the size), so it can neither fill the log nor forge lines in it.
    Once `stopping` is set, /readyz and /slack/events answer 503 (Slack re-delivers to another replica).
    Socket Mode serves the same health and metrics with `slack_events=False`.
    """
    slack = SlackRequestHandler(app, path="/slack/events")
    secret = signing_secret if signing_secret is not None else getattr(app, "_signing_secret", "")
    verifier = SignatureVerifier(secret) if secret else None

    def events(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        started = time.perf_counter()
        if stopping is not None and stopping.is_set():
            count_request("other", "unavailable")
            return _reply(start_response, "503 Service Unavailable", "shutting down")
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            logger.info("refused a request to /slack/events: bad or too large Content-Length (%s)",
                        str(environ.get("CONTENT_LENGTH"))[:20])
            count_request("other", "refused")
            count_error("refused_too_large")
            return _reply(start_response, "413 Payload Too Large", "body too large")
        raw = environ["wsgi.input"].read(length) if length else b""
        refusal = _refusal(environ, raw, verifier)
        if refusal:
            logger.info("refused a request to /slack/events: %s (%d bytes)", refusal[1], len(raw))
            count_request("other", "refused")
            count_error(refusal[2])
            return _reply(start_response, refusal[0], refusal[1])
        environ["wsgi.input"] = io.BytesIO(raw)  # Bolt reads the body again
        kind = _request_kind(environ, raw)
        statuses: list[str] = []

        def recording_start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            statuses.append(status)
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        def done() -> None:
            outcome = _outcome(statuses[-1] if statuses else "500", environ)
            count_request(kind, outcome)
            observe_ack(kind, time.perf_counter() - started)
            if outcome == "error":
                count_error("slack_request_failed")

        return _Measured(slack(environ, recording_start_response), done)

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO")
        if path == "/healthz":
            return _json(start_response, "200 OK", live() if live else {"ok": True})
        if path == "/readyz":
            if stopping is not None and stopping.is_set():
                ok, checks = False, {"stopping": True}  # the load balancer stops sending before the port closes
            else:
                ok, checks = ready() if ready else (True, {})
            return _json(start_response, "200 OK" if ok else "503 Service Unavailable", {"ok": ok, **checks})
        if path == "/metrics" and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            body, content_type = render_metrics()
            start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(body)))])
            return [body]
        if not slack_events:
            return _reply(start_response, "404 Not Found", "not found")
        if path == "/slack/events" and environ.get("REQUEST_METHOD") == "POST":
            return events(environ, start_response)
        return slack(environ, start_response)

    return application


def check_slack_settings(settings: Settings) -> None:
    if not settings.slack_bot_token:
        raise SettingsError("SLACK_BOT_TOKEN: required to serve Slack (or run `python -m bot chat` locally)")
    if not settings.slack_app_token and not settings.slack_signing_secret:
        raise SettingsError("SLACK_SIGNING_SECRET: required in HTTP mode (or set SLACK_APP_TOKEN for Socket Mode)")


def serve(app: App, settings: Settings, *, threads: int = 48,
          ready: Callable[[], tuple[bool, dict[str, Any]]] | None = None) -> None:
    if settings.slack_app_token:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        logger.info("Slack: Socket Mode")
        SocketModeHandler(app, settings.slack_app_token).start()
        return
    import waitress

    logger.info("Slack: HTTP mode on port %s (/slack/events, /healthz, /readyz)", settings.port)
    waitress.serve(wsgi_app(app, signing_secret=settings.slack_signing_secret, ready=ready), host="0.0.0.0", port=settings.port, threads=threads, ident="revenue-bot",
                   asyncore_use_poll=True)  # poll(): no 1,024 file-descriptor ceiling
