"""What a CRM connector gives the sync runner: batches of changed objects as export rows, and a checkpoint.

A connector knows one CRM's API and nothing about the store. Each object comes out as the row the CRM's own
export would have (the headers `bot.knowledge.crm` already maps: Salesforce's API field names, HubSpot's
export column names), so a synced record reads exactly like an exported one.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.settings import SettingsError

logger = logging.getLogger(__name__)


class SyncError(RuntimeError):
    """A CRM refused or kept failing; the message says what happened and what to do."""


class CrmAuthError(SettingsError, SyncError):
    """The CRM's credentials are missing or refused: a setting to fix, named first in the message (exit 2)."""


@dataclass(frozen=True)
class Change:
    role: str  # an export role of bot.knowledge.crm (account, contact, opportunity, activity, lead, owner)
    id: str  # the CRM's id of the object
    row: dict[str, Any]  # export-shaped: headers crm.map_headers understands for `role`
    deleted: bool = False  # archived / deleted in the CRM: the runner removes it


@dataclass
class Batch:
    """Changes the runner writes together; `checkpoint` is where the next run resumes once they are written."""

    changes: list[Change]
    checkpoint: dict[str, Any] = field(default_factory=dict)


@dataclass
class SyncProblem:
    """A record that could not be read: reported with its object type (the export role, as the feed's own
    problems are; the CRM's object name starts `error`) and id, never stops the rest."""

    role: str
    id: str
    error: str

    def as_dict(self) -> dict[str, str]:
        return {"object": self.role, "id": self.id, "error": self.error}


class Connector(Protocol):
    system: str  # "hubspot" | "salesforce"

    def batches(self, checkpoint: dict[str, Any] | None, *, full: bool = False) -> Iterator[Batch]:
        """Everything changed since `checkpoint` (everything when None or `full`), oldest first, in batches of a
        bounded size. Rate limits (429 / Retry-After, REQUEST_LIMIT_EXCEEDED) and 5xx are retried with backoff
        inside; a record that cannot be read becomes a SyncProblem in `problems`."""
        ...

    def current_ids(self, role: str) -> set[str]:
        """Every id of `role` that exists now (for the prune that removes what disappeared)."""
        ...

    @property
    def problems(self) -> list[SyncProblem]: ...


class Retries:
    """The retry policy both connectors share: exponential backoff from `backoff` seconds, doubling per attempt,
    never more than `max_backoff` a wait; `attempts` tries in all, and no more than `max_wait` seconds of waiting
    for one call. Each connector decides what is worth retrying (and may name the wait, as a Retry-After does)."""

    def __init__(self, system: str, *, attempts: int, backoff: float = 1.0, max_backoff: float = 30.0,
                 max_wait: float = math.inf, sleep: Callable[[float], None] = time.sleep):
        self.system = system
        self.attempts = max(1, attempts)
        self.backoff, self.max_backoff, self.max_wait = backoff, max_backoff, max_wait
        self.sleep = sleep

    def delay(self, attempt: int, *, factor: float = 1.0) -> float:
        """The backoff before the retry that follows failed attempt `attempt` (0 for the first)."""
        return min(self.max_backoff, self.backoff * factor * 2 ** attempt)

    def wait(self, what: str, reason: str, attempt: int, delay: float, *, waited: float = 0.0) -> bool:
        """Sleep `delay` before the next attempt and say True; False (no sleep) when attempt `attempt` (from 0)
        was the last one, or the wait would take the call past `max_wait`."""
        if attempt + 1 >= self.attempts or waited + delay > self.max_wait:
            return False
        logger.warning("%s %s: %s; retrying in %.1f s (attempt %d of %d)", self.system, what, reason, delay,
                       attempt + 2, self.attempts)
        self.sleep(delay)
        return True
