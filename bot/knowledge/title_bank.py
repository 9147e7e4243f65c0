"""The nearest-neighbour title reader: titles no rule settles take the level and function of the labelled titles
they are closest to, by the local embedding model, and say which ones.

The bank (`bot/defaults/title_bank/*.csv`: title, level, function) holds titles written and labelled by hand in
English, French, German and Spanish. Its vectors are computed once per embedding model and kept in a cache file
named after the model and the bank's digest, so a process starts without embedding it again.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import logging
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)
BANK = Path(__file__).resolve().parent.parent / "defaults" / "title_bank"
K = 5


@dataclass(frozen=True)
class Labelled:
    title: str
    level: str
    function: str


@dataclass(frozen=True)
class Nearest:
    level: str
    function: str
    neighbours: tuple[Labelled, ...]

    @property
    def names(self) -> str:
        return ", ".join(f"'{n.title}'" for n in self.neighbours[:3])

    @property
    def why(self) -> str:
        if len(self.neighbours) == 1:
            return f"no rule settles it; the labelled title bank reads '{self.neighbours[0].title}' so"
        shown = "; ".join(f"'{n.title}' ({n.level}, {n.function.replace('_', ' ')})" for n in self.neighbours[:3])
        return f"no rule settles it; nearest labelled titles: {shown}"


def load_bank(folder: Path = BANK) -> list[Labelled]:
    from bot.knowledge.titles import FUNCTIONS, LEVELS

    rows: list[Labelled] = []
    for path in sorted(folder.glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as handle:
            for line, row in enumerate(csv.DictReader(handle), start=2):
                title, level, function = (row.get(k, "").strip() for k in ("title", "level", "function"))
                if not title or level not in LEVELS or function not in FUNCTIONS:
                    logger.warning("%s:%d: skipped a title bank row (%r, %r, %r)", path, line, title, level, function)
                    continue
                rows.append(Labelled(title, level, function))
    return rows


_DECORATION = re.compile(
    r"\([^)]*\)|\b(m w d|w m d|m f d|f m d|h f|f h|m f|f m)\b|"
    r"\b(emea|apac|latam|dach|nordics|benelux|europe|europa|global|international|worldwide|north america|americas|"
    r"spain|france|germany|deutschland|italy|uk|us|usa|iberia|ii|iii|iv)\b")


@functools.lru_cache(maxsize=65536)
def title_key(title: str) -> str:
    """A title without what does not change the role: region and gender markers, brackets, case and accents."""
    from bot.knowledge.titles import normalize_title

    text = normalize_title(re.sub(r"\s[|]\s.*$", "", title))  # "Buyer | Global" -> "buyer"
    return " ".join(_DECORATION.sub(" ", text).split()) or text


class TitleNeighbours:
    """k nearest labelled titles by cosine similarity; level and function each by similarity-weighted vote."""

    def __init__(self, embeddings: Any, *, cache_dir: Path | None = None, rows: Sequence[Labelled] | None = None,
                 k: int = K):
        self.embeddings = embeddings
        self.rows = list(rows) if rows is not None else load_bank()
        self.k = k
        self.cache_dir = cache_dir
        digest = hashlib.sha1(repr([(r.title, r.level, r.function) for r in self.rows]).encode()).hexdigest()[:10]
        self.fingerprint = f"{getattr(embeddings, 'name', 'model')}:{digest}"
        self._matrix: Any = None
        self._vectors: dict[str, Any] = {}
        self._lock = threading.Lock()
        # a title the bank holds (once stripped of region and gender markers) is read from its own label
        self._exact = {title_key(r.title): r for r in reversed(self.rows)}

    # -- the bank's vectors

    def _cache_file(self) -> Path | None:
        if self.cache_dir is None:
            return None
        slug = re.sub(r"[^A-Za-z0-9.-]+", "-", self.fingerprint)
        return self.cache_dir / f"title-bank-{slug}.npy"

    @property
    def matrix(self) -> Any:
        if self._matrix is None:
            with self._lock:
                if self._matrix is None:
                    self._matrix = self._load_or_embed()
        return self._matrix

    def _load_or_embed(self) -> Any:
        import numpy as np

        cache = self._cache_file()
        if cache is not None and cache.exists():
            try:
                matrix = np.load(cache)
                if matrix.shape[0] == len(self.rows):
                    return matrix
            except (OSError, ValueError):
                logger.warning("title bank cache %s unreadable: embedding the bank again", cache)
        matrix = self._normalised(self.embeddings.embed_documents([r.title for r in self.rows]))
        if cache is not None:
            try:
                cache.parent.mkdir(parents=True, exist_ok=True)
                partial = cache.with_suffix(".tmp.npy")
                np.save(partial, matrix)
                partial.replace(cache)  # a reader never sees half a file
            except OSError:
                logger.warning("could not keep the title bank's vectors in %s", cache, exc_info=True)
        return matrix

    @staticmethod
    def _normalised(vectors: Any) -> Any:
        import numpy as np

        matrix = np.asarray(vectors, dtype=np.float32)
        if matrix.ndim == 1:
            matrix = matrix.reshape(1, -1)
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        return matrix / np.where(norms == 0, 1.0, norms)

    # -- lookups

    def prepare(self, titles: Iterable[str]) -> None:
        """Embed, in one batch, the titles not seen before and not in the bank (keyed without region and gender
        markers, so "Buyer EMEA" and "Buyer (m/w/d)" are one title)."""
        keys = {title_key(t) for t in titles if t}
        wanted = sorted(k for k in keys if k and k not in self._vectors and k not in self._exact)
        if not wanted:
            return
        for key, vector in zip(wanted, self._normalised(self.embeddings.embed_documents(wanted))):
            self._vectors[key] = vector

    def nearest(self, title: str) -> Nearest | None:
        import numpy as np

        key = title_key(title) if title else ""
        if not self.rows or not key:
            return None
        same = self._exact.get(key)
        if same is not None:
            return Nearest(same.level, same.function, (same,))
        if key not in self._vectors:
            self.prepare([title])
        scores = self.matrix @ self._vectors[key]
        count = min(self.k, len(self.rows))
        top = np.argpartition(-scores, count - 1)[:count]
        top = top[np.argsort(-scores[top])]
        level: dict[str, float] = {}
        function: dict[str, float] = {}
        for i in top:
            weight = max(float(scores[i]), 0.0)
            level[self.rows[i].level] = level.get(self.rows[i].level, 0.0) + weight
            function[self.rows[i].function] = function.get(self.rows[i].function, 0.0) + weight
        neighbours = tuple(self.rows[i] for i in top)
        return Nearest(max(level, key=level.__getitem__), max(function, key=function.__getitem__), neighbours)
