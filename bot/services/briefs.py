"""Account brief: situation, deals, recent activity, the buying committee and its gaps, next steps.

Built from every record of the account (not the top k), so no open opportunity is missed. Who the
committee should hold, what each persona cares about and the wording come from the seller profile.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.knowledge.accounts import Account, fold
from bot.knowledge.crm import age_in_days
from bot.knowledge.records import format_amount
from bot.knowledge.retrieval import Hit, Retriever
from bot.knowledge.titles import TitleInfo
from bot.llm import FALLBACK_NOTE, Model, ModelUnavailable, Session
from bot.profile import Persona, SellerProfile, join_words, phrase_pattern
from bot.services.answering import check_sources
from bot.services.context import Context
from bot.services.relationship import Relationship, deal_state, read_relationship
from bot.services.signals import Trigger, find_triggers
from bot.services.triage import triage_account
from bot.wording import count_noun

AVERAGE_COMMITTEE = 5.4  # people in a typical B2B buying decision
ROLE_NAMES = {"economic_buyer": "economic buyer", "functional_executive": "functional executive",
              "technical": "technical buyer", "procurement": "procurement", "user": "user"}


@dataclass
class Member:
    name: str
    title: str
    info: TitleInfo
    engaged: bool
    touches: int  # two-way contacts in the engagement window
    last_touch: str | None
    ref: str
    id: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "level": self.info.level, "function": self.info.function,
                "engaged": self.engaged, "two_way_contacts": self.touches, "last_contact": self.last_touch}

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
    relationship: Relationship | None = None
    as_of: dict[str, str] = field(default_factory=dict)
    window_days: int = 90
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
            "relationship": self.relationship.as_dict() if self.relationship else None,
            "as_of": self.as_of,
            "engagement_window_days": self.window_days,
            "sources": self.sources,
        }


def build_committee(contacts: list[Hit], activities: list[Hit], ctx: Context) -> list[Member]:
    """The account's people, each engaged or not: two-way contact with them in the engagement window."""
    profile = ctx.profile
    window = profile.engagement.window_days
    recent: dict[str, list[str]] = {}
    names = {str(h.record.get("id")): fold(str(h.record.get("name") or "")) for h in contacts}
    unanswered = phrase_pattern(profile.engagement.one_way_notes)
    for hit in activities:
        record = hit.record
        age = age_in_days(str(record.get("date") or ""), ctx.date)
        if age is None or not 0 <= age <= window or not profile.engagement.is_two_way(str(record.get("type") or "")):
            continue
        said = fold(" ".join(str(record.get(k) or "") for k in ("subject", "description")))
        if unanswered.search(said):
            continue
        present = {str(record["contact_id"])} if record.get("contact_id") else set()
        # a meeting note's attendee list had those people in the room; a name merely mentioned did not
        attendees = profile.engagement.attendees_in(str(record.get("description") or ""))
        if attendees:
            listed = f" {fold(attendees)} "
            present |= {cid for cid, name in names.items() if name and f" {name} " in listed}
        for contact_id in present:
            recent.setdefault(contact_id, []).append(str(record["date"]))
    members = []
    for hit in contacts:
        record = hit.record
        dates = recent.get(str(record.get("id")), [])
        info = profile.titles.read(str(record.get("title") or ""))
        members.append(Member(str(record.get("name")), str(record.get("title") or ""), info, bool(dates),
                              len(dates), max(dates) if dates else None, hit.ref, str(record.get("id") or "")))
    return sorted(members, key=lambda m: (-m.info.seniority, profile.persona_rank(m.info.function), not m.engaged,
                                          m.name))


JUNIOR_LEVELS = ("junior", "individual")  # who counts as "juniors active" beside a missing executive


