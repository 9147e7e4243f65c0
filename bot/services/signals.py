"""Trigger events in account history: the reasons a senior buyer would take a call now."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from bot.knowledge.crm import age_in_days

# (kind, pattern, how an email can name it to the buyer)
_TRIGGERS: tuple[tuple[str, re.Pattern[str], str], ...] = tuple(
    (kind, re.compile(pattern, re.IGNORECASE), phrase) for kind, pattern, phrase in (
        ("new_executive", r"\bnew (cfo|ceo|coo|cio|cpo|chief \w+ officer|finance chief|head of \w+|vp \w+|managing director)|"
                          r"\b(appointed|joined as|hired as|took over as|promoted to)\b", "the leadership change"),
        ("acquisition", r"\b(acquisition|acquired|acquires|merger|merged|takeover|bought)\b", "the acquisition"),
        ("erp_migration", r"\b(s/4 ?hana|erp (migration|project|replacement)|migrat\w+ to|dynamics 365|oracle cloud|go-live)\b",
         "the ERP migration"),
        ("new_site", r"\b(new (plant|factory|site|warehouse|distribution cent(er|re)|dc|hub|stores?)|opening|opens|"
                     r"greenfield)\b", "the new site"),
        ("expansion", r"\b(expan\w+|entering|new market|new country|international roll-?out|launch\w*)\b", "the expansion"),
        ("cost_programme", r"\b(cost[- ](reduction|cutting|savings|out) (programme|program|plan|initiative)|"
                           r"cost[- ](reduction|cutting)|cost (programme|program)|savings (programme|program)|efficiency (programme|program)|restructur\w+|savings target|budget cuts?)\b",
         "the cost programme"),
        ("supply_shock", r"\b(stock-?outs?|shortages?|supplier (failure|insolvency|bankrupt\w*|disruption)|"
                         r"went bankrupt|insolven\w+|recall|disruption)\b", "the recent supply disruption"),
        ("board_pressure", r"\b(board (asked|wants|mandate|pressure)|investors?|activist|profit warning|guidance)\b",
         "the board's expectations"),
    )
)


_MARKETING_TOUCH = re.compile(r"web|visit|download|webinar|form|page view|email open|click", re.IGNORECASE)


@dataclass(frozen=True)
class Trigger:
    kind: str
    phrase: str  # safe to write to the buyer: "the ERP migration"
    sentence: str  # what our notes say, for the rep
    date: str
    ref: str
    account_id: str


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?;])\s+", text) if s.strip()]


def find_triggers(activities: list[Any], *, today: date | None = None, max_age_days: int = 365) -> list[Trigger]:
    """Trigger events mentioned in activity notes, newest first, one per kind."""
    today = today or date.today()
    found: dict[str, Trigger] = {}
    for hit in sorted(activities, key=lambda h: str(h.record.get("date") or ""), reverse=True):
        record = hit.record
        if _MARKETING_TOUCH.search(str(record.get("type") or "")):
            continue  # a webinar title is our topic, not news at the account
        age = age_in_days(str(record.get("date") or ""), today)
        if age is not None and age > max_age_days:
            continue
        text = ". ".join(str(record.get(k)).rstrip(".") for k in ("subject", "description") if record.get(k))
        for sentence in _sentences(text):
            for kind, pattern, phrase in _TRIGGERS:
                if kind not in found and pattern.search(sentence):
                    found[kind] = Trigger(kind, phrase, sentence[:280], str(record.get("date") or ""), hit.ref,
                                          str(hit.metadata.get("account_id") or ""))
    # the strongest reasons first (a new executive beats a webinar topic), then the newest
    priority = {kind: rank for rank, (kind, _, _) in enumerate(_TRIGGERS)}
    return sorted(found.values(), key=lambda t: (priority[t.kind], _days_ago(t.date, today)))


def _days_ago(iso: str, today: date) -> int:
    age = age_in_days(iso, today)
    return age if age is not None else 10**6
