"""Buttons: feedback (stored), "Share in channel" for an ephemeral result, the account picker."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from bot.blocks import (
    FEEDBACK_HELPFUL,
    FEEDBACK_NOT_HELPFUL,
    PICK_ACCOUNT,
    SHARE_IN_CHANNEL,
    build_refusal_blocks,
    context,
    fallback_text,
)
from bot.commands import CommandError, run_command
from bot.formatting import escape
from bot.listeners.guard import Guard
from bot.listeners.replies import failure, reviewable_blocks

logger = logging.getLogger(__name__)


SHARE_GONE = ("Sorry — that result can no longer be shared (results are kept for a week, and only when the store "
              "could save them). Run the command again to share a fresh one.")


def register(app: Any, *, services: Any, guard: Guard, feedback: Any, ledger: Any) -> None:
    def handle_feedback(ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any) -> None:
        ack()
        helpful = action["action_id"] == FEEDBACK_HELPFUL
        value = _value(action)
        feedback.record(user=body["user"]["id"], helpful=helpful, kind=str(value.get("kind", "")),
                        reference=str(value.get("ref", "")), channel=(body.get("channel") or {}).get("id"))
        respond(text="Thanks for the feedback — it helps us improve the answers." if helpful
                else "Thanks — noted. We review unhelpful answers to improve the knowledge base.",
                response_type="ephemeral", replace_original=False)

    def handle_share(ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any, client: Any) -> None:
        ack()
        if _refused(body, respond, client):
            return
        value = _value(action)
        try:
            stored = ledger.get(f"result:{value['result']}") if value.get("result") else None
        except Exception:
            logger.warning("could not read a saved result", exc_info=True)
            stored = None
        if not stored or not isinstance(stored.get("blocks"), list):
            respond(text=SHARE_GONE, response_type="ephemeral", replace_original=False)
            return
        user = str((body.get("user") or {}).get("id") or "")
        by = [context(f"Shared by <@{user}>")] if re.fullmatch(r"[UW][A-Z0-9]+", user) else []
        respond(text=str(stored.get("text") or ""), blocks=stored["blocks"] + by, response_type="in_channel",
                replace_original=False, delete_original=False)

    def handle_pick(ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any, client: Any) -> None:
        ack()
        if not _refused(body, respond, client):
            _rerun(body, action, respond)

    def _refused(body: dict[str, Any], respond: Any, client: Any) -> bool:
        channel = (body.get("channel") or {}).get("id")
        refusal = guard.refusal(client, user_id=(body.get("user") or {}).get("id"), channel_id=channel,
                                ext_shared=body.get("is_ext_shared_channel"))
        if refusal:
            respond(text=refusal, blocks=build_refusal_blocks(refusal), response_type="ephemeral",
                    replace_original=False)
        return bool(refusal)

    def _rerun(body: dict[str, Any], action: dict[str, Any], respond: Any) -> None:
        """The account picker: the command again, for the account the user picked."""
        value = _value(action)
        try:
            result = run_command(services, str(value["command"]), str(value.get("text") or ""),
                                 account_id=value.get("account_id"))
        except (CommandError, KeyError) as exc:
            respond(text=escape(f"Sorry — {exc}"), response_type="ephemeral", replace_original=False)
            return
        except Exception as exc:
            respond(text=failure(exc, f"re-running /{value.get('command')}"), response_type="ephemeral",
                    replace_original=False)
            return
        respond(text=fallback_text(result), blocks=reviewable_blocks(result, ledger, (body.get("user") or {}).get("id")),
                response_type="ephemeral", replace_original=True)

    app.action(FEEDBACK_HELPFUL)(handle_feedback)
    app.action(FEEDBACK_NOT_HELPFUL)(handle_feedback)
    app.action(SHARE_IN_CHANNEL)(handle_share)
    app.action(re.compile(rf"^{PICK_ACCOUNT}_\d+$"))(handle_pick)


def _value(action: dict[str, Any]) -> dict[str, Any]:
    try:
        value = json.loads(action.get("value") or "{}")
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}
