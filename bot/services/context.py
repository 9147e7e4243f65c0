"""What every service needs to know besides the knowledge: who the seller is, its wording, and "today"."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from bot.profile import SellerProfile, load_profile
from bot.wording import Wording, load_all_wording


@dataclass(frozen=True)
class Today:
    """The date "today" means, and why: exports are snapshots, so the clock is the last resort."""

    date: date
    source: str  # profile | setting | newest_record | clock

    def describe(self) -> str:
        return {
            "profile": "as_of in the seller profile",
            "setting": "the AS_OF setting",
            "newest_record": "the date of the newest CRM record",
            "clock": "today's date",
        }[self.source]

    def as_dict(self) -> dict[str, str]:
        return {"date": self.date.isoformat(), "source": self.source}


def resolve_today(*, profile_as_of: date | None, setting_as_of: date | None,
                  newest_record: Callable[[], date | None] | date | None, clock: date | None = None) -> Today:
    """`as_of` in the profile, else the AS_OF setting, else the newest CRM record when it is in the past,
    else the clock. `newest_record` may be a function: it is then asked only when no as_of decides (it reads the
    store)."""
    clock = clock or date.today()
    if profile_as_of:
        return Today(profile_as_of, "profile")
    if setting_as_of:
        return Today(setting_as_of, "setting")
    if callable(newest_record):
        newest_record = newest_record()
    if newest_record and newest_record < clock:
        return Today(newest_record, "newest_record")
    return Today(clock, "clock")


@dataclass(frozen=True)
class Context:
    profile: SellerProfile
    wording: dict[str, Wording]
    today: Today = field(default_factory=lambda: Today(date.today(), "clock"))

    def say(self, output: str, key: str, **values: object) -> str:
        return self.wording[output].say(key, **values)

    def words(self, output: str, name: str) -> tuple[str, ...]:
        return self.wording[output].lists.get(name, ())

    @property
    def date(self) -> date:
        return self.today.date


def default_context(knowledge_path: Path | str | None = None, *, today: date | None = None) -> Context:
    """A context from files alone (tests, the assistant pane's defaults): the profile beside the knowledge,
    the wording files, and `today` or the clock."""
    profile = load_profile(Path(knowledge_path) if knowledge_path else None)
    return Context(profile, load_all_wording(),
                   Today(today, "setting") if today else Today(date.today(), "clock"))
