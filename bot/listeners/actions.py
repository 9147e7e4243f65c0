"""Buttons: feedback (stored), "Share in channel" for an ephemeral result, the account picker."""

from __future__ import annotations

import logging
import re
from typing import Any

from bot.blocks import (
    FEEDBACK_HELPFUL,
    FEEDBACK_NOT_HELPFUL,
    PICK_ACCOUNT,
    SHARE_IN_CHANNEL,
    context,
    read_button_value,
)
from bot.listeners import buttons
from bot.listeners.guard import Guard

logger = logging.getLogger(__name__)


SHARE_GONE = ("Sorry — that result can no longer be shared (results are kept for a week, and only when the store "
              "could save them). Run the command again to share a fresh one.")


def register(app: Any, *, services: Any, guard: Guard, feedback: Any, ledger: Any) -> None:
    def handle_feedback(ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any) -> None:
        ack()
        helpful = action["action_id"] == FEEDBACK_HELPFUL
        value = read_button_value(action)
        feedback.record(user=body["user"]["id"], helpful=helpful, kind=str(value.get("kind", "")),
                        reference=str(value.get("ref", "")), channel=(body.get("channel") or {}).get("id"))
        respond(text="Thanks for the feedback — it helps us improve the answers." if helpful
                else "Thanks — noted. We review unhelpful answers to improve the knowledge base.",
                response_type="ephemeral", replace_original=False)

    def handle_share(ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any, client: Any) -> None:
        ack()
        if buttons.refused(guard, body, respond, client):
            return
        value = read_button_value(action)
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
        if buttons.refused(guard, body, respond, client):
            return
        value = read_button_value(action)  # the picker: the command again, for the picked account
        buttons.rerun(services, ledger, body, respond, command=str(value.get("command") or ""),
                      text=str(value.get("text") or ""), account_id=value.get("account_id"), replace_original=True)

    app.action(FEEDBACK_HELPFUL)(handle_feedback)
    app.action(FEEDBACK_NOT_HELPFUL)(handle_feedback)
    app.action(SHARE_IN_CHANNEL)(handle_share)
    app.action(re.compile(rf"^{PICK_ACCOUNT}_\d+$"))(handle_pick)

