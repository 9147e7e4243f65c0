"""The seller profile: who sells what to whom, read from `knowledge/seller.yaml`.

Everything that depends on the seller (personas and their outcomes, products, trigger phrases,
stages, thresholds) is data in that file; this module is the mechanism that reads, validates and
merges it over the generic defaults in `bot/defaults/seller.yaml`. Where the file or a key is
missing, what the content says fills in (persona documents' front matter, the product overview's
module names).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.knowledge.accounts import fold

if TYPE_CHECKING:
    from bot.knowledge.titles import TitleReader

DEFAULTS = Path(__file__).with_name("defaults") / "seller.yaml"
PROFILE_NAME = "seller.yaml"
Role = Literal["economic_buyer", "functional_executive", "technical", "procurement", "user"]
_IDENT = re.compile(r"^[a-z][a-z0-9_]*$")


class ProfileError(ValueError):
    """A bad seller profile: names the file, the line and the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Persona(_Strict):
    name: str = Field(min_length=1)
    role: Role = "functional_executive"
    functions: tuple[str, ...] = ()
    outcomes: tuple[str, ...] = ()
    titles: tuple[str, ...] = ()  # other ways the CRM writes this role ("Directeur financier")
    industries: tuple[str, ...] = ()

    @field_validator("functions")
    @classmethod
    def _identifiers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            if not _IDENT.match(item):
                raise ValueError(f"function '{item}' must be a lower-case identifier like supply_chain")
        return value

    def filled_by(self, level: str, function: str) -> bool:
        """The one definition of who sits in this persona's seat: its function, at the seniority its role
        needs (an economic buyer is an executive or a VP; the others may be directors)."""
        if function not in self.functions:
            return False
        if self.role == "economic_buyer":
            return level in ("executive", "vp")
        return level in ("executive", "vp", "director")

    @property
    def headline(self) -> str:
        """The first outcome: what a one-line opener talks about."""
        return self.outcomes[0] if self.outcomes else "the outcomes they own"

    def outcomes_text(self) -> str:
        return join_words(list(self.outcomes)) or "the outcomes they own"


class TriggerKind(_Strict):
    label: str = ""
    phrases: tuple[str, ...] = ()


class Thresholds(_Strict):
    score: float = Field(ge=0)
    page_views: float = Field(ge=0)
    form_submissions: float = Field(ge=0)


class Engagement(_Strict):
    window_days: int = Field(default=90, ge=1, le=3650)
    hot: Thresholds = Thresholds(score=70, page_views=25, form_submissions=3)
    warm: Thresholds = Thresholds(score=40, page_views=8, form_submissions=1)
    two_way: tuple[str, ...] = ()
    one_way: tuple[str, ...] = ()
    one_way_notes: tuple[str, ...] = ()
    marketing: tuple[str, ...] = ()
    attendees: tuple[str, ...] = ()

    def is_two_way(self, activity_type: str) -> bool:
        """A meeting, call or email exchange is engagement; a note, task, web visit or webinar is not."""
        folded = fold(activity_type)
        if phrase_pattern((*self.one_way, *self.marketing)).search(folded):
            return False
        return bool(phrase_pattern(self.two_way).search(folded))

    def is_marketing(self, activity_type: str) -> bool:
        return bool(phrase_pattern(self.marketing).search(fold(activity_type)))

    def attendees_in(self, notes: str) -> str:
        """The text after 'Attendees:' (in any language the profile lists), '' when there is none."""
        match = _attendee_list(self.attendees).search(notes)
        return match.group(1) if match else ""


class Stages(_Strict):
    won: tuple[str, ...] = ()
    lost: tuple[str, ...] = ()
    open: tuple[str, ...] = ()


class Relationship(_Strict):
    renewal: tuple[str, ...] = ()
    risk: tuple[str, ...] = ()
    negotiation: tuple[str, ...] = ()


class Digest(_Strict):
    """What the weekly digest and the alerts call stalled, new and how much fits in one message."""

    stalled_days: int = Field(default=21, ge=1, le=3650)  # an open deal with no activity for this long is stalled
    lookback_days: int = Field(default=7, ge=1, le=365)  # "new" before any digest was sent: this many days back
    max_items: int = Field(default=30, ge=1, le=40)  # lines in one digest message (Slack allows 50 blocks)


