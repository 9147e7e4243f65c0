"""Outreach to a senior stakeholder: their situation, their outcomes, one proof point, one question.

Not a tour of product features and not "always be closing". The relationship decides the opening (no
cold introduction to someone we are negotiating with; a renewal at risk opens with the problem). Every
draft, written by the composer or by a model, goes through the same checks; a model's failing draft is
regenerated once, then flagged. Outcomes, products and wording come from the seller profile and
prompts/composer/draft.yaml.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.knowledge.accounts import Account, fold
from bot.knowledge.retrieval import Hit, Retriever
from bot.llm import FALLBACK_NOTE, Model, ModelUnavailable, Rejected, Session
from bot.profile import Persona, SellerProfile
from bot.services.answering import check_sources, strip_citations
from bot.services.briefs import (
    Member,
    build_committee,
    concerned,
    rank_seniors,
    senior_target,
)
from bot.services.context import Context
from bot.services.proof import Proof, find_proof
from bot.services.relationship import Relationship, read_relationship
from bot.services.signals import Trigger, find_triggers
from bot.wording import article, with_article

MAX_WORDS = 180
MAX_FEATURES = 2


@dataclass
class Draft:
    to: dict[str, Any]
    subject: str
    body: str
    rationale: str
    checks: dict[str, Any]
    hits: list[Hit] = field(default_factory=list)
    engine: str = "composer"
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"to": self.to, "subject": self.subject, "body": self.body,
                "rationale": f"{self.rationale} {self.note}" if self.note else self.rationale,
                "checks": self.checks, "sources": [h.source_info() for h in self.hits]}


# ---------------------------------------------------------------- checks

def check_draft(body: str, ctx: Context, *, senior_target: bool, trigger: Trigger | None, proof: Proof | None,
                relationship: Relationship | None = None) -> dict[str, Any]:
    """What a sales leader would look at before letting this go out."""
    words = len(re.findall(r"\b[\w'’-]+\b", body))
    folded = body.lower()
    pattern = ctx.profile.product_patterns
    features = sorted({m.group(0) for m in pattern.finditer(fold(body))}) if pattern else []
    pushy = pushy_phrases(body, ctx)
    cold = sorted({p for p in ctx.words("draft", "cold_intro") if p in folded})
    last = [line for line in body.strip().splitlines() if line.strip() and not line.strip().startswith("[")]
    question_close = any("?" in line for line in last[-3:])
    trigger_used = trigger is not None and (trigger.phrase.lower() in folded or _shares_words(trigger.sentence, body))
    proof_used = bool(proof) and any(n.lower() in folded for n in (proof.numbers if proof else []))
    in_conversation = bool(relationship and relationship.in_conversation)
    checks = {
        "trigger_available": trigger is not None,
        "proof_available": proof is not None,
        "word_count": words,
        "under_word_limit": words <= MAX_WORDS,
        "senior_target": senior_target,
        "trigger_used": trigger_used,
        "proof_point": proof_used,
        "product_feature_count": len(features),
        "product_features": features,
        "pushy_phrases": pushy,
        "low_pressure_close": question_close and not pushy,
        "relationship": relationship.state if relationship else None,
        "cold_introduction": bool(cold) and in_conversation,
    }
    checks["passed"] = all((checks["under_word_limit"], senior_target, trigger_used or trigger is None,
                            proof_used, len(features) <= MAX_FEATURES, not pushy, question_close,
                            not checks["cold_introduction"]))
    return checks


def pushy_phrases(text: str, ctx: Context) -> list[str]:
    """The "always be closing" phrases in a text (prompts/composer/draft.yaml `pushy`)."""
    folded = text.lower()
    return sorted({p for p in ctx.words("draft", "pushy") if p in folded})


def _shares_words(sentence: str, body: str) -> bool:
    wanted = set(re.findall(r"[a-z0-9/]{5,}", fold(sentence)))
    return len(wanted & set(re.findall(r"[a-z0-9/]{5,}", fold(body)))) >= 2


def failed_checks(checks: dict[str, Any]) -> list[str]:
    problems = []
    if not checks["under_word_limit"]:
        problems.append(f"too long ({checks['word_count']} words, keep under {MAX_WORDS})")
    if checks["product_feature_count"] > MAX_FEATURES:
        problems.append(f"names {checks['product_feature_count']} product features: {', '.join(checks['product_features'])}")
    if checks["pushy_phrases"]:
        problems.append(f"pushy phrases: {', '.join(checks['pushy_phrases'])}")
    if not checks["senior_target"]:
        problems.append("not addressed to a senior stakeholder (CxO, VP or budget owner)")
    if checks.get("trigger_available", True) and not checks["trigger_used"]:
        problems.append("does not open with the trigger event")
    if not checks.get("proof_available", True):
        problems.append("no proof point: no case study with a number fits; add one to the content library")
    elif not checks["proof_point"]:
        problems.append("the proof point's number is missing")
    if checks.get("cold_introduction"):
        problems.append("reads as a cold introduction, but the account is "
                        + with_article(str(checks.get("relationship")).replace("_", " ")))
    if not checks["low_pressure_close"]:
        problems.append("does not end with a low-pressure question")
    return problems


# ---------------------------------------------------------------- choosing whom to write to

@dataclass
class Target:
    name: str | None
    title: str
    function: str
    level: str
    senior: bool
    note: str | None  # e.g. "the named contact is junior"
    engaged: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "level": self.level, "function": self.function}


def _target(member: Member, note: str | None = None) -> Target:
    return Target(member.name, member.title, member.info.function, member.info.level, True, note, member.engaged)


def choose_target(committee: list[Member], ctx: Context, *, contact: str | None, persona: str | None,
                  triggers: Sequence[Trigger] = (), raised_by: str = "") -> Target:
    """The named contact or persona when given (a junior is replaced by a senior, saying why); otherwise
    the same person the brief's top-down step names."""
    profile = ctx.profile
    seniors = [m for m in committee if m.info.budget_authority]

    def say(key: str, **values: object) -> str:
        return ctx.say("draft", key, **values)

    def first(ranked: list[Member]) -> Member | None:
        return ranked[0] if ranked else None

    if contact:
        wanted = fold(contact)
        named = next((m for m in committee if fold(m.name) == wanted), None) or \
            next((m for m in committee if wanted in fold(m.name)), None)
        if named is None:
            raise LookupError(f"no contact called '{contact}' at this account; known: "
                              + ", ".join(m.name for m in committee[:8]))
        if named.info.budget_authority:
            return _target(named)
        note = say("named_not_senior", name=named.label(), level=named.info.level.replace("_", " "))
        better = first(rank_seniors(seniors, profile, function=named.info.function))
        if better:
            return _target(better, note + " " + say("better_target", name=better.label(), reason=named.name))
        fallback = profile.persona_for(named.info.function) or _economic_buyer(profile)
        return Target(None, fallback.name, _first_function(fallback), "executive", True,
                      note + " " + say("no_senior_contact", role=fallback.name))
    if persona:
        wanted_persona = profile.persona_named(persona)
        info = profile.titles.read(persona)
        functions = list(wanted_persona.functions) if wanted_persona else [info.function]
        match = first(rank_seniors([m for m in seniors if m.info.function in functions], profile))
        if match:
            return _target(match)
        level = info.level if info.level != "unknown" else "executive"
        return Target(None, persona, functions[0], level, info.senior or info.level == "unknown",
                      say("no_persona_on_file", role=persona))
    member, _ = senior_target(committee, list(triggers), profile, prefer_unengaged=False, raised_by=raised_by)
    if member is not None:
        return _target(member)
    buyer = _economic_buyer(profile)
    return Target(None, buyer.name, _first_function(buyer), "executive", True,
                  say("no_senior_contact", role=buyer.name))


