"""The composer's wording: sentences as files in prompts/composer/, one file per output.

Each file declares the variables its templates may use and maps a name to a template written as a
Python format string. Loading fails at start when a template uses an undeclared variable, and
`say` fails when a caller leaves one out, so wording and code cannot drift apart silently.
The grammar helpers (articles, plurals, lists) live here so every template gets them right.
"""

from __future__ import annotations

import functools
import re
import string
from dataclasses import dataclass
from pathlib import Path

import yaml

from bot.prompts import PROMPTS_DIR

COMPOSER_DIR = PROMPTS_DIR / "composer"
REQUIRED = ("brief", "draft", "campaign", "triage", "assistant", "digest")


class WordingError(ValueError):
    """A wording file whose templates do not match its declared variables."""


_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Wording:
    name: str
    variables: frozenset[str]
    templates: dict[str, str]
    lists: dict[str, tuple[str, ...]]

    def say(self, key: str, **values: object) -> str:
        template = self.templates.get(key)
        if template is None:
            raise WordingError(f"{self.name}.yaml has no template '{key}'")
        missing = _fields(template) - set(values)
        if missing:
            raise WordingError(f"{self.name}.yaml '{key}': no value for {sorted(missing)}")
        text = template.format(**{k: "" if v is None else v for k, v in values.items()})
        # folded YAML leaves runs of spaces; a template's own leading space (" — meanwhile") is kept
        return _SPACES.sub(" ", text) if "\n" not in template else text.strip()

    def has(self, key: str) -> bool:
        return key in self.templates


@functools.lru_cache(maxsize=4096)
def _fields(template: str) -> frozenset[str]:
    return frozenset(name for _, name, _, _ in string.Formatter().parse(template) if name)


def load_wording(name: str, folder: Path = COMPOSER_DIR) -> Wording:
    path = folder / f"{name}.yaml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise WordingError(f"{path}: cannot read ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("templates"), dict):
        raise WordingError(f"{path}: expected `variables:` and `templates:`")
    declared = frozenset(data.get("variables") or [])
    templates = {str(k): str(v) for k, v in data["templates"].items()}
    for key, template in templates.items():
        try:
            used = _fields(template)
        except ValueError as exc:
            raise WordingError(f"{path}: template '{key}' is not a valid format string ({exc})") from None
        undeclared = used - declared
        if undeclared:
            raise WordingError(f"{path}: template '{key}' uses undeclared {sorted(undeclared)}")
    lists = {str(k): tuple(str(x) for x in (v or [])) for k, v in (data.get("lists") or {}).items()}
    return Wording(name, declared, templates, lists)


def load_all_wording(folder: Path = COMPOSER_DIR) -> dict[str, Wording]:
    return {name: load_wording(name, folder) for name in REQUIRED}


# ------------------------------------------------------------------ grammar

_VOWEL_SOUND_LETTERS = set("AEFHILMNORSX")  # letters read as a vowel sound when spelled: "an FP&A", "an SVP"
_CONSONANT_SOUND_WORDS = ("uni", "use", "usu", "euro", "one", "once", "ubiq")
_SILENT_H = ("hour", "honest", "honour", "honor", "heir")


def article(phrase: str) -> str:
    """'a' or 'an' for the phrase that follows: 'an HR director', 'a CFO', 'an operations leader'."""
    word = phrase.strip().split(" ")[0] if phrase.strip() else ""
    if not word:
        return "a"
    letters = re.sub(r"[^A-Za-z]", "", word)
    if letters.isupper() and 1 < len(letters) <= 5:  # an acronym, read letter by letter
        return "an" if letters[0] in _VOWEL_SOUND_LETTERS else "a"
    lower = word.lower()
    if lower.startswith(_CONSONANT_SOUND_WORDS):
        return "a"
    if lower.startswith(_SILENT_H) or lower[:1] in "aeiou":
        return "an"
    return "a"


def with_article(phrase: str) -> str:
    return f"{article(phrase)} {phrase}"


_FOREIGN = re.compile(r" (de|des|du|der|die|für|del|la|le|directeur|directrice|leiter|leiterin|jefe|jefa|"
                      r"responsable|gerente|geschäftsführer|geschaftsfuhrer|financier|financière|financiero|"
                      r"financiera|kaufmännischer) ")
_HEAD_WORDS = ("vp", "svp", "evp", "avp", "head", "director", "manager", "officer", "chief", "lead", "leader",
               "president", "partner", "owner", "controller", "buyer", "analyst", "specialist", "engineer")
_INVARIANT = {"staff", "personnel", "people"}


def plural_noun(word: str) -> str:
    """One English noun or acronym: 'CFO' -> 'CFOs', 'VP' -> 'VPs', 'Secretary' -> 'Secretaries'."""
    letters = re.sub(r"[^A-Za-z]", "", word)
    if not letters:
        return word
    if letters.isupper() and len(letters) <= 5:
        return word + "s"
    lower = word.lower()
    if lower in _INVARIANT:
        return word
    if lower.endswith(("s", "sh", "ch", "x", "z")):
        return word + "es"
    if lower.endswith("y") and lower[-2:-1] not in tuple("aeiou"):
        return word[:-1] + "ies"
    return word + "s"


def plural_role(role: str) -> str:
    """A job title in the plural, pluralising its head noun, not its last word.

    'CFO' -> 'CFOs'; 'VP Operations' -> 'VPs of Operations'; 'Head of Procurement' -> 'Heads of Procurement';
    'Chief Financial Officer' -> 'Chief Financial Officers'; 'IT Director' -> 'IT Directors'.
    """
    words = role.split()
    if not words:
        return role
    if _FOREIGN.search(f" {role.lower()} "):  # "Directeur financier": no English plural to give
        return f"people in the {role} role"
    folded = [w.lower().strip(",") for w in words]
    # a head word followed by its function: "VP Operations", "Head of People", "Director of Finance"
    if folded[0] in _HEAD_WORDS and len(words) > 1:
        rest = words[1:]
        if rest[0].lower() not in ("of", "for", "de"):
            rest = ["of", *rest] if folded[0] in ("vp", "svp", "evp", "avp", "head") else rest
            if folded[0] not in ("vp", "svp", "evp", "avp", "head"):
                return " ".join(words[:-1] + [plural_noun(words[-1])])
        return " ".join([plural_noun(words[0]), *rest])
    if "of" in folded:  # "Director of Finance" handled above; "Chief of Staff" -> "Chiefs of Staff"
        at = folded.index("of")
        return " ".join(words[:at - 1] + [plural_noun(words[at - 1])] + words[at:])
    return " ".join(words[:-1] + [plural_noun(words[-1])])


def count_noun(count: int, singular: str, plural: str | None = None) -> str:
    return f"{count} {singular if count == 1 else (plural or plural_noun(singular))}"
