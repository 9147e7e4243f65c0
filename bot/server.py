"""Serving the Slack app: HTTP mode (`/slack/events`, `/healthz`) or Socket Mode."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk.signature import SignatureVerifier

from bot.settings import Settings, SettingsError

logger = logging.getLogger(__name__)


MAX_BODY = 1_000_000  # Slack's payloads are a few KB; anything near this is not from Slack


def _reply(start_response: Callable[..., Any], status: str, message: str) -> list[bytes]:
    body = json.dumps({"ok": status.startswith("2"), "error": message}).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def _refusal(environ: dict[str, Any], raw: bytes, verifier: SignatureVerifier | None) -> tuple[str, str] | None:
    """Why a request to /slack/events is refused before Bolt sees it (status, reason), or None.

    Checked in this order: size, signature (when a signing secret is set), then the body's shape, so an unsigned
    request is 401 whatever its body, and a signed but malformed one 400 — never a 500 and a traceback.
    """
    headers = {"x-slack-request-timestamp": environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", ""),
               "x-slack-signature": environ.get("HTTP_X_SLACK_SIGNATURE", "")}
    if verifier is not None:
        timestamp = headers["x-slack-request-timestamp"]
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 60 * 5:
            return "401 Unauthorized", "missing or stale timestamp"
        # over the raw bytes: a body that is not UTF-8 must still be checked, not crash the check
        expected = "v0=" + hmac.new(verifier.signing_secret.encode(), b"v0:" + timestamp.encode() + b":" + raw,
                                    hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, headers["x-slack-signature"]):
            return "401 Unauthorized", "invalid signature"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "400 Bad Request", "body is not UTF-8"
    if "json" in str(environ.get("CONTENT_TYPE") or ""):
        try:
            if not isinstance(json.loads(text), dict):
                return "400 Bad Request", "JSON body is not an object"
        except (ValueError, RecursionError):
            return "400 Bad Request", "invalid JSON body"
    else:
        payload = parse_qs(text).get("payload")
        if payload:
            try:
                if not isinstance(json.loads(payload[0]), dict):
                    return "400 Bad Request", "payload is not a JSON object"
            except (ValueError, RecursionError):
                return "400 Bad Request", "invalid payload"
    return None


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


def wsgi_app(app: App, *, signing_secret: str | None = None, ready: Callable[[], tuple[bool, dict[str, Any]]] | None
             = None) -> Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]:
    """Slack events on POST /slack/events, a health check on GET /healthz; stateless.

    Requests are checked before Bolt parses them: too large is 413, unsigned 401, malformed 400. A refused body
    is never logged (one line: the reason and the size), so it can neither fill the log nor forge lines in it.
    """
    slack = SlackRequestHandler(app, path="/slack/events")
    secret = signing_secret if signing_secret is not None else getattr(app, "_signing_secret", "")
    verifier = SignatureVerifier(secret) if secret else None

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/readyz":
            ok, checks = ready() if ready else (True, {})
            body = json.dumps({"ok": ok, **checks}).encode()
            start_response("200 OK" if ok else "503 Service Unavailable",
                           [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        if environ.get("PATH_INFO") == "/healthz":
            body = json.dumps({"ok": True}).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        if environ.get("PATH_INFO") == "/slack/events" and environ.get("REQUEST_METHOD") == "POST":
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = -1
            if length < 0 or length > MAX_BODY:
                logger.info("refused a request to /slack/events: bad or too large Content-Length (%s)",
                            str(environ.get("CONTENT_LENGTH"))[:20])
                return _reply(start_response, "413 Payload Too Large", "body too large")
            raw = environ["wsgi.input"].read(length) if length else b""
            refusal = _refusal(environ, raw, verifier)
            if refusal:
                logger.info("refused a request to /slack/events: %s (%d bytes)", refusal[1], len(raw))
                return _reply(start_response, *refusal)
            environ["wsgi.input"] = io.BytesIO(raw)  # Bolt reads the body again
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
