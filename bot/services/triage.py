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
from bot.knowledge.titles import BUYING_FUNCTIONS, TitleInfo, classify_title

VERDICTS = ("pursue", "nurture", "not_worth_chasing")
RECENT_DAYS = 90
ACTIVITY_AS_VIEW = {"web visit", "website visit", "page view", "visit", "email open", "email click"}
ACTIVITY_AS_FORM = {"content download", "download", "webinar", "form submission", "form", "event", "whitepaper"}

# What a senior person in each function is measured on: the business message, not features.
OUTCOMES = {
    "finance": "working capital, forecast accuracy and cost",
    "operations": "service levels, inventory and on-time delivery",
    "it": "integration effort, security and total cost of ownership",
    "procurement": "spend under management, supplier risk and savings",
    "general_management": "margin, growth and execution of the strategy",
    "sales": "revenue predictability",
    "marketing": "pipeline contribution",
    "hr": "workforce cost and productivity",
    "engineering": "time to market and quality",
    "other": "the business outcomes they own",
}
ROLE_TO_FIND = {
    "finance": "the CFO or finance director",
    "operations": "the COO or VP Operations",
    "it": "the CIO or IT director",
    "procurement": "the CPO or head of procurement",
}


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


def engagement_of(lead: Lead, today: date) -> tuple[str, str]:
    """(hot|warm|cold, the figures behind it). Old activity cools a lead down."""
    figures = [f"{label} {value:g}" for label, value in
               (("score", lead.score), ("page views", lead.page_views), ("form submissions", lead.form_submissions))
               if value is not None]
    score, views, forms = lead.score or 0, lead.page_views or 0, lead.form_submissions or 0
    if score >= 70 or views >= 25 or forms >= 3:
        level = "hot"
    elif score >= 40 or views >= 8 or forms >= 1:
        level = "warm"
    else:
        level = "cold"
    age = age_in_days(lead.last_activity, today)
    if age is not None:
        figures.append(f"last active {age} days ago")
        if age > RECENT_DAYS and level != "cold":
            level = "warm" if level == "hot" else "cold"
    return level, ", ".join(figures) or "no engagement data"


def judge(lead: Lead, *, seniors: Sequence[SeniorContact] = (), today: date | None = None) -> LeadVerdict:
    today = today or date.today()
    info = classify_title(lead.title)
    engagement, figures = engagement_of(lead, today)
    who = lead.name
    level_text = f"{info.level.replace('_', ' ')}" + (f" in {info.function.replace('_', ' ')}" if info.function != "other" else "")
    reasons = [f"Title '{lead.title or '—'}' reads as {level_text} ({info.why})."]
    outcome = OUTCOMES.get(info.function, OUTCOMES["other"])

    if info.level in ("executive", "vp") or (info.level == "director" and info.budget_authority):
        verdict = "pursue"
        reasons.append("Owns or directly influences budget for an initiative like ours.")
        if engagement == "cold":
            reasons.append(f"Low marketing engagement ({figures}) does not matter: senior buyers research alone.")
        else:
            reasons.append(f"Engagement {engagement} ({figures}).")
        next_move = (f"Reach {who} top-down: open with the account's situation or a recent trigger event and "
                     f"the impact on {outcome}; offer one proof point from a similar customer and ask a question, "
                     "not for a meeting slot.")
    elif info.level in ("manager", "director") or (info.level == "unknown" and (lead.score or 0) >= 50):
        verdict = "nurture"
        if info.level == "unknown":
            reasons.append(f"Engaged ({figures}) but the title does not say who they are.")
            next_move = f"Qualify first: find out {who}'s role and who owns the budget before any sales time."
        else:
            reasons.append("Can champion or evaluate, but does not sign for an unbudgeted initiative.")
            reasons.append(f"Engagement {engagement} ({figures}).")
            next_move = (f"Keep {who} close as a potential champion: learn the initiative and its sponsor, "
                         f"then {_introduction(info, seniors)}.")
    else:
        verdict = "not_worth_chasing"
        if info.level == "unknown":
            activity = "little engagement" if engagement == "cold" else f"{engagement} engagement"
            reasons.append(f"No usable title, {activity} ({figures}) and a score under 50: nothing says they can buy.")
        else:
            reasons.append("No budget authority: cannot fund an unbudgeted initiative.")
        if engagement in ("hot", "warm") and info.level != "unknown":
            reasons.append(f"High activity ({figures}) is research, not buying power.")
            next_move = (f"Don't chase {who}. Go bottom-up: use their interest to learn what initiative they are "
                         f"researching and for whom, then {_introduction(info, seniors)}.")
        else:
            next_move = "No sales time: leave in marketing nurture."
    return LeadVerdict(lead, info, engagement, verdict, reasons, next_move)


