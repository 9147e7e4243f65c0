"""Grounded answers: only what the knowledge base says, with numbered citations."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.knowledge.accounts import Account, fold
from bot.knowledge.retrieval import Hit, Retriever
from bot.llm import FALLBACK_NOTE, Model, ModelUnavailable

_STOPWORDS = set(
    """a an the and or but if of on in at to for from by with about as is are was were be been being do does did
    what which who whom whose when where why how can could should would will shall may might must i we you they he
    she it me us them my our your their his her its this that these those there here any some all our have has had
    not no yes so than then too very just also into out over under up down more most less tell give show know
    please anything something thing things get got make made say said last next new one two""".split()
)
MIN_SCORE = 0.25  # cosine similarity below which a passage is not about the question
STRONG_SCORE = 0.5  # above this a passage counts even without shared words
MAX_SOURCES = 4
IDK = "I don't know: nothing in the knowledge base answers that."


def terms(text: str) -> set[str]:
    """Content words, folded and cut to a 5-letter stem so 'pricing' meets 'price'."""
    return {w[:5] for w in re.findall(r"[a-z0-9][a-z0-9/+-]*", fold(text)) if w not in _STOPWORDS and len(w) > 2}


@dataclass
class Answer:
    question: str
    text: str
    hits: list[Hit] = field(default_factory=list)
    grounded: bool = False
    candidates: list[str] = field(default_factory=list)
    engine: str = "composer"  # "model" when the language model wrote the text
    note: str | None = None  # e.g. why the model was not used

    @property
    def sources(self) -> list[dict[str, Any]]:
        return [hit.source_info() for hit in self.hits]

    def as_dict(self) -> dict[str, Any]:
        text = f"{self.text}\n\n_{self.note}_" if self.note else self.text
        result: dict[str, Any] = {"answer": text, "sources": self.sources, "grounded": self.grounded}
        if self.candidates:
            result["candidates"] = self.candidates
        return result


def relevant(question: str, hits: Sequence[Hit]) -> list[Hit]:
    wanted = terms(question)
    kept = []
    for hit in hits:
        shared = wanted & terms(hit.text)
        if hit.score >= STRONG_SCORE or (hit.score >= MIN_SCORE and shared):
            kept.append(hit)
    return kept


def condense(question: str, history: Sequence[str]) -> str:
    """A follow-up ('and their CFO?') carries the previous question's subject into retrieval."""
    if not history:
        return question
    previous = history[-1]
    pronouns = {"they", "them", "their", "it", "its", "that", "this", "those", "he", "she", "her", "his", "there"}
    words = fold(question).split()
    if len(words) <= 6 or pronouns & set(words):
        return f"{previous} {question}"
    return question


def best_passage(hit: Hit, wanted: set[str], limit: int = 320) -> str:
    """The sentences of a passage that speak to the question, in their original order."""
    text = hit.text
    if hit.metadata.get("kind") == "content" and "\n" in text:
        text = text.split("\n", 1)[1]  # drop the "Title — Section" label line
        # Markdown list bullets and emphasis read badly once lines are joined into a passage
        text = re.sub(r"^\s*(?:[-*•]|\d+\.)\s+", "", text, flags=re.MULTILINE)
        text = re.sub(r"\*\*|__|^#+\s*", "", text, flags=re.MULTILINE)
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    sentences = re.split(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])", text)
    scored = sorted(
        range(len(sentences)),
        key=lambda i: -len(wanted & terms(sentences[i])) / math.sqrt(len(sentences[i]) + 20),
    )
    chosen: list[int] = []
    size = 0
    for index in scored:
        if size + len(sentences[index]) > limit and chosen:
            break
        chosen.append(index)
        size += len(sentences[index])
    picked = " ".join(sentences[i] for i in sorted(chosen))
    return picked if len(picked) <= limit + 80 else picked[:limit].rsplit(" ", 1)[0] + "…"


def compose(question: str, hits: Sequence[Hit]) -> str:
    wanted = terms(question)
    lines = [f"• {best_passage(hit, wanted)} [{number}]" for number, hit in enumerate(hits, start=1)]
    return "Here is what the knowledge base says:\n" + "\n".join(lines)


def delimit(text: str) -> str:
    """Retrieved text cannot close (or open) the <source> delimiter it is wrapped in."""
    return text.replace("</source", "</ source").replace("<source", "< source")


def format_sources(hits: Sequence[Hit]) -> str:
    """Retrieved text as clearly delimited data: the model is told never to obey it."""
    blocks = []
    for number, hit in enumerate(hits, start=1):
        meta = hit.metadata
        body = delimit(hit.text)
        blocks.append(f'<source n="{number}" title="{meta.get("title", "")}" type="{meta.get("type", "")}" '
                      f'account="{meta.get("account_name", "")}">\n{body}\n</source>')
    return "\n".join(blocks)


_CITATION = re.compile(r"\[(\d+)\]")


def _model_answer(model: Model, question: str, hits: Sequence[Hit], history: Sequence[str]) -> tuple[str, bool]:
    """(text, grounded) from the model; ModelUnavailable when its reply cannot be trusted."""
    text = model.complete("answer", question=question, sources=format_sources(hits),
                          history="\n".join(f"- {turn}" for turn in history) or "(none)")
    plain = text.lower().replace("’", "'").replace("‘", "'").strip(" .!*_\"")
    if plain.startswith("i don't know") or plain.startswith("i do not know"):
        return IDK, False
    cited = {int(n) for n in _CITATION.findall(text)}
    if not cited or not cited <= set(range(1, len(hits) + 1)):
        raise ModelUnavailable("reply without valid citations")
    return text, True


def condense_with(model: Model | None, question: str, history: Sequence[str]) -> tuple[str, str | None]:
    if not history or model is None:
        return condense(question, history), None
    try:
        rewritten = model.complete("condense", question=question, history="\n".join(f"- {t}" for t in history))
        return rewritten.splitlines()[0].strip() or question, None
    except ModelUnavailable as exc:
        return condense(question, history), FALLBACK_NOTE.format(reason=exc)


def answer_question(
    question: str,
    *,
    retriever: Retriever,
    account: Account | None = None,
    history: Sequence[str] = (),
    k: int = 6,
    model: Model | None = None,
) -> Answer:
    """A grounded answer with numbered citations; `grounded` is False (an honest "I don't know")
    when the knowledge base has nothing on it. With a model, the model writes from the same passages;
    when it fails, the extractive composer answers and the note says so."""
    question = question.strip()
    if not question:
        return Answer(question, "Ask me a question about an account or our sales content.")
    query, note = condense_with(model, question, history)
    hits = relevant(query, retriever.retrieve(query, k=k, account=account))
    if not hits:
        return Answer(question, IDK)
    # one passage per source document: citations point at distinct sources
    unique: dict[str, Hit] = {}
    for hit in hits:
        unique.setdefault(hit.ref, hit)
    chosen = list(unique.values())[:MAX_SOURCES]
    if model is not None and note is None:
        try:
            text, grounded = _model_answer(model, query, chosen, history)
            return Answer(question, text, chosen if grounded else [], grounded=grounded, engine="model")
        except ModelUnavailable as exc:
            note = FALLBACK_NOTE.format(reason=exc)
    return Answer(question, compose(query, chosen), chosen, grounded=True, note=note)
