"""Grounded answers: only what the knowledge base says, with numbered citations.

An answer is grounded only when the passages it cites carry the question's telling words (weighted by how
rare each is in the knowledge); otherwise it says it does not know and what the knowledge does cover.
The extractive composer quotes the sentences that answer, not the start of a passage, and keeps a number,
a negation or an exception with the sentence it qualifies. Follow-ups keep the account that earlier turns
were about (passed in as `Turn`s, read from the Slack thread so any replica can answer).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.knowledge.accounts import Account, AccountResolver
from bot.knowledge.lexical import FILLER, LexicalIndex, key_terms, language_of, tokens
from bot.knowledge.retrieval import Gathered, Hit, Retriever
from bot.llm import FALLBACK_NOTE, Model, ModelUnavailable, Rejected, Session
from bot.services.proof import NUMBER, RESULT

MAX_SOURCES = 4
SUPPORT = 0.3  # share of the question's telling words (idf-weighted) one cited passage must carry
SENTENCES_PER_SOURCE = 2
IDK = "I don't know: nothing in the knowledge base answers that."

# the composer's own words in the asker's language (the quoted knowledge stays as written)
_SAY = {
    "en": {"lead": "Here is what the knowledge base says:", "idk": IDK,
           "covers": "The knowledge base covers: {topics}."},
    "fr": {"lead": "Voici ce que dit la base de connaissances :",
           "idk": "Je ne sais pas : rien dans la base de connaissances ne répond à cette question.",
           "covers": "La base de connaissances couvre : {topics}."},
    "de": {"lead": "Das steht in der Wissensbasis:",
           "idk": "Das weiß ich nicht: Nichts in der Wissensbasis beantwortet diese Frage.",
           "covers": "Die Wissensbasis enthält: {topics}."},
    "es": {"lead": "Esto es lo que dice la base de conocimiento:",
           "idk": "No lo sé: nada en la base de conocimiento responde a eso.",
           "covers": "La base de conocimiento cubre: {topics}."},
}


@dataclass(frozen=True)
class Turn:
    """One earlier question in a conversation and the account its answer was about (if any)."""

    question: str
    account_id: str | None = None


@dataclass
class Answer:
    question: str
    text: str
    hits: list[Hit] = field(default_factory=list)
    grounded: bool = False
    candidates: list[str] = field(default_factory=list)
    engine: str = "composer"  # "model" when the language model wrote the text
    note: str | None = None  # e.g. why the model was not used
    account_id: str | None = None  # the account this answer was about: carried into follow-ups

    @property
    def sources(self) -> list[dict[str, Any]]:
        return [hit.source_info() for hit in self.hits]

    def as_dict(self) -> dict[str, Any]:
        text = f"{self.text}\n\n_{self.note}_" if self.note else self.text
        result: dict[str, Any] = {"answer": text, "sources": self.sources, "grounded": self.grounded}
        if self.candidates:
            result["candidates"] = self.candidates
        return result


# -- conversations

def _turns(history: Sequence[str | Turn]) -> list[Turn]:
    return [turn if isinstance(turn, Turn) else Turn(str(turn)) for turn in history]


def carried_account(retriever: Retriever, question: str, history: Sequence[str | Turn]) -> Account | None:
    """The account a follow-up is about: none when the question names one itself; else the newest
    earlier turn's (what its answer resolved to, or the one account its question named)."""
    if retriever.resolver.mentioned_in(question):
        return None
    for turn in reversed(_turns(history)):
        if turn.account_id:
            found = retriever.resolver.get(turn.account_id)
            if found:
                return found
        named = retriever.resolver.mentioned_in(turn.question)
        if len(named) == 1:
            return named[0]
        if named:
            return None
    return None


def condense(question: str, history: Sequence[str | Turn]) -> str:
    """A short follow-up with no account to carry ('and the pricing?') borrows the previous question."""
    turns = _turns(history)
    if not turns:
        return question
    pronouns = {"they", "them", "their", "it", "its", "that", "this", "those", "he", "she", "her", "his", "there",
                "ils", "elle", "leur", "leurs", "sie", "ihr", "ihre", "dort", "ellos", "su", "sus", "eso", "ese"}
    words = question.lower().split()
    if len(words) <= 6 or pronouns & set(words):
        return f"{turns[-1].question} {question}"
    return question


