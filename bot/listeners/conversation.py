"""Answering in a conversation (mention thread, DM, assistant pane): shared by those listeners."""

from __future__ import annotations

import logging
import re
from typing import Any

from bot.blocks import build_answer_blocks, build_refusal_blocks
from bot.formatting import escape, truncate
from bot.services.answering import Turn, answer_question

logger = logging.getLogger(__name__)
HISTORY_TURNS = 6
SORRY = "Sorry — I couldn't answer that just now. Please try again in a moment."
_MENTION = re.compile(r"<@[A-Z0-9]+(\|[^>]*)?>")


def clean(text: str | None) -> str:
    """The question without @-mentions of the bot."""
    return " ".join(_MENTION.sub(" ", text or "").split())


ANSWER_EVENT = "revenue_bot_answer"  # message metadata on our answers: what the answer was about


def thread_messages(client: Any, channel: str, thread_ts: str) -> list[dict[str, Any]]:
    return client.conversations_replies(channel=channel, ts=thread_ts, limit=50,
                                        include_all_metadata=True).get("messages") or []


def answer_metadata(answer: Any) -> dict[str, Any]:
    """Carried on the posted answer, so a follow-up on any replica knows which account it was about."""
    return {"event_type": ANSWER_EVENT, "event_payload": {"account_id": getattr(answer, "account_id", None) or ""}}


def history_of(messages: list[dict[str, Any]], *, before_ts: str, bot_user_id: str | None) -> list[Turn]:
    """Earlier questions in the thread, oldest first, each with the account our answer to it resolved
    (read from the answer's metadata), for follow-ups."""
    turns: list[Turn] = []
    for message in messages:
        if message.get("ts") == before_ts:
            continue
        if message.get("bot_id") or message.get("user") == bot_user_id:
            meta = message.get("metadata") or {}
            account_id = (meta.get("event_payload") or {}).get("account_id") if meta.get(
                "event_type") == ANSWER_EVENT else None
            if turns and account_id and not turns[-1].account_id:
                turns[-1] = Turn(turns[-1].question, str(account_id))
            continue
        text = clean(message.get("text"))
        if text:
            turns.append(Turn(text))
    return turns[-HISTORY_TURNS:]


def bot_in_thread(messages: list[dict[str, Any]], bot_user_id: str | None, bot_id: str | None) -> bool:
    """Whether the bot already answered in this thread: read from Slack, so any replica can tell."""
    return any((bot_user_id and m.get("user") == bot_user_id) or (bot_id and m.get("bot_id") == bot_id)
               for m in messages)


def reply(*, services: Any, guard: Any, client: Any, event: dict[str, Any], say: Any, context: Any,
          thread_ts: str | None, history: list[Turn] | None = None, ext_shared: bool | None = None) -> None:
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
        elif history is None and event.get("channel_type") == "im":
            # a direct message outside a thread: the last few messages of the DM are the conversation
            recent = client.conversations_history(channel=str(channel), limit=2 * HISTORY_TURNS,
                                                  include_all_metadata=True).get("messages") or []
            history = history_of(list(reversed(recent)), before_ts=event.get("ts", ""),
                                 bot_user_id=context.get("bot_user_id"))
        answer = answer_question(question, retriever=services.retriever, history=history or [],
                                 model=services.model)
    except Exception:
        logger.exception("answering failed in %s", channel)
        say(text=SORRY, thread_ts=thread_ts)
        return
    say(text=escape(truncate(answer.text, 300)), blocks=build_answer_blocks(answer, question=question),
        thread_ts=thread_ts, metadata=answer_metadata(answer))
