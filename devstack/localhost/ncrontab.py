"""NCRONTAB schedules as Azure Functions timer triggers use them: six fields, seconds first, UTC.

    {second} {minute} {hour} {day} {month} {day-of-week}

Each field takes `*`, a value, a range `a-b`, a step `*/n` or `a-b/n`, and comma lists; months and
days of the week also take their English three-letter names. A day is due when both the day of
month and the day of week match, as in NCrontab. The TimeSpan form `hh:mm:ss` (an interval, as App
Service plans accept) is supported too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

_MONTHS = {name: i + 1 for i, name in enumerate(
    ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"])}
_DAYS = {name: i for i, name in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])}
_FIELDS = (  # name, low, high, names
    ("second", 0, 59, {}), ("minute", 0, 59, {}), ("hour", 0, 23, {}),
    ("day", 1, 31, {}), ("month", 1, 12, _MONTHS), ("day-of-week", 0, 7, _DAYS),
)
_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})$")


class ScheduleError(ValueError):
    """The schedule expression cannot be parsed."""


def _value(text: str, low: int, high: int, names: dict[str, int], field: str) -> int:
    number = names.get(text.upper()) if not text.isdigit() else int(text)
    if number is None or not low <= number <= high:
        raise ScheduleError(f"{field}: {text!r} is not in {low}-{high}")
    return number


def _parse_field(text: str, low: int, high: int, names: dict[str, int], field: str) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise ScheduleError(f"{field}: bad step in {part!r}")
            step = int(step_text)
        if base == "*":
            start, end = low, high
        elif "-" in base:
            first, _, last = base.partition("-")
            start, end = _value(first, low, high, names, field), _value(last, low, high, names, field)
            if start > end:
                raise ScheduleError(f"{field}: empty range {part!r}")
        else:
            start = _value(base, low, high, names, field)
            end = high if step_text else start
        values.update(range(start, end + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class CronSchedule:
    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday

    def next_after(self, moment: datetime) -> datetime:
        """The first due second strictly after moment (naive or aware; the result keeps its tzinfo)."""
        t = moment.replace(microsecond=0) + timedelta(seconds=1)
        limit = t.replace(year=t.year + 5) if not (t.month == 2 and t.day == 29) else t + timedelta(days=5 * 366)
        while t < limit:
            if t.month not in self.months:
                t = (t.replace(day=1, hour=0, minute=0, second=0) + timedelta(days=32)).replace(day=1)
            elif t.day not in self.days or (t.weekday() + 1) % 7 not in self.weekdays:
                t = t.replace(hour=0, minute=0, second=0) + timedelta(days=1)
            elif t.hour not in self.hours:
                t = t.replace(minute=0, second=0) + timedelta(hours=1)
            elif t.minute not in self.minutes:
                t = t.replace(second=0) + timedelta(minutes=1)
            elif t.second not in self.seconds:
                t += timedelta(seconds=1)
            else:
                return t
        raise ScheduleError("the schedule never fires")


@dataclass(frozen=True)
class IntervalSchedule:
    interval: timedelta

    def next_after(self, moment: datetime) -> datetime:
        return moment + self.interval


def parse_schedule(expression: str) -> CronSchedule | IntervalSchedule:
    text = expression.strip()
    span = _TIMESPAN.match(text)
    if span:
        days, hours, minutes, seconds = (int(g) if g else 0 for g in span.groups())
        interval = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
        if interval <= timedelta(0):
            raise ScheduleError(f"{expression!r}: the interval must be positive")
        return IntervalSchedule(interval)
    parts = text.split()
    if len(parts) != 6:
        raise ScheduleError(f"{expression!r}: NCRONTAB needs six fields (second minute hour day month day-of-week)")
    fields = [_parse_field(part, low, high, names, name)
              for part, (name, low, high, names) in zip(parts, _FIELDS, strict=True)]
    weekdays = frozenset(day % 7 for day in fields[5])  # 7 is Sunday too
    return CronSchedule(*fields[:5], weekdays)
