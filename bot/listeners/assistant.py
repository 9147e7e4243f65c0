"""The Slack AI assistant pane: a greeting with suggested prompts, a "thinking" status while working."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Assistant

from bot.listeners.conversation import reply
from bot.listeners.guard import Guard
from bot.services.context import Context
from bot.wording import article, plural_role

logger = logging.getLogger(__name__)

GREETING = ("Hi! I know our accounts and our sales content. Ask me about a deal, an account's buying committee, "
            "or what proof we have for a persona — I cite my sources and say when I don't know.")


def suggested_prompts(ctx: Context) -> list[dict[str, str]]:
    """Up to four prompts for the assistant pane, about this seller's own personas (wording in
    prompts/composer/assistant.yaml), never another company's accounts."""
    personas = list(ctx.profile.personas[:2])
    prompts = []
    for kind, persona in zip(("proof", "first_call"), personas):
        values = {"persona": persona.name, "personas": plural_role(persona.name),
                  "persona_article": article(persona.name), "headline": persona.headline}
        prompts.append({"title": ctx.say("assistant", f"{kind}_title", **values),
                        "message": ctx.say("assistant", f"{kind}_message", **values)})
    for kind in ("competition", "junior"):
        prompts.append({"title": ctx.say("assistant", f"{kind}_title"),
                        "message": ctx.say("assistant", f"{kind}_message")})
    return prompts[:4]


def register(app: Any, *, services: Any, guard: Guard, work: Any, ledger: Any) -> None:
    assistant = Assistant()

    @assistant.thread_started
    def handle_thread_started(say: Any, set_suggested_prompts: Any) -> None:
        say(GREETING)
        set_suggested_prompts(prompts=suggested_prompts(services.context()))

    @assistant.user_message
    def handle_user_message(payload: dict[str, Any], body: dict[str, Any], client: Any, say: Any, set_status: Any,
                            context: Any) -> None:
        set_status("is thinking…")
        # the answer runs on the work pool, like every other answer; the listener thread is free at once
        work.submit(answer, payload, body, client, say, set_status, context)

    def answer(payload: dict[str, Any], body: dict[str, Any], client: Any, say: Any, set_status: Any,
               context: Any) -> None:
        try:
            reply(services=services, guard=guard, ledger=ledger, client=client, event=payload, say=say,
                  context=context, thread_ts=payload.get("thread_ts"), event_id=body.get("event_id"),
                  ext_shared=bool(body.get("is_ext_shared_channel")))
        finally:
            try:
                set_status("")
            except Exception:  # clearing the status is cosmetic
                logger.debug("could not clear the assistant status", exc_info=True)

    app.assistant(assistant)