# -- support and sentences

def _weights(index: LexicalIndex | None, question: str, language: str) -> dict[str, float]:
    """The question's telling words and how telling each is. A word the knowledge never uses counts in
    full in a question in the knowledge's language (it names something we do not have); in another
    language it is just a foreign word and is left out."""
    words = set(tokens(question)) - FILLER
    if index is None or not len(index):
        return dict.fromkeys(words, 1.0)
    weights = {}
    for word in words:
        if word in index.frequency or language == "en":
            weights[word] = index.idf(word)
    return weights


_NAME = re.compile(r"(?<=[\s(\"'’/])(?:[A-ZÀ-Þ][\w’'&-]*|[A-Z0-9]{2,}[\w-]*)")


def unknown_names(index: LexicalIndex | None, question: str) -> list[str]:
    """Names, acronyms and codes in a question that the knowledge never mentions (a competitor, a region code):
    the question is about something we hold nothing on. The opening word is not read as a name."""
    if index is None or not len(index):
        return []
    found = []
    read = set(tokens(question))  # "Chief Financial Officer" is read as one word, "cfo"
    for word in _NAME.findall(" " + question.strip().split(" ", 1)[-1] if " " in question.strip() else ""):
        if any(ch.isdigit() for ch in word):
            continue  # a figure the person typed ("USD 600M") need not be in the knowledge
        words = [term for term in tokens(word) if term in read]
        if words and all(term not in index.frequency for term in words):
            found.append(word)
    return found


def support(weights: dict[str, float], text: str) -> float:
    """Share of the question's telling words (by weight) that a passage carries."""
    total = sum(weights.values())
    if not total:
        return 0.0
    present = set(tokens(text))
    return sum(weight for word, weight in weights.items() if word in present) / total


def _clean(hit: Hit) -> str:
    text = hit.text
    if hit.metadata.get("kind") == "content" and "\n" in text:
        text = text.split("\n", 1)[1]  # drop the "Title — Section" label line
        text = re.sub(r"^\s*(?:[-*•]|\d+\.)\s+", "", text, flags=re.MULTILINE)
        text = re.sub(r"\*\*|__|^#+\s*", "", text, flags=re.MULTILINE)
    return " ".join(text.split())


_SENTENCE = re.compile(r"(?<=[.!?;])\s+(?=[A-ZÀ-Ý0-9\"'(¿¡])")
# a sentence that qualifies the one before it: it must stay with it
_QUALIFIER = re.compile(r"^(?:not|no|never|only|except|unless|but|however|excluding|except|although|"
                        r"pas|sauf|uniquement|seulement|mais|nicht|kein|keine|nur|außer|aber|"
                        r"no|solo|salvo|excepto|pero)\b", re.IGNORECASE)


def _is_result(sentence: str) -> bool:
    return bool(NUMBER.search(sentence) and RESULT.search(sentence))


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text) if s.strip()]


def answering_sentences(hit: Hit, weights: dict[str, float], limit: int = 360, whole: int = 200) -> str:
    """The sentences of a passage that speak to the question, in their original order, each kept with the
    sentence that qualifies it ("Not on Essentials or Professional." after the rule it limits)."""
    text = _clean(hit)
    parts = sentences(text)
    if hit.metadata.get("kind") != "content" or len(text) <= whole or len(parts) <= 2 or not any(
            support(weights, part) for part in parts):
        # a CRM record is short and whole: its stage, amount and next step belong together
        return text if len(text) <= limit * 2 else text[: limit * 2].rsplit(" ", 1)[0] + "…"
    scored = sorted(range(len(parts)), key=lambda i: (-support(weights, parts[i]), i))
    chosen: set[int] = set()
    size = 0
    for index in scored[:SENTENCES_PER_SOURCE]:
        if chosen and support(weights, parts[index]) == 0:
            break
        group = {index}
        if index + 1 < len(parts) and _QUALIFIER.match(parts[index + 1]):
            group.add(index + 1)
        if _QUALIFIER.match(parts[index]) and index > 0:
            group.add(index - 1)
        extra = sum(len(parts[i]) for i in group - chosen)
        if chosen and size + extra > limit:
            break
        chosen |= group
        size += extra
    if hit.metadata.get("type") == "case_study" and not any(_is_result(parts[i]) for i in chosen):
        # a customer story is cited for its result: the sentence with the number comes along
        result = next((i for i, part in enumerate(parts) if _is_result(part)), None)
        if result is not None:
            chosen.add(result)
    picked = " ".join(parts[i] for i in sorted(chosen))
    return picked if len(picked) <= limit * 2 else picked[: limit * 2].rsplit(" ", 1)[0] + "…"


