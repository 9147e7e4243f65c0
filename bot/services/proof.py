"""Proof points: one sentence with a number from a case study that fits the persona and industry.

A case study matches on its front matter (`industries`, `personas`) or, for documents without it
(text, HTML, PDF), on the industries and personas of the seller profile named in its text. When no
case study is in the buyer's industry, the nearest one is used and said plainly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.knowledge.accounts import fold
from bot.knowledge.retrieval import Hit, Retriever
from bot.profile import Persona, SellerProfile

NUMBER = re.compile(r"(\d[\d.,]*\s?(%|percent|days?|weeks?|months?|hours?|points?|pp|x\b|M\b|k\b|million|bn|billion)|"
                    r"(EUR|GBP|USD|CHF|€|£|\$)\s?\d[\d.,]*\s?(M|k|million|bn)?|"
                    r"\bfrom \d[\d.,]* to \d[\d.,]*)", re.IGNORECASE)


# a result reads as a change ("from 84% to 96%", "down 22%", "saved EUR 2.4M"); a profile of the
# customer ("1,100 employees, EUR 640M revenue") has numbers but proves nothing
RESULT = re.compile(r"\b(from\b.*\bto\b|down|up|cut|cuts|saved|saves|saving|reduc\w*|releas\w*|fell|rose|improv\w*|"
                     r"increas\w*|decreas\w*|lower\w*|faster|fewer|halv\w*|doubl\w*|grew|gain\w*|avoid\w*)\b|"
                     r"(?<!\w)[-+−]\d", re.IGNORECASE)


@dataclass(frozen=True)
class Proof:
    sentence: str
    hit: Hit
    customer: str
    industry: str  # the case study's industry, "" when it does not say
    fits_industry: bool
    fits_persona: bool

    @property
    def names_customer(self) -> bool:
        """Whether the sentence already says whose result it is ("Pennard & Finch, a store group, ...")."""
        return not self.customer or fold(self.customer)[:8] in fold(self.sentence)

    @property
    def numbers(self) -> list[str]:
        return [m.group(0).strip() for m in NUMBER.finditer(self.sentence)]


def sentences_of(hit: Hit) -> list[str]:
    """Plain sentences of a passage: markdown, bullets, table rows and the label line removed."""
    text = hit.text.split("\n", 1)[-1]
    rows = [line for line in text.splitlines() if line.count("|") < 2]
    body = re.sub(r"[*_#>`]+", "", "\n".join(rows))
    lines = (" ".join(line.strip(" -•\t\"“”").split()) for line in body.splitlines())
    return [s.strip(" \"“”") for line in lines for s in re.split(r"(?<=[.!?])\s+", line)
            if len(s.split()) >= 6]


def customer_name(title: str) -> str:
    """'Northwind Traders cuts costs 12% ...' -> 'Northwind Traders' (the leading proper name)."""
    title = re.sub(r"^(case study|customer story|success story|étude de cas|etude de cas|fallstudie|caso de éxito|"
                   r"caso de exito)\s*[:\-–—]?\s*", "", title.strip(), flags=re.IGNORECASE)
    if title.isupper():
        title = title.title()
    head = re.split(r"[:|–—]\s|\s-\s", title)[0]
    words = []
    for word in head.split():
        if not (word[:1].isupper() or word in ("&", "de", "du", "von", "y", "and")):
            break
        words.append(word)
    while words and words[-1] in ("&", "de", "du", "von", "y", "and"):
        words.pop()
    return " ".join(words)


def industries_of(hit: Hit, profile: SellerProfile, document: str = "") -> list[str]:
    """Front matter's `industries`, else the profile's industries the whole document names."""
    declared = [i.strip() for i in str(hit.metadata.get("industries") or "").split(",") if i.strip()]
    if declared:
        return declared
    text = fold(f"{hit.metadata.get('title', '')} {document or hit.text}")
    return [i for i in profile.industries if fold(i) and re.search(rf"\b{re.escape(fold(i))}\b", text)]


def fits_persona(hit: Hit, persona: Persona | None) -> bool:
    if persona is None:
        return False
    names = {fold(n) for n in (persona.name, *persona.titles)}
    declared = {fold(p) for p in str(hit.metadata.get("personas") or "").split(",") if p.strip()}
    if declared:
        return bool(names & declared)
    text = f" {fold(hit.text)} "
    return any(f" {n} " in text for n in names if n)


def is_whole_sentence(sentence: str, document: str) -> bool:
    """A chunk boundary can cut a sentence ("6,800 colleagues, brought ... in one"): a proof point must start
    where a sentence or line starts in the document, and end where one ends."""
    at = document.find(sentence)
    if at < 0:
        return True  # the document text is not at hand: judge by the chunk alone
    before = document[:at].rstrip(" \t\"“”*_-•")
    after = document[at + len(sentence):at + len(sentence) + 1]
    starts = not before or before.endswith(("\n", ".", "!", "?", ":", "|"))
    ends = sentence.endswith((".", "!", "?", ")", "%")) or after in ("", "\n")
    return starts and ends


def find_proof(retriever: Retriever, profile: SellerProfile, *, industry: str, persona: Persona | None,
               exclude: set[str] | None = None) -> Proof | None:
    """The best sentence with a number: same industry first, then the persona, then how clear the number is."""
    outcomes = " ".join(persona.outcomes) if persona else ""
    query = f"{industry} customer results {outcomes} {persona.name if persona else ''}".strip()
    hits = retriever.search(query, k=48, types=["case_study"])
    library = retriever.content_slice()
    wanted = fold(industry)
    best: tuple[float, Proof] | None = None
    for hit in hits:
        if exclude and hit.ref in exclude:
            continue
        document = library.source_text(str(hit.metadata.get("source")))
        industries = industries_of(hit, profile, document)
        fits_industry = bool(wanted) and any(fold(i) == wanted or wanted in fold(i) or fold(i) in wanted
                                             for i in industries)
        persona_fits = fits_persona(hit, persona)
        customer = customer_name(str(hit.metadata.get("title", "")))
        for sentence in sentences_of(hit):
            numbers = NUMBER.findall(sentence)
            # a figure alone is not a result ("EUR 690k a year EUR 280k a year" is a table row)
            if not numbers or not 40 <= len(sentence) <= 260 or not RESULT.search(sentence) \
                    or not is_whole_sentence(sentence, document):
                continue
            score = hit.score + (0.5 if fits_industry else 0.0) + (0.2 if persona_fits else 0.0) \
                + 0.05 * min(len(numbers), 3)
            if best is None or score > best[0]:
                best = (score, Proof(sentence, hit, customer, industries[0] if industries else "",
                                     fits_industry, persona_fits))
    return best[1] if best else None