class SellerProfile(_Strict):
    seller: str = ""
    offer: str = ""
    as_of: date | None = None
    industries: tuple[str, ...] = ()
    functions: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    buying_functions: tuple[str, ...] = ()
    personas: tuple[Persona, ...] = ()
    products: tuple[str, ...] = ()
    features: tuple[str, ...] = ()
    triggers: dict[str, TriggerKind] = Field(default_factory=dict)
    engagement: Engagement = Engagement()
    stages: Stages = Stages()
    relationship: Relationship = Relationship()
    digest: Digest = Digest()
    source: str = Field(default="defaults", exclude=True)  # where it was read from, for messages

    @field_validator("triggers", mode="before")
    @classmethod
    def _trigger_lists(cls, value: Any) -> Any:
        """`kind: [phrases]` (the short form) or `kind: {label, phrases}`."""
        if isinstance(value, Mapping):
            return {k: ({"phrases": v} if isinstance(v, (list, tuple)) else v) for k, v in value.items()}
        return value

    @field_validator("functions", "triggers")
    @classmethod
    def _identifier_keys(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            if not _IDENT.match(key):
                raise ValueError(f"'{key}' must be a lower-case identifier like supply_chain")
        return value

    @model_validator(mode="after")
    def _known_functions(self) -> "SellerProfile":
        from bot.knowledge.titles import FUNCTIONS

        known = set(FUNCTIONS) | set(self.functions)
        for name in self.buying_functions:
            if name not in known:
                raise ValueError(f"buying_functions: '{name}' is not a known function "
                                 f"(add it under `functions:` with the title words that mean it)")
        return self

    # ------------------------------------------------------------ one definition per concept

    def personas_for(self, function: str) -> list[Persona]:
        return [p for p in self.personas if function in p.functions]

    def persona_for(self, function: str, *, industry: str | None = None) -> Persona | None:
        """The persona a person of this function is addressed as (first in the profile's priority order)."""
        found = self.personas_for(function)
        if industry:
            fitting = [p for p in found if not p.industries or _mentions(p.industries, industry)]
            found = fitting or found
        return found[0] if found else None

    def persona_named(self, text: str) -> Persona | None:
        """'cfo', 'Chief Financial Officer' or one of the persona's titles."""
        wanted = fold(text)
        for persona in self.personas:
            if wanted in {fold(persona.name), *(fold(t) for t in persona.titles)}:
                return persona
        return None

    @cached_property
    def _persona_ranks(self) -> dict[str, int]:
        ranks: dict[str, int] = {}
        for rank, persona in enumerate(self.personas):
            for function in persona.functions:
                ranks.setdefault(function, rank)
        return ranks

    def persona_rank(self, function: str) -> int:
        """The rank of the first persona covering this function, in the profile's priority order."""
        return self._persona_ranks.get(function, len(self.personas))

    def is_economic_buyer(self, level: str, function: str) -> bool:
        return any(p.filled_by(level, function) for p in self.economic_buyers())

    def is_buying_function(self, function: str) -> bool:
        return function in self.buying_functions

    def economic_buyers(self) -> list[Persona]:
        return [p for p in self.personas if p.role == "economic_buyer"]

    def economic_buyer_roles(self) -> str:
        """'the CFO or the CEO': whom to find when nobody senior is on file."""
        return join_words([f"the {p.name}" for p in self.economic_buyers()], "or") or "the executive who owns the budget"

    def role_to_find(self, function: str) -> str:
        """'the CFO' for a finance person; the economic buyer when no persona covers the function."""
        personas = self.personas_for(function)
        if personas:
            return join_words([f"the {p.name}" for p in personas[:2]], "or")
        return self.economic_buyer_roles()

    def trigger_label(self, kind: str) -> str:
        trigger = self.triggers.get(kind)
        return trigger.label if trigger and trigger.label else "the " + kind.replace("_", " ")

    @cached_property
    def trigger_patterns(self) -> tuple[tuple[str, re.Pattern[str]], ...]:
        return tuple((kind, phrase_pattern(t.phrases)) for kind, t in self.triggers.items() if t.phrases)

    @cached_property
    def titles(self) -> "TitleReader":
        from bot.knowledge.titles import TitleReader

        return TitleReader(self.functions, self.buying_functions)

    @cached_property
    def _stage_patterns(self) -> tuple[tuple[str, re.Pattern[str]], ...]:
        return (("won", phrase_pattern(self.stages.won)), ("lost", phrase_pattern(self.stages.lost)),
                ("open", phrase_pattern(self.stages.open)))

    def stage_state(self, stage: str) -> str | None:
        """'won', 'lost' or 'open' for a stage the profile knows, else None."""
        folded = fold(stage)
        for state, pattern in self._stage_patterns:
            if pattern.search(folded):
                return state
        return None

    def stage_known(self, stage: str) -> bool:
        return self.stage_state(stage) is not None

    @cached_property
    def fingerprint(self) -> str:
        """What ingested documents depend on: title vocabulary and stages (a change re-ingests)."""
        import hashlib

        return hashlib.sha1(repr((self.titles.fingerprint, self.stages)).encode()).hexdigest()[:8]

    @cached_property
    def product_patterns(self) -> re.Pattern[str] | None:
        names = [*self.products, *self.features]
        return phrase_pattern(names) if names else None


# ------------------------------------------------------------------ matching phrases in any language

def phrase_pattern(phrases: Iterable[str]) -> re.Pattern[str]:
    """Whole-word, case- and accent-insensitive alternation over folded text (see `fold`).

    Compiled once per list of phrases: the profile's lists are tuples, so callers can ask on every use.
    """
    return _phrase_pattern(tuple(phrases))


@lru_cache(maxsize=256)
def _phrase_pattern(phrases: tuple[str, ...]) -> re.Pattern[str]:
    folded = sorted({fold(p) for p in phrases if fold(p)}, key=len, reverse=True)
    if not folded:
        return re.compile(r"(?!x)x")
    return re.compile(r"\b(" + "|".join(re.escape(p) for p in folded) + r")\b")


@lru_cache(maxsize=16)
def _attendee_list(markers: tuple[str, ...]) -> re.Pattern[str]:
    words = "|".join(re.escape(m) for m in sorted(set(markers), key=len, reverse=True)) or r"(?!x)x"
    return re.compile(rf"\b(?:{words})\s*:\s*([^.;\n]+)", re.IGNORECASE)


def _mentions(values: Iterable[str], text: str) -> bool:
    folded = fold(text)
    return any(fold(v) and (fold(v) in folded or folded in fold(v)) for v in values)


def join_words(items: list[str], conjunction: str = "and") -> str:
    """['a'] -> 'a'; ['a', 'b'] -> 'a and b'; ['a', 'b', 'c'] -> 'a, b and c'."""
    items = [i for i in items if i]
    if len(items) <= 1:
        return items[0] if items else ""
    return f"{', '.join(items[:-1])} {conjunction} {items[-1]}"


# ------------------------------------------------------------------ loading

def _yaml_lines(text: str) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """The line (1-based) of the key at `loc` in the composed YAML, as deep as it goes."""
    line = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next(((k, v) for k, v in node.value if k.value == part), None)
            if match is None:
                break
            line = match[0].start_mark.line + 1
            node = match[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _read_yaml(path: Path) -> tuple[dict[str, Any], str]:
    text = path.read_text(encoding="utf-8-sig")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ProfileError(f"{where}: not valid YAML ({problem})") from None
    if data is None:
        return {}, text
    if not isinstance(data, dict):
        raise ProfileError(f"{path}:1: the seller profile must be a mapping of keys (seller:, personas:, …)")
    return data, text


_ADDITIVE = {"functions", "triggers"}
_ADDITIVE_NESTED = {"stages", "relationship"}


def _merge(defaults: dict[str, Any], own: dict[str, Any]) -> dict[str, Any]:
    """The team's keys replace the defaults', except phrase vocabularies, which extend them."""
    merged = dict(defaults)
    for key, value in own.items():
        base = defaults.get(key)
        if key in _ADDITIVE and isinstance(value, dict) and isinstance(base, dict):
            combined = dict(value)  # the team's kinds first: they are its priority order
            for kind, extra in base.items():
                if kind in combined:
                    combined[kind] = _extend(combined[kind], extra)
                else:
                    combined[kind] = extra
            merged[key] = combined
        elif key in _ADDITIVE_NESTED and isinstance(value, dict) and isinstance(base, dict):
            merged[key] = {k: [*(value.get(k) or []), *(base.get(k) or [])] for k in {*base, *value}}
        elif key in ("engagement", "digest") and isinstance(value, dict) and isinstance(base, dict):
            merged[key] = {**base, **value}
        else:
            merged[key] = value
    return merged


def _extend(own: Any, base: Any) -> Any:
    def phrases(value: Any) -> list[str]:
        if isinstance(value, dict):
            return list(value.get("phrases") or [])
        return list(value or [])

    label = own.get("label") if isinstance(own, dict) else None
    base_label = base.get("label") if isinstance(base, dict) else None
    return {"label": label or base_label or "", "phrases": [*phrases(own), *phrases(base)]}


def load_profile(knowledge_path: Path | None) -> SellerProfile:
    """The profile beside the knowledge (if any) over the generic defaults; fails with file, line and key.

    The content library is read only for the keys the profile leaves out (personas, industries, products).
    """
    defaults, _ = _read_yaml(DEFAULTS)
    path = (knowledge_path / PROFILE_NAME) if knowledge_path else None
    own: dict[str, Any] = {}
    text = ""
    if path is not None and path.is_file():
        own, text = _read_yaml(path)
    merged = defaults
    if knowledge_path is not None and not {"personas", "industries", "products"} <= own.keys():
        merged = _merge(defaults, content_hints(knowledge_path).as_profile_keys(own, defaults))
    merged = _merge(merged, own)
    try:
        return SellerProfile.model_validate({**merged, "source": str(path) if own else "defaults"})
    except ValidationError as exc:
        raise ProfileError(_describe(exc, path, text)) from None


def _describe(exc: ValidationError, path: Path | None, text: str) -> str:
    error = exc.errors()[0]
    loc = tuple(error["loc"])
    key = ".".join(str(part) for part in loc) or "(top level)"
    node = _yaml_lines(text) if text else None
    named = re.match(r"(?:Value error, )?'([^']+)'", error["msg"])
    # a bad key inside a mapping ("'Supply Chain' must be ...") points at that key's own line
    line = _line_of(node, (*loc, named.group(1))) if named else _line_of(node, loc)
    where = f"{path}:{line}" if path and line else str(path or DEFAULTS)
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key (see the seller profile section of the README)"
    return f"{where}: {key}: {message}"


# ------------------------------------------------------------------ what the content says

@dataclass
class ContentHints:
    """Facts the content library states about the seller, used where the profile says nothing."""

    personas: dict[str, set[str]] = field(default_factory=dict)  # persona name -> industries
    industries: set[str] = field(default_factory=set)
    products: list[str] = field(default_factory=list)

    def as_profile_keys(self, own: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
        keys: dict[str, Any] = {}
        if "industries" not in own and self.industries:
            keys["industries"] = sorted(self.industries)
        if "products" not in own and self.products:
            keys["products"] = self.products
        if "personas" not in own and self.personas:
            generic = {fold(p["name"]): p for p in defaults.get("personas", [])}
            keys["personas"] = [_persona_from_name(name, industries, generic.get(fold(name)))
                                for name, industries in self.personas.items()]
        return keys


_ROLE_OF_FUNCTION = {"finance": "economic_buyer", "general_management": "economic_buyer", "it": "technical",
                     "procurement": "procurement"}


def _persona_from_name(name: str, industries: set[str], generic: dict[str, Any] | None) -> dict[str, Any]:
    """A persona document names a role ("CFO", "VP Operations"): the generic persona of that name, else
    its function read by the title reader."""
    if generic:
        return {**generic, "name": name, "industries": sorted(industries)}
    from bot.knowledge.titles import classify_title

    info = classify_title(name)
    role = _ROLE_OF_FUNCTION.get(info.function, "functional_executive")
    if role == "economic_buyer" and info.level != "executive":
        role = "functional_executive"
    return {"name": name, "role": role, "functions": [info.function] if info.function != "other" else [],
            "industries": sorted(industries)}


def content_hints(knowledge_path: Path | None) -> ContentHints:
    """Persona documents' front matter (`personas`, `industries`) and the product overview's module names.

    Read from the files beside the profile, so a team with no seller.yaml still gets its own personas.
    """
    hints = ContentHints()
    folder = knowledge_path / "content" if knowledge_path else None
    if folder is None or not folder.is_dir():
        return hints
    from bot.knowledge.content import (
        guess_type,
        load_front_matter,
        module_names,
        normalize_type,
    )

    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        if path.suffix.lower() in (".md", ".markdown"):
            front = load_front_matter(path)
            industries = _listed(front.get("industries"))
            hints.industries.update(industries)
            if normalize_type(front.get("type") or guess_type(path)) == "persona":
                for name in _listed(front.get("personas")):
                    hints.personas.setdefault(name, set()).update(industries)
        if guess_type(path) == "product":
            hints.products.extend(n for n in module_names(path) if n not in hints.products)
    return hints


def _listed(value: object) -> list[str]:
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if str(v).strip()]
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return []
