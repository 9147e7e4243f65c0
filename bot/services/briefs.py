"""Account brief: situation, deals, recent activity, the buying committee and its gaps, next steps.

Built from every record of the account (not the top k), so no open opportunity is missed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from bot.knowledge.accounts import Account
from bot.knowledge.crm import age_in_days
from bot.knowledge.records import format_amount
from bot.knowledge.retrieval import Hit, Retriever
from bot.knowledge.titles import TitleInfo, classify_title
from bot.llm import FALLBACK_NOTE, Model, ModelUnavailable
from bot.services.signals import Trigger, find_triggers
from bot.services.triage import OUTCOMES, triage_account

ENGAGED_DAYS = 90
AVERAGE_COMMITTEE = 5.4  # people in a typical B2B buying decision
CLOSED = re.compile(r"closed|won|lost|dead|disqualified", re.IGNORECASE)
# The senior personas a deal like ours needs on side, and which functions fill each.
PERSONAS: tuple[tuple[str, set[str], str], ...] = (
    ("economic buyer", {"finance", "general_management"}, "the CFO or CEO"),
    ("functional executive", {"operations", "procurement"}, "the COO or VP Operations"),
    ("IT", {"it"}, "the CIO or IT director"),
    ("procurement", {"procurement"}, "the CPO or head of procurement"),
)


@dataclass
class Member:
    name: str
    title: str
    info: TitleInfo
    engaged: bool
    touches: int  # activities in the last 90 days
    last_touch: str | None
    ref: str

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "level": self.info.level, "function": self.info.function,
                "engaged": self.engaged, "activities_90d": self.touches, "last_activity": self.last_touch}

    def label(self) -> str:
        return f"{self.name} ({self.title})" if self.title else self.name


@dataclass
class Brief:
    account: dict[str, Any]
    summary: str
    opportunities: list[dict[str, Any]]
    activities: list[dict[str, Any]]
    committee: list[Member]
    coverage_gaps: list[str]
    flagged_leads: list[dict[str, Any]]
    next_steps: list[str]
    triggers: list[Trigger]
    hits: list[Hit] = field(default_factory=list)
    engine: str = "composer"
    note: str | None = None

    @property
    def sources(self) -> list[dict[str, Any]]:
        return [hit.source_info() for hit in self.hits]

    def as_dict(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "summary": f"{self.summary}\n\n_{self.note}_" if self.note else self.summary,
            "opportunities": self.opportunities,
            "activities": self.activities,
            "buying_committee": [m.as_dict() for m in self.committee],
            "coverage_gaps": self.coverage_gaps,
            "flagged_leads": self.flagged_leads,
            "next_steps": self.next_steps,
            "sources": self.sources,
        }


def build_committee(contacts: list[Hit], activities: list[Hit], today: date) -> list[Member]:
    recent: dict[str, list[str]] = {}
    for hit in activities:
        record = hit.record
        age = age_in_days(str(record.get("date") or ""), today)
        if record.get("contact_id") and age is not None and 0 <= age <= ENGAGED_DAYS:
            recent.setdefault(str(record["contact_id"]), []).append(str(record["date"]))
    members = []
    for hit in contacts:
        record = hit.record
        dates = recent.get(str(record.get("id")), [])
        info = classify_title(str(record.get("title") or ""))
        members.append(Member(str(record.get("name")), str(record.get("title") or ""), info, bool(dates),
                              len(dates), max(dates) if dates else None, hit.ref))
    return sorted(members, key=lambda m: (-m.info.seniority, not m.engaged, m.name))


def coverage_gaps(committee: list[Member]) -> list[str]:
    gaps = []
    seniors = [m for m in committee if m.info.senior]
    if not any(m.engaged for m in committee if m.info.level in ("executive", "vp")):
        engaged_juniors = [m for m in committee if m.engaged and m.info.level in ("junior", "individual")]
        detail = (f" — meanwhile {len(engaged_juniors)} junior or individual contributor(s) are active"
                  if engaged_juniors else "")
        gaps.append(f"No executive engaged in the last {ENGAGED_DAYS} days{detail}.")
    for persona, functions, role in PERSONAS:
        holders = [m for m in seniors if m.info.function in functions
                   and (persona != "economic buyer" or m.info.level in ("executive", "vp"))]
        if not holders:
            gaps.append(f"{persona[0].upper() + persona[1:]}: nobody on file — find {role}.")
        elif not any(m.engaged for m in holders):
            names = ", ".join(m.label() for m in holders[:2])
            gaps.append(f"{persona[0].upper() + persona[1:]}: {names} known but not engaged in the last {ENGAGED_DAYS} days.")
    if len(committee) < AVERAGE_COMMITTEE:
        gaps.append(f"Only {len(committee)} contact(s) known; a B2B decision typically involves about "
                    f"{AVERAGE_COMMITTEE} people.")
    return gaps


def next_steps(committee: list[Member], triggers: list[Trigger], open_deals: list[dict[str, Any]]) -> list[str]:
    steps = []
    reason = triggers[0].phrase if triggers else "their priorities for the year"
    targets = [m for m in committee if m.info.level in ("executive", "vp") and not m.engaged] or \
              [m for m in committee if m.info.senior and not m.engaged] or \
              [m for m in committee if m.info.senior]
    if targets:
        target = targets[0]
        verb = "build on the conversation with" if target.engaged else "approach"
        steps.append(f"Top-down: {verb} {target.label()} about {reason}, with the impact on "
                     f"{OUTCOMES.get(target.info.function, OUTCOMES['other'])} and one proof point from a similar "
                     "customer — a question, not a demo request.")
    else:
        steps.append(f"Top-down: find the economic buyer (the CFO or CEO) and open with {reason} and its business impact.")
    brokers = [m for m in committee if m.engaged and not (m.info.level in ("executive", "vp"))]
    brokers.sort(key=lambda m: (-m.info.seniority, -m.touches))
    if brokers:
        broker = brokers[0]
        senior = f" to {targets[0].label()}" if targets else " to the senior sponsor"
        plural = "activity" if broker.touches == 1 else "activities"
        steps.append(f"Bottom-up: {broker.label()} has been active ({broker.touches} {plural} in "
                     f"{ENGAGED_DAYS} days): use that interest to learn the initiative and ask for an introduction{senior}.")
    for deal in open_deals[:3]:
        if deal.get("next_step"):
            steps.append(f"Deal '{deal['name']}' ({deal.get('stage')}, close {deal.get('close_date') or '—'}): "
                         f"{deal['next_step']}")
    return steps


def compose_summary(account: dict[str, Any], open_deals: list[dict[str, Any]], activities: list[dict[str, Any]],
                    triggers: list[Trigger], gaps: list[str]) -> str:
    facts = [f"{account.get('name')}"]
    profile = ", ".join(str(account[k]) for k in ("industry", "country") if account.get(k))
    if account.get("employees"):
        profile += f", {format_amount(account['employees'])} employees"
    sentences = [f"{account.get('name')} ({profile})." if profile else f"{facts[0]}."]
    if open_deals:
        total = sum(d.get("amount") or 0 for d in open_deals if isinstance(d.get("amount"), (int, float)))
        lead = open_deals[0]
        sentences.append(f"{len(open_deals)} open opportunit{'y' if len(open_deals) == 1 else 'ies'} worth "
                         f"{format_amount(total)}; the nearest is '{lead['name']}' at {lead.get('stage')}, closing "
                         f"{lead.get('close_date') or 'on an unknown date'}.")
    else:
        sentences.append("No open opportunity.")
    if activities:
        last = activities[0]
        who = f" with {last['contact']}" if last.get("contact") else ""
        sentences.append(f"Last activity: {last.get('type') or 'activity'} on {last.get('date')}{who}.")
    if triggers:
        sentences.append(f"Trigger event: {triggers[0].sentence}")
    if gaps and gaps[0].startswith("No executive engaged"):
        sentences.append(gaps[0])
    return " ".join(sentences)


def build_brief(retriever: Retriever, account: Account, *, today: date | None = None,
                model: Model | None = None) -> Brief:
    today = today or date.today()
    by_type = retriever.account_records_by_type(account.id)
    records = [hit for hits in by_type.values() for hit in hits]
    account_hits = by_type.get("account", [])
    account_record = account_hits[0].record if account_hits else {"name": account.name, "id": account.id}
    account_record = {k: v for k, v in account_record.items() if k != "record_type"}

    deals = sorted((h.record | {"source": h.ref} for h in by_type.get("opportunity", [])),
                   key=lambda d: (bool(CLOSED.search(str(d.get("stage") or ""))), str(d.get("close_date") or "")))
    opportunities = [
        {k: d.get(k) for k in ("name", "stage", "amount", "close_date", "next_step", "owner", "probability", "source")}
        | {"open": not CLOSED.search(str(d.get("stage") or ""))}
        for d in deals
    ]
    open_deals = [d for d in opportunities if d["open"]]

    activity_hits = sorted(by_type.get("activity", []), key=lambda h: str(h.record.get("date") or ""), reverse=True)
    contacts_by_id = {str(h.record.get("id")): h.record for h in by_type.get("contact", [])}
    activities = []
    for hit in activity_hits[:10]:
        record = hit.record
        contact = contacts_by_id.get(str(record.get("contact_id") or ""))
        activities.append({"date": record.get("date"), "type": record.get("type"), "subject": record.get("subject"),
                           "contact": contact.get("name") if contact else None,
                           "notes": str(record.get("description") or "")[:300], "source": hit.ref})

    committee = build_committee(by_type.get("contact", []), activity_hits, today)
    triggers = find_triggers(activity_hits, today=today)
    gaps = coverage_gaps(committee)
    triage = triage_account(retriever, account.id, account.name, today, records=records)
    flagged = [
        {"name": v.lead.name, "title": v.lead.title, "level": v.title.level, "engagement": v.engagement,
         "reasons": v.reasons, "next_move": v.next_move}
        for v in triage.verdicts if v.verdict == "not_worth_chasing" and v.engagement in ("hot", "warm")
    ]
    steps = next_steps(committee, triggers, open_deals)
    summary = compose_summary(account_record, open_deals, activities, triggers, gaps)

    cited_refs = {d["source"] for d in opportunities} | {a["source"] for a in activities[:5]} | {t.ref for t in triggers}
    hits = account_hits + [h for h in records if h.ref in cited_refs and h not in account_hits]
    brief = Brief(account_record, summary, opportunities, activities, committee, gaps, flagged, steps, triggers, hits)
    if model is not None:
        _summarise_with_model(brief, model)
    return brief


def _summarise_with_model(brief: Brief, model: Model) -> None:
    """The model may rewrite the summary from numbered facts; the structured parts stay exact."""
    facts = [f"[{n}] {hit.text}" for n, hit in enumerate(brief.hits, start=1)]
    facts += [f"- {gap}" for gap in brief.coverage_gaps]
    try:
        text = model.complete("brief_summary", account=str(brief.account.get("name")), facts="\n".join(facts))
    except ModelUnavailable as exc:
        brief.note = FALLBACK_NOTE.format(reason=exc)
        return
    brief.summary, brief.engine = text, "model"
