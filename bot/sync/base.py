"""What a CRM connector gives the sync runner: batches of changed objects as export rows, and a checkpoint.

A connector knows one CRM's API and nothing about the store. Each object comes out as the row the CRM's own
export would have (the headers `bot.knowledge.crm` already maps: Salesforce's API field names, HubSpot's
export column names), so a synced record reads exactly like an exported one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

ROLES = ("account", "contact", "opportunity", "activity", "lead", "owner")


@dataclass(frozen=True)
class Change:
    role: str  # one of ROLES
    id: str  # the CRM's id of the object
    row: dict[str, Any]  # export-shaped: headers crm.map_headers understands for `role`
    modified: str = ""  # the CRM's last-modified timestamp (ISO 8601), for the checkpoint
    deleted: bool = False  # archived / deleted in the CRM: the runner removes it


@dataclass
class Batch:
    """Changes the runner writes together; `checkpoint` is where the next run resumes once they are written."""

    changes: list[Change]
    checkpoint: dict[str, Any] = field(default_factory=dict)


@dataclass
class SyncProblem:
    """A record that could not be read: reported with its object type and id, never stops the rest."""

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
