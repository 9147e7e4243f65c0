"""Reading a knowledge file whatever its encoding: UTF-8 (with or without BOM), UTF-16 (Excel's "Unicode
text"), or the Windows-1252 / Latin-1 of a European Excel export. The encoding is named when it is not UTF-8.

One decision for a file in memory and for one streamed from disk (a CSV export of any size is never read whole):
a BOM or NUL bytes in the first bytes decide UTF-8-SIG or UTF-16; otherwise the first of UTF-8 and cp1252 that
reads every byte of the file, else Latin-1 (which reads anything).
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

SAMPLE = 4000  # the first bytes that decide a BOM or UTF-16 without one
_BLOCK = 1 << 20  # bytes read at a time when a file is checked on disk
_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_UNICODE = ("utf-8", "utf-16", "utf-16-le", "utf-16-be")


class NotText(UnicodeError):
    """The file holds binary data (NUL bytes) under a text name."""


@dataclass(frozen=True)
class Encoding:
    codec: str  # what Python decodes the bytes with
    errors: str  # "strict" when every byte was checked to read, "replace" when the first bytes decided
    name: str  # what the person is told


def detect(data: bytes) -> Encoding:
    """The encoding of a file held in memory."""
    return _detect(data[:SAMPLE], lambda: (data,))


def detect_file(path: Path) -> Encoding:
    """The encoding `detect` finds for the file's bytes, read a block at a time (OSError if it cannot be read)."""
    with path.open("rb") as handle:
        head = handle.read(SAMPLE)

        def blocks() -> Iterable[bytes]:
            handle.seek(0)
            return iter(lambda: handle.read(_BLOCK), b"")

        return _detect(head, blocks)


def _detect(head: bytes, blocks: Callable[[], Iterable[bytes]]) -> Encoding:
    if head.startswith(_UTF8_BOM):
        return Encoding("utf-8-sig", "replace", "utf-8")
    if head.startswith(_UTF16_BOMS):
        return Encoding("utf-16", "replace", "utf-16")
    if len(head) >= 4 and head.count(b"\x00") > len(head) // 4:  # UTF-16 without a BOM: every other byte NUL
        codec = "utf-16-le" if head[1::2].count(b"\x00") > head[0::2].count(b"\x00") else "utf-16-be"
        return Encoding(codec, "replace", codec)
    if b"\x00" in head:  # no text format writes NUL but UTF-16: a spreadsheet, a Word file or a zip under a text name
        raise NotText("a binary file, not text (a spreadsheet or document saved under a text name?): not read")
    if _reads_all("utf-8", blocks()):
        return Encoding("utf-8", "strict", "utf-8")
    # UTF-8 with a few stray bytes (a line pasted from another file, a cut at the end) stays UTF-8: read as cp1252,
    # every accented letter of the file would turn into two ("é" -> "Ã©") to save those few
    characters, stray = _utf8_tally(blocks())
    if characters > stray:
        return Encoding("utf-8", "replace", f"{_DAMAGED_UTF8}{stray}")
    # cp1252 is Excel's default on Western European Windows (– “ ” € as one byte); it leaves five bytes undefined
    if _reads_all("cp1252", blocks()):
        return Encoding("cp1252", "strict", "cp1252")
    return Encoding("latin-1", "strict", "latin-1")


_DAMAGED_UTF8 = "utf-8, bytes replaced: "


def _reads_all(codec: str, blocks: Iterable[bytes]) -> bool:
    decoder = codecs.getincrementaldecoder(codec)()
    try:
        for block in blocks:
            decoder.decode(block)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _utf8_tally(blocks: Iterable[bytes]) -> tuple[int, int]:
    """(non-ASCII characters that read as UTF-8, bytes that do not) over the whole file."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    characters = stray = 0

    def tally(text: str) -> None:
        nonlocal characters, stray
        replaced = text.count("\ufffd")
        stray += replaced
        characters += len(text) - len(text.encode("ascii", "ignore")) - replaced

    for block in blocks:
        tally(decoder.decode(block))
    tally(decoder.decode(b"", final=True))
    return characters, stray


def decode(data: bytes) -> tuple[str, str]:
    """(text, encoding name)."""
    encoding = detect(data)
    return data.decode(encoding.codec, errors=encoding.errors), encoding.name


def read_text_file(path: Path) -> tuple[str, str]:
    """(text, encoding) of a file; OSError when it cannot be read at all."""
    return decode(path.read_bytes())


def open_text(path: Path, encoding: Encoding) -> TextIO:
    """The file as text in the encoding found for it, line endings kept (as the csv module wants)."""
    return path.open(encoding=encoding.codec, errors=encoding.errors, newline="")


def encoding_note(encoding: str) -> str | None:
    """What to tell the person when a file was not UTF-8 (the text loaded; re-saving as UTF-8 is safer)."""
    if encoding in _UNICODE:
        return None
    if encoding.startswith(_DAMAGED_UTF8):
        return (f"read as UTF-8, but {encoding.removeprefix(_DAMAGED_UTF8)} byte(s) in it are not UTF-8 and were "
                "replaced with \ufffd (loaded; fix those characters and save the file as UTF-8)")
    return f"read as {encoding}, not UTF-8 (loaded; save the file as UTF-8 to be sure every character is right)"
