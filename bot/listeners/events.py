"""@mentions (answered in a thread) and messages (DMs, and follow-ups in threads the bot is in)."""

from __future__ import annotations

import logging
from typing import Any

from bot.listeners.conversation import reply, thread_key
from bot.listeners.guard import Guard

logger = logging.getLogger(__name__)
IGNORED_SUBTYPES = {"bot_message", "message_changed", "message_deleted", "channel_join", "channel_leave",
                    "thread_broadcast", "message_replied", "assistant_app_thread"}


def register(app: Any, *, services: Any, guard: Guard, work: Any, ledger: Any) -> None:
    """Answers run on the app's small work pool, like slash commands: the listener threads only hand them over,
    so a burst of mentions never delays the acknowledgement of anything else."""
    def answer(**kwargs: Any) -> None:
        work.submit(reply, services=services, guard=guard, ledger=ledger, **kwargs)

    @app.event("app_mention")
    def handle_app_mention(event: dict[str, Any], body: dict[str, Any], client: Any, say: Any, context: Any) -> None:
        if event.get("bot_id"):
            return
        answer(client=client, event=event, say=say, context=context, event_id=body.get("event_id"),
               thread_ts=event.get("thread_ts") or event.get("ts"), ext_shared=body.get("is_ext_shared_channel"))

    @app.event("message")
    def handle_message(event: dict[str, Any], body: dict[str, Any], client: Any, say: Any, context: Any) -> None:
        if event.get("subtype") in IGNORED_SUBTYPES or event.get("bot_id") or not event.get("user"):
            return  # never answer ourselves or other bots
        if event.get("user") == context.get("bot_user_id"):
            return
        text = event.get("text") or ""
        bot_user = context.get("bot_user_id")
        if event.get("channel_type") == "im":
            answer(client=client, event=event, say=say, context=context, thread_ts=event.get("thread_ts"),
                   event_id=body.get("event_id"), ext_shared=bool(body.get("is_ext_shared_channel")))
            return
        if bot_user and f"<@{bot_user}" in text:
            return  # the app_mention listener answers this one
        thread_ts = event.get("thread_ts")
        if not thread_ts or thread_ts == event.get("ts"):
            return  # plain channel chatter: only mentions and our threads
        work.submit(follow_up, event, body, client, say, context, thread_ts)

    def follow_up(event: dict[str, Any], body: dict[str, Any], client: Any, say: Any, context: Any,
                  thread_ts: str) -> None:
        # Whether we are in this thread is known without asking Slack: we started it (its parent is ours) or the
        # shared ledger says we answered in it. Only then is the thread read, for the conversation so far.
        bot_user = context.get("bot_user_id")
        try:
            ours = (bool(bot_user) and event.get("parent_user_id") == bot_user) \
                or ledger.marked(thread_key(event["channel"], thread_ts))
        except Exception:
            logger.warning("could not tell whether we are in thread %s", thread_ts, exc_info=True)
            return
        if ours:
            reply(services=services, guard=guard, ledger=ledger, client=client, event=event, say=say, context=context,
                  thread_ts=thread_ts, event_id=body.get("event_id"), ext_shared=body.get("is_ext_shared_channel"),
                  known_thread=True)
