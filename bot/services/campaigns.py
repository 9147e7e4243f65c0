"""Outbound campaigns for marketers: a multi-touch sequence aimed top-down at a senior persona.

Each touch is grounded in one piece of the content library (persona messaging, a case study in the
industry, the business-case guide) and cites it. Email, LinkedIn and call alternate over ~3 weeks.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.knowledge.retrieval import Hit, Retriever
from bot.knowledge.titles import classify_title
from bot.llm import FALLBACK_NOTE, Model, ModelUnavailable
from bot.services.answering import delimit, terms
from bot.services.drafts import PUSHY_PHRASES, customer_name, find_proof, parse_email, sentences_of
from bot.services.triage import OUTCOMES

CHANNELS = ("email", "linkedin", "call")
SPAN_DAYS = 21
# the arc of the sequence; repeats when there are more touches than steps
STEPS = ("problem", "proof", "questions", "business case", "second proof", "close the loop")


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

    @property
    def sources(self) -> list[dict[str, Any]]:
        seen: dict[str, dict[str, Any]] = {}
        for touch in self.touches:
            for hit in touch.hits:
                seen.setdefault(hit.ref, hit.source_info())
        return list(seen.values())

    def as_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {"persona": self.persona, "industry": self.industry,
                                  "touches": [t.as_dict() for t in self.touches], "sources": self.sources}
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


def _persona_line(retriever: Retriever, *, persona: str, theme: str, want: str, used: set[str]) -> tuple[str, Hit | None]:
    """A sentence from the persona messaging: the business message ('message') or a question ('question')."""
    hits = retriever.search(f"{persona} {theme} {'questions to ask' if want == 'question' else 'business-impact message'}",
                            k=8, types=["persona"])
    wanted = terms(f"{persona} {theme}")
    best: tuple[float, str, Hit] | None = None
    for hit in hits:
        for sentence in sentences_of(hit):
            is_question = sentence.endswith("?")
            if (want == "question") != is_question or not 30 <= len(sentence) <= 220:
                continue
            score = hit.score + 0.05 * len(wanted & terms(sentence)) - (0.3 if sentence in used else 0.0)
            if best is None or score > best[0]:
                best = (score, sentence, hit)
    if best is None:
        return "", None
    used.add(best[1])
    return best[1], best[2]


def _touch(step: str, channel: str, *, persona: str, theme: str, outcome: str, where: str,
           line: str, hit: Hit | None) -> tuple[str, str]:
    customer = customer_name(str(hit.metadata.get("title", ""))) if hit and hit.metadata.get("type") == "case_study" else ""
    if step in ("proof", "second proof") and line:
        subject = f"How {customer or 'a peer'} moved {theme}"
        core = f"{customer + ': ' if customer else ''}{line}"
        question = f"Would a result like that matter for your {theme} targets?"
    elif step == "questions" and line:
        subject = f"A question {persona}s{where} are asking about {theme}"
        core = f"A question we hear from {persona}s{where}: \"{line}\""
        question = "How would your team answer it today?"
    elif step == "business case":
        subject = f"The business case for {theme}"
        core = (f"The boards we see fund {theme} work when it is tied to {outcome}, with the before-and-after "
                f"agreed with finance up front.{' ' + line if line else ''}")
        question = f"What would a measurable improvement in {theme} be worth to you this year?"
    elif step == "close the loop":
        subject = f"Closing the loop on {theme}"
        core = f"I won't keep writing. If {theme} becomes a priority, the examples above are a good place to start."
        question = f"Is there someone on your team who owns {theme} I should send them to instead?"
    else:
        subject = f"{theme[:1].upper() + theme[1:]}{where}: what is changing for {persona}s"
        core = (f"Something we hear often from {persona}s{where}: \"{line}\"" if line
                else f"{persona}s{where} are being asked to improve {theme} without adding headcount.")
        question = f"Is {theme} on your agenda this year?"
    if channel == "linkedin":
        body = f"{core} {question}"
    elif channel == "call":
        body = f"Opener: {theme} and what {persona}s{where} are measured on ({outcome}).\nTalking point: {core}\nQuestion: {question}"
    else:
        body = f"Hello {{first_name}},\n\n{core}\n\n{question}\n\nBest regards,\n{{sender}}"
    return subject, body


def build_campaign(retriever: Retriever, *, persona: str, industry: str | None = None, theme: str | None = None,
                   touches: int = 4, model: Model | None = None) -> Campaign:
    if not 1 <= touches <= 12:
        raise ValueError("--touches must be between 1 and 12")
    info = classify_title(persona)
    outcome = OUTCOMES.get(info.function, OUTCOMES["other"])
    theme = theme or outcome.split(",")[0]
    where = f" in {industry}" if industry else ""
    used_sentences: set[str] = set()
    used_studies: set[str] = set()
    result = Campaign(persona, industry, theme, [])
    for index, (day, channel) in enumerate(schedule(touches)):
        step = STEPS[index % len(STEPS)]
        line, hit = "", None
        if step in ("proof", "second proof", "business case"):
            line, hit = find_proof(retriever, industry=industry or "", function=info.function, exclude=used_studies)
            line = line or ""
            if hit:
                used_studies.add(hit.ref)
        elif step in ("problem", "questions"):
            line, hit = _persona_line(retriever, persona=persona, theme=theme,
                                      want="question" if step == "questions" else "message", used=used_sentences)
        subject, body = _touch(step, channel, persona=persona, theme=theme, outcome=outcome, where=where,
                               line=line, hit=hit)
        result.touches.append(Touch(day, channel, subject, body, [hit] if hit else []))
    if model is not None:
        _rewrite_with_model(result, model)
    return result


def _rewrite_with_model(campaign: Campaign, model: Model) -> None:
    """The model may rewrite each touch from the same material; any failure keeps the composed text."""
    rewritten = []
    for step, touch in enumerate(campaign.touches, start=1):
        material = "\n".join(f'<source title="{delimit(str(h.metadata.get("title")))}">\n{delimit(h.text)}\n</source>'
                             for h in touch.hits)
        material += f"\nDraft to improve:\n{touch.subject}\n{touch.body}"
        try:
            subject, body = parse_email(model.complete(
                "campaign", persona=campaign.persona, industry=campaign.industry or "any", theme=campaign.theme,
                channel=touch.channel, day=str(touch.day), step=str(step), material=material))
        except ModelUnavailable as exc:
            campaign.note = FALLBACK_NOTE.format(reason=exc)
            return
        if any(p in body.lower() for p in PUSHY_PHRASES):
            campaign.note = "The model's sequence did not pass the checks; the composed sequence is shown."
            return
        rewritten.append((subject, body))
    for touch, (subject, body) in zip(campaign.touches, rewritten):
        touch.subject, touch.body = subject, body
    campaign.engine = "model"