def compose(question: str, hits: Sequence[Hit], weights: dict[str, float] | None = None,
            language: str = "en") -> str:
    weights = weights if weights is not None else dict.fromkeys(key_terms(question), 1.0)
    lines = [f"• {answering_sentences(hit, weights)} [{number}]" for number, hit in enumerate(hits, start=1)]
    return _SAY[language]["lead"] + "\n" + "\n".join(lines)


def _dont_know(language: str, gathered: Gathered) -> str:
    """An honest "I don't know", with what the knowledge does hold nearest the question."""
    topics: list[str] = []
    for hit in gathered.hits[:6]:
        title = str(hit.metadata.get("title") or "").strip()
        if title and title not in topics:
            topics.append(title)
    say = _SAY[language]
    return say["idk"] + (" " + say["covers"].format(topics="; ".join(topics[:3])) if topics else "")


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


# -- checking what a model wrote: one checker for answers, brief summaries, drafts and campaigns

_CITATION = re.compile(r"\s?\[(\d+(?:\s*[,;]\s*\d+)*)\]")


def citations(text: str) -> list[int]:
    """The source numbers a text cites, in order: [2], [2][3] and [2, 3] alike."""
    return [int(n) for group in _CITATION.findall(text) for n in re.split(r"\s*[,;]\s*", group)]


def strip_citations(text: str) -> str:
    """The text without its [n] markers (outreach copy carries its sources beside it, not inside it)."""
    return _CITATION.sub("", text)


def _backs(hit: Hit, account: Account, resolver: AccountResolver) -> bool:
    """A source is about an account when it is that account's record or names it."""
    return hit.metadata.get("account_id") == account.id or account in resolver.named_in(hit.text)


def _claims(text: str) -> list[str]:
    return [sentence for line in text.splitlines() for sentence in sentences(line)]


def check_sources(text: str, sources: Sequence[Hit], *, resolver: AccountResolver | None = None,
                  account_id: str | None = None, require: bool = True) -> list[int]:
    """The source numbers a model's text cites; `Rejected` when the text must not be shown:

    - it cites a number that was not given ("[99]"), or nothing when `require`;
    - (with a resolver) a sentence about the asked account cites another account's record without naming that
      account: the other account's facts would read as the asked one's;
    - a sentence names a known account that none of its sources is about: cited CRM records of another
      account, or, for another account than the asked one, no source at all (uncited text is checked against
      every source given).
    Sales content has no account: citing it in a sentence about the account is what it is for.
    """
    cited = citations(text)
    if any(not 1 <= number <= len(sources) for number in cited):
        raise Rejected("reply without valid citations")
    if require and not cited:
        raise Rejected("reply without valid citations")
    if resolver is None:
        return cited
    for claim in _claims(text):
        used = [sources[number - 1] for number in citations(claim)]
        named = resolver.named_in(strip_citations(claim))
        records = [hit for hit in used if hit.metadata.get("account_id")]
        for hit in records:
            owner = str(hit.metadata.get("account_id"))
            if account_id and owner != account_id and owner not in {a.id for a in named}:
                raise Rejected("reply gives another account's record as this account's")
        for account in named:
            if account.id == account_id and not records:
                continue  # the asked account, with sales content or nothing cited: advice, not a record
            pool = used or sources
            if not any(_backs(hit, account, resolver) for hit in (records or pool)):
                raise Rejected("reply names an account that its sources are not about")
    return cited


