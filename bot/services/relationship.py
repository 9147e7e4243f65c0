"""Where we stand with an account, read from its deals and notes: it shapes briefs and drafts.

prospect (no deal), open_opportunity (new business open), customer (won, nothing open), renewal (a
customer with an open renewal or extension), at_risk (a customer whose renewal or account is
threatened), lost (only lost deals). The words that mean "renewal", "risk" and "negotiation", and
which stages are won or lost, come from the seller profile.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.knowledge.accounts import fold
from bot.knowledge.crm import age_in_days
from bot.profile import SellerProfile, phrase_pattern
from bot.services.context import Context

STATES = ("prospect", "open_opportunity", "customer", "renewal", "at_risk", "lost")
LABELS = {"prospect": "prospect", "open_opportunity": "open opportunity", "customer": "customer",
          "renewal": "renewal", "at_risk": "renewal at risk", "lost": "lost"}


@dataclass(frozen=True)
class Relationship:
    state: str
    reason: str  # for the rep: which deal or note says so
    deal: dict[str, Any] | None = None  # the open deal that matters most
    negotiating: bool = False
    problem: str | None = None  # the note that puts a customer at risk
    problem_date: str | None = None
    problem_ref: str | None = None
    raised_by: str = ""  # the contact id on the note that puts the account at risk

    @property
    def label(self) -> str:
        return LABELS[self.state]

    @property
    def in_conversation(self) -> bool:
        """True when a draft must not read as a first introduction."""
        return self.state != "prospect"

    def as_dict(self) -> dict[str, Any]:
        return {"state": self.state, "reason": self.reason, "deal": (self.deal or {}).get("name"),
                "negotiating": self.negotiating}


def deal_state(deal: dict[str, Any], profile: SellerProfile) -> str:
    """won | lost | open (a stage the profile does not know counts as open, as ingest reported)."""
    return profile.stage_state(str(deal.get("stage") or "")) or "open"


def read_relationship(deals: list[dict[str, Any]], activities: list[dict[str, Any]], ctx: Context) -> Relationship:
    profile = ctx.profile
    words = profile.relationship
    renewal, risk, negotiation = (phrase_pattern(words.renewal), phrase_pattern(words.risk),
                                  phrase_pattern(words.negotiation))
    won = [d for d in deals if deal_state(d, profile) == "won"]
    lost = [d for d in deals if deal_state(d, profile) == "lost"]
    open_deals = sorted((d for d in deals if deal_state(d, profile) == "open"),
                        key=lambda d: str(d.get("close_date") or "9999"))

    def text_of(deal: dict[str, Any]) -> str:
        return fold(" ".join(str(deal.get(k) or "") for k in ("name", "stage", "next_step")))

    negotiating = any(negotiation.search(text_of(d)) for d in open_deals)
    if won:
        window = profile.engagement.window_days
        for record in sorted(activities, key=lambda a: str(a.get("date") or ""), reverse=True):
            age = age_in_days(str(record.get("date") or ""), ctx.date)
            if age is None or not 0 <= age <= window:
                continue
            text = " ".join(str(record.get(k) or "") for k in ("subject", "description"))
            if risk.search(fold(text)):
                return Relationship("at_risk", f"{record.get('type') or 'note'} on {record.get('date')}: "
                                    f"{text.strip()[:200]}", open_deals[0] if open_deals else None, negotiating,
                                    text.strip()[:280], str(record.get("date") or ""), str(record.get("ref") or ""),
                                    str(record.get("contact_id") or ""))
        for deal in open_deals:
            if risk.search(text_of(deal)):
                return Relationship("at_risk", f"deal '{deal.get('name')}': {deal.get('next_step') or deal.get('stage')}",
                                    deal, negotiating, str(deal.get("next_step") or "")[:280],
                                    str(deal.get("close_date") or ""), str(deal.get("source") or ""))
        if open_deals:
            deal = next((d for d in open_deals if renewal.search(text_of(d))), open_deals[0])
            return Relationship("renewal", f"customer since '{won[0].get('name')}'; open: '{deal.get('name')}' "
                                f"at {deal.get('stage')}", deal, negotiating)
        return Relationship("customer", f"won '{won[0].get('name')}', nothing open", None)
    if open_deals:
        deal = open_deals[0]
        return Relationship("open_opportunity", f"'{deal.get('name')}' at {deal.get('stage')}", deal, negotiating)
    if lost:
        return Relationship("lost", f"lost '{lost[0].get('name')}'" + (
            f": {lost[0].get('next_step')}" if lost[0].get("next_step") else ""), None)
    return Relationship("prospect", "no opportunity on file", None)
