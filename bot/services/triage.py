"""Lead triage: fit (who they are) and engagement (what they did) kept apart.

A marketing-automation score measures activity, not buying power: a junior with a score of 99
is still not worth a rep's time, but their interest can open the door to the senior function.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from bot.knowledge.crm import age_in_days, read_crm_file
from bot.knowledge.documents import LoadError
from bot.knowledge.titles import TitleInfo
from bot.profile import SellerProfile, Thresholds, join_words
from bot.services.context import Context

VERDICTS = ("pursue", "nurture", "not_worth_chasing")
ACTIVITY_AS_VIEW = {"web visit", "website visit", "page view", "visit", "email open", "email click"}
ACTIVITY_AS_FORM = {"content download", "download", "webinar", "form submission", "form", "event", "whitepaper"}


@dataclass(frozen=True)
class Lead:
    name: str
    title: str = ""
    company: str = ""
    email: str = ""
    score: float | None = None
    page_views: float | None = None
    form_submissions: float | None = None
    last_activity: str | None = None
    source: str = ""
    account_id: str | None = None
    account_name: str | None = None
    ref: str = ""  # "lead:<id>" from marketing automation, "contact:<id>" from the CRM

    @classmethod
    def from_record(cls, record: dict[str, Any], *, account_id: str | None = None,
                    account_name: str | None = None) -> "Lead":
        return cls(
            name=str(record.get("name") or record.get("email") or "(no name)"),
            title=str(record.get("title") or ""),
            company=str(record.get("company") or account_name or ""),
            email=str(record.get("email") or ""),
            score=record.get("score"), page_views=record.get("page_views"),
            form_submissions=record.get("form_submissions"), last_activity=record.get("last_activity"),
            source=str(record.get("source") or ""), account_id=account_id, account_name=account_name,
            ref=f"{record.get('record_type', 'lead')}:{record.get('id', '')}",
        )


@dataclass(frozen=True)
class SeniorContact:
    name: str
    title: str
    function: str
    level: str

    def label(self) -> str:
        return f"{self.name} ({self.title})"


@dataclass
class LeadVerdict:
    lead: Lead
    title: TitleInfo
    engagement: str  # hot | warm | cold
    verdict: str
    reasons: list[str]
    next_move: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.lead.name, "title": self.lead.title, "company": self.lead.account_name or self.lead.company,
            "level": self.title.level, "function": self.title.function, "budget_authority": self.title.budget_authority,
            "engagement": self.engagement, "verdict": self.verdict, "reasons": self.reasons,
            "next_move": self.next_move, "source": self.lead.ref or None,
        }


@dataclass
class TriageResult:
    verdicts: list[LeadVerdict]
    errors: list[LoadError] = field(default_factory=list)

    @property
    def summary(self) -> dict[str, Any]:
        verdicts = Counter(v.verdict for v in self.verdicts)
        return {
            "total": len(self.verdicts),
            **{name: verdicts.get(name, 0) for name in VERDICTS},
            "engaged_but_not_worth_chasing": sum(
                1 for v in self.verdicts if v.verdict == "not_worth_chasing" and v.engagement == "hot"),
            "levels": dict(Counter(v.title.level for v in self.verdicts)),
        }

    def as_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {"leads": [v.as_dict() for v in self.verdicts], "summary": self.summary}
        if self.errors:
            result["errors"] = [e.as_dict() for e in self.errors]
        return result


def engagement_of(lead: Lead, today: date, profile: SellerProfile) -> tuple[str, str]:
    """(hot|warm|cold, the figures behind it); thresholds and the window come from the seller profile.

    Old activity cools a lead down.
    """
    rules = profile.engagement
    figures = [f"{label} {value:g}" for label, value in
               (("score", lead.score), ("page views", lead.page_views), ("form submissions", lead.form_submissions))
               if value is not None]
    score, views, forms = lead.score or 0, lead.page_views or 0, lead.form_submissions or 0

    def reaches(t: Thresholds) -> bool:
        return score >= t.score or views >= t.page_views or forms >= t.form_submissions

    level = "hot" if reaches(rules.hot) else "warm" if reaches(rules.warm) else "cold"
    age = age_in_days(lead.last_activity, today)
    if age is not None:
        figures.append(f"last active {age} days ago")
        if age > rules.window_days and level != "cold":
            level = "warm" if level == "hot" else "cold"
    return level, ", ".join(figures) or "no engagement data"


def judge(lead: Lead, ctx: Context, *, seniors: Sequence[SeniorContact] = ()) -> LeadVerdict:
    """The contract's default policy: fit from the title, engagement apart, and engagement never promotes."""
    profile = ctx.profile
    info = profile.titles.read(lead.title)
    engagement, figures = engagement_of(lead, ctx.date, profile)
    engaged = engagement in ("hot", "warm")
    who = lead.name

    def say(key: str, **values: object) -> str:
        return ctx.say("triage", key, **values)

    level_text = info.level.replace("_", " ") + (
        f" in {info.function.replace('_', ' ')}" if info.function != "other" else "")
    reasons = [say("reason_title", title=lead.title or "—", level_text=level_text, why=info.why)]
    persona = profile.persona_for(info.function)
    outcomes = persona.outcomes_text() if persona else "the outcomes they own"
    introduction = _introduction(info, seniors, ctx)
    buying = profile.is_buying_function(info.function)

    if info.level == "executive" or (info.level in ("vp", "director") and buying):
        verdict = "pursue"
        reasons.append(say("reason_budget"))
        reasons.append(say("reason_cold_senior", figures=figures) if not engaged
                       else say("reason_engagement", engagement=engagement, figures=figures))
        next_move = say("move_pursue", who=who, outcomes=outcomes)
    elif info.level in ("vp", "director"):
        verdict = "nurture"
        reasons.append(say("reason_not_buying_function"))
        next_move = say("move_point_to_owner", who=who, introduction=introduction)
    elif info.level == "manager" and engaged:
        verdict = "nurture"
        reasons.append(say("reason_champion"))
        reasons.append(say("reason_engagement", engagement=engagement, figures=figures))
        next_move = say("move_champion", who=who, introduction=introduction)
    elif info.level in ("individual", "unknown") and engaged:
        verdict = "nurture"
        if info.level == "unknown":
            reasons.append(say("reason_unknown", figures=figures))
            next_move = say("move_qualify", who=who)
        else:
            reasons.append(say("reason_way_in", figures=figures))
            next_move = say("move_way_in", who=who, introduction=introduction)
    else:
        verdict = "not_worth_chasing"
        if info.level == "junior":
            reasons.append(say("reason_no_budget"))
            if engaged:
                reasons.append(say("reason_research", figures=figures))
            next_move = say("move_bottom_up", who=who, introduction=introduction)
        else:
            reasons.append(say("reason_barely", figures=figures))
            next_move = say("move_nurture_only")
    return LeadVerdict(lead, info, engagement, verdict, reasons, next_move)


