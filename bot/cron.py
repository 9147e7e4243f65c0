"""DIGEST_CRON's five cron fields, read when the settings load (a bad expression is a settings error at start)."""

from __future__ import annotations

from datetime import datetime

_MONTHS = {name: n for n, name in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)}
_DAYS = {name: n for n, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}


def _cron_field(text: str, low: int, high: int, names: dict[str, int], what: str) -> set[int]:
    values: set[int] = set()
    for part in text.lower().split(","):
        span, _, step_text = part.partition("/")
        try:
            step = int(step_text) if step_text else 1
            if span in ("*", "?"):
                first, last = low, high
            elif "-" in span:
                a, b = span.split("-", 1)
                first = names[a] if a in names else int(a)
                last = names[b] if b in names else int(b)
            else:
                first = names[span] if span in names else int(span)
                last = high if step_text else first
        except (KeyError, ValueError):
            raise ValueError(f"{what}: cannot read {part!r}") from None
        if step < 1 or not low <= first <= high or not low <= last <= high or first > last:
            raise ValueError(f"{what}: {part!r} is outside {low}-{high}")
        values.update(range(first, last + 1, step))
    return values


class CronSchedule:
    """Five cron fields (minute hour day-of-month month day-of-week; names like MON and JAN; */n, a-b, lists), in
    the server's local time. As in cron, when both day fields are restricted either one matching is enough."""

    def __init__(self, expression: str):
        fields = expression.split()
        if len(fields) != 5:
            raise ValueError("expected five fields: minute hour day-of-month month day-of-week, e.g. '0 8 * * MON'")
        self.expression = " ".join(fields)
        self.minutes = _cron_field(fields[0], 0, 59, {}, "minute")
        self.hours = _cron_field(fields[1], 0, 23, {}, "hour")
        self.days = _cron_field(fields[2], 1, 31, {}, "day of month")
        self.months = _cron_field(fields[3], 1, 12, _MONTHS, "month")
        self.weekdays = {d % 7 for d in _cron_field(fields[4], 0, 7, _DAYS, "day of week")}
        self.any_day = fields[2] in ("*", "?")
        self.any_weekday = fields[4] in ("*", "?")

    def matches(self, when: datetime) -> bool:
        if when.minute not in self.minutes or when.hour not in self.hours or when.month not in self.months:
            return False
        day, weekday = when.day in self.days, when.isoweekday() % 7 in self.weekdays
        if self.any_day or self.any_weekday:
            return day and weekday
        return day or weekday

    @property
    def cadence(self) -> str | None:
        """"daily", "weekly" or "monthly" when the schedule is once a day, week or month at one time; else None (the
        messages then say "digest", never a cadence the schedule does not have)."""
        once_a_day = len(self.minutes) == 1 and len(self.hours) == 1 and len(self.months) == 12
        if not once_a_day:
            return None
        if self.any_day and self.any_weekday:
            return "daily"
        if self.any_day and len(self.weekdays) == 1:
            return "weekly"
        if self.any_weekday and len(self.days) == 1:
            return "monthly"
        return None
