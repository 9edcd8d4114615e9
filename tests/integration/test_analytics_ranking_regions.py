"""A region's contribution ranking on real PostgreSQL: the rows are the region's stores
with their network positions and rewards, and each store's collaboration score is its
points over the network's best store's (domain.md: the month's best), so a store scores
the same whichever list shows it; its own results leave CSI to the satisfaction part."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from fractions import Fraction

import pytest
from sqlalchemy import text

from kernel.application import Application
from kernel.clock import ManualClock
from kernel.codec import to_json
from kernel.db import Database
from services.analytics import network_model as model
from services.analytics.bootstrap import DEFINITION
from services.analytics.domain.operating_figures import OperatingFigures, Role, Staffing
from services.analytics.domain.periods import Period
from services.analytics.queries_contribution import ContributionQueries
from services.analytics.queries_kpis import KpiQueries
from services.analytics.read_model import reports, targets

NOVEMBER = Period.month(2026, 11)
# store, region, act, saga id: BJ01 (North) 10 points, SZ01 (South) 5, GZ01 (South) 2.
ACTS = (
    ("BJ01", "North", "revitalisation", "R-1", 10),
    ("SZ01", "South", "support", "S-1", 5),
    ("GZ01", "South", "diversion", "D-1", 2),
)


@pytest.fixture
async def analytics_db(pg_url: str) -> AsyncIterator[Database]:
    db = Database(pg_url)
    await db.migrate("kernel", [])
    await db.migrate(DEFINITION.name, DEFINITION.migrations)
    async with db.transaction() as conn:
        for n, (store_id, region, act, saga_id, points) in enumerate(ACTS, start=1):
            await conn.execute(
                model.stores.insert().values(
                    store_id=store_id,
                    region=region,
                    bays=8,
                    default_daily_capacity=20,
                    availability_factor=0.85,
                    open_hours=[9.5] * 7,
                    opened_on=date(2020, 1, 1),
                    closed=False,
                    version=0,
                )
            )
            await conn.execute(
                model.contributions.insert().values(
                    saga=act,
                    saga_id=saga_id,
                    store_id=store_id,
                    act=act,
                    points=points,
                    day=date(2026, 11, n),
                    occurred_at=datetime(2026, 11, n, 2, tzinfo=UTC),
                )
            )
        # SZ01's month: 10 vehicles in (target 10: 100%), CSI 80 (target 100: 80%).
        counters = dict.fromkeys(model.STORED_COUNTERS, 0)
        counters.update(vehicles_in=10, satisfaction_sum=800, satisfaction_count=10)
        await conn.execute(
            model.store_days.insert().values(store_id="SZ01", day=date(2026, 11, 5), **counters)
        )
        await conn.execute(text(model.months_from_days(postgres=True)))
        for code, value in (("vehicles_in", 10), ("csi", 100)):
            await conn.execute(
                targets.insert().values(
                    store_id="SZ01",
                    indicator=code,
                    period_kind=int(NOVEMBER.kind),
                    period_start=NOVEMBER.start,
                    value=value,
                    exact=str(value),
                    year=2026,
                    set_at=datetime(2026, 10, 20, tzinfo=UTC),
                )
            )
    yield db
    await db.dispose()


async def test_a_regions_rows_keep_network_positions_and_score_against_the_networks_best(
    analytics_db: Database,
) -> None:
    app = Application(
        analytics_db, DEFINITION.registry, ManualClock(datetime(2026, 11, 20, tzinfo=UTC))
    )
    queries = ContributionQueries(app, KpiQueries(app))

    network = await queries.ranking(NOVEMBER, "")
    south = await queries.ranking(NOVEMBER, "South")

    assert [(r.standing.store_id, r.standing.position) for r in network.rows] == [
        ("BJ01", 1),
        ("SZ01", 2),
        ("GZ01", 3),
    ]
    assert [
        (r.standing.store_id, r.standing.position, r.standing.reward_fen) for r in south.rows
    ] == [
        ("SZ01", 2, 5_000_00),
        ("GZ01", 3, 3_000_00),
    ]
    # 5 and 2 points against the network's best 10: 50 and 20, in both lists.
    assert [r.score.collaboration for r in south.rows] == [50, 20]
    assert [r.score.collaboration for r in network.rows] == [100, 50, 20]
    # Own results: vehicles in's 100% only; CSI 80 is the satisfaction part, not counted twice.
    sz01 = south.rows[0].score
    assert (sz01.own_results, sz01.satisfaction) == (100, 80)
    assert sz01.total == Fraction(50, 100) * 100 + Fraction(30, 100) * 50 + Fraction(20, 100) * 80


async def test_a_technician_efficiency_target_counts_in_own_results_over_the_days_so_far(
    analytics_db: Database,
) -> None:
    """Regression: the store score worked out its indicators without the month's days, so
    a technician efficiency target (vehicles / technicians / days) was never met or missed:
    it dropped out of own results."""
    async with analytics_db.transaction() as conn:
        figures = OperatingFigures(staffing=(Staffing(role=Role.TECHNICIAN, headcount=1),))
        await conn.execute(
            reports.insert().values(
                store_id="SZ01",
                period_kind=int(NOVEMBER.kind),
                period_start=NOVEMBER.start,
                report_id="R-1",
                position=1,
                figures=to_json(figures),
                in_force=True,
                recorded_at=datetime(2026, 11, 10, tzinfo=UTC),
            )
        )
        # 10 vehicles by one technician over the 20 days so far: 0.5 a day, half of 1.
        await conn.execute(
            targets.insert().values(
                store_id="SZ01",
                indicator="technician_efficiency",
                period_kind=int(NOVEMBER.kind),
                period_start=NOVEMBER.start,
                value=1,
                exact="1",
                year=2026,
                set_at=datetime(2026, 10, 20, tzinfo=UTC),
            )
        )
    app = Application(
        analytics_db, DEFINITION.registry, ManualClock(datetime(2026, 11, 20, 4, tzinfo=UTC))
    )
    queries = ContributionQueries(app, KpiQueries(app))

    network = await queries.ranking(NOVEMBER, "")

    sz01 = next(r.score for r in network.rows if r.standing.store_id == "SZ01")
    # Vehicles in 100%, technician efficiency 50%: own results 75.
    assert sz01.own_results == 75
