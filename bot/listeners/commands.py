"""Slash commands /ask /brief /draft /campaign /leads: ack at once, work after, reply via response_url."""

from __future__ import annotations

import logging
from typing import Any

from bot.blocks import (
    build_refusal_blocks,
    build_usage_blocks,
    fallback_text,
)
from bot.commands import COMMANDS, USAGE, CommandError, run_command
from bot.formatting import escape
from bot.listeners.guard import Guard
from bot.listeners.replies import failure, reviewable_blocks
from bot.observability import answer_timer

logger = logging.getLogger(__name__)



METRIC_NAMES = {"leads": "triage"}  # answer-latency series are named after the work, not the slash command


def register(app: Any, *, services: Any, guard: Guard, work: Any, ledger: Any) -> None:
    def handle_command(ack: Any, command: dict[str, Any], respond: Any, client: Any) -> None:
        name = command["command"].lstrip("/")
        text = (command.get("text") or "").strip()
        if not text:
            ack(blocks=build_usage_blocks(USAGE[name]), text=USAGE[name])
            return
        ack(text=f"Working on `/{name} {escape(text)}`…")
        # the work runs on a small pool: a burst of commands must not slow the acks of the next ones
        work.submit(run_and_respond, name, text, command, respond, client)

    def run_and_respond(name: str, text: str, command: dict[str, Any], respond: Any, client: Any) -> None:
        refusal = guard.refusal(client, user_id=command.get("user_id"), channel_id=command.get("channel_id"),
                                ext_shared=command.get("is_ext_shared_channel"))
        if refusal:
            respond(text=refusal, blocks=build_refusal_blocks(refusal), response_type="ephemeral")
            return
        try:
            with answer_timer(METRIC_NAMES.get(name, name)):
                result = run_command(services, name, text)
        except CommandError as exc:
            respond(text=escape(str(exc)), response_type="ephemeral")
            return
        except Exception as exc:
            respond(text=failure(exc, f"/{name}"), response_type="ephemeral")
            return
        respond(text=fallback_text(result), blocks=reviewable_blocks(result, ledger, command.get("user_id")),
                response_type="ephemeral", replace_original=False)

    for name in COMMANDS:
        app.command(f"/{name}")(handle_command)
