"""One encoding decision for a file, whether it is read whole (content, JSON) or streamed (a CSV export)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.knowledge import encoding
from bot.knowledge.encoding import decode, detect, detect_file, open_text

TEXT = "Id,Notes\n1,Réunion – “budget” validé, 12 €\n2,Deux lignes\n"


@pytest.mark.parametrize("data, name", [
    (TEXT.encode("utf-8"), "utf-8"),
    (b"\xef\xbb\xbf" + TEXT.encode("utf-8"), "utf-8"),
    (TEXT.encode("utf-16"), "utf-16"),
    (TEXT.encode("utf-16-le"), "utf-16-le"),
    (TEXT.encode("utf-16-be"), "utf-16-be"),
    (TEXT.encode("cp1252"), "cp1252"),
    ("Id,Notes\n1,Ça coûte\x81\n".encode("latin-1"), "latin-1"),  # 0x81: no character in cp1252
], ids=["utf-8", "utf-8-bom", "utf-16", "utf-16-le", "utf-16-be", "cp1252", "latin-1"])
def test_a_file_streamed_in_small_blocks_gets_the_decision_and_text_of_the_whole_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: bytes, name: str) -> None:
    # blocks of 7 bytes cut multi-byte UTF-8 characters in two: still UTF-8, never taken for cp1252
    monkeypatch.setattr(encoding, "_BLOCK", 7)
    path = tmp_path / "export.csv"
    path.write_bytes(data)
    text, found = decode(data)
    assert found == name and detect(data).name == name
    assert "Réunion – “budget”" in text or "Ça coûte" in text
    streamed = detect_file(path)
    assert streamed == detect(data)
    with open_text(path, streamed) as handle:
        assert handle.read().replace("\r\n", "\n") == text


def test_the_byte_that_is_not_utf8_may_lie_far_past_the_first_block(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(encoding, "_BLOCK", 64)
    path = tmp_path / "export.csv"
    path.write_bytes(("Id,Notes\n" + "1,plain\n" * 500 + "2,Réunion – validé\n").encode("cp1252"))
    assert detect_file(path).name == "cp1252" and decode(path.read_bytes())[1] == "cp1252"


@pytest.mark.parametrize("tail", [b"2,Pay\x96ment\n", b"2,cut at the end: \xc3"],
                         ids=["a-stray-cp1252-dash", "a-character-cut-in-two"])
def test_utf8_with_a_few_stray_bytes_stays_utf8_and_the_bytes_are_counted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tail: bytes) -> None:
    """Read as cp1252, every accented letter of the file would become two ("é" -> "Ã©") to save one byte."""
    monkeypatch.setattr(encoding, "_BLOCK", 5)
    data = ("Id,Notes\n" + "1,Réunion validée à Zürich\n" * 20).encode("utf-8") + tail
    text, name = decode(data)
    assert "Réunion validée à Zürich" in text and "Ã" not in text and text.count("\ufffd") == 1
    path = tmp_path / "export.csv"
    path.write_bytes(data)
    assert detect_file(path) == detect(data)
    note = encoding.encoding_note(name)
    assert note is not None and note.startswith("read as UTF-8, but 1 byte(s) in it are not UTF-8")


def test_a_cp1252_file_with_a_sequence_that_happens_to_be_utf8_is_still_cp1252() -> None:
    data = "Id,Notes\n1,Café – prêt, délai ‘court’\n2,Accès à l’équipe\n3,é’’\n".encode("cp1252")  # é’’: one UTF-8 char
    assert decode(data)[1] == "cp1252"