def _economic_buyer(profile: SellerProfile) -> Persona:
    buyers = profile.economic_buyers()
    return buyers[0] if buyers else (profile.personas[0] if profile.personas else
                                     Persona(name="CEO", functions=("general_management",)))


def _first_function(persona: Persona) -> str:
    return persona.functions[0] if persona.functions else "general_management"


# ---------------------------------------------------------------- composing

def _first_name(name: str | None) -> str:
    return name.split()[0] if name else ""


def compose_draft(*, account: dict[str, Any], target: Target, trigger: Trigger | None, proof: Proof | None,
                  relationship: Relationship, persona: Persona | None, ctx: Context) -> tuple[str, str]:
    """Subject and body from prompts/composer/draft.yaml, chosen by the relationship."""
    headline = persona.headline if persona else "the outcomes you own"
    company = str(account.get("name") or "your company")
    industry = str(account.get("industry") or "").strip()
    state = relationship.state
    values: dict[str, object] = {
        "first_name": _first_name(target.name), "company": company, "trigger": trigger.phrase if trigger else "",
        "headline": headline, "outcomes": persona.outcomes_text() if persona else "the outcomes they own",
        "role": target.title or "leader", "role_article": article(target.title or "leader"),
        "industry": industry.lower() if industry else "your industry",
        "problem_date": relationship.problem_date or "recently",
        "offer": ctx.profile.offer, "seller": ctx.profile.seller,
    }

    def say(key: str, **extra: object) -> str:
        return ctx.say("draft", key, **{**values, **extra})

    # a prospect we are already talking to at senior level is in a conversation too
    if state == "prospect" and target.engaged:
        state = "open_opportunity"
    key = "opening_" + state + ("_trigger" if trigger else "")
    opening = say(key)
    subject_key = "subject_" + state + ("_trigger" if trigger and ctx.wording["draft"].has(
        "subject_" + state + "_trigger") else "")
    subject = say(subject_key if ctx.wording["draft"].has(subject_key) else "subject_prospect")
    if proof is None:
        proof_line = ""
    elif not proof.fits_industry and industry and proof.industry:
        proof_line = say("proof_nearest", proof=proof.sentence, nearest_industry=proof.industry,
                         industry=industry)
    elif not proof.names_customer:
        proof_line = say("proof_named", proof=proof.sentence, customer=proof.customer)
    else:
        proof_line = say("proof_plain", proof=proof.sentence)
    if state == "at_risk":
        question = say("question_at_risk")
    elif state == "renewal":
        question = say("question_renewal")
    else:
        question = say("question_trigger" if trigger else "question_plain")
    greeting = say("greeting_named") if target.name else say("greeting_role")
    body = "\n\n".join(p for p in (greeting, opening + " " + say("middle"), proof_line, question,
                                   say("sign_off")) if p)
    return subject, body


