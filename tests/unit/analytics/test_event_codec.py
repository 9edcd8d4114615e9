"""Analytics events survive the wire: exact figures (Fractions) come back as the decimals sent."""

from __future__ import annotations

from datetime import UTC, date, datetime
from fractions import Fraction

from storemesh.analytics.events.v1 import events_pb2

from kernel.codec import from_json, to_json
from kernel.events import EventRegistry
from services.analytics import domain
from services.analytics.domain.operating_figures import (
    Costs,
    IndicatorFigure,
    OperatingFigures,
    RevenueByLine,
    Role,
    Staffing,
)
from services.analytics.domain.operating_reports import OperatingReportRecorded
from services.analytics.domain.periods import Period, PeriodKind
from services.analytics.domain.targets import TargetSet

REGISTRY = EventRegistry("analytics", domain.EVENT_TYPES, events_pb2)
AT = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def test_a_report_round_trips_with_its_decimal_scores_exact() -> None:
    recorded = OperatingReportRecorded(
        store_id="SZ01",
        report_id="R-1",
        period=Period(PeriodKind.MONTH, date(2026, 10, 1)),
        figures=OperatingFigures(
            revenue=RevenueByLine(labour_fen=42_000_000, parts_fen=35_000_000),
            costs=Costs(people_fen=48_000_000),
            staffing=(Staffing(role=Role.TECHNICIAN, headcount=12, leavers=1),),
            csi=Fraction("88.3"),
            nps=None,
            complaints=3,
            other_figures=(
                IndicatorFigure(indicator="training_completion", value=Fraction("0.1")),
            ),
        ),
        supersedes_report_id=None,
        occurred_at=AT,
    )

    type_name, payload = REGISTRY.encode(recorded)
    back = REGISTRY.decode(type_name, payload)

    assert back == recorded
    assert back.figures.csi == Fraction(883, 10)
    assert back.figures.nps is None


def test_a_target_round_trips_through_json_exactly() -> None:
    target = TargetSet(
        store_id="SZ01",
        indicator="complaint_rate",
        period=Period(PeriodKind.MONTH, date(2026, 11, 1)),
        value=Fraction(1, 3),
        previous_value=None,
        occurred_at=AT,
    )

    assert from_json(to_json(target), TargetSet) == target