def _introduction(info: TitleInfo, seniors: Sequence[SeniorContact], ctx: Context) -> str:
    """Name the account's senior people when the CRM knows them, else the role to find."""
    profile = ctx.profile
    # someone outside the buying functions is asked for the owner in one: buying functions rank first then
    own_first = profile.is_buying_function(info.function)
    ranked = sorted(seniors, key=lambda s: ((s.function != info.function, not profile.is_buying_function(s.function))
                                            if own_first else
                                            (not profile.is_buying_function(s.function), s.function != info.function),
                                            -_rank(s.level)))
    if ranked:
        return ctx.say("triage", "introduction_named", names=join_words([s.label() for s in ranked[:2]], "or"))
    return ctx.say("triage", "introduction_role", role=profile.role_to_find(info.function))


def _rank(level: str) -> int:
    return {"executive": 3, "vp": 2, "director": 1}.get(level, 0)


# ---------------------------------------------------------------- sources of leads

SeniorLookup = Callable[[str], Sequence[SeniorContact]]


def triage_leads(leads: Iterable[Lead], ctx: Context, *, seniors_for: SeniorLookup | None = None) -> TriageResult:
    cache: dict[str, Sequence[SeniorContact]] = {}
    verdicts = []
    leads = list(leads)
    ctx.profile.titles.prepare(lead.title for lead in leads)  # titles no rule settles: embedded once, together
    for lead in leads:
        seniors: Sequence[SeniorContact] = ()
        if seniors_for and lead.account_id:
            if lead.account_id not in cache:
                cache[lead.account_id] = seniors_for(lead.account_id)
            seniors = cache[lead.account_id]
        verdicts.append(judge(lead, ctx, seniors=seniors))
    order = {name: index for index, name in enumerate(VERDICTS)}
    verdicts.sort(key=lambda v: (order[v.verdict], -v.title.seniority, v.lead.name))
    return TriageResult(verdicts)