def draft_outreach(retriever: Retriever, account: Account, ctx: Context, *, contact: str | None = None,
                   persona: str | None = None, model: Model | None = None) -> Draft:
    # one deadline for the draft and its one regeneration, counted from the command's start
    session = model.session(calls=2) if model is not None else None
    profile = ctx.profile
    by_type = retriever.account_records_by_type(account.id)
    account_hits = by_type.get("account", [])
    account_record = account_hits[0].record if account_hits else {"name": account.name}
    activities = by_type.get("activity", [])
    committee = build_committee(by_type.get("contact", []), activities, ctx)
    triggers = find_triggers(activities, profile=profile, today=ctx.date)
    deals = [h.record | {"source": h.ref} for h in by_type.get("opportunity", [])]
    relationship = read_relationship(deals, [h.record | {"ref": h.ref} for h in activities], ctx)
    target = choose_target(committee, ctx, contact=contact, persona=persona, triggers=triggers,
                           raised_by=relationship.raised_by)
    trigger = _trigger_for(target, committee, triggers, ctx)
    target_persona = profile.persona_for(target.function, industry=str(account_record.get("industry") or ""))
    proof = find_proof(retriever, profile, industry=str(account_record.get("industry") or ""),
                       persona=target_persona)

    hits = list(account_hits)
    if trigger:
        hits += [h for h in activities if h.ref == trigger.ref]
    if proof:
        hits.append(proof.hit)
    rationale = _rationale(target, trigger, proof, relationship, target_persona, account_record, ctx)
    subject, body = compose_draft(account=account_record, target=target, trigger=trigger, proof=proof,
                                  relationship=relationship, persona=target_persona, ctx=ctx)
    checks = check_draft(body, ctx, senior_target=target.senior, trigger=trigger, proof=proof,
                         relationship=relationship)
    draft = Draft(target.as_dict(), subject, body, rationale, checks, hits)
    if not checks["passed"] and session is None:
        draft.note = "Flagged: " + "; ".join(failed_checks(checks)) + "."
    if session is not None:
        _draft_with_model(draft, session, account_record, target, trigger, proof, relationship, target_persona, ctx,
                          retriever=retriever, account_id=account.id)
    return draft


