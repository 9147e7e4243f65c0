"""Outbound campaigns for marketers: a multi-touch sequence aimed top-down at a senior persona.

Each touch is grounded in one piece of the content library (persona messaging, a case study in the
industry, the business-case guide) and cites it. Email, LinkedIn and call alternate over ~3 weeks.
With a model, the whole sequence is rewritten in one call (never one call per touch), and each touch's
citations are checked before it is used.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.knowledge.lexical import key_terms as terms
from bot.knowledge.retrieval import Hit, Retriever
from bot.llm import FALLBACK_NOTE, Model, ModelUnavailable, Rejected, Session
from bot.profile import Persona, join_words
from bot.services.answering import check_sources, delimit, format_sources, strip_citations
from bot.services.context import Context
from bot.services.drafts import parse_email, pushy_phrases
from bot.services.proof import NUMBER, Proof, find_proof, fits_persona
from bot.wording import plural_role

CHANNELS = ("email", "linkedin", "call")
SPAN_DAYS = 21
# the arc of the sequence; repeats when there are more touches than steps
STEPS = ("problem", "proof", "questions", "business case", "second proof", "close the loop")
_PROOF_PRIORITY = {"proof": 0, "business case": 1, "second proof": 2}


@dataclass
class Touch:
    day: int
    channel: str
    subject: str
    body: str
    hits: list[Hit] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"day": self.day, "channel": self.channel, "subject": self.subject, "body": self.body,
                "sources": [h.source_info() for h in self.hits]}


@dataclass
class Campaign:
    persona: str
    industry: str | None
    theme: str
    touches: list[Touch]
    engine: str = "composer"
    note: str | None = None
    checks: dict[str, object] = field(default_factory=dict)

    @property
    def sources(self) -> list[dict[str, Any]]:
        seen: dict[str, dict[str, Any]] = {}
        for touch in self.touches:
            for hit in touch.hits:
                seen.setdefault(hit.ref, hit.source_info())
        return list(seen.values())

    def as_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {"persona": self.persona, "industry": self.industry,
                                  "touches": [t.as_dict() for t in self.touches], "sources": self.sources,
                                  "checks": self.checks}
        if self.note:
            result["note"] = self.note
        return result

    def to_markdown(self) -> str:
        lines = [f"# Campaign: {self.persona}" + (f" in {self.industry}" if self.industry else ""),
                 "", f"Theme: {self.theme}", ""]
        for number, touch in enumerate(self.touches, start=1):
            lines += [f"## Touch {number} — day {touch.day}, {touch.channel}", "", f"**{touch.subject}**", "",
                      touch.body, ""]
            if touch.hits:
                lines.append("Sources: " + "; ".join(f"{h.metadata.get('title')} ({h.metadata.get('source')})"
                                                     for h in touch.hits))
                lines.append("")
        return "\n".join(lines)

    def to_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["step", "day", "channel", "subject", "body", "sources"])
        for number, touch in enumerate(self.touches, start=1):
            writer.writerow([number, touch.day, touch.channel, touch.subject, touch.body,
                             "; ".join(str(h.metadata.get("source")) for h in touch.hits)])
        return out.getvalue()

    def write(self, path: Path) -> None:
        text = self.to_csv() if path.suffix.lower() == ".csv" else self.to_markdown()
        path.write_text(text, encoding="utf-8")


def schedule(touches: int) -> list[tuple[int, str]]:
    """Days 1..~21 and channels alternating email, LinkedIn, call."""
    if touches == 1:
        return [(1, "email")]
    return [(1 + round(i * (SPAN_DAYS - 1) / (touches - 1)), CHANNELS[i % len(CHANNELS)]) for i in range(touches)]


# an opening quote starts a line, follows a space, dash or colon; the quote itself starts like a sentence
_QUOTED = re.compile(r"(?:^|(?<=[\s:(\-–—]))[\"“„«]\s?([A-ZÀ-Ý][^\"“”„«»*\n]{24,239}?)\s?[\"”»](?=$|[\s.,;:!?)])",
                     re.MULTILINE)


def buyer_lines(hit: Hit, *, want: str) -> list[str]:
    """What buyers say, never our guidance: quoted sentences ('message') or questions ('question')."""
    # a buyer's line is a sentence or a question, not a quoted title ("Assistant Vice President, Finance")
    lines = [m.group(1).strip() for m in _QUOTED.finditer(hit.text)
             if re.search(r"[.!?…]$", m.group(1).strip()) or len(m.group(1).split()) >= 8]
    if want == "question":
        quoted_questions = [line for line in lines if line.endswith("?")]
        if quoted_questions:
            return quoted_questions
        # bulleted questions buyers ask ("- What would it take to ...?")
        return [line.strip(" -•*\t") for line in hit.text.splitlines()
                if line.strip().startswith(("-", "•", "*")) and line.strip().endswith("?") and 25 <= len(line) <= 240]
    return [line for line in lines if not line.endswith("?")]


def _persona_line(retriever: Retriever, *, persona: Persona | None, title: str, theme: str, want: str,
                  used: set[str]) -> tuple[str, Hit | None]:
    """A buyer's own words from this persona's messaging document, never another persona's."""
    hits = retriever.search(f"{title} {theme} {'questions they ask' if want == 'question' else 'what keeps them up at night'}",
                            k=64, types=["persona"])  # the library's persona chunks; this persona's are kept
    own = [h for h in hits if fits_persona(h, persona)] if persona else []
    wanted = terms(f"{title} {theme}")
    best: tuple[float, str, Hit] | None = None
    for hit in own:
        for line in buyer_lines(hit, want=want):
            score = hit.score + 0.05 * len(wanted & terms(line)) - (0.3 if line in used else 0.0)
            if best is None or score > best[0]:
                best = (score, line, hit)
    if best is None:
        return "", None
    used.add(best[1])
    return best[1], best[2]


