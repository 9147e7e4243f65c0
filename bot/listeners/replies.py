"""What every listener says when the work fails, and a private result's blocks with its "Share in channel"."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from bot.blocks import build_result_blocks, fallback_text
from bot.knowledge.store import StoreUnavailable
from bot.observability import count_error

logger = logging.getLogger(__name__)

FAILED = "Sorry — something went wrong while working on that. The team has the details in the logs."
STORE_DOWN = ("Sorry — the knowledge store isn't answering right now, so I can't look this up. "
              "Please try again in a minute.")
SHAREABLE = ("answer", "brief", "triage", "campaign")  # drafts go only to the person who asked


def failure(exc: Exception, where: str) -> str:
    """Logs and counts a failed piece of work; the one short sentence the user reads instead."""
    if isinstance(exc, StoreUnavailable):
        count_error("store_unavailable")
        logger.warning("%s: the store is not answering", where)
        return STORE_DOWN
    count_error("listener")
    logger.error("%s failed", where, exc_info=exc)
    return FAILED


def reviewable_blocks(result: Any, ledger: Any, user: str | None) -> list[dict[str, Any]]:
    """The private result's blocks. A shareable one is first saved as the channel would see it, and its "Share in
    channel" button names that copy: what is shared is exactly what the user reviewed (a model's answer could
    differ on a re-run). When it cannot be saved, the result comes without the button."""
    share_id = None
    if result.kind in SHAREABLE:
        share_id = uuid.uuid4().hex
        try:
            ledger.put(f"result:{share_id}", {"text": fallback_text(result), "user": user or "",
                                              "blocks": build_result_blocks(result)})
        except Exception:
            logger.warning("could not save a result for sharing", exc_info=True)
            share_id = None
    return build_result_blocks(result, share_id=share_id)
