from datetime import UTC, datetime, timedelta

import pytest

from devstack.localhost.ncrontab import ScheduleError, parse_schedule

T0 = datetime(2026, 11, 27, 8, 0, 0, 500000, tzinfo=UTC)  # a Friday


@pytest.mark.parametrize(("expression", "expected"), [
    ("* * * * * *", datetime(2026, 11, 27, 8, 0, 1, tzinfo=UTC)),
    ("*/15 * * * * *", datetime(2026, 11, 27, 8, 0, 15, tzinfo=UTC)),
    ("0 */5 * * * *", datetime(2026, 11, 27, 8, 5, 0, tzinfo=UTC)),
    ("0 30 9 * * *", datetime(2026, 11, 27, 9, 30, 0, tzinfo=UTC)),
    ("0 0 2 * * *", datetime(2026, 11, 28, 2, 0, 0, tzinfo=UTC)),
    ("0 30 9 * * 1-5", datetime(2026, 11, 27, 9, 30, 0, tzinfo=UTC)),
    ("0 0 9 * * MON", datetime(2026, 11, 30, 9, 0, 0, tzinfo=UTC)),
    ("0 0 0 1 JAN *", datetime(2027, 1, 1, 0, 0, 0, tzinfo=UTC)),
    ("0 0 0 29 2 *", datetime(2028, 2, 29, 0, 0, 0, tzinfo=UTC)),
    ("5,10 0 8 * * *", datetime(2026, 11, 27, 8, 0, 5, tzinfo=UTC)),
    ("0 0 0 * * 0", datetime(2026, 11, 29, 0, 0, 0, tzinfo=UTC)),
    ("0 0 0 * * 7", datetime(2026, 11, 29, 0, 0, 0, tzinfo=UTC)),
])
def test_next_occurrence(expression, expected):
    assert parse_schedule(expression).next_after(T0) == expected


def test_occurrences_are_strictly_after_the_moment():
    schedule = parse_schedule("0 0 * * * *")
    at = datetime(2026, 11, 27, 8, 0, 0, tzinfo=UTC)
    assert schedule.next_after(at) == at + timedelta(hours=1)


def test_timespan_form_is_an_interval():
    assert parse_schedule("00:05:00").next_after(T0) == T0 + timedelta(minutes=5)


@pytest.mark.parametrize("expression", [
    "* * * * *",  # five fields: classic cron, not NCRONTAB
    "60 * * * * *",
    "* * 24 * * *",
    "* * * 0 * *",
    "* * * * 13 *",
    "* * * * * 8",
    "*/0 * * * * *",
    "5-1 * * * * *",
    "0 0 0 31 2 *",  # never due
    "00:00:00",
])
def test_bad_schedules_are_rejected(expression):
    with pytest.raises(ScheduleError):
        parse_schedule(expression).next_after(T0)
