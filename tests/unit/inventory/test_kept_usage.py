"""Which daily close's kept usage may serve a stale-stock list: recent enough (a week), and
late enough that a part first asked for after it has no full history in the list's window."""

from __future__ import annotations

from datetime import date, timedelta

from services.inventory.domain.stale import (
    KEPT_USAGE_MAX_AGE_DAYS,
    StaleRule,
    kept_usage_since,
    usage_window,
)


def test_the_default_window_takes_a_close_up_to_a_week_old() -> None:
    first, last = usage_window(date(2027, 2, 10), StaleRule())
    assert KEPT_USAGE_MAX_AGE_DAYS == 7
    assert kept_usage_since(first, last) == date(2027, 2, 4)  # 4th..10th: seven closes


def test_yesterday_s_close_serves_today() -> None:
    first, last = usage_window(date(2027, 2, 10), StaleRule())
    assert kept_usage_since(first, last, max_age=2) == date(2027, 2, 9)


def test_a_short_window_takes_no_close_before_the_day_before_it_began() -> None:
    # 3 days: 8th..10th. A close of the 6th kept nothing of a part first asked for on the
    # 7th, which has a full history on the 10th (asked for before the 8th).
    first, last = usage_window(date(2027, 2, 10), StaleRule(usage_days=3))
    assert first == date(2027, 2, 8)
    assert kept_usage_since(first, last) == first - timedelta(days=1)