_STEP_KEYS = {"problem": "problem", "proof": "proof", "second proof": "proof", "questions": "questions",
              "business case": "business_case", "close the loop": "close"}


def _touch(step: str, channel: str, ctx: Context, *, values: dict[str, object], line: str,
           proof: Proof | None) -> tuple[str, str]:
    key = _STEP_KEYS[step]

    def say(name: str, **extra: object) -> str:
        return ctx.say("campaign", name, **{**values, **extra})

    customer = proof.customer if proof else ""
    proof_text = proof.sentence if proof else ""
    attributed = proof_text if not proof or proof.names_customer else f"{customer}: {proof_text}"
    if key == "proof" and not proof:
        key = "problem"
    if key == "questions" and not line:
        key = "problem"
    if key == "problem":
        core = say("core_problem_line", line=f"\"{line}\"") if line else say("core_problem")
    elif key == "proof":
        core = say("core_proof" if proof and proof.names_customer else "core_proof_named", customer=customer,
                   proof=proof_text)
    elif key == "questions":
        core = say("core_questions", line=line)
    elif key == "business_case":
        core = (say("core_business_case_proof", proof=attributed) if proof else say("core_business_case"))
    else:
        core = say("core_close")
    if proof and key in ("problem", "questions", "close"):
        # every touch carries one peer's result with its number, next to the buyer's own words
        core += " " + say("peer_result" if proof.names_customer else "peer_result_named", customer=customer,
                          proof=proof_text)
    subject = say(f"subject_{key}", customer=customer or "a peer")
    question = say(f"question_{key}")
    if channel == "linkedin":
        body = say("linkedin", line=core, proof=question)
    elif channel == "call":
        body = say("call", line=core, proof=question)
    else:
        body = say("email", line=core, proof=question, first_name="{first_name}", sender="{sender}")
    return subject, body


def build_campaign(retriever: Retriever, ctx: Context, *, persona: str, industry: str | None = None,
                   theme: str | None = None, touches: int = 4, model: Model | None = None) -> Campaign:
    if not 1 <= touches <= 12:
        raise ValueError("--touches must be between 1 and 12")
    # one model call for the whole sequence, under one deadline counted from the command's start
    session = model.session(calls=1) if model is not None else None
    profile = ctx.profile
    info = profile.titles.read(persona)
    target = profile.persona_named(persona) or profile.persona_for(info.function, industry=industry)
    outcomes = target.outcomes_text() if target else "the outcomes they own"
    theme = theme or (target.headline if target else "the year's priorities")
    rest = [o for o in (target.outcomes if target else ()) if o.lower() != theme.lower()]
    other_outcomes = join_words(rest) if rest else outcomes
    values: dict[str, object] = {
        "persona": persona, "roles": plural_role(persona), "where": f" in {industry}" if industry else "",
        "theme": theme, "Theme": theme[:1].upper() + theme[1:], "outcomes": outcomes,
        "other_outcomes": other_outcomes, "offer": profile.offer,
        "customer": "", "proof": "", "line": "", "first_name": "", "sender": "",
    }
    used_sentences: set[str] = set()
    used_studies: set[str] = set()
    result = Campaign(persona, industry, theme, [])
    plan = [(day, channel, STEPS[index % len(STEPS)]) for index, (day, channel) in enumerate(schedule(touches))]
    # the best-fitting case studies go to the touches built around a proof, the rest to the others
    proofs: dict[int, Proof | None] = {}
    for index in sorted(range(len(plan)), key=lambda i: _PROOF_PRIORITY.get(plan[i][2], 9)):
        proof = find_proof(retriever, profile, industry=industry or "", persona=target, exclude=used_studies)
        if proof is None and used_studies:  # fewer case studies than touches: start over with the best
            used_studies.clear()
            proof = find_proof(retriever, profile, industry=industry or "", persona=target)
        if proof:
            used_studies.add(proof.hit.ref)
        proofs[index] = proof
    for index, (day, channel, step) in enumerate(plan):
        line, persona_hit = "", None
        if step in ("problem", "questions"):
            line, persona_hit = _persona_line(retriever, persona=target, title=persona, theme=theme,
                                              want="question" if step == "questions" else "message",
                                              used=used_sentences)
        proof = proofs[index]
        subject, body = _touch(step, channel, ctx, values=values, line=line, proof=proof)
        hits = [h for h in (persona_hit, proof.hit if proof else None) if h is not None]
        result.touches.append(Touch(day, channel, subject, body, hits))
    result.checks = campaign_checks(result, ctx)
    if session is not None:
        _rewrite_with_model(result, session, ctx, retriever)
    return result