def senior_contacts(retriever: Any, account_id: str, profile: SellerProfile) -> list[SeniorContact]:
    """The account's senior people on file (executive, VP, director with budget)."""
    return seniors_among(retriever.account_records(account_id, "contact"), profile)


def seniors_among(records: list[Any], profile: SellerProfile) -> list[SeniorContact]:
    found = []
    for hit in records:
        if hit.metadata.get("type") != "contact":
            continue
        record = hit.record
        info = profile.titles.read(str(record.get("title") or ""))
        if info.level in ("executive", "vp") or (info.level == "director" and info.budget_authority):
            found.append(SeniorContact(str(record.get("name")), str(record.get("title")), info.function, info.level))
    return found


def triage_file(path: Path, ctx: Context, *, retriever: Any | None = None) -> TriageResult:
    """A marketing-automation export (HubSpot, Marketo, Salesforce leads) as it comes."""
    parsed = read_crm_file(path, str(path), role="lead")
    leads = []
    for _, record in parsed.records:
        account = None
        if retriever is not None and record.get("company"):
            account = retriever.resolve_account(str(record["company"])).account
        leads.append(Lead.from_record(record, account_id=account.id if account else None,
                                      account_name=account.name if account else None))
    result = triage_leads(leads, ctx, seniors_for=(lambda a: senior_contacts(retriever, a, ctx.profile))
                          if retriever else None)
    result.errors = parsed.errors
    return result


def account_leads(records: list[Any], account_id: str, account_name: str, ctx: Context) -> list[Lead]:
    """An account's CRM contacts (engagement from their activities) and its marketing leads."""
    today, window = ctx.date, ctx.profile.engagement.window_days
    activity: dict[str, list[dict[str, Any]]] = {}
    for hit in records:
        if hit.metadata.get("type") == "activity":
            record = hit.record
            if record.get("contact_id"):
                activity.setdefault(str(record["contact_id"]), []).append(record)
    leads = []
    for hit in records:
        kind = hit.metadata.get("type")
        record = hit.record
        if kind == "lead":
            leads.append(Lead.from_record(record, account_id=account_id, account_name=account_name))
        elif kind == "contact":
            done = [a for a in activity.get(str(record.get("id")), [])
                    if (age_in_days(str(a.get("date") or ""), today) or 10**6) <= window]
            kinds = [str(a.get("type") or "").lower() for a in done]
            views = sum(1 for k in kinds if k in ACTIVITY_AS_VIEW)
            forms = sum(1 for k in kinds if k in ACTIVITY_AS_FORM)
            last = max((str(a.get("date")) for a in done if a.get("date")), default=None)
            leads.append(Lead(
                name=str(record.get("name")), title=str(record.get("title") or ""), company=account_name,
                email=str(record.get("email") or ""), page_views=views, form_submissions=forms,
                last_activity=last, account_id=account_id, account_name=account_name,
                ref=f"contact:{record.get('id')}",
            ))
    return _dedupe(leads)


def _dedupe(leads: list[Lead]) -> list[Lead]:
    """A person in both the CRM and the marketing tool is judged once (the richer record wins)."""
    seen: dict[str, Lead] = {}
    for lead in leads:
        key = (lead.email or lead.name).lower()
        current = seen.get(key)
        if current is None or (current.score is None and lead.score is not None):
            seen[key] = lead
    return list(seen.values())


def triage_account(retriever: Any, account_id: str, account_name: str, ctx: Context, *,
                   records: list[Any] | None = None) -> TriageResult:
    """`records`: the account's records when the caller (the brief) already has them."""
    records = records if records is not None else retriever.account_records(account_id)
    leads = account_leads(records, account_id, account_name, ctx)
    seniors = seniors_among(records, ctx.profile)
    return triage_leads(leads, ctx, seniors_for=lambda _: seniors)