def _trigger_for(target: Target, committee: list[Member], triggers: list[Trigger], ctx: Context) -> Trigger | None:
    """The trigger about the person we write to, else the account's strongest one."""
    for trigger in triggers:
        member, _ = concerned(trigger, committee, ctx.profile)
        if member is not None and member.name == target.name:
            return trigger
    return triggers[0] if triggers else None


def _rationale(target: Target, trigger: Trigger | None, proof: Proof | None, relationship: Relationship,
               persona: Persona | None, account: dict[str, Any], ctx: Context) -> str:
    def say(key: str, **values: object) -> str:
        return ctx.say("draft", key, **values)

    parts = [target.note] if target.note else []
    parts.append(say("rationale_target", name=target.name or f"the {target.title}", level=target.level,
                     function=target.function.replace("_", " "),
                     outcomes=persona.outcomes_text() if persona else "the outcomes they own"))
    parts.append(say("rationale_relationship", kind=relationship.label, reason=relationship.reason))
    parts.append(say("rationale_trigger", trigger=trigger.phrase, problem_date=trigger.date, reason=trigger.sentence)
                 if trigger else say("rationale_no_trigger"))
    if proof is None:
        parts.append(say("rationale_no_proof"))
    elif not proof.fits_industry and account.get("industry") and proof.industry:
        parts.append(say("rationale_proof_nearest", industry=account.get("industry"), nearest_industry=proof.industry,
                         customer=proof.customer or proof.hit.metadata.get("title")))
    else:
        parts.append(say("rationale_proof", customer=proof.hit.metadata.get("title")))
    return " ".join(parts)


def parse_email(text: str) -> tuple[str, str]:
    match = re.search(r"SUBJECT:\s*(.+?)\s*\n+\s*BODY:\s*\n?(.*)", text, re.DOTALL | re.IGNORECASE)
    if not match:
        raise Rejected("reply not in the SUBJECT/BODY format")
    return match.group(1).strip(), match.group(2).strip()


def _draft_with_model(draft: Draft, session: Session, account: dict[str, Any], target: Target,
                      trigger: Trigger | None, proof: Proof | None, relationship: Relationship,
                      persona: Persona | None, ctx: Context, *, retriever: Retriever, account_id: str) -> None:
    """The model writes; the same checks judge it; one retry with the failures named, then flag. A reply that
    cites a source not given or names another account the material is not about is not used at all."""
    def accept(text: str) -> tuple[str, str]:
        subject, body = parse_email(text)
        # an email carries no [n]: the sources go beside it; a wrong one still means the model made it up
        check_sources(f"{subject}\n{body}", draft.hits, resolver=retriever.resolver, account_id=account_id,
                      require=False)
        return strip_citations(subject), strip_citations(body)

    values = {
        "recipient": f"{target.name or 'the ' + target.title} — {target.title} at {account.get('name')}",
        "account_situation": f"{account.get('name')}: {account.get('industry') or ''}, {account.get('country') or ''}; "
                             f"relationship: {relationship.label} ({relationship.reason})",
        "trigger": trigger.phrase + f" (from our notes: {trigger.sentence})" if trigger else "none known",
        "outcomes": persona.outcomes_text() if persona else "the outcomes they own",
        "proof_point": (f"{proof.customer}: {proof.sentence}" if proof and proof.customer else
                        proof.sentence if proof else "none"),
        "sender_note": target.note or "none",
    }
    feedback = ""
    for attempt in (1, 2):
        try:
            subject, body = session.complete("draft", accept=accept, feedback=feedback or "none", **values)
        except ModelUnavailable as exc:
            draft.note = FALLBACK_NOTE.format(reason=exc)
            return
        checks = check_draft(body, ctx, senior_target=target.senior, trigger=trigger, proof=proof,
                             relationship=relationship)
        if checks["passed"] or attempt == 2:
            draft.subject, draft.body, draft.checks, draft.engine = subject, body, checks, "model"
            checks["regenerated"] = attempt == 2
            if not checks["passed"]:
                draft.note = "Flagged: the model's draft still fails these checks: " + "; ".join(failed_checks(checks)) + "."
            return
        feedback = "; ".join(failed_checks(checks))
