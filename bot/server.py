"""Serving the Slack app: HTTP mode (`/slack/events`) or Socket Mode, each with `/healthz`, `/readyz` and
`/metrics` on PORT (Socket Mode runs without them when the port is busy), and one graceful stop."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
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


# interactive payload types (buttons, modals, shortcuts): the "action" kind in the metrics
_INTERACTIVE = {"block_actions", "block_suggestion", "view_submission", "view_closed", "shortcut", "message_action",
                "interactive_message", "dialog_submission"}


def _inspect(environ: dict[str, Any], raw: bytes,
             verifier: SignatureVerifier | None) -> tuple[tuple[str, str, str] | None, str]:
    """(why the request is refused before Bolt sees it: status, reason, error kind — or None; its kind for the
    metrics: command, event, action or other), from one parse of the body.

    Checked in this order: signature (when a signing secret is set), then the body's shape, so an unsigned
    request is 401 whatever its body, and a signed but malformed one 400 — never a 500 and a traceback.
    """
    if verifier is not None:
        timestamp = str(environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP") or "")
        signature = str(environ.get("HTTP_X_SLACK_SIGNATURE") or "")
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 60 * 5:
            unsigned = not timestamp or not signature
            return ("401 Unauthorized", "missing or stale timestamp",
                    "refused_unsigned" if unsigned else "refused_stale"), "other"
        # over the raw bytes: a body that is not UTF-8 must still be checked, not crash the check
        expected = "v0=" + hmac.new(verifier.signing_secret.encode(), b"v0:" + timestamp.encode() + b":" + raw,
                                    hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            return ("401 Unauthorized", "invalid signature", "refused_signature"), "other"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return ("400 Bad Request", "body is not UTF-8", "refused_malformed"), "other"
    if "json" in str(environ.get("CONTENT_TYPE") or ""):
        try:
            body = json.loads(text)
        except (ValueError, RecursionError):
            return ("400 Bad Request", "invalid JSON body", "refused_malformed"), "other"
        if not isinstance(body, dict):
            return ("400 Bad Request", "JSON body is not an object", "refused_malformed"), "other"
        return None, "event" if body.get("type") == "event_callback" else "other"
    form = parse_qs(text)
    payload = form.get("payload")
    if payload:
        try:
            interaction = json.loads(payload[0])
        except (ValueError, RecursionError):
            return ("400 Bad Request", "invalid payload", "refused_malformed"), "other"
        if not isinstance(interaction, dict):
            return ("400 Bad Request", "payload is not a JSON object", "refused_malformed"), "other"
        return None, "action" if interaction.get("type") in _INTERACTIVE else "other"
    return None, "command" if form.get("command") else "other"


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
    # the local models load lazily (warm-up loads them); remote ones and stand-ins have nothing to load
    checks["model"] = bool(getattr(services.embeddings, "loaded", True))
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
        refusal, kind = _inspect(environ, raw, verifier)
        if refusal:
            logger.info("refused a request to /slack/events: %s (%d bytes)", refusal[1], len(raw))
            count_request("other", "refused")
            count_error(refusal[2])
            return _reply(start_response, refusal[0], refusal[1])
        environ["wsgi.input"] = io.BytesIO(raw)  # Bolt reads the body again
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


SHUTDOWN_GRACE = 8.0  # seconds for the work in flight after SIGTERM: Docker and Kubernetes send SIGKILL at 10


class HttpServer:
    """waitress on a port, its loop run by the calling thread until told to stop.

    waitress.serve() only stops on an exception in its loop, which would end the loop before the responses in
    flight are written; owning the loop lets shutdown close the listening socket first and keep writing.
    """

    def __init__(self, application: Application, *, port: int, threads: int, host: str = "0.0.0.0"):
        import waitress

        self.server: Any = waitress.create_server(application, host=host, port=port, threads=threads,
                                                  ident="revenue-bot", asyncore_use_poll=True)  # poll(): no 1,024 fd ceiling
        self.port = int(self.server.effective_port)

    def run(self, until: Callable[[], bool]) -> None:
        from waitress import wasyncore

        while not until():
            # a signal handler runs between two polls; 0.2 s bounds how late it is noticed
            wasyncore.loop(timeout=0.2, map=self.server._map, count=1, use_poll=True)

    def stop_accepting(self) -> None:
        """Close the listening socket (new connections are refused at once); call from the loop's thread."""
        from waitress import wasyncore

        wasyncore.dispatcher.close(self.server)  # not server.close(): its trigger still wakes the loop to write

    def idle(self) -> bool:
        tasks = self.server.task_dispatcher
        return not tasks.active_count and not tasks.queue

    def flushed(self) -> bool:
        return all(not getattr(channel, "total_outbufs_len", 0) and not getattr(channel, "requests", None)
                   for channel in list(self.server._map.values()))

    def close(self, timeout: float = 1.0) -> None:
        from waitress import wasyncore

        self.server.task_dispatcher.shutdown(timeout=timeout)
        wasyncore.close_all(self.server._map)