def _introduction(info: TitleInfo, seniors: Sequence[SeniorContact]) -> str:
    """Name the account's senior people when the CRM knows them, else the role to find."""
    ranked = sorted(seniors, key=lambda s: (s.function != info.function, s.function not in BUYING_FUNCTIONS,
                                             -_rank(s.level)))
    if ranked:
        names = " or ".join(s.label() for s in ranked[:2])
        return f"ask for an introduction to {names}"
    role = ROLE_TO_FIND.get(info.function, "the executive who owns the budget (CFO, COO or CIO)")
    return f"ask for an introduction to {role} (no senior contact on file yet)"


def _rank(level: str) -> int:
    return {"executive": 3, "vp": 2, "director": 1}.get(level, 0)


# ---------------------------------------------------------------- sources of leads

SeniorLookup = Callable[[str], Sequence[SeniorContact]]


def triage_leads(leads: Iterable[Lead], *, seniors_for: SeniorLookup | None = None,
                 today: date | None = None) -> TriageResult:
    today = today or date.today()
    cache: dict[str, Sequence[SeniorContact]] = {}
    verdicts = []
    for lead in leads:
        seniors: Sequence[SeniorContact] = ()
        if seniors_for and lead.account_id:
            if lead.account_id not in cache:
                cache[lead.account_id] = seniors_for(lead.account_id)
            seniors = cache[lead.account_id]
        verdicts.append(judge(lead, seniors=seniors, today=today))
    order = {name: index for index, name in enumerate(VERDICTS)}
    verdicts.sort(key=lambda v: (order[v.verdict], -v.title.seniority, v.lead.name))
    return TriageResult(verdicts)


def senior_contacts(retriever: Any, account_id: str) -> list[SeniorContact]:
    """The account's senior people on file (executive, VP, director with budget)."""
    return seniors_among(retriever.account_records(account_id, "contact"))


def seniors_among(records: list[Any]) -> list[SeniorContact]:
    found = []
    for hit in records:
        if hit.metadata.get("type") != "contact":
            continue
        record = hit.record
        info = classify_title(str(record.get("title") or ""))
        if info.level in ("executive", "vp") or (info.level == "director" and info.budget_authority):
            found.append(SeniorContact(str(record.get("name")), str(record.get("title")), info.function, info.level))
    return found


def triage_file(path: Path, *, retriever: Any | None = None, today: date | None = None) -> TriageResult:
    """A marketing-automation export (HubSpot, Marketo, Salesforce leads) as it comes."""
    parsed = read_crm_file(path, str(path), role="lead")
    leads = []
    for _, record in parsed.records:
        account = None
        if retriever is not None and record.get("company"):
            account = retriever.resolve_account(str(record["company"])).account
        leads.append(Lead.from_record(record, account_id=account.id if account else None,
                                      account_name=account.name if account else None))
    result = triage_leads(leads, seniors_for=(lambda a: senior_contacts(retriever, a)) if retriever else None,
                          today=today)
    result.errors = parsed.errors
    return result


def account_leads(records: list[Any], account_id: str, account_name: str, today: date | None = None) -> list[Lead]:
    """An account's CRM contacts (engagement from their activities) and its marketing leads."""
    today = today or date.today()
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
                    if (age_in_days(str(a.get("date") or ""), today) or 10**6) <= RECENT_DAYS]
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


def triage_account(retriever: Any, account_id: str, account_name: str, today: date | None = None, *,
                   records: list[Any] | None = None) -> TriageResult:
    """`records`: the account's records when the caller (the brief) already has them."""
    records = records if records is not None else retriever.account_records(account_id)
    leads = account_leads(records, account_id, account_name, today)
    seniors = seniors_among(records)
    return triage_leads(leads, seniors_for=lambda _: seniors, today=today)