def campaign_checks(campaign: Campaign, ctx: Context) -> dict[str, object]:
    """Every touch carries a cited number from a case study, and nothing is pushy; else it says which touch."""
    def has_proof(touch: Touch) -> bool:
        return any(h.metadata.get("type") == "case_study" for h in touch.hits) and bool(NUMBER.search(touch.body))

    missing = [number for number, touch in enumerate(campaign.touches, start=1) if not has_proof(touch)]
    pushy = sorted({p for t in campaign.touches for p in pushy_phrases(t.body, ctx)})
    problems = []
    if missing:
        problems.append(f"no proof point in touch {', '.join(map(str, missing))}: no case study with a number "
                        "fits this persona or industry")
    if pushy:
        problems.append(f"pushy phrases: {', '.join(pushy)}")
    return {"proof_points": len(campaign.touches) - len(missing), "pushy_phrases": pushy,
            "passed": not problems, "problems": problems}


_TOUCH = re.compile(r"^[ \t*#]*TOUCH\s+(\d+)\b[ \t*:.]*$", re.IGNORECASE | re.MULTILINE)


def parse_touches(text: str, count: int) -> list[tuple[str, str]]:
    """(subject, body) of each touch in a reply of TOUCH n / SUBJECT / BODY blocks; all of them, in order."""
    parts = _TOUCH.split(text)
    if len(parts) == 1 and count == 1:
        return [parse_email(text)]
    numbers = [int(n) for n in parts[1::2]]
    if numbers != list(range(1, count + 1)):
        raise Rejected(f"reply does not hold touches 1 to {count} in order")
    return [parse_email(block) for block in parts[2::2]]


def _rewrite_with_model(campaign: Campaign, session: Session, ctx: Context, retriever: Retriever) -> None:
    """The model rewrites the whole sequence in one call, from the same numbered material. A reply that cites a
    source not given, a touch that cites nothing, or a company the sources do not name keeps the composed
    sequence, and so does any failure; a pushy one too."""
    sources: list[Hit] = []
    for touch in campaign.touches:
        sources += [hit for hit in touch.hits if hit not in sources]
    plan = []
    for step, touch in enumerate(campaign.touches, start=1):
        uses = "".join(f"[{sources.index(hit) + 1}]" for hit in touch.hits) or "none"
        plan.append(f"Touch {step}: {touch.channel}, day {touch.day}; sources {uses}\n"
                    f"SUBJECT: {touch.subject}\nBODY:\n{delimit(touch.body)}")

    def accept(text: str) -> list[tuple[str, str, list[Hit]]]:
        written = []
        for touch, (subject, body) in zip(campaign.touches, parse_touches(text, len(campaign.touches))):
            cited = check_sources(f"{subject}\n{body}", sources, resolver=retriever.resolver,
                                  require=bool(touch.hits))
            hits = [sources[number - 1] for number in dict.fromkeys(cited)] or touch.hits
            written.append((strip_citations(subject), strip_citations(body), hits))
        return written

    try:
        rewritten = session.complete(
            "campaign", accept=accept, persona=campaign.persona, industry=campaign.industry or "any",
            theme=campaign.theme, count=str(len(campaign.touches)), sources=format_sources(sources) or "(none)",
            plan="\n\n".join(plan))
    except ModelUnavailable as exc:
        campaign.note = FALLBACK_NOTE.format(reason=exc)
        return
    if any(pushy_phrases(body, ctx) for _, body, _ in rewritten):
        campaign.note = "The model's sequence did not pass the checks; the composed sequence is shown."
        return
    for touch, (subject, body, hits) in zip(campaign.touches, rewritten):
        touch.subject, touch.body, touch.hits = subject, body, hits
    campaign.engine = "model"
    campaign.checks = campaign_checks(campaign, ctx)