def no_executive_engaged(committee: list[Member]) -> list[Member] | None:
    """The one reading of "no executive engaged", for the brief's gap and the digest's nudge alike.

    None when someone who can sign is in the conversation: an engaged executive, VP, or director of a buying
    function (the titles' budget authority, as the triage's "pursue"). Otherwise the engaged juniors and
    individual contributors in the committee's order (empty when nobody junior is active either)."""
    if any(m.engaged and m.info.budget_authority for m in committee):
        return None
    return [m for m in committee if m.engaged and m.info.level in JUNIOR_LEVELS]


def holds(member: Member, persona: Persona) -> bool:
    return persona.filled_by(member.info.level, member.info.function)


def coverage_gaps(committee: list[Member], ctx: Context) -> list[str]:
    profile = ctx.profile
    window = profile.engagement.window_days
    gaps = []

    def say(key: str, **values: object) -> str:
        return ctx.say("brief", key, **values)

    engaged_juniors = no_executive_engaged(committee)
    if engaged_juniors is not None:
        people = count_noun(len(engaged_juniors), "junior or individual contributor is",
                            "junior or individual contributors are")
        detail = say("gap_no_executive_detail", count=people) if engaged_juniors else ""
        gaps.append(say("gap_no_executive", window=window, detail=detail))
    for persona in profile.personas:
        role = f"{persona.name} ({ROLE_NAMES[persona.role]})"
        holders = [m for m in committee if holds(m, persona)]
        if not holders:
            gaps.append(say("gap_nobody", role=role, roles=f"the {persona.name}"))
        elif not any(m.engaged for m in holders):
            gaps.append(say("gap_not_engaged", role=role, names=join_words([m.label() for m in holders[:2]]),
                            window=window))
    if len(committee) < AVERAGE_COMMITTEE:
        gaps.append(say("gap_small_committee", count=count_noun(len(committee), "contact"),
                        average=AVERAGE_COMMITTEE))
    return gaps


def concerned(trigger: Trigger, committee: list[Member], profile: SellerProfile) -> tuple[Member | None, Persona | None]:
    """Whom a trigger is about: a person it names, else the persona it names ("new CFO"), else its contact."""
    folded = f" {fold(trigger.sentence)} "
    for member in committee:
        if member.name and f" {fold(member.name)} " in folded:
            return member, profile.persona_for(member.info.function)
    for persona in profile.personas:
        names = [persona.name, *persona.titles]
        if phrase_pattern(names).search(folded):
            holders = [m for m in committee if holds(m, persona)]
            # the newest person in the seat is the one the news is about: the least engaged holder
            holders.sort(key=lambda m: (m.engaged, -m.info.seniority))
            return (holders[0] if holders else None), persona
    linked = next((m for m in committee if m.id and m.id == trigger.contact_id and m.info.senior), None)
    return linked, (profile.persona_for(linked.info.function) if linked else None)


def rank_seniors(seniors: list[Member], profile: SellerProfile, *, function: str | None = None,
                 prefer_unengaged: bool = False) -> list[Member]:
    """Whom to write to first: the wanted function, the not-yet-engaged (to widen coverage), economic buyers,
    then the profile's persona order and seniority. Never the order of names."""
    return sorted(seniors, key=lambda m: (function is not None and m.info.function != function,
                                          prefer_unengaged and m.engaged,
                                          not profile.is_economic_buyer(m.info.level, m.info.function),
                                          profile.persona_rank(m.info.function), -m.info.seniority))


def senior_target(committee: list[Member], triggers: list[Trigger], profile: SellerProfile, *,
                  prefer_unengaged: bool, raised_by: str = "") -> tuple[Member | None, Trigger | None]:
    """The senior person to approach and the trigger to open with: the senior person who raised a problem
    with us (a renewal at risk), else the person the news is about, else the best-ranked person with budget."""
    unhappy = next((m for m in committee if raised_by and m.id == raised_by and m.info.budget_authority), None)
    if unhappy is not None:
        return unhappy, (triggers[0] if triggers else None)
    for trigger in triggers:
        member, _ = concerned(trigger, committee, profile)
        if member is not None and member.info.budget_authority:
            return member, trigger
    seniors = [m for m in committee if m.info.budget_authority] or [m for m in committee if m.info.senior]
    ranked = rank_seniors(seniors, profile, prefer_unengaged=prefer_unengaged)
    return (ranked[0] if ranked else None), (triggers[0] if triggers else None)


