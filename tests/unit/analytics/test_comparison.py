"""The four comparison views: horizontal, vertical, benchmark and structure."""

from __future__ import annotations

from fractions import Fraction

from services.analytics.domain.comparison import (
    ServiceLine,
    Trend,
    benchmark,
    horizontal,
    structure,
    vertical,
)
from services.analytics.domain.indicators import Direction
from services.analytics.domain.periods import Period

UP = Direction.HIGHER_IS_BETTER
DOWN = Direction.LOWER_IS_BETTER
P = Fraction


def test_horizontal_gives_the_group_average_best_and_worst_by_direction() -> None:
    csi = {"SZ01": P(88), "GZ01": P(92), "DG01": P(80)}
    view = horizontal(UP, csi)
    assert view is not None
    assert view.average == P(260, 3)
    assert (view.best.store_id, view.worst.store_id) == ("GZ01", "DG01")
    assert [s.store_id for s in view.stores] == ["GZ01", "SZ01", "DG01"]
    assert view.stores[0].gap_to_average == P(92) - P(260, 3)
    complaints = horizontal(DOWN, {"SZ01": P(8, 100), "GZ01": P(3, 100)})
    assert complaints is not None
    assert (complaints.best.store_id, complaints.worst.store_id) == ("GZ01", "SZ01")


def test_horizontal_ties_go_to_the_lower_store_id() -> None:
    view = horizontal(UP, {"B": P(1), "A": P(1)})
    assert view is not None
    assert (view.best.store_id, view.worst.store_id) == ("A", "A")
    assert horizontal(UP, {}) is None


def test_vertical_shows_each_month_change_and_the_trend() -> None:
    series = [(Period.month(2026, m), P(v)) for m, v in ((9, 88), (10, 85), (11, 86))]
    view = vertical(UP, series)
    assert view is not None
    assert [s.change for s in view.steps] == [None, P(-3), P(1)]
    assert [s.trend for s in view.steps] == [None, Trend.WORSENING, Trend.IMPROVING]
    assert view.trend == Trend.WORSENING
    rising_complaints = vertical(
        DOWN, [(Period.month(2026, 10), P(3)), (Period.month(2026, 11), P(5))]
    )
    assert rising_complaints is not None and rising_complaints.trend == Trend.WORSENING


def test_benchmark_gives_the_gap_and_the_size_of_the_opportunity() -> None:
    # The worked case: 47.2k revenue per employee against the 60k pass line, 18 employees.
    per_employee = P(850_000_00, 18)
    view = benchmark(UP, per_employee, P(60_000_00), volume=P(18))
    assert view.gap == P(60_000_00) - per_employee
    assert view.opportunity == 18 * 60_000_00 - 850_000_00  # 230k CNY a month
    assert benchmark(DOWN, P(56, 100), P(40, 100)).gap == P(16, 100)
    assert benchmark(UP, P(70), P(60)).gap == 0


def test_structure_breaks_the_average_ticket_into_service_types_and_mix() -> None:
    view = structure(
        [
            ServiceLine(service_type="maintenance", vehicles=300, revenue_fen=300 * 800_00),
            ServiceLine(service_type="body_paint", vehicles=60, revenue_fen=60 * 6_000_00),
            ServiceLine(service_type="repair", vehicles=120, revenue_fen=120 * 2_500_00),
        ]
    )
    assert view.average_ticket_fen == P(300 * 800_00 + 60 * 6_000_00 + 120 * 2_500_00, 480)
    assert [p.service_type for p in view.parts] == ["body_paint", "repair", "maintenance"]
    maintenance = view.parts[2]
    assert maintenance.average_ticket_fen == 800_00
    assert maintenance.vehicle_share == P(300, 480)
    assert sum(p.revenue_share for p in view.parts) == 1
