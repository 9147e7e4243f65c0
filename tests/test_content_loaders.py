"""Sales content (Markdown with front matter, text, HTML, PDF) into titled, sectioned chunks."""

from __future__ import annotations

import pytest

from bot.knowledge.content import load_content_file


def load(knowledge, name: str, text: str):
    path = knowledge.content(name, text)
    return load_content_file(path, f"content/{name}")


def pdf_bytes(lines: list[str], *, title: str | None = None) -> bytes:
    """A minimal valid one-page PDF with Helvetica text and a correct cross-reference table."""

    def escape(text: str) -> str:
        return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    content = "BT /F1 12 Tf 72 720 Td 16 TL " + " ".join(f"({escape(line)}) Tj T*" for line in lines) + " ET"
    stream = content.encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    if title:
        objects.append(b"<< /Title (" + escape(title).encode("latin-1") + b") /Producer (tests) >>")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n".encode()
    out += b"0000000000 65535 f \n"
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    info = f" /Info {len(objects)} 0 R" if title else ""
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R{info} >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


# ---------------------------------------------------------------- Markdown

CASE_STUDY = """\
---
title: Northwind Logistics cuts freight spend 18%
type: case_study
personas: [CFO, VP Operations]
industries:
  - Logistics
  - Manufacturing
url: https://example.com/customers/northwind
---
# Northwind Logistics

## Challenge
Freight invoices were audited by hand and overcharges slipped through.

## Results
Northwind cut freight spend by 18% and paid back the project in 7 months.
"""


def test_markdown_front_matter_travels_with_each_chunk(knowledge) -> None:
    loaded = load(knowledge, "northwind.md", CASE_STUDY)
    assert loaded.errors == []
    assert loaded.chunks
    for chunk in loaded.chunks:
        meta = chunk.metadata
        assert meta["title"] == "Northwind Logistics cuts freight spend 18%"
        assert meta["type"] == "case_study"
        assert "CFO" in meta["personas"] and "VP Operations" in meta["personas"]
        assert "Logistics" in meta["industries"] and "Manufacturing" in meta["industries"]
        assert meta["url"] == "https://example.com/customers/northwind"
        assert meta["source"] == "content/northwind.md"
        assert "Northwind Logistics cuts freight spend 18%" in chunk.text.splitlines()[0]
    text = "\n".join(c.text for c in loaded.chunks)
    assert "paid back the project in 7 months" in text
    assert "type: case_study" not in text  # the front matter is metadata, not body


def test_markdown_sections_label_chunks(knowledge) -> None:
    loaded = load(knowledge, "northwind.md", CASE_STUDY)
    results = [c for c in loaded.chunks if "paid back" in c.text]
    assert results and results[0].metadata["section"] == "Results"
    label = results[0].text.splitlines()[0]
    assert "Northwind Logistics cuts freight spend 18%" in label and "Results" in label
    assert "paid back" not in label  # the label is a line of its own


def test_markdown_without_front_matter_takes_title_from_heading_and_type_from_name(knowledge) -> None:
    loaded = load(knowledge, "case-study-acme.md", "# How Acme halved downtime\n\nAcme halved unplanned downtime in a year.\n")
    assert loaded.errors == []
    assert loaded.chunks[0].metadata["title"] == "How Acme halved downtime"
    assert loaded.chunks[0].metadata["type"] == "case_study"


def test_broken_front_matter_is_reported_with_its_line_and_the_body_still_loads(knowledge) -> None:
    loaded = load(knowledge, "cfo-persona.md", """\
        ---
        title: The CFO
        type: persona: cfo
        personas: [CFO]
        ---
        # The CFO

        Cares about payback period, cash flow and predictable spend.
        """)
    assert [(e.file, e.line) for e in loaded.errors] == [("content/cfo-persona.md", 3)]
    assert "front matter" in loaded.errors[0].error
    assert loaded.chunks
    text = "\n".join(c.text for c in loaded.chunks)
    assert "payback period, cash flow" in text
    assert "type: persona" not in text
    assert loaded.chunks[0].metadata["title"] == "The CFO"


# ---------------------------------------------------------------- text, HTML, PDF

def test_plain_text(knowledge) -> None:
    loaded = load(knowledge, "discovery-questions.txt", """\
        Discovery questions for operations leaders

        What does an hour of unplanned downtime cost you today?
        Who signs off on spend above 100k?
        """)
    assert loaded.errors == []
    [chunk] = loaded.chunks
    assert chunk.metadata["title"] == "Discovery questions for operations leaders"
    assert "hour of unplanned downtime" in chunk.text


def test_html_title_sections_and_no_scripts(knowledge) -> None:
    loaded = load(knowledge, "battlecard-vs-globex.html", """\
        <!doctype html>
        <html><head><title>Battlecard: us vs Globex</title>
        <style>.x { color: red; }</style>
        <script>var tracking = "SECRET_TRACKER_ID";</script></head>
        <body>
          <nav>Home | Products</nav>
          <h1>Battlecard: us vs Globex</h1>
          <h2>Where we win</h2>
          <p>Time to value: live in <b>six weeks</b> against Globex's six months.</p>
          <ul><li>Native ERP connectors</li><li>Fixed-fee onboarding</li></ul>
          <h2>Landmines</h2>
          <p>Ask how many customers run Globex on-premises without consultants.</p>
          <script>document.write("INJECTED_BY_SCRIPT")</script>
        </body></html>
        """)
    assert loaded.errors == []
    text = "\n".join(c.text for c in loaded.chunks)
    assert all(c.metadata["title"] == "Battlecard: us vs Globex" for c in loaded.chunks)
    assert {c.metadata["section"] for c in loaded.chunks} >= {"Where we win", "Landmines"}
    win = next(c for c in loaded.chunks if c.metadata["section"] == "Where we win")
    label = win.text.splitlines()[0]
    assert "Battlecard: us vs Globex" in label and "Where we win" in label
    assert "six weeks" in win.text and "Native ERP connectors" in win.text
    assert "SECRET_TRACKER_ID" not in text and "INJECTED_BY_SCRIPT" not in text and "color: red" not in text
    assert loaded.chunks[0].metadata["type"] == "battlecard"


