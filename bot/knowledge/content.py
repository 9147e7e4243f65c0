"""Sales content (Markdown with front matter, text, PDF, HTML) into titled, sectioned chunks."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from langchain_text_splitters import RecursiveCharacterTextSplitter

from bot.knowledge.documents import Chunk, Loaded, LoadError, MetaValue, chunk_id
from bot.knowledge.encoding import encoding_note, read_text_file

CONTENT_SUFFIXES = {".md", ".markdown", ".txt", ".pdf", ".html", ".htm"}
CHUNK_SIZE = 900
CHUNK_OVERLAP = 120
_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*\r?\n", re.DOTALL)
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_TYPE_HINTS = (
    ("case_study", ("case", "customer-story", "success")),
    ("persona", ("persona",)),
    ("playbook", ("playbook",)),
    ("battlecard", ("battlecard", "competit", "versus", "-vs-")),
    ("faq", ("faq",)),
    ("product", ("product", "overview", "datasheet")),
)


@dataclass
class Document:
    title: str
    text: str
    meta: dict[str, MetaValue] = field(default_factory=dict)
    encoding: str = "utf-8"  # what the file was read as (encoding.py): named in a note when it is not Unicode


def _splitter() -> RecursiveCharacterTextSplitter:
    return RecursiveCharacterTextSplitter(
        chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP, separators=["\n\n", "\n", ". ", " ", ""]
    )


def normalize_type(value: object) -> str:
    """'Case Study', 'case-study' and 'case_study' are one type; 'Customer story' is a case study too."""
    folded = "_".join(re.findall(r"[a-z0-9]+", str(value or "").lower()))
    return _TYPE_SYNONYMS.get(folded, folded) or "document"


_TYPE_SYNONYMS = {
    "casestudy": "case_study", "case_studies": "case_study", "customer_story": "case_study",
    "customer_stories": "case_study", "success_story": "case_study", "customer_success_story": "case_study",
    "reference": "case_study", "testimonial": "case_study", "personas": "persona", "persona_messaging": "persona",
    "buyer_persona": "persona", "playbooks": "playbook", "sales_playbook": "playbook",
    "battle_card": "battlecard", "competitive": "battlecard", "faqs": "faq", "product_overview": "product",
    "datasheet": "product", "data_sheet": "product",
}


def guess_type(path: Path) -> str:
    stem = path.stem.lower()
    for doc_type, needles in _TYPE_HINTS:
        if any(needle in stem for needle in needles):
            return doc_type
    return "document"


def _as_list(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


def read_markdown(path: Path, source: str, errors: list[LoadError]) -> Document:
    text, encoding = read_text_file(path)
    meta: dict[str, MetaValue] = {}
    match = _FRONT_MATTER.match(text)
    if match:
        try:
            front = yaml.safe_load(match.group(1)) or {}
            if not isinstance(front, dict):
                raise yaml.YAMLError("front matter is not a mapping")
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 2 if mark is not None else 1  # +1 for the opening ---, +1 for 1-based
            errors.append(LoadError(source, line, f"front matter ignored: {str(exc).splitlines()[0]}"))
            front = {}
        except RecursionError:  # PyYAML recurses once per level: "[[[[…" a few thousand deep
            errors.append(LoadError(source, 2, "front matter ignored: nested too deeply"))
            front = {}
        text = text[match.end():]
        for key in ("title", "type", "url"):
            if front.get(key):
                meta[key] = str(front[key])
        for key in ("personas", "industries"):
            if front.get(key):
                meta[key] = _as_list(front[key])
    title = str(meta.pop("title", "")) or _first_heading(text) or path.stem.replace("-", " ").replace("_", " ").title()
    return Document(title, text, meta, encoding)


def load_front_matter(path: Path) -> dict[str, object]:
    """The YAML front matter of a Markdown file ({} when absent or unreadable)."""
    try:
        match = _FRONT_MATTER.match(read_text_file(path)[0])
        front = yaml.safe_load(match.group(1)) if match else {}
    except (OSError, UnicodeError, yaml.YAMLError, RecursionError):  # read at start: never stops it
        return {}
    return front if isinstance(front, dict) else {}


def module_names(path: Path) -> list[str]:
    """Headings under a 'Modules' (or 'Products', 'Features') heading of a product overview."""
    try:
        document = read_html(path) if path.suffix.lower() in (".html", ".htm") else \
            read_text(path) if path.suffix.lower() == ".txt" else Document("", read_text_file(path)[0])
    except (OSError, UnicodeError):
        return []
    names: list[str] = []
    parent_level = None
    for line in document.text.splitlines():
        match = _HEADING.match(line.strip())
        if not match:
            continue
        level = len(match.group(1))
        if re.fullmatch(r"(the |our |key )?(modules?|products?|features?|capabilities)", match.group(2).strip().lower()):
            parent_level = level
            continue
        if parent_level is not None:
            if level <= parent_level:
                parent_level = None
            else:  # "ShiftLine: scheduling, time and attendance" -> "ShiftLine"
                names.append(re.split(r"\s*(?::|—|–|\s-\s|\()\s*", match.group(2))[0])
    return names


def _first_heading(text: str) -> str | None:
    for line in text.splitlines():
        match = _HEADING.match(line.strip())
        if match:
            return match.group(2)
    return None


def read_text(path: Path) -> Document:
    # plain text wraps at a fixed width: lines are joined back into sentences like a PDF's
    raw, encoding = read_text_file(path)
    text = "\n\n".join(_join_lines(block) for block in re.split(r"\n\s*\n", raw))
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    title = first if 0 < len(first) <= 100 else path.stem.replace("-", " ").title()
    return Document(title, text, encoding=encoding)


_BLOCKS = ("p", "div", "section", "article", "header", "main", "aside", "blockquote", "table", "tr", "ul", "ol",
           "dl", "dt", "dd", "figure", "figcaption", "pre", "form", "fieldset", "address")


def read_html(path: Path) -> Document:
    """Whole sentences: inline tags (`<span>`, `<strong>`, `<a>`) stay inside the sentence they belong to."""
    from bs4 import BeautifulSoup

    markup, encoding = read_text_file(path)
    soup = BeautifulSoup(markup, "html.parser")
    for tag in soup(["script", "style", "nav", "footer", "noscript", "template"]):
        tag.decompose()
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    if soup.title:
        soup.title.decompose()
    # keep headings as Markdown so sections split the same way as .md files
    for level in range(1, 7):
        for heading in soup.find_all(f"h{level}"):
            heading.replace_with(f"\n\n{'#' * level} {heading.get_text(' ', strip=True)}\n\n")
    for item in soup.find_all("li"):
        item.insert_before("\n- ")
        item.insert_after("\n")
    for cell in soup.find_all(["td", "th"]):
        cell.insert_after(" | ")
    for br in soup.find_all("br"):
        br.replace_with("\n")
    for block in soup.find_all(_BLOCKS):
        block.insert_before("\n\n")
        block.insert_after("\n\n")
    body = soup.body or soup
    # source line breaks inside a paragraph are layout, not meaning
    text = body.get_text("")
    paragraphs = [" ".join(part.split()) for part in re.split(r"\n\s*\n", text)]
    text = "\n\n".join(p for p in paragraphs if p)
    return Document(title or _first_heading(text) or path.stem.title(), text, encoding=encoding)


def _join_lines(page: str) -> str:
    """PDF text comes one layout line at a time: join lines back into sentences and paragraphs.

    A line ends its paragraph when it ends a sentence and the next starts like a new one, or when it
    is short and unpunctuated (a heading).
    """
    lines = [line.strip() for line in page.splitlines()]
    out: list[str] = []
    current = ""
    for index, line in enumerate(lines):
        if not re.search(r"\w", line):  # blank, or a rule of dashes or equals signs
            lines[index] = ""
            line = ""
        if not line:
            if current:
                out.append(current)
                current = ""
            continue
        unpunctuated = not re.search(r"[.,;:!?)]$", line)
        next_starts_lower = index + 1 < len(lines) and lines[index + 1][:1].islower()
        # a short unpunctuated line is a heading; one with several figures is a table row ("Cost EUR 690k EUR 280k")
        heading = unpunctuated and not next_starts_lower and (
            len(line) < 60 or len(re.findall(r"\d[\d.,]*", line)) >= 2)
        if heading and not current:
            out.append(line)
            continue
        # a line ending in a hyphen continues the word ("family-" + "owned")
        current = f"{current} {line}".strip() if not current.endswith("-") else current + line
        if re.search(r"[.!?:]$", line) or heading:
            out.append(current)
            current = ""
    if current:
        out.append(current)
    return "\n\n".join(out)


def read_pdf(path: Path) -> Document:
    from pypdf import PdfReader

    reader = PdfReader(str(path))
    if reader.is_encrypted:
        raise ValueError("PDF is encrypted")
    pages = [_join_lines(page.extract_text() or "") for page in reader.pages]
    text = "\n\n".join(pages)
    if not text.strip():
        raise ValueError("PDF has no extractable text (scanned image?)")
    info_title = (reader.metadata.title if reader.metadata else None) or ""
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return Document(info_title or (first if len(first) <= 100 else path.stem.title()), text)


def sections(text: str) -> list[tuple[str, str]]:
    """(heading, body) pairs split at Markdown headings; text before the first heading has ''."""
    result: list[tuple[str, list[str]]] = [("", [])]
    for line in text.splitlines():
        match = _HEADING.match(line.strip())
        if match:
            result.append((match.group(2), []))
        else:
            result[-1][1].append(line)
    return [(heading, "\n".join(lines).strip()) for heading, lines in result if "\n".join(lines).strip()]


def load_content_file(path: Path, source: str) -> Loaded:
    loaded = Loaded()
    suffix = path.suffix.lower()
    try:
        if suffix in (".md", ".markdown"):
            document = read_markdown(path, source, loaded.errors)
        elif suffix == ".txt":
            document = read_text(path)
        elif suffix in (".html", ".htm"):
            document = read_html(path)
        elif suffix == ".pdf":
            document = read_pdf(path)
        else:
            loaded.errors.append(LoadError(source, None, f"unsupported file type {suffix}"))
            return loaded
    except Exception as exc:  # a broken file is reported, never stops the run
        loaded.errors.append(LoadError(source, None, f"cannot read: {exc}"))
        return loaded
    note = encoding_note(document.encoding)
    if note:
        loaded.errors.insert(0, LoadError(source, None, note))

    doc_type = normalize_type(document.meta.get("type") or guess_type(path))
    splitter = _splitter()
    # what kind of document this is travels with every chunk, so "a customer story for ..." finds
    # case studies even from their later sections
    context = doc_type.replace("_", " ").capitalize() + ":"
    if document.title.lower().startswith(context[:-1].lower()):
        context = ""  # "Battlecard: us vs Globex" says it already
    ordinal = 0
    for heading, body in sections(document.text):
        for piece in splitter.split_text(body):
            # the title and section travel with each chunk: retrieval sees what it is about
            label = f"{document.title} — {heading}" if heading and heading != document.title else document.title
            text = f"{context} {label}\n{piece}".lstrip()
            metadata: dict[str, MetaValue] = {
                "kind": "content",
                "type": doc_type,
                "ref": source,
                "title": document.title,
                "section": heading,
                "source": source,
                "chunk": ordinal,
                "account_id": "",
                "account_name": "",
                **{k: v for k, v in document.meta.items() if k != "type"},
            }
            loaded.chunks.append(Chunk(chunk_id(source, ordinal, text), text, metadata))
            ordinal += 1
    if not loaded.chunks:  # said even beside a note on the encoding or front matter, which says nothing of that
        loaded.errors.append(LoadError(source, None, "no text found"))
    return loaded