def next_steps(committee: list[Member], triggers: list[Trigger], open_deals: list[dict[str, Any]],
               relationship: Relationship, ctx: Context) -> list[str]:
    profile = ctx.profile
    window = profile.engagement.window_days

    def say(key: str, **values: object) -> str:
        return ctx.say("brief", key, **values)

    steps = []
    if relationship.state == "at_risk" and relationship.problem:
        steps.append(say("step_at_risk", sentence=relationship.problem))
    target, trigger = senior_target(committee, triggers, profile, prefer_unengaged=True,
                                    raised_by=relationship.raised_by)
    reason = trigger.phrase if trigger else say("reason_default")
    if target:
        persona = profile.persona_for(target.info.function)
        outcomes = persona.outcomes_text() if persona else "the outcomes they own"
        if relationship.state in ("renewal", "at_risk") and relationship.deal:
            steps.append(say("step_renewal", outcomes=outcomes, who=target.label(),
                             deal=relationship.deal.get("name")))
        verb = "build on the conversation with" if target.engaged else "approach"
        steps.append(say("step_top_down", verb=verb, who=target.label(), reason=reason, outcomes=outcomes))
    else:
        steps.append(say("step_top_down_none", roles=profile.economic_buyer_roles(), reason=reason))
    brokers = [m for m in committee if m.engaged and m.info.level not in ("executive", "vp")]
    brokers.sort(key=lambda m: (-m.info.seniority, -m.touches))
    if brokers:
        broker = brokers[0]
        unengaged = [m for m in committee if m.info.level in ("executive", "vp") and not m.engaged]
        if target is not None and not target.engaged:
            senior = f" to {target.label()}"
        elif unengaged:
            senior = f" to {unengaged[0].label()}"
        else:
            senior = ""
        activities = count_noun(broker.touches, "two-way contact")
        if senior or no_executive_engaged(committee) is not None:
            steps.append(say("step_bottom_up", broker=broker.label(), activities=activities, window=window,
                             senior=senior or " to the senior sponsor"))
        else:
            steps.append(say("step_bottom_up_engaged", broker=broker.label(), activities=activities, window=window))
    for deal in open_deals[:3]:
        if deal.get("next_step"):
            steps.append(say("step_deal", deal=deal["name"], stage=deal.get("stage"),
                             close=deal.get("close_date") or "—", next_step=deal["next_step"]))
    return steps


def compose_summary(account: dict[str, Any], open_deals: list[dict[str, Any]], activities: list[dict[str, Any]],
                    triggers: list[Trigger], no_executive: str | None, relationship: Relationship,
                    ctx: Context) -> str:
    def say(key: str, **values: object) -> str:
        return ctx.say("brief", key, **values)

    profile = ", ".join(str(account[k]) for k in ("industry", "country") if account.get(k))
    if account.get("employees"):
        profile += f", {format_amount(account['employees'])} employees"
    sentences = [say("summary_head", name=account.get("name"), profile=profile) if profile
                 else say("summary_head_plain", name=account.get("name"))]
    sentences.append(say("summary_relationship", state=relationship.label, reason=relationship.reason))
    if open_deals:
        total = sum(d.get("amount") or 0 for d in open_deals if isinstance(d.get("amount"), (int, float)))
        lead = open_deals[0]
        sentences.append(say("summary_deals", count=count_noun(len(open_deals), "open opportunity",
                                                               "open opportunities"),
                             total=format_amount(total), deal=lead["name"], stage=lead.get("stage"),
                             close=lead.get("close_date") or "on an unknown date"))
    else:
        sentences.append(say("summary_no_deal"))
    if activities:
        last = activities[0]
        who = f" with {last['contact']}" if last.get("contact") else ""
        sentences.append(say("summary_last_activity", kind=last.get("type") or "activity", date=last.get("date"),
                             who=who))
    if triggers:
        sentences.append(say("summary_trigger", sentence=triggers[0].sentence))
    if no_executive:
        sentences.append(no_executive)
    sentences.append(say("as_of", as_of=ctx.date.isoformat(), source=ctx.today.describe()))
    return " ".join(sentences)


