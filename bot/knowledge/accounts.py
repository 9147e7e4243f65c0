"""Resolving an account from a name a person typed: case, accents, legal suffixes, typos."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

from rapidfuzz import fuzz

_LEGAL_WORDS = {
    "inc", "incorporated", "corp", "corporation", "co", "company", "companies", "ltd", "limited", "llc",
    "llp", "plc", "gmbh", "ag", "kg", "se", "sa", "sas", "sarl", "sl", "slu", "srl", "spa", "bv", "nv",
    "oy", "ab", "as", "pty", "the", "group", "groupe", "grupo", "gruppe", "holding", "holdings", "cie", "et",
}


def fold(text: str) -> str:
    """Lower case, accents off, punctuation to spaces."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    text = text.replace("&", " and ")
    text = re.sub(r"(?<=\b[a-z])\.(?=[a-z]\b)", "", text)  # s.l. -> sl, s.a. -> sa
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text).split())


def core_name(name: str) -> str:
    """The distinctive part of a company name: 'Example Corp.' and 'Example Corporation' -> 'example'."""
    words = fold(name).split()
    kept = [w for w in words if w not in _LEGAL_WORDS]
    return " ".join(kept or words)


def initials(name: str) -> str:
    return "".join(word[0] for word in core_name(name).split())


@dataclass(frozen=True)
class Account:
    id: str
    name: str
    industry: str = ""
    country: str = ""

    @property
    def core(self) -> str:
        return core_name(self.name)


@dataclass(frozen=True)
class Resolution:
    """`account` when one account is meant; otherwise the candidates to offer."""

    query: str
    account: Account | None
    candidates: tuple[Account, ...] = field(default=())

    @property
    def ambiguous(self) -> bool:
        return self.account is None and len(self.candidates) > 1 and self.close

    close: bool = False  # candidates are real matches (ambiguous), not mere suggestions

    def describe_miss(self) -> str:
        names = ", ".join(a.name for a in self.candidates)
        if self.ambiguous:
            return f"'{self.query}' matches several accounts: {names}. Which one?"
        if names:
            return f"I don't know an account called '{self.query}'. Closest names: {names}."
        return f"I don't know an account called '{self.query}', and the knowledge base has no accounts yet."


