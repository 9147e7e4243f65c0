"""Lexical search (BM25 through bm25s) and the word handling shared by retrieval and answers.

Words are folded (case and accents), stop words of English, French, German and Spanish dropped, and
cut to a short stem so "pricing" meets "price" and "opérations" meets "operations". No seller's
vocabulary is written here: the index learns the words of whatever knowledge it is given.
"""

from __future__ import annotations

import functools
import logging
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from bot.knowledge.accounts import fold

STOPWORDS = frozenset(
    # English
    """a an the and or but if of on in at to for from by with about as is are was were be been being do does did
    what which who whom whose when where why how can could should would will shall may might must i we you they he
    she it me us them my our your their his her its this that these those there here any some all have has had
    not no yes so than then too very just also into out over under up down more most less tell give show know
    please anything something thing things get got make made say said let lets one per via vs""".split()
    # French
    + """le la les un une des du de d l et ou mais si au aux en dans sur pour par avec sans sous est sont était
    etre être a ont avait ce cet cette ces qui que quoi quel quelle quels quelles dont où comment pourquoi quand
    combien je tu il elle nous vous ils elles on me te se mon ma mes ton ta tes son sa ses notre nos votre vos
    leur leurs y ne pas plus peut peux pouvons doit dois faut-il faut est-ce qu c s n j m t""".split()
    # German
    + """der die das den dem des ein eine einer eines einem einen und oder aber wenn von vom zu zum zur im in
    am an auf für mit ohne über unter bei nach aus ist sind war waren sein hat haben hatte wird werden wurde was
    wer wen wem wessen welche welcher welches wo wie warum wann ich du er sie es wir ihr mein meine dein unser
    unsere euer ihre ihr ihren ihrem sich nicht kein keine noch schon auch nur sehr kann können soll sollen muss
    müssen gibt es dass als""".split()
    # Spanish
    + """el la los las un una unos unas y o pero si de del al en con sin sobre para por es son era fue ser está
    están estar ha han había que qué quien quién quienes cual cuál cuales cuáles cuando cuándo donde dónde como
    cómo por qué cuanto cuánto cuántos cuántas yo tu tú él ella nosotros vosotros ellos ellas me te se mi mis su
    sus nuestro nuestra nuestros vuestro lo le les no sí ya muy puede puedo podemos debe hay este esta estos
    estas ese esa""".split()
)
_FOLDED_STOPWORDS = frozenset(fold(word) for word in STOPWORDS)

# suffixes of English and the Romance and German inflections, longest first; the stem keeps 4 letters at least
_SUFFIXES = tuple(sorted(
    """ations ation ement ments ment ings ing ities ity ites ite ions ion ness ers er ies es ed ly al als
    aux eux euse ungen ung heit keit ern en e s""".split(), key=len, reverse=True))
STEM = 6
_WORD = re.compile(r"[a-z0-9][a-z0-9+]*")


@functools.lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    if word.isdigit():
        return word
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            word = word[: -len(suffix)]
            break
    return word[:STEM]


# the common senior titles, spelled out or abbreviated, in four languages, read as one word
_TITLES = {
    "cfo": "chief financial officer|finance director|director of finance|directeur financier|directrice financiere|"
           "directeur administratif et financier|directrice administrative et financiere|finanzvorstand|"
           "finanzvorstandin|finanzchef|finanzchefin|finanzdirektor|finanzdirektorin|kaufmannischer direktor|"
           "kaufmannische direktorin|leiter finanzen|leiterin finanzen|director financiero|directora financiera|"
           "director de finanzas|directora de finanzas|daf",
    "ceo": "chief executive officer|managing director|directeur general|directrice generale|geschaftsfuhrer|"
           "geschaftsfuhrerin|vorstandsvorsitzender|vorstandsvorsitzende|director general|directora general|"
           "consejero delegado|consejera delegada",
    "coo": "chief operating officer|directeur des operations|directrice des operations|betriebsleiter|"
           "betriebsleiterin|director de operaciones|directora de operaciones",
    "cio": "chief information officer|directeur des systemes d information|dsi|it leiter|it leiterin|"
           "leiter it|leiterin it|director de sistemas|directora de sistemas|director de ti|directora de ti",
    "cto": "chief technology officer",
    "chro": "chief human resources officer|chief people officer|directeur des ressources humaines|"
            "directrice des ressources humaines|drh|personalleiter|personalleiterin|personalchef|personalchefin|"
            "director de recursos humanos|directora de recursos humanos|director de rrhh|directora de rrhh",
    "cpo": "chief procurement officer|directeur des achats|directrice des achats|einkaufsleiter|einkaufsleiterin|"
           "leiter einkauf|leiterin einkauf|director de compras|directora de compras",
    "vp": "vice president|vice-president|vicepresidente|vicepresidenta",
}
_TITLE_OF = {phrase: short for short, phrases in _TITLES.items() for phrase in phrases.split("|")}
_TITLE_PHRASE = re.compile(rf"\b(?:{'|'.join(map(re.escape, sorted(_TITLE_OF, key=len, reverse=True)))})\b")