def serve(app: App, settings: Settings, *, threads: int = 48,
          ready: Callable[[], tuple[bool, dict[str, Any]]] | None = None,
          stopping: threading.Event | None = None, grace: float = SHUTDOWN_GRACE) -> bool:
    """Serve Slack until `stopping` is set; then take no new requests and give the work in flight up to `grace`
    seconds to finish (replies posted). True when everything finished in time.

    HTTP mode serves /slack/events, /healthz, /readyz and /metrics on PORT; a busy port raises OSError (the caller
    says so in one line). Socket Mode takes Slack's envelopes over a WebSocket and serves the health and metrics
    paths on PORT when it can: it does not need the port to answer Slack, so a busy one is a one-line warning and
    the bot runs without them. Both stop the same way (`_stop`)."""
    from bot.app import prestart

    stopping = stopping or threading.Event()
    prestart(app)
    socket = _SocketMode(app, settings, ready=ready) if settings.slack_app_token else None
    server: HttpServer | None
    if socket is None:
        server = HttpServer(wsgi_app(app, signing_secret=settings.slack_signing_secret, ready=ready,
                                     stopping=stopping), port=settings.port, threads=threads)
        logger.info("Slack: HTTP mode on port %s (/slack/events, /healthz, /readyz, /metrics)", server.port)
    else:
        server = socket.health_server(settings.port, stopping)
        socket.connect(stopping)
    if server is not None:
        server.run(until=stopping.is_set)
    else:
        while not stopping.wait(0.5):  # a timeout, so a signal's handler runs promptly
            pass
    return _stop(app, server, socket, time.monotonic() + grace)


def _stop(app: App, server: HttpServer | None, socket: _SocketMode | None, deadline: float) -> bool:
    """The one shutdown path: no new requests (the listening socket closed, the Slack socket closed), the
    requests in flight answered, the work they handed over finished or `deadline` passed, the last responses
    written. True when everything finished in time."""
    from bot.app import drain

    logger.info("stopping: new requests refused, waiting up to %.0f s for the work in flight",
                max(0.0, deadline - time.monotonic()))
    if socket is not None:
        socket.close()  # no new envelopes; those not acknowledged yet Slack delivers again
    if server is None:
        return drain(app, max(0.0, deadline - time.monotonic()))
    server.stop_accepting()
    finished: list[bool] = []

    def finish() -> None:
        # the acks being written first: after drain() closes the pools, a listener could not start
        while not server.idle() and time.monotonic() < deadline:
            time.sleep(0.02)
        finished.append(drain(app, max(0.0, deadline - time.monotonic())))

    drainer = threading.Thread(target=finish, name="drain", daemon=True)
    drainer.start()
    server.run(until=lambda: not drainer.is_alive() or time.monotonic() > deadline)
    flush_by = time.monotonic() + 0.5
    server.run(until=lambda: server.flushed() or time.monotonic() > flush_by)  # the last responses reach clients
    server.close(timeout=max(0.1, deadline - time.monotonic()))
    return bool(finished and finished[0])


