"""Serving the Slack app: HTTP mode (`/slack/events`, `/healthz`) or Socket Mode."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

from bot.settings import Settings, SettingsError

logger = logging.getLogger(__name__)


def wsgi_app(app: App) -> Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]:
    """Slack events on POST /slack/events, a health check on GET /healthz; stateless."""
    slack = SlackRequestHandler(app, path="/slack/events")

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/healthz":
            body = json.dumps({"ok": True}).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        return slack(environ, start_response)

    return application


def check_slack_settings(settings: Settings) -> None:
    if not settings.slack_bot_token:
        raise SettingsError("SLACK_BOT_TOKEN: required to serve Slack (or run `python -m bot chat` locally)")
    if not settings.slack_app_token and not settings.slack_signing_secret:
        raise SettingsError("SLACK_SIGNING_SECRET: required in HTTP mode (or set SLACK_APP_TOKEN for Socket Mode)")


def serve(app: App, settings: Settings, *, threads: int = 48) -> None:
    if settings.slack_app_token:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        logger.info("Slack: Socket Mode")
        SocketModeHandler(app, settings.slack_app_token).start()
        return
    import waitress

    logger.info("Slack: HTTP mode on port %s (/slack/events, /healthz)", settings.port)
    waitress.serve(wsgi_app(app), host="0.0.0.0", port=settings.port, threads=threads, ident="revenue-bot",
                   asyncore_use_poll=True)  # poll(): no 1,024 file-descriptor ceiling