def _model_answer(session: Session, question: str, hits: Sequence[Hit], history: Sequence[Turn], *,
                  resolver: AccountResolver, account_id: str | None) -> tuple[str, bool]:
    """(text, grounded) from the model; ModelUnavailable when its reply cannot be trusted."""
    def accept(text: str) -> tuple[str, bool]:
        plain = text.lower().replace("’", "'").replace("‘", "'").strip(" .!*_\"")
        if plain.startswith("i don't know") or plain.startswith("i do not know"):
            return IDK, False
        check_sources(text, hits, resolver=resolver, account_id=account_id)
        return text, True

    return session.complete("answer", accept=accept, question=question, sources=format_sources(hits),
                            history="\n".join(f"- {turn.question}" for turn in history) or "(none)")


def condense_with(model: Model | Session | None, question: str, history: Sequence[Turn]) -> tuple[str, str | None]:
    if not history or model is None:
        return condense(question, history), None
    try:
        rewritten = model.complete("condense", question=question,
                                   history="\n".join(f"- {t.question}" for t in history))
        return rewritten.splitlines()[0].strip() or question, None
    except ModelUnavailable as exc:
        return condense(question, history), FALLBACK_NOTE.format(reason=exc)


def _about(hits: Sequence[Hit]) -> str | None:
    """The one account the cited CRM records are about, if they agree."""
    accounts = {str(h.metadata.get("account_id")) for h in hits if h.metadata.get("account_id")}
    return accounts.pop() if len(accounts) == 1 else None


def answer_question(
    question: str,
    *,
    retriever: Retriever,
    account: Account | None = None,
    history: Sequence[str | Turn] = (),
    k: int = 6,
    model: Model | None = None,
) -> Answer:
    """A grounded answer with numbered citations; `grounded` is False (an honest "I don't know")
    when the knowledge base has nothing on it. With a model, the model writes from the same passages;
    when it fails, the extractive composer answers and the note says so."""
    question = question.strip()
    if not question:
        return Answer(question, "Ask me a question about an account or our sales content.")
    # one deadline for the whole answer, condensing included; at most a condense and an answer call
    session = model.session(calls=2) if model is not None else None
    turns = _turns(history)
    language = language_of(question)
    carried = account or carried_account(retriever, question, turns)
    if carried is not None and account is None and model is None:
        query, note = question, None  # the account is carried: the earlier words would only pull back its topic
    elif retriever.resolver.mentioned_in(question) and model is None:
        query, note = question, None  # it names its own account: the earlier turn's words would mislead
    else:
        query, note = condense_with(session, question, turns)
    gathered = retriever.gather(query, account=carried)
    weights = _weights(gathered.index, query, language)
    candidates = gathered.hits[:k]
    # one passage per source document: citations point at distinct sources
    unique: dict[str, Hit] = {}
    for hit in candidates:
        unique.setdefault(hit.ref, hit)
    chosen = list(unique.values())[:MAX_SOURCES]
    backed = [hit for hit in chosen if support(weights, hit.text) >= SUPPORT]
    grounded = bool(backed) or (not weights and bool(chosen))
    if language == "en" and unknown_names(gathered.index, query):
        grounded = False
    about = carried.id if carried else (gathered.account_id or _about(chosen))
    if not grounded:
        return Answer(question, _dont_know(language, gathered), account_id=about)
    if session is not None and note is None:
        try:
            text, ok = _model_answer(session, query, chosen, turns, resolver=retriever.resolver, account_id=about)
            if not ok:
                text = _dont_know(language, gathered)
            return Answer(question, text, chosen if ok else [], grounded=ok, engine="model", account_id=about)
        except ModelUnavailable as exc:
            note = FALLBACK_NOTE.format(reason=exc)
    # only the passages that carry the question's words are cited (all of them when none can: another language)
    ordered = backed or chosen
    return Answer(question, compose(query, ordered, weights, language), ordered, grounded=True, note=note,
                  account_id=about)