def build_brief(retriever: Retriever, account: Account, ctx: Context, *, model: Model | None = None) -> Brief:
    session = model.session(calls=1) if model is not None else None  # the deadline counts from the command's start
    profile = ctx.profile
    by_type = retriever.account_records_by_type(account.id)
    records = [hit for hits in by_type.values() for hit in hits]
    account_hits = by_type.get("account", [])
    account_record = account_hits[0].record if account_hits else {"name": account.name, "id": account.id}
    account_record = {k: v for k, v in account_record.items() if k != "record_type"}

    deals = sorted((h.record | {"source": h.ref} for h in by_type.get("opportunity", [])),
                   key=lambda d: (deal_state(d, profile) != "open", str(d.get("close_date") or "")))
    opportunities = [
        {k: d.get(k) for k in ("name", "stage", "amount", "close_date", "next_step", "owner", "probability", "source")}
        | {"open": deal_state(d, profile) == "open"}
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

    committee = build_committee(by_type.get("contact", []), activity_hits, ctx)
    triggers = find_triggers(activity_hits, profile=profile, today=ctx.date)
    gaps = coverage_gaps(committee, ctx)
    relationship = read_relationship(opportunities, [h.record | {"ref": h.ref} for h in activity_hits], ctx)
    triage = triage_account(retriever, account.id, account.name, ctx, records=records)
    flagged = [
        {"name": v.lead.name, "title": v.lead.title, "level": v.title.level, "engagement": v.engagement,
         "reasons": v.reasons, "next_move": v.next_move}
        for v in triage.verdicts if v.verdict == "not_worth_chasing" and v.engagement in ("hot", "warm")
    ]
    steps = next_steps(committee, triggers, open_deals, relationship, ctx)
    no_executive = gaps[0] if no_executive_engaged(committee) is not None else None
    summary = compose_summary(account_record, open_deals, activities, triggers, no_executive, relationship, ctx)

    cited_refs = ({d["source"] for d in opportunities} | {a["source"] for a in activities[:5]}
                  | {t.ref for t in triggers} | ({relationship.problem_ref} if relationship.problem_ref else set()))
    hits = account_hits + [h for h in records if h.ref in cited_refs and h not in account_hits]
    brief = Brief(account_record, summary, opportunities, activities, committee, gaps, flagged, steps, triggers,
                  relationship, ctx.today.as_dict(), profile.engagement.window_days, hits)
    if session is not None:
        _summarise_with_model(brief, session, retriever, account)
    return brief


def _summarise_with_model(brief: Brief, session: Session, retriever: Retriever, account: Account) -> None:
    """The model may rewrite the summary from numbered facts; the structured parts stay exact. A summary that
    cites a fact not given, cites nothing, or gives another account's facts is not used."""
    facts = [f"[{n}] {hit.text}" for n, hit in enumerate(brief.hits, start=1)]
    facts += [f"- {gap}" for gap in brief.coverage_gaps]

    def accept(text: str) -> str:
        check_sources(text, brief.hits, resolver=retriever.resolver, account_id=account.id)
        return text

    try:
        text = session.complete("brief_summary", accept=accept, account=str(brief.account.get("name")),
                                facts="\n".join(facts))
    except ModelUnavailable as exc:
        brief.note = FALLBACK_NOTE.format(reason=exc)
        return
    brief.summary, brief.engine = text, "model"
