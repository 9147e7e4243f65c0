"""Plain data shapes shared by the loaders, the store and retrieval."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Union

MetaValue = Union[str, int, float, bool]


@dataclass(frozen=True)
class Chunk:
    """One unit of retrieval: the text we embed and the metadata we filter on."""

    id: str
    text: str
    metadata: dict[str, MetaValue]


@dataclass(frozen=True)
class LoadError:
    """A row or file that could not be read; `line` is the line an editor shows."""

    file: str
    line: int | None
    error: str

    def as_dict(self) -> dict[str, object]:
        return {"file": self.file, "line": self.line, "error": self.error}

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.error}"


@dataclass
class Loaded:
    chunks: list[Chunk] = field(default_factory=list)
    errors: list[LoadError] = field(default_factory=list)


def chunk_id(source: str, ordinal: int, text: str) -> str:
    """Stable across runs: the same source and content always give the same id."""
    digest = hashlib.sha1(f"{source}\x00{ordinal}\x00{text}".encode()).hexdigest()[:20]
    return f"{source}#{ordinal}:{digest}"
