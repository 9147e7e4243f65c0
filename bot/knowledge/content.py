"""Sales content (Markdown with front matter, text, PDF, HTML) into titled, sectioned chunks."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from langchain_text_splitters import RecursiveCharacterTextSplitter

from bot.knowledge.documents import Chunk, LoadError, Loaded, MetaValue, chunk_id

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


def _splitter() -> RecursiveCharacterTextSplitter:
    return RecursiveCharacterTextSplitter(
        chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP, separators=["\n\n", "\n", ". ", " ", ""]
    )


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
    text = path.read_text(encoding="utf-8-sig")
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
        text = text[match.end():]
        for key in ("title", "type", "url"):
            if front.get(key):
                meta[key] = str(front[key])
        for key in ("personas", "industries"):
            if front.get(key):
                meta[key] = _as_list(front[key])
    title = str(meta.pop("title", "")) or _first_heading(text) or path.stem.replace("-", " ").replace("_", " ").title()
    return Document(title, text, meta)


def _first_heading(text: str) -> str | None:
    for line in text.splitlines():
        match = _HEADING.match(line.strip())
        if match:
            return match.group(2)
    return None


def read_text(path: Path) -> Document:
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    title = first if 0 < len(first) <= 100 else path.stem.replace("-", " ").title()
    return Document(title, text)


def read_html(path: Path) -> Document:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(path.read_text(encoding="utf-8-sig", errors="replace"), "html.parser")
    for tag in soup(["script", "style", "nav", "footer", "noscript"]):
        tag.decompose()
    title = soup.title.get_text(strip=True) if soup.title else ""
    # keep headings as Markdown so sections split the same way as .md files
    for level in range(1, 7):
        for heading in soup.find_all(f"h{level}"):
            heading.replace_with(f"\n\n{'#' * level} {heading.get_text(' ', strip=True)}\n\n")
    for item in soup.find_all("li"):
        item.insert_before("\n- ")
    body = soup.body or soup
    text = re.sub(r"\n{3,}", "\n\n", body.get_text("\n"))
    text = "\n".join(line.strip() for line in text.splitlines())
    return Document(title or _first_heading(text) or path.stem.title(), text)


def read_pdf(path: Path) -> Document:
    from pypdf import PdfReader

    reader = PdfReader(str(path))
    if reader.is_encrypted:
        raise ValueError("PDF is encrypted")
    pages = [page.extract_text() or "" for page in reader.pages]
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

    doc_type = str(document.meta.get("type") or guess_type(path))
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
    if not loaded.chunks and not loaded.errors:
        loaded.errors.append(LoadError(source, None, "no text found"))
    return loaded