class AccountResolver:
    FUZZY_MATCH = 86  # score at which a single close name is taken as meant
    FUZZY_SUGGEST = 55

    def __init__(self, accounts: Iterable[Account]):
        self.accounts = sorted(accounts, key=lambda a: a.name)
        self._by_core: dict[str, list[Account]] = {}
        for account in self.accounts:
            self._by_core.setdefault(account.core, []).append(account)
        self._by_id = {account.id: account for account in self.accounts}
        # each name's words, read once: a question is checked against every account
        self._names = [(account, account.core, account.core.split()) for account in self.accounts]
        counts: dict[str, int] = {}
        for _, _, words in self._names:
            for word in set(words):
                counts[word] = counts.get(word, 0) + 1
        self._word_counts = counts
        self._mentioned: dict[str, list[Account]] = {}
        # names by their first word: a text's names are found by a look-up per word, not a scan per account
        self._by_first_word: dict[str, list[tuple[Account, list[str]]]] = {}
        for account, _, words in self._names:
            if words:
                self._by_first_word.setdefault(words[0], []).append((account, words))

    def get(self, account_id: str) -> Account | None:
        return self._by_id.get(account_id)

    def resolve(self, query: str) -> Resolution:
        text = query.strip()
        if text in self._by_id:
            return Resolution(query, self._by_id[text])
        core = core_name(text)
        if not core:
            return Resolution(query, None)
        exact = [a for a in self.accounts if fold(a.name) == fold(text)] or self._by_core.get(core, [])
        if len(exact) == 1:
            return Resolution(query, exact[0])
        if len(exact) > 1:
            return Resolution(query, None, tuple(exact), close=True)
        # 'northwind' -> every account whose name starts with those words
        prefixed = [a for a in self.accounts if (a.core + " ").startswith(core + " ")]
        if len(prefixed) == 1:
            return Resolution(query, prefixed[0])
        if len(prefixed) > 1:
            return Resolution(query, None, tuple(prefixed), close=True)
        # 'lopez' -> 'Transportes Lopez S.L.': every typed word is a word of the name
        wanted = set(core.split())
        if all(len(word) >= 4 for word in wanted):
            by_words = [a for a in self.accounts if wanted <= set(a.core.split())]
            if len(by_words) == 1:
                return Resolution(query, by_words[0])
            if len(by_words) > 1:
                return Resolution(query, None, tuple(by_words), close=True)
        if " " not in core and len(core) >= 2:
            by_initials = [a for a in self.accounts if len(a.core.split()) > 1 and initials(a.name) == core]
            if len(by_initials) == 1:
                return Resolution(query, by_initials[0])
        return self._fuzzy(query, core)

    def _fuzzy(self, query: str, core: str) -> Resolution:
        # cores for typos in the name itself, full names for typos in the legal words ("Acne Corporaton")
        folded = fold(query)
        scored = sorted(
            ((max(_name_score(core, a.core), fuzz.ratio(folded, fold(a.name))), a) for a in self.accounts),
            key=lambda pair: -pair[0],
        )[:5]
        if not scored:
            return Resolution(query, None)
        best_score = scored[0][0]
        close = [a for score, a in scored if score >= self.FUZZY_MATCH and best_score - score < 4]
        if len(close) == 1:
            return Resolution(query, close[0])
        if len(close) > 1:
            return Resolution(query, None, tuple(close), close=True)
        suggestions = [a for score, a in scored[:3] if score >= self.FUZZY_SUGGEST]
        return Resolution(query, None, tuple(suggestions or [a for _, a in scored[:3]]))

    def mentioned_in(self, text: str) -> list[Account]:
        """Accounts a free-text question names ('next step on the Northwind deal?')."""
        cached = self._mentioned.get(text)
        if cached is None:
            cached = self._mentioned[text] = self._find_mentioned(text)
            if len(self._mentioned) > 512:  # one answer asks several times; keep only recent questions
                try:
                    self._mentioned.pop(next(iter(self._mentioned)), None)
                except (RuntimeError, StopIteration):  # another thread changed it: trim next time
                    pass
        return list(cached)

    def _find_mentioned(self, text: str) -> list[Account]:
        folded = f" {fold(text)} "
        # a name's other distinctive word counts when typed as a name: capitalised, not opening the sentence
        typed = {part for word in re.findall(r"(?<=[\s(\"'’])[A-ZÀ-Þ][\w'’-]*", " " + text.strip()[1:])
                 for part in fold(word).split()}
        present = set(folded.split())
        whole: list[Account] = []
        partly: list[Account] = []
        for account, core, words in self._names:
            if words[0] not in present and not (typed & set(words[1:])):
                continue  # no word of this name is in the question
            if f" {core} " in folded:
                whole.append(account)
            elif (len(words[0]) >= 4 and words[0] in present) or any(
                    len(word) >= 4 and word in typed and self._distinctive(word) for word in words[1:]):
                partly.append(account)
        # "<Name> Health" names one account, although "<Name>" alone also starts "<Name> Foods"
        return whole + [a for a in partly if not any(set(a.core.split()) & set(w.core.split()) for w in whole)]

    def named_in(self, text: str) -> list[Account]:
        """Accounts a text names in full, as a name (capitalised): "Northwind" but not "northwind", nor one word of
        a longer name. Stricter than `mentioned_in` (a person's question): this reads what a model wrote."""
        words = _typed_words(text)
        folded = [word for word, _ in words]
        found: list[Account] = []
        for start, (word, capital) in enumerate(words):
            if not capital:
                continue
            for account, core in self._by_first_word.get(word, ()):
                if account not in found and folded[start:start + len(core)] == core:
                    found.append(account)
        return found

    def _distinctive(self, word: str) -> bool:
        """A name word only one account has."""
        return self._word_counts.get(word, 0) == 1


def _typed_words(text: str) -> list[tuple[str, bool]]:
    """Each word folded as account names are, and whether it was typed with a capital."""
    found = []
    for raw in re.findall(r"[^\W_]+", text.replace("&", " and ")):
        for part in fold(raw).split():
            found.append((part, raw[:1].isupper()))
    return found


def _name_score(query: str, choice: str, **_: object) -> float:
    # ratio catches typos in the whole name; partial_ratio a word or two typed of a longer name
    whole = fuzz.ratio(query, choice)
    reordered = fuzz.token_sort_ratio(query, choice)  # words typed in another order
    first = fuzz.ratio(query, choice.split()[0]) if choice else 0.0
    return max(whole, reordered, first)