# Socket Mode envelope types, as the metrics name them
_SOCKET_KINDS = {"slash_commands": "command", "events_api": "event", "interactive": "action"}


class _SocketMode:
    """Slack over a WebSocket: each envelope counted like an HTTP request; the connection opened in the background
    and retried with backoff (Slack unreachable or a bad app token is never a crash loop)."""

    def __init__(self, app: App, settings: Settings, *, ready: Callable[[], tuple[bool, dict[str, Any]]] | None):
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        class MeasuredHandler(SocketModeHandler):
            def handle(self, client: Any, req: Any) -> None:
                started, kind = time.perf_counter(), _SOCKET_KINDS.get(req.type, "other")
                try:
                    super().handle(client, req)
                except Exception:
                    count_request(kind, "error")
                    count_error("slack_request_failed")
                    raise
                count_request(kind, "retry" if (req.retry_attempt or 0) > 0 else "ok")
                observe_ack(kind, time.perf_counter() - started)

        self.app = app
        self.ready = ready
        self.handler = MeasuredHandler(app, settings.slack_app_token)

    def connected(self) -> bool:
        try:
            return bool(self.handler.client.is_connected())
        except Exception:  # noqa: BLE001 - a session half torn down is not connected
            return False

    def live(self) -> dict[str, Any]:
        return {"ok": True, "slack": "connected" if self.connected() else "connecting"}

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        ok, checks = self.ready() if self.ready else (True, {})
        checks["slack"] = self.connected()  # no socket, no answers: not ready, though alive
        return ok and checks["slack"], checks

    def health_server(self, port: int, stopping: threading.Event) -> HttpServer | None:
        """/healthz, /readyz and /metrics on `port`, so a container and a load balancer can tell the truth; None
        (and a one-line warning) when the port cannot be had."""
        try:
            server = HttpServer(wsgi_app(self.app, ready=self.readiness, live=self.live, stopping=stopping,
                                         slack_events=False), port=port, threads=4)
        except OSError as exc:
            logger.warning("Slack: Socket Mode; port %s unavailable (%s): running without /healthz, /readyz and "
                           "/metrics", port, exc.strerror or exc)
            return None
        logger.info("Slack: Socket Mode; health on port %s (/healthz, /readyz, /metrics)", server.port)
        return server

    def connect(self, stopping: threading.Event) -> None:
        threading.Thread(target=_connect, args=(self.handler, stopping), name="socket-connect", daemon=True).start()

    def close(self) -> None:
        try:
            self.handler.close()
        except Exception:  # noqa: BLE001 - a socket that never opened has little to close
            logger.debug("closing the socket", exc_info=True)


def _connect(handler: Any, stopping: threading.Event) -> None:
    """Open the Socket Mode connection, retrying with backoff (1 s to 60 s) until it opens or serve stops.
    Once open, slack_sdk reconnects by itself."""
    delay = 1.0
    while not stopping.is_set():
        try:
            handler.client.connect_to_new_endpoint(force=True)  # a fresh URL each try: they are single-use
        except Exception as exc:  # noqa: BLE001 - Slack down, a bad token: say so and try again
            response = getattr(exc, "response", None)  # a SlackApiError names Slack's error: invalid_auth, …
            reason = response.get("error") if response is not None else None
            logger.warning("Slack Socket Mode: could not connect (%s); retrying in %.0f s",
                           reason or f"{type(exc).__name__}: {str(exc)[:200]}", delay)
            stopping.wait(delay)
            delay = min(delay * 2, 60.0)
            continue
        if stopping.is_set():  # serve stopped while the socket was opening
            handler.client.disconnect()
        else:
            logger.info("Slack: Socket Mode connected")
        return
