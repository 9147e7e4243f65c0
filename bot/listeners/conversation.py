"""Answering in a conversation (mention thread, DM, assistant pane): shared by those listeners."""

from __future__ import annotations

import logging
import re
from typing import Any

from bot.blocks import build_answer_blocks, build_refusal_blocks
from bot.formatting import escape, truncate
from bot.services.answering import answer_question

logger = logging.getLogger(__name__)
HISTORY_TURNS = 6
SORRY = "Sorry — I couldn't answer that just now. Please try again in a moment."
_MENTION = re.compile(r"<@[A-Z0-9]+(\|[^>]*)?>")


def clean(text: str | None) -> str:
    """The question without @-mentions of the bot."""
    return " ".join(_MENTION.sub(" ", text or "").split())


def thread_messages(client: Any, channel: str, thread_ts: str) -> list[dict[str, Any]]:
    return client.conversations_replies(channel=channel, ts=thread_ts, limit=50).get("messages") or []


def history_of(messages: list[dict[str, Any]], *, before_ts: str, bot_user_id: str | None) -> list[str]:
    """Earlier questions in the thread (the people's turns), oldest first, for follow-ups."""
    turns = [clean(m.get("text")) for m in messages
             if m.get("ts") != before_ts and not m.get("bot_id") and m.get("user") != bot_user_id]
    return [t for t in turns if t][-HISTORY_TURNS:]


def bot_in_thread(messages: list[dict[str, Any]], bot_user_id: str | None, bot_id: str | None) -> bool:
    """Whether the bot already answered in this thread: read from Slack, so any replica can tell."""
    return any((bot_user_id and m.get("user") == bot_user_id) or (bot_id and m.get("bot_id") == bot_id)
               for m in messages)


def reply(*, services: Any, guard: Any, client: Any, event: dict[str, Any], say: Any, context: Any,
          thread_ts: str | None, history: list[str] | None = None, ext_shared: bool | None = None) -> None:
    """Guard, answer, post in the thread; errors become one short sentence."""
    user, channel = event.get("user"), event.get("channel")
    refusal = guard.refusal(client, user_id=user, channel_id=channel, ext_shared=ext_shared)
    if refusal:
        say(text=refusal, blocks=build_refusal_blocks(refusal), thread_ts=thread_ts)
        return
    question = clean(event.get("text"))
    if not question:
        say(text="Ask me about an account or our sales content — e.g. “what is the next step on the <account> deal?”",
            thread_ts=thread_ts)
        return
    try:
        if history is None and thread_ts and thread_ts != event.get("ts"):
            history = history_of(thread_messages(client, str(channel), thread_ts), before_ts=event.get("ts", ""),
                                 bot_user_id=context.get("bot_user_id"))
        answer = answer_question(question, retriever=services.retriever, history=history or [],
                                 model=services.model)
    except Exception:
        logger.exception("answering failed in %s", channel)
        say(text=SORRY, thread_ts=thread_ts)
        return
    say(text=escape(truncate(answer.text, 300)), blocks=build_answer_blocks(answer, question=question),
        thread_ts=thread_ts)
