"""Overstock (stale stock's second criterion, domain.md: "far more than the store uses"):
on hand beyond what the store uses in the cover period, at its pace over the look-back
window, judged only on a full window of usage history; an idle position is stale whole."""

from __future__ import annotations

from datetime import date

from services.inventory.domain.stale import (
    DEFAULT_COVER_DAYS,
    DEFAULT_USAGE_DAYS,
    StaleRule,
    cover_quantity,
    judge,
    usage_window,
)

RULE = StaleRule()  # 90 days idle, 90 days of use, 180 days of cover


def test_the_defaults_cover_twice_the_look_back_window() -> None:
    assert (DEFAULT_USAGE_DAYS, DEFAULT_COVER_DAYS) == (90, 180)
    assert (RULE.min_idle_days, RULE.usage_days, RULE.cover_days) == (90, 90, 180)


def test_the_cover_is_the_window_s_pace_over_the_cover_days_rounded_up_to_whole_units() -> None:
    assert cover_quantity(issued=9, rule=RULE) == 18  # 0.1 a day, 180 days
    assert cover_quantity(issued=1, rule=StaleRule(cover_days=100)) == 2  # 1.11 units: 2
    assert cover_quantity(issued=0, rule=RULE) == 0


def test_stock_beyond_the_cover_is_overstock_and_only_the_excess_is_stale() -> None:
    # given 30 issued in 90 days (a unit every 3 days): 180 days need 60
    judged = judge(on_hand=75, idle=False, issued=30, full_history=True, rule=RULE)
    assert (judged.overstock, judged.idle, judged.quantity) == (True, False, 15)
    assert judged.cover == 60


def test_exactly_the_cover_is_not_overstock() -> None:
    judged = judge(on_hand=60, idle=False, issued=30, full_history=True, rule=RULE)
    assert (judged.overstock, judged.quantity) == (False, 0)
    one_more = judge(on_hand=61, idle=False, issued=30, full_history=True, rule=RULE)
    assert (one_more.overstock, one_more.quantity) == (True, 1)


def test_no_use_over_a_full_window_makes_all_the_stock_overstock() -> None:
    # The store used to fit it, has fitted none for 90 days, and received more lately.
    judged = judge(on_hand=8, idle=False, issued=0, full_history=True, rule=RULE)
    assert (judged.overstock, judged.quantity, judged.cover) == (True, 8, 0)


def test_a_short_history_is_not_judged_overstock_whatever_the_stock() -> None:
    # A part new at the store, or a store new to the network: its pace is not known yet.
    for issued in (0, 1):
        judged = judge(on_hand=500, idle=False, issued=issued, full_history=False, rule=RULE)
        assert (judged.overstock, judged.quantity, judged.stale) == (False, 0, False)


def test_an_idle_position_is_stale_whole_and_says_when_it_is_overstock_too() -> None:
    idle = judge(on_hand=6, idle=True, issued=0, full_history=False, rule=RULE)
    assert (idle.idle, idle.overstock, idle.quantity, idle.stale) == (True, False, 6, True)
    both = judge(on_hand=6, idle=True, issued=0, full_history=True, rule=RULE)
    assert (both.idle, both.overstock, both.quantity) == (True, True, 6)


def test_nothing_on_hand_is_never_stale() -> None:
    judged = judge(on_hand=0, idle=True, issued=0, full_history=True, rule=RULE)
    assert (judged.idle, judged.overstock, judged.quantity, judged.stale) == (
        False,
        False,
        0,
        False,
    )


def test_the_window_is_the_last_usage_days_business_days_the_day_included() -> None:
    assert usage_window(date(2026, 11, 2), RULE) == (date(2026, 8, 5), date(2026, 11, 2))
    assert usage_window(date(2026, 11, 2), StaleRule(usage_days=1)) == (
        date(2026, 11, 2),
        date(2026, 11, 2),
    )
