"""Reading a knowledge file whatever its encoding: UTF-8 (with or without BOM), UTF-16 (Excel's "Unicode
text"), or the Windows-1252 / Latin-1 of a European Excel export. The encoding is named when it is not UTF-8."""

from __future__ import annotations

from pathlib import Path


def decode(data: bytes) -> tuple[str, str]:
    """(text, encoding name)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace"), "utf-8"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace"), "utf-16"
    sample = data[:4000]
    if len(sample) >= 4 and sample.count(b"\x00") > len(sample) // 4:  # UTF-16 without a BOM: every other byte NUL
        odd_nuls = sample[1::2].count(b"\x00")
        encoding = "utf-16-le" if odd_nuls > sample[0::2].count(b"\x00") else "utf-16-be"
        return data.decode(encoding, errors="replace"), encoding
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "cp1252"  # Excel's default on Western European Windows: – “ ” € as one byte
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def read_text_file(path: Path) -> tuple[str, str]:
    """(text, encoding) of a file; OSError when it cannot be read at all."""
    return decode(path.read_bytes())


def encoding_note(encoding: str) -> str | None:
    """What to tell the person when a file was not UTF-8 (the text loaded; re-saving as UTF-8 is safer)."""
    if encoding in ("utf-8", "utf-16", "utf-16-le", "utf-16-be"):
        return None
    return f"read as {encoding}, not UTF-8 (loaded; save the file as UTF-8 to be sure every character is right)"
