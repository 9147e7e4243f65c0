"""The Slack AI assistant pane: a greeting with suggested prompts, a "thinking" status while working."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Assistant

from bot.listeners.conversation import reply
from bot.listeners.guard import Guard

logger = logging.getLogger(__name__)

GREETING = ("Hi! I know our accounts and our sales content. Ask me about a deal, an account's buying committee, "
            "or what proof we have for a persona — I cite my sources and say when I don't know.")
# General on purpose: they must make sense in any workspace, whatever its accounts are called.
SUGGESTED_PROMPTS = [
    {"title": "Proof for a CFO", "message": "What proof do we have for CFOs on working capital?"},
    {"title": "First call with a COO", "message": "What should I ask a COO in a first call?"},
    {"title": "Competition", "message": "How do we position against our main competitors?"},
    {"title": "Junior leads", "message": "How do I use an engaged junior contact to reach the budget owner?"},
]


def register(app: Any, *, services: Any, guard: Guard) -> None:
    assistant = Assistant()

    @assistant.thread_started
    def handle_thread_started(say: Any, set_suggested_prompts: Any) -> None:
        say(GREETING)
        set_suggested_prompts(prompts=SUGGESTED_PROMPTS[:4])

    @assistant.user_message
    def handle_user_message(payload: dict[str, Any], body: dict[str, Any], client: Any, say: Any, set_status: Any,
                            context: Any) -> None:
        set_status("is thinking…")
        try:
            reply(services=services, guard=guard, client=client, event=payload, say=say, context=context,
                  thread_ts=payload.get("thread_ts"), ext_shared=bool(body.get("is_ext_shared_channel")))
        finally:
            try:
                set_status("")
            except Exception:  # clearing the status is cosmetic
                logger.debug("could not clear the assistant status", exc_info=True)

    app.assistant(assistant)
