"""Text for Slack: escaping, Markdown to mrkdwn, splitting at Slack's limits.

Everything that came from a user, a CRM note or a document goes through `escape` before it
reaches Slack, so nothing in the knowledge base can ping @channel/@here or forge a link.
"""

from __future__ import annotations

import re

SECTION_LIMIT = 3000  # characters of text in one section block
BLOCK_LIMIT = 50  # blocks in one message
ZWSP = "\u200b"

_BROADCAST = re.compile(r"@(channel|here|everyone)\b", re.IGNORECASE)


def escape(text: object) -> str:
    """Neutralise Slack control sequences: <!channel>, <@U123>, <http://x|forged link>, @here."""
    value = str(text if text is not None else "")
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _BROADCAST.sub(lambda m: f"@{ZWSP}{m.group(1)}", value)


_CONTROL = re.compile(r"<(?=[!@#]|https?:|mailto:)", re.IGNORECASE)


def neutral(text: object) -> str:
    """For plain text (headers, button values): no Slack control sequence survives, yet nothing is HTML-escaped
    (plain text shows entities literally). `<!here>` becomes `<​!here>`, a bare @here gets a zero-width space."""
    value = _CONTROL.sub("<" + ZWSP, str(text if text is not None else ""))
    return _BROADCAST.sub(lambda m: f"@{ZWSP}{m.group(1)}", value)


def to_mrkdwn(markdown: str) -> str:
    """Escaped Markdown into Slack mrkdwn: **bold** -> *bold*, headings -> bold lines, [t](u) kept as text."""
    text = escape(markdown)
    text = re.sub(r"^#{1,6}\s+(.+)$", r"*\1*", text, flags=re.MULTILINE)
    text = re.sub(r"\*\*(.+?)\*\*", r"*\1*", text)
    text = re.sub(r"(?<![\w*])_(.+?)_(?![\w*])", r"_\1_", text)
    # links stay visible as "text (url)": a document cannot hide where a link goes
    text = re.sub(r"\[([^\]]+)\]\((https?://[^)\s]+)\)", r"\1 (\2)", text)
    return text


def split_text(text: str, limit: int = SECTION_LIMIT) -> list[str]:
    """Pieces under `limit`, cut at paragraph, then line, then word boundaries."""
    if len(text) <= limit:
        return [text] if text else []
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = max(rest.rfind("\n\n", 0, limit), rest.rfind("\n", 0, limit))
        if cut < limit // 2:
            cut = rest.rfind(" ", 0, limit)
        if cut <= 0:
            cut = limit
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
