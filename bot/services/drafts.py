"""Outreach to a senior stakeholder: their situation, their outcomes, one proof point, one question.

Not a tour of product features and not "always be closing". Every draft, written by the composer or
by a model, goes through the same checks; a model's failing draft is regenerated once, then flagged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from bot.knowledge.accounts import Account, fold
from bot.knowledge.retrieval import Hit, Retriever
from bot.knowledge.titles import classify_title
from bot.llm import FALLBACK_NOTE, Model, ModelUnavailable
from bot.services.briefs import Member, build_committee
from bot.services.signals import Trigger, find_triggers
from bot.services.triage import OUTCOMES

MAX_WORDS = 180
MAX_FEATURES = 2
PRODUCT_FEATURES = (
    "demand forecasting", "forecasting engine", "inventory optimisation", "inventory optimization",
    "spend analytics", "supplier spend analytics", "invoice matching", "three-way matching", "3-way matching",
    "erp connector", "connectors", "dashboard", "machine learning", "ai-powered", "artificial intelligence",
    "scenario planning", "what-if", "api", "mobile app", "workflow engine", "alerts",
)
PUSHY_PHRASES = (
    "book a demo", "schedule a demo", "quick call", "hop on a call", "15 minutes", "15-minute", "act now",
    "limited time", "sign today", "sign this week", "special discount", "don't miss", "buy now", "last chance",
    "just checking in", "touch base", "close this quarter", "before the end of the quarter", "are you the right person",
    "let's get something on the calendar", "free trial",
)
PERSONA_HINTS = {"finance": "CFO", "operations": "COO", "it": "CIO", "procurement": "CPO",
                 "general_management": "CEO"}
_NUMBER = re.compile(r"(\d[\d.,]*\s?(%|percent|days?|weeks?|months?|points?|pp|x\b|M\b|k\b|million|bn)|"
                     r"(EUR|GBP|USD|€|£|\$)\s?\d[\d.,]*\s?(M|k|million|bn)?)", re.IGNORECASE)


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

def check_draft(body: str, *, senior_target: bool, trigger: Trigger | None, proof: str | None) -> dict[str, Any]:
    """What a sales leader would look at before letting this go out."""
    words = len(re.findall(r"\b[\w'’-]+\b", body))
    folded = body.lower()
    features = sorted({f for f in PRODUCT_FEATURES if re.search(rf"\b{re.escape(f)}\b", folded)})
    pushy = sorted({p for p in PUSHY_PHRASES if p in folded})
    last = [line for line in body.strip().splitlines() if line.strip() and not line.strip().startswith("[")]
    question_close = any("?" in line for line in last[-3:])
    trigger_used = bool(trigger) and (trigger.phrase.lower() in folded or _shares_words(trigger.sentence, body))
    proof_used = bool(proof) and any(n.group(0).strip().lower() in folded for n in _NUMBER.finditer(proof or ""))
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
    }
    checks["passed"] = all((checks["under_word_limit"], senior_target, trigger_used or trigger is None,
                            proof_used or proof is None, len(features) <= MAX_FEATURES, not pushy, question_close))
    return checks


def _shares_words(sentence: str, body: str) -> bool:
    wanted = {w for w in re.findall(r"[a-z0-9/]{5,}", fold(sentence))}
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
    if checks.get("proof_available", True) and not checks["proof_point"]:
        problems.append("the proof point's number is missing")
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

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "level": self.level, "function": self.function}


def choose_target(committee: list[Member], *, contact: str | None, persona: str | None) -> Target:
    seniors = [m for m in committee if m.info.level in ("executive", "vp") or
               (m.info.level == "director" and m.info.budget_authority)]
    if contact:
        wanted = fold(contact)
        named = next((m for m in committee if fold(m.name) == wanted), None) or \
            next((m for m in committee if wanted in fold(m.name)), None)
        if named is None:
            raise LookupError(f"no contact called '{contact}' at this account; known: "
                              + ", ".join(m.name for m in committee[:8]))
        if named.info.senior and (named.info.budget_authority or named.info.level in ("executive", "vp")):
            return Target(named.name, named.title, named.info.function, named.info.level, True, None)
        better = _best_senior(seniors, named.info.function)
        note = (f"{named.label()} is {named.info.level.replace('_', ' ')} level without budget authority; "
                "writing to them would be activity, not progress.")
        if better:
            return Target(better.name, better.title, better.info.function, better.info.level, True,
                          note + f" Proposed senior target instead: {better.label()}. Ask {named.name} for the introduction.")
        role = PERSONA_HINTS.get(named.info.function, "CFO")
        return Target(None, role, named.info.function if named.info.function in PERSONA_HINTS else "finance",
                      "executive", True, note + f" No senior contact on file: address the {role}.")
    if persona:
        info = classify_title(persona)
        match = _best_senior([m for m in seniors if m.info.function == info.function], info.function)
        if match:
            return Target(match.name, match.title, match.info.function, match.info.level, True, None)
        level = info.level if info.level != "unknown" else "executive"
        return Target(None, persona, info.function, level, info.senior or info.level == "unknown",
                      f"No {persona} on file at this account: the draft is addressed to the role.")
    best = _best_senior(seniors, None)
    if best:
        return Target(best.name, best.title, best.info.function, best.info.level, True, None)
    return Target(None, "CFO", "finance", "executive", True, "No senior contact on file: addressed to the CFO.")


def _best_senior(seniors: list[Member], function: str | None) -> Member | None:
    """Prefer the same function, then an unengaged economic buyer, then seniority."""
    ranked = sorted(seniors, key=lambda m: (function is not None and m.info.function != function,
                                            m.info.function not in ("finance", "general_management", "operations"),
                                            -m.info.seniority, m.name))
    return ranked[0] if ranked else None


# ---------------------------------------------------------------- grounding

def sentences_of(hit: Hit) -> list[str]:
    """Plain sentences of a passage: markdown, bullets and the label line removed."""
    text = hit.text.split("\n", 1)[-1]
    # table rows ("| Inventory | 41 days | 29 days |") are not sentences a reader can follow
    rows = [line for line in text.splitlines() if line.count("|") < 2]
    body = re.sub(r"[*_#>`]+", "", "\n".join(rows))
    lines = (" ".join(line.strip(" -•\t\"“”").split()) for line in body.splitlines())
    return [s.strip(" \"“”") for line in lines for s in re.split(r"(?<=[.!?])\s+", line)
            if len(s.split()) >= 6]


def find_proof(retriever: Retriever, *, industry: str, function: str,
               exclude: set[str] | None = None) -> tuple[str | None, Hit | None]:
    """One case-study sentence with a number, same industry or persona first."""
    persona = PERSONA_HINTS.get(function, "")
    query = f"{industry} customer results {OUTCOMES.get(function, '')} {persona}"
    hits = retriever.search(query, k=12, types=["case_study"])
    best: tuple[float, str, Hit] | None = None
    for hit in hits:
        if exclude and hit.ref in exclude:
            continue
        industries = fold(str(hit.metadata.get("industries", "")))
        personas = str(hit.metadata.get("personas", ""))
        bonus = (0.3 if industry and fold(industry)[:6] in industries else 0.0) + \
                (0.15 if persona and persona in personas else 0.0)
        for sentence in sentences_of(hit):
            numbers = _NUMBER.findall(sentence)
            if numbers and 40 <= len(sentence) <= 260:
                score = hit.score + bonus + 0.05 * min(len(numbers), 3)
                if best is None or score > best[0]:
                    best = (score, sentence, hit)
    return (best[1], best[2]) if best else (None, None)


def customer_name(title: str) -> str:
    """'Marlow Home Retail releases GBP 41M ...' -> 'Marlow Home Retail' (the leading proper name)."""
    head = title.split(":")[0]
    words = []
    for word in head.split():
        if not (word[:1].isupper() or word in ("&", "de", "du", "von", "y")):
            break
        words.append(word)
    return " ".join(words)


def _first_name(name: str | None) -> str:
    return name.split()[0] if name else ""


def compose_draft(*, account: dict[str, Any], target: Target, trigger: Trigger | None,
                  proof: str | None, proof_hit: Hit | None) -> tuple[str, str]:
    outcome = OUTCOMES.get(target.function, OUTCOMES["other"])
    headline = outcome.split(",")[0]
    greeting = f"Hi {_first_name(target.name)}," if target.name else "Hello,"
    company = str(account.get("name") or "your company")
    if trigger:
        opening = (f"With {trigger.phrase} at {company}, {headline} is likely getting more scrutiny than usual, "
                   f"and the choices made in the next few months tend to set it for years.")
        subject = f"{company}: {trigger.phrase} and {headline}"
    else:
        industry = str(account.get("industry") or "your industry").lower()
        opening = (f"Many {industry} leaders we speak with are being asked to improve {headline} "
                   f"without adding headcount.")
        subject = f"{company}: {headline}"
    middle = f"For a {target.title or 'leader'} that usually means {outcome}."
    customer = customer_name(str(proof_hit.metadata.get("title", ""))) if proof_hit else ""
    proof_line = f"One example: {proof}" if proof else ""
    if proof and customer and fold(customer)[:8] not in fold(proof):
        proof_line = f"One example from {customer}: {proof}"
    question = (f"How are you weighing {headline} as {trigger.phrase} unfolds?" if trigger
                else f"How are you approaching {headline} this year?")
    body = "\n\n".join(p for p in (greeting, opening + " " + middle, proof_line,
                                   question + " If useful, I can share what they changed first.",
                                   "Best regards,\n[Your name]") if p)
    return subject, body


def draft_outreach(retriever: Retriever, account: Account, *, contact: str | None = None,
                   persona: str | None = None, model: Model | None = None, today: date | None = None) -> Draft:
    today = today or date.today()
    by_type = retriever.account_records_by_type(account.id)
    account_hits = by_type.get("account", [])
    account_record = account_hits[0].record if account_hits else {"name": account.name}
    activities = by_type.get("activity", [])
    committee = build_committee(by_type.get("contact", []), activities, today)
    target = choose_target(committee, contact=contact, persona=persona)
    triggers = find_triggers(activities, today=today)
    trigger = triggers[0] if triggers else None
    proof, proof_hit = find_proof(retriever, industry=str(account_record.get("industry") or ""),
                                  function=target.function)

    hits = list(account_hits)
    if trigger:
        hits += [h for h in activities if h.ref == trigger.ref]
    if proof_hit:
        hits.append(proof_hit)
    rationale = _rationale(target, trigger, proof_hit)
    subject, body = compose_draft(account=account_record, target=target, trigger=trigger, proof=proof,
                                  proof_hit=proof_hit)
    checks = check_draft(body, senior_target=target.senior, trigger=trigger, proof=proof)
    draft = Draft(target.as_dict(), subject, body, rationale, checks, hits)
    if model is not None:
        _draft_with_model(draft, model, account_record, target, trigger, proof)
    return draft


def _rationale(target: Target, trigger: Trigger | None, proof_hit: Hit | None) -> str:
    parts = []
    if target.note:
        parts.append(target.note)
    who = target.name or f"the {target.title}"
    parts.append(f"Written to {who} ({target.level}, {target.function.replace('_', ' ')}): "
                 f"they own {OUTCOMES.get(target.function, OUTCOMES['other'])}.")
    parts.append(f"Opens with {trigger.phrase} (our notes, {trigger.date}: \"{trigger.sentence}\")." if trigger
                 else "No trigger event in the account's recent history: opens with the industry's pressure instead.")
    if proof_hit:
        parts.append(f"Proof point from {proof_hit.metadata.get('title')}.")
    return " ".join(parts)


def parse_email(text: str) -> tuple[str, str]:
    match = re.search(r"SUBJECT:\s*(.+?)\s*\n+\s*BODY:\s*\n?(.*)", text, re.DOTALL | re.IGNORECASE)
    if not match:
        raise ModelUnavailable("reply not in the SUBJECT/BODY format")
    return match.group(1).strip(), match.group(2).strip()


def _draft_with_model(draft: Draft, model: Model, account: dict[str, Any], target: Target,
                      trigger: Trigger | None, proof: str | None) -> None:
    """The model writes; the same checks judge it; one retry with the failures named, then flag."""
    values = {
        "recipient": f"{target.name or 'the ' + target.title} — {target.title} at {account.get('name')}",
        "account_situation": f"{account.get('name')}: {account.get('industry') or ''}, {account.get('country') or ''}",
        "trigger": trigger.phrase + f" (from our notes: {trigger.sentence})" if trigger else "none known",
        "outcomes": OUTCOMES.get(target.function, OUTCOMES["other"]),
        "proof_point": proof or "none",
        "sender_note": target.note or "none",
    }
    feedback = ""
    for attempt in (1, 2):
        try:
            subject, body = parse_email(model.complete("draft", feedback=feedback or "none", **values))
        except ModelUnavailable as exc:
            draft.note = FALLBACK_NOTE.format(reason=exc)
            return
        checks = check_draft(body, senior_target=target.senior, trigger=trigger, proof=proof)
        if checks["passed"] or attempt == 2:
            draft.subject, draft.body, draft.checks, draft.engine = subject, body, checks, "model"
            checks["regenerated"] = attempt == 2
            if not checks["passed"]:
                draft.note = "Flagged: the model's draft still fails these checks: " + "; ".join(failed_checks(checks)) + "."
            return
        feedback = "; ".join(failed_checks(checks))
