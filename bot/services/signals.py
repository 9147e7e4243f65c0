"""Trigger events in account history: the reasons a senior buyer would take a call now.

What counts as a trigger, in which words and languages, is the seller profile's `triggers`; this
module only finds those phrases in the account's own notes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from bot.knowledge.accounts import fold
from bot.knowledge.crm import age_in_days
from bot.profile import SellerProfile


@dataclass(frozen=True)
class Trigger:
    kind: str
    phrase: str  # safe to write to the buyer: "the leadership change"
    sentence: str  # what our notes say, for the rep
    date: str
    ref: str
    account_id: str
    contact_id: str = ""  # the person the note is about, when the CRM links one


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?;])\s+", text) if s.strip()]


def find_triggers(activities: list[Any], *, profile: SellerProfile, today: date,
                  max_age_days: int = 365) -> list[Trigger]:
    """Trigger events mentioned in the account's activity notes, one per kind, in the profile's order."""
    found: dict[str, Trigger] = {}
    patterns = profile.trigger_patterns
    for hit in sorted(activities, key=lambda h: str(h.record.get("date") or ""), reverse=True):
        record = hit.record
        if profile.engagement.is_marketing(str(record.get("type") or "")):
            continue  # a webinar title is our topic, not news at the account
        age = age_in_days(str(record.get("date") or ""), today)
        if age is not None and (age > max_age_days or age < 0):
            continue
        text = ". ".join(str(record.get(k)).rstrip(".") for k in ("subject", "description") if record.get(k))
        for sentence in _sentences(text):
            folded = fold(sentence)
            for kind, pattern in patterns:
                if kind not in found and pattern.search(folded):
                    found[kind] = Trigger(kind, profile.trigger_label(kind), sentence[:280],
                                          str(record.get("date") or ""), hit.ref,
                                          str(hit.metadata.get("account_id") or ""),
                                          str(record.get("contact_id") or ""))
    priority = {kind: rank for rank, (kind, _) in enumerate(patterns)}
    return sorted(found.values(), key=lambda t: (priority[t.kind], _days_ago(t.date, today)))


def _days_ago(iso: str, today: date) -> int:
    age = age_in_days(iso, today)
    return age if age is not None else 10**6