def test_pdf_text_is_extracted(knowledge) -> None:
    path = knowledge.write_bytes("content/datasheet.pdf", pdf_bytes(
        ["Freight Audit Datasheet", "Automated invoice audit recovers 3 percent of freight spend."],
        title="Freight Audit Datasheet",
    ))
    loaded = load_content_file(path, "content/datasheet.pdf")
    assert loaded.errors == []
    assert loaded.chunks
    assert loaded.chunks[0].metadata["title"] == "Freight Audit Datasheet"
    assert "recovers 3 percent of freight spend" in " ".join(c.text for c in loaded.chunks)


def test_pdf_without_info_title_uses_its_first_line(knowledge) -> None:
    path = knowledge.write_bytes("content/one-pager.pdf", pdf_bytes(["Payback in Seven Months", "Body text here."]))
    loaded = load_content_file(path, "content/one-pager.pdf")
    assert loaded.errors == []
    assert loaded.chunks[0].metadata["title"] == "Payback in Seven Months"


def test_corrupt_pdf_is_reported_not_raised(knowledge) -> None:
    path = knowledge.write_bytes("content/broken.pdf", b"%PDF-1.4\nthis is not really a pdf\n%%EOF\n")
    loaded = load_content_file(path, "content/broken.pdf")
    assert loaded.chunks == []
    assert [e.file for e in loaded.errors] == ["content/broken.pdf"]


def test_truncated_pdf_is_reported_not_raised(knowledge) -> None:
    data = pdf_bytes(["Some text that will be cut off"])
    path = knowledge.write_bytes("content/truncated.pdf", data[: len(data) // 3])
    loaded = load_content_file(path, "content/truncated.pdf")
    assert loaded.chunks == []
    assert [e.file for e in loaded.errors] == ["content/truncated.pdf"]


# ---------------------------------------------------------------- long documents

def test_long_document_splits_into_chunks_that_each_carry_the_title(knowledge) -> None:
    paragraphs = "\n\n".join(
        f"Step {n}. Map the buying committee for the account, confirm the budget owner and the business outcome "
        f"they are measured on, then agree the next meeting with a named executive sponsor. ({n})"
        for n in range(1, 40)
    )
    loaded = load(knowledge, "enterprise-playbook.md", f"---\ntitle: Enterprise Playbook\n---\n{paragraphs}\n")
    assert loaded.errors == []
    assert len(loaded.chunks) >= 5
    assert all("Enterprise Playbook" in c.text.splitlines()[0] for c in loaded.chunks)
    assert all(c.metadata["title"] == "Enterprise Playbook" for c in loaded.chunks)
    assert all(c.metadata["type"] == "playbook" for c in loaded.chunks)
    assert all(len(c.text) < 1200 for c in loaded.chunks)
    text = " ".join(c.text for c in loaded.chunks)
    assert "(1)" in text and "(39)" in text  # nothing lost at either end
    assert len({c.id for c in loaded.chunks}) == len(loaded.chunks)


def test_empty_document_is_reported(knowledge) -> None:
    loaded = load(knowledge, "empty.md", "---\ntitle: Nothing here\n---\n\n")
    assert loaded.chunks == []
    assert [e.file for e in loaded.errors] == ["content/empty.md"]


@pytest.mark.parametrize("name, text", [
    ("note.md", "# Délai\n\nPaiement à 30 jours – net.\n"),
    ("note.txt", "Délai\n\nPaiement à 30 jours – net.\n"),
    ("note.html", "<html><head><title>Délai</title></head><body><p>Paiement à 30 jours – net.</p></body></html>"),
])
def test_a_document_in_cp1252_is_read_right_and_its_encoding_named_whatever_its_format(tmp_path, name: str,
                                                                                      text: str) -> None:
    path = tmp_path / name
    path.write_bytes(text.encode("cp1252"))
    loaded = load_content_file(path, f"content/{name}")
    assert [e.error.split(",")[0] for e in loaded.errors] == ["read as cp1252"]
    assert any("Paiement à 30 jours – net." in chunk.text for chunk in loaded.chunks)


def test_front_matter_nested_too_deeply_is_ignored_and_the_body_loads(tmp_path) -> None:
    """PyYAML recurses once per level; a few thousand '[' raised RecursionError out of load_front_matter, which the
    seller profile's content hints call at start."""
    from bot.knowledge.content import load_front_matter

    path = tmp_path / "persona.md"
    path.write_text("---\ntitle: " + "[" * 5000 + "]" * 5000 + "\n---\n# The CFO\n\nCares about payback.\n",
                    encoding="utf-8")
    assert load_front_matter(path) == {}
    loaded = load_content_file(path, "content/persona.md")
    assert [(e.line, e.error) for e in loaded.errors] == [(2, "front matter ignored: nested too deeply")]
    assert any("Cares about payback." in chunk.text for chunk in loaded.chunks)