def tokens(text: str) -> list[str]:
    """The searchable words of a text, stemmed, in order (repeats kept: BM25 counts them)."""
    folded = _TITLE_PHRASE.sub(lambda match: _TITLE_OF[match.group(0)], fold(text))
    return [stem(word) for word in _WORD.findall(folded)
            if word not in _FOLDED_STOPWORDS and (len(word) > 1 or word.isdigit())]


def key_terms(text: str) -> set[str]:
    return set(tokens(text))


class LexicalIndex:
    """BM25 over every chunk of the store; scores come back for all of them at once (numpy)."""

    def __init__(self, ids: Sequence[str], texts: Iterable[str], *, tokenised: list[list[str]] | None = None):
        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)  # it sets DEBUG on itself and logs every build
        self.ids = list(ids)
        self.position = {chunk_id: index for index, chunk_id in enumerate(self.ids)}
        corpus = tokenised if tokenised is not None else [tokens(text) for text in texts]
        self.frequency: Counter[str] = Counter(term for words in corpus for term in set(words))
        self.bm25: Any = None
        if self.ids:
            self.bm25 = bm25s.BM25()
            self.bm25.index(corpus, show_progress=False)

    def __len__(self) -> int:
        return len(self.ids)

    def idf(self, term: str) -> float:
        """How telling a word is: high when few chunks have it; 0 frequency reads as the rarest."""
        return math.log(1 + (len(self.ids) + 1) / (self.frequency.get(term, 0) + 0.5))

    def scores(self, query: Sequence[str]) -> Any:
        import numpy as np

        known = [term for term in query if term in self.frequency]
        if self.bm25 is None or not known:
            return np.zeros(len(self.ids), dtype=np.float32)
        return self.bm25.get_scores(known)

    def top(self, scores: Any, k: int, *, among: Sequence[int] | None = None) -> list[int]:
        """Positions of the k best-scoring chunks (optionally among some positions), zero scores left out."""
        import numpy as np

        if among is not None:
            positions = np.asarray(among, dtype=np.int64)
            if positions.size == 0:
                return []
            part = scores[positions]
            order = np.argsort(-part, kind="stable")[:k]
            return [int(positions[i]) for i in order if part[i] > 0]
        if len(self.ids) == 0:
            return []
        count = min(k, len(self.ids))
        best = np.argpartition(-scores, count - 1)[:count]
        best = best[np.argsort(-scores[best], kind="stable")]
        return [int(i) for i in best if scores[i] > 0]


# words that mark a question's language (common, and rare in the other three)
_MARKERS = {
    "fr": set("le la les des du est sont une quel quelle quels quelles qui que pour avec dans nous notre nos vous "
              "votre leur leurs ce cette ces comment pourquoi quand combien chez sur au aux ou où je il elle ils "
              "pas plus quoi faut peut".split()),
    "de": set("der die das den dem des ein eine einen und ist sind wer wie was welche welcher welches warum wann "
              "wo mit für von bei auf nicht wir unser unsere ihr ihre sie es gibt hat haben kann können soll "
              "schon noch auch zum zur im zu einem einer".split()),
    "es": set("el los las una unos unas del que qué es son cual cuál cuales cuáles quien quién como cómo cuando "
              "cuándo donde dónde por para con nuestro nuestra nuestros su sus hay tiene tienen puedo podemos "
              "debo al lo le les está están".split()),
}
_LATIN = re.compile(r"[a-zà-ÿß]+")


def language_of(text: str) -> str:
    """'en', 'fr', 'de' or 'es' for a question, by its common words; English unless another clearly leads."""
    words = _LATIN.findall(text.lower())
    if not words:
        return "en"
    counts = {lang: sum(1 for w in words if w in markers) for lang, markers in _MARKERS.items()}
    english = sum(1 for w in words if w in _ENGLISH)
    lang, best = max(counts.items(), key=lambda item: item[1])
    return lang if best > english and (best >= 2 or english == 0) else "en"


_ENGLISH = set("the a an is are was were what which who how when where why do does did our we you your their they "
               "for with on in at to of from and or can should would have has it this that there any".split())


# words a question is phrased with rather than about ("what's the best way to handle …", "he keeps asking");
# left out when judging whether a passage supports a question. Generic language, no seller's words.
FILLER = frozenset(stem(fold(word)) for word in """
    actually really suddenly just still ever already maybe perhaps quite pretty quick quickly right best good
    better way ways thing things kind kinds sort lot lots much many long big little able going gone go goes went
    get gets got getting take takes took taking make makes made making put puts bring brings come comes came back
    keep keeps kept want wants wanted need needs needed use used using look looks looking looked like likes seem
    seems say says saying said tell tells telling told ask asks asking asked talk talking speak answer answering
    reckon think thinks thought expect expects expected know knows let try tries trying worth else someone
    somebody anyone anybody everything anything nothing myself yourself himself herself themselves him ones
    recommended recommend should would could might handle handling treat write writing send sending around doing
    does done happen happened happens matter matters currently now today these those days again also
    """.split())
