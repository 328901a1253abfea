"""Freeze windows of the policy file, in UTC: cron-like expressions and date ranges.

A cron window is the set of minutes its five fields match (``minute hour day-of-month month
day-of-week``), not the start of a window: ``* 16-23 * * fri`` freezes Fridays from 16:00 to
23:59 UTC, ``* * * * sat,sun`` freezes weekends. Fields take ``*``, numbers, ranges ``a-b``,
steps ``*/n`` and ``a-b/n``, and comma lists; day-of-week 0-7 (0 and 7 are Sunday) or
``sun``-``sat``, month 1-12 or ``jan``-``dec``. As in cron, when both day-of-month and day-of-week
are restricted, a day matching either is frozen.

A date range is ``from`` (inclusive) and ``until``: ``YYYY-MM-DD`` (a whole day: ``until:
2027-01-02`` freezes through January 2) or ``YYYY-MM-DDTHH:MM[:SS]Z`` (an instant, exclusive).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
# (name, lowest, highest, names that stand for numbers starting at ``lowest``)
FIELDS: tuple[tuple[str, int, int, tuple[str, ...]], ...] = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day-of-month", 1, 31, ()),
    ("month", 1, 12, MONTH_NAMES),
    ("day-of-week", 0, 7, DAY_NAMES),
)
DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
INSTANT_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(?::[0-9]{2})?Z", re.ASCII)


class FreezeSyntaxError(ValueError):
    """A cron expression or date that cannot be read; the message says which part and why."""


@dataclass(frozen=True)
class Cron:
    """A parsed cron expression: the allowed values of each field."""

    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday (7 folded into 0)
    days_restricted: bool
    weekdays_restricted: bool

    def matches(self, now: datetime) -> bool:
        now = now.astimezone(timezone.utc)
        weekday = (now.weekday() + 1) % 7  # Python: Monday = 0; cron: Sunday = 0
        if now.minute not in self.minutes or now.hour not in self.hours:
            return False
        if now.month not in self.months:
            return False
        day_ok, weekday_ok = now.day in self.days, weekday in self.weekdays
        if self.days_restricted and self.weekdays_restricted:
            return day_ok or weekday_ok
        return day_ok and weekday_ok


def _value(text: str, name: str, low: int, high: int, names: tuple[str, ...]) -> int:
    lowered = text.lower()
    if lowered in names:
        return low + names.index(lowered)
    if not text.isascii() or not text.isdigit():
        known = f" or a name ({', '.join(names)})" if names else ""
        raise FreezeSyntaxError(f"{name} {text!r} is not a number from {low} to {high}{known}")
    number = int(text)
    if not low <= number <= high:
        raise FreezeSyntaxError(f"{name} {number} is outside {low}-{high}")
    return number


def _field(text: str, name: str, low: int, high: int, names: tuple[str, ...]) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        body, _, step_text = part.partition("/")
        step = 1
        if step_text:
            step = _value(step_text, f"{name} step", 1, high - low + 1, ())
        if body == "*":
            start, end = low, high
        elif "-" in body:
            first, _, last = body.partition("-")
            start, end = (_value(first, name, low, high, names), _value(last, name, low, high, names))
            if start > end:
                raise FreezeSyntaxError(f"{name} range {body!r} runs backwards")
        else:
            start = _value(body, name, low, high, names)
            end = high if step_text else start
        values.update(range(start, end + 1, step))
    return frozenset(values)


def parse_cron(text: str) -> Cron:
    parts = text.split()
    if len(parts) != len(FIELDS):
        raise FreezeSyntaxError(f"{text!r} has {len(parts)} fields; a cron expression has 5: "
                                "minute hour day-of-month month day-of-week")
    sets = [_field(part, *spec) for part, spec in zip(parts, FIELDS, strict=True)]
    weekdays = frozenset(0 if day == 7 else day for day in sets[4])
    return Cron(text, sets[0], sets[1], sets[2], sets[3], weekdays,
                days_restricted=parts[2] != "*", weekdays_restricted=parts[4] != "*")


def parse_instant(text: str, *, end_of_day: bool = False) -> datetime:
    """``YYYY-MM-DD`` (its midnight, or the next one when ``end_of_day``) or an instant in Z."""
    try:
        if DATE_RE.fullmatch(text):
            day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=timezone.utc)
            return day + timedelta(days=1) if end_of_day else day
        if INSTANT_RE.fullmatch(text):
            fmt = "%Y-%m-%dT%H:%M:%SZ" if text.count(":") == 2 else "%Y-%m-%dT%H:%MZ"
            return datetime.strptime(text, fmt).replace(tzinfo=timezone.utc)
    except ValueError as exc:
        raise FreezeSyntaxError(f"{text!r} is not a real date: {exc}") from None
    raise FreezeSyntaxError(f"{text!r} is neither YYYY-MM-DD nor YYYY-MM-DDTHH:MM[:SS]Z (UTC)")


@dataclass(frozen=True)
class Window:
    """One freeze window: a cron expression, or a range [start, end)."""

    reason: str
    where: str  # file:line of the window in the policy file
    cron: Cron | None = None
    start: datetime | None = None
    end: datetime | None = None

    def active(self, now: datetime) -> bool:
        if self.cron is not None:
            return self.cron.matches(now)
        return self.start is not None and self.end is not None and self.start <= now < self.end

    @property
    def shown(self) -> str:
        if self.cron is not None:
            return f"cron '{self.cron.text}'"
        return f"{self.start:%Y-%m-%dT%H:%MZ} to {self.end:%Y-%m-%dT%H:%MZ}"
