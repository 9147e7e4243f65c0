"""Answering in a conversation (mention thread, DM, assistant pane): shared by those listeners."""

from __future__ import annotations

import logging
import re
from typing import Any

from bot.blocks import build_answer_blocks, build_refusal_blocks
from bot.formatting import escape, truncate
from bot.listeners.replies import failure
from bot.observability import answer_timer
from bot.services.answering import Turn, answer_question

logger = logging.getLogger(__name__)
HISTORY_TURNS = 6
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


def thread_key(channel: str, thread_ts: str) -> str:
    return f"thread:{channel}:{thread_ts}"


def reply(*, services: Any, guard: Any, ledger: Any, client: Any, event: dict[str, Any], say: Any, context: Any,
          thread_ts: str | None, event_id: str | None = None, ext_shared: bool | None = None,
          known_thread: bool = False) -> None:
    """Claim the event, guard, answer, post in the thread; errors become one short sentence.

    Each replica behind a load balancer may receive the same event (a replay, a re-delivery without the retry
    header): the first to claim its `event_id` in the shared ledger answers, the others drop it. The claim is made
    here, on the work pool, not before Slack's acknowledgement. A thread we answer in is marked in the ledger (unless
    `known_thread`), so a follow-up there is answered, on any replica, without reading every thread."""
    if event_id and not _first_claim(ledger, event_id):
        return
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
    history: list[Turn] = []
    try:
        if thread_ts and thread_ts != event.get("ts"):
            history = history_of(thread_messages(client, str(channel), thread_ts), before_ts=event.get("ts", ""),
                                 bot_user_id=context.get("bot_user_id"))
        elif event.get("channel_type") == "im":
            # a direct message outside a thread: the last few messages of the DM are the conversation
            recent = client.conversations_history(channel=str(channel), limit=2 * HISTORY_TURNS,
                                                  include_all_metadata=True).get("messages") or []
            history = history_of(list(reversed(recent)), before_ts=event.get("ts", ""),
                                 bot_user_id=context.get("bot_user_id"))
        with answer_timer("dm" if str(channel).startswith("D") else "mention"):
            answer = answer_question(question, retriever=services.retriever, history=history,
                                     model=services.model)
    except Exception as exc:
        say(text=failure(exc, f"answering in {channel}"), thread_ts=thread_ts)
        return
    say(text=escape(truncate(answer.text, 300)), blocks=build_answer_blocks(answer, question=question),
        thread_ts=thread_ts, metadata=answer_metadata(answer))
    if not known_thread and thread_ts and channel and not str(channel).startswith("D"):
        try:
            ledger.mark(thread_key(str(channel), thread_ts))
        except Exception:  # the answer is posted; only a later follow-up without a mention would be missed
            logger.warning("could not record thread %s", thread_ts, exc_info=True)


def _first_claim(ledger: Any, event_id: str) -> bool:
    try:
        first = bool(ledger.claim(f"event:{event_id}"))
    except Exception:  # the store cannot tell: answering twice beats not answering
        logger.warning("could not check event %s for duplicates", event_id, exc_info=True)
        return True
    if not first:
        logger.info("event %s is already being answered", event_id)
    return first
