"""Prompts are files in prompts/, each declaring its variables; loading checks them all at start.

File format::

    ---
    variables: [question, sources]
    ---
    ## system
    ...text with {question} placeholders...
    ## user
    ...

A placeholder that is not declared, or a declared variable that is never used, fails at load.
Literal braces are written doubled ({{ and }}), as in Python format strings.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from pathlib import Path

import yaml

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"
REQUIRED = ("answer", "condense", "brief_summary", "draft", "campaign")


class PromptError(ValueError):
    """A prompt file that does not match its declared variables."""


@dataclass(frozen=True)
class Prompt:
    name: str
    variables: tuple[str, ...]
    system: str
    user: str

    def messages(self, **values: str) -> list[tuple[str, str]]:
        given, declared = set(values), set(self.variables)
        if given != declared:
            raise PromptError(
                f"prompt {self.name}: missing {sorted(declared - given)} / unexpected {sorted(given - declared)}"
            )
        return [("system", self.system.format(**values)), ("user", self.user.format(**values))]


def _placeholders(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field}


def load_prompt(path: Path) -> Prompt:
    text = path.read_text(encoding="utf-8")
    match = re.match(r"\A---\s*\n(.*?)\n---\s*\n(.*)\Z", text, re.DOTALL)
    if not match:
        raise PromptError(f"{path.name}: missing the front matter that declares its variables")
    meta = yaml.safe_load(match.group(1)) or {}
    variables = tuple(meta.get("variables") or ())
    sections = dict(re.findall(r"^## (system|user)\s*\n(.*?)(?=^## (?:system|user)\s*$|\Z)", match.group(2),
                               re.DOTALL | re.MULTILINE))
    if set(sections) != {"system", "user"}:
        raise PromptError(f"{path.name}: needs a '## system' and a '## user' section")
    system, user = sections["system"].strip(), sections["user"].strip()
    try:
        used = _placeholders(system) | _placeholders(user)
    except ValueError as exc:
        raise PromptError(f"{path.name}: {exc}") from None
    if used - set(variables):
        raise PromptError(f"{path.name}: uses undeclared variable(s) {sorted(used - set(variables))}")
    if set(variables) - used:
        raise PromptError(f"{path.name}: declares unused variable(s) {sorted(set(variables) - used)}")
    return Prompt(path.stem, variables, system, user)


def load_prompts(folder: Path = PROMPTS_DIR) -> dict[str, Prompt]:
    """Every prompt the services need, checked; raises PromptError naming the file."""
    prompts = {path.stem: load_prompt(path) for path in sorted(folder.glob("*.md"))}
    missing = [name for name in REQUIRED if name not in prompts]
    if missing:
        raise PromptError(f"prompts missing from {folder}: {', '.join(missing)}")
    return prompts
