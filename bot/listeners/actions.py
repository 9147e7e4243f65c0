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
    build_result_blocks,
    fallback_text,
)
from bot.commands import CommandError, run_command
from bot.formatting import escape
from bot.listeners.guard import Guard

logger = logging.getLogger(__name__)


def register(app: Any, *, services: Any, guard: Guard, feedback: Any) -> None:
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
        _rerun(body, action, respond, client, share=True)

    def handle_pick(ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any, client: Any) -> None:
        ack()
        _rerun(body, action, respond, client, share=False)

    def _rerun(body: dict[str, Any], action: dict[str, Any], respond: Any, client: Any, *, share: bool) -> None:
        value = _value(action)
        channel = (body.get("channel") or {}).get("id")
        refusal = guard.refusal(client, user_id=body["user"]["id"], channel_id=channel,
                                ext_shared=body.get("is_ext_shared_channel"))
        if refusal:
            respond(text=refusal, blocks=build_refusal_blocks(refusal), response_type="ephemeral",
                    replace_original=False)
            return
        try:
            result = run_command(services, str(value["command"]), str(value.get("text") or ""),
                                 account_id=value.get("account_id"))
        except (CommandError, KeyError) as exc:
            respond(text=escape(f"Sorry — {exc}"), response_type="ephemeral", replace_original=False)
            return
        except Exception:
            logger.exception("re-running %s failed", value.get("command"))
            respond(text="Sorry — something went wrong. Please try the command again.", response_type="ephemeral",
                    replace_original=False)
            return
        if share:
            respond(text=fallback_text(result), blocks=build_result_blocks(result, ephemeral=False),
                    response_type="in_channel", replace_original=False, delete_original=False)
        else:
            respond(text=fallback_text(result), blocks=build_result_blocks(result), response_type="ephemeral",
                    replace_original=True)

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
