"""A region's and the network's figures (GetKpis, GetDashboard) are added up per weekday and
column, not store by store and day by day: they must equal the store-by-store, day-by-day
sums exactly (a store opened mid-month, capacity overrides before and after its opening, a
closed store, hours whose float sums are not round), on real PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta
from fractions import Fraction
from typing import Any

import pytest
from sqlalchemy import select, text

from kernel.application import Application
from kernel.clock import ManualClock
from kernel.codec import decimal_fraction
from kernel.db import Database
from services.analytics import network_model as model
from services.analytics.bootstrap import DEFINITION
from services.analytics.domain.kpis import Facts, StoreShape, total
from services.analytics.domain.periods import Period
from services.analytics.queries_dashboard import DashboardQueries
from services.analytics.queries_kpis import KpiQueries, Level, Scope, Window
from services.analytics.queries_warnings import WarningQueries

NOVEMBER = Period.month(2026, 11)
AS_OF = date(2026, 11, 20)
HOURS = [9.5] * 6 + [0.0]
# name, region, bays, capacity, factor, opened, closed
STORES = (
    ("SZ01", "South", 8, 30, 0.85, date(2020, 1, 1), False),
    ("SZ02", "South", 5, 17, 0.7, date(2026, 11, 10), False),
    ("BJ01", "North", 6, 24, 0.9, None, False),
    ("BJ02", "North", 4, 12, 0.85, date(2021, 3, 1), True),
)


@pytest.fixture
async def analytics_db(pg_url: str) -> AsyncIterator[Database]:
    db = Database(pg_url)
    await db.migrate("kernel", [])
    await db.migrate(DEFINITION.name, DEFINITION.migrations)
    async with db.transaction() as conn:
        for store_id, region, bays, capacity, factor, opened, closed in STORES:
            await conn.execute(
                model.stores.insert().values(
                    store_id=store_id,
                    region=region,
                    bays=bays,
                    default_daily_capacity=capacity,
                    availability_factor=factor,
                    open_hours=HOURS if store_id != "BJ01" else [8.0] * 5 + [28 / 3, 6.5],
                    opened_on=opened,
                    closed=closed,
                    version=0,
                )
            )
            for n in range(30):
                day = NOVEMBER.start + timedelta(days=n)
                await conn.execute(
                    model.store_days.insert().values(
                        store_id=store_id,
                        day=day,
                        **_day_counters(n, bays),
                        capacity_override=_override(store_id, day),
                    )
                )
                await conn.execute(
                    model.shifts.insert().values(
                        store_id=store_id, technician_id="T1", day=day, available_hours=7.3 + n / 10
                    )
                )
        # The month rows as the projection keeps them beside the days (here: from the days).
        await conn.execute(text(model.months_from_days(postgres=True)))
    yield db
    await db.dispose()


def _day_counters(n: int, bays: int) -> dict[str, Any]:
    values: dict[str, Any] = dict.fromkeys(model.STORED_COUNTERS, 0)
    values.update(
        part_issues=n + bays,
        shortages=n % 3,
        vehicles_in=10 + n,
        visits_completed=9 + n,
        labour_hours=0.1 * n + 0.7,  # not round in binary: the float sums carry noise
        productive_hours=0.3 * n,
        booked=8 + n % 5,
        satisfaction_sum=4 * (9 + n) + bays % 3,
        satisfaction_count=9 + n,
        labour_revenue_fen=10_000 * n,
    )
    return values


def _override(store_id: str, day: date) -> int | None:
    if store_id == "SZ02" and day in (date(2026, 11, 3), date(2026, 11, 15)):
        return 40  # the first before the store opened: it does not count
    if store_id == "SZ01" and day == date(2026, 11, 8):
        return 11  # a Sunday, otherwise closed
    return None


async def _reference(db: Database, store_ids: list[str], window: Window) -> dict[str, Facts]:
    """Store by store, day by day, row by row, in Python."""
    d, h = model.store_days.c, model.shifts.c
    found = {}
    async with db.connect() as conn:
        for store_id, _, bays, capacity, factor, opened, closed in STORES:
            if store_id not in store_ids:
                continue
            in_window = (d.store_id == store_id, d.day >= window.start, d.day < window.end)
            rows = (
                await conn.execute(
                    select(*(d[name] for name in model.STORED_COUNTERS)).where(*in_window)
                )
            ).all()
            # Each stored float as the decimal it prints as, added exactly.
            values: dict[str, Any] = {
                name: sum(
                    (decimal_fraction(v) if isinstance(v, float) else v for v in column),
                    Fraction(0) if isinstance(column[0], float) else 0,
                )
                for name, column in zip(model.STORED_COUNTERS, zip(*rows, strict=True), strict=True)
            }
            planned = (
                await conn.execute(
                    select(h.available_hours).where(
                        h.store_id == store_id, h.day >= window.start, h.day < window.end
                    )
                )
            ).scalars()
            if not closed:
                row = (
                    await conn.execute(
                        select(model.stores.c.open_hours).where(model.stores.c.store_id == store_id)
                    )
                ).scalar_one()
                shape = StoreShape(
                    bays=bays,
                    default_daily_capacity=capacity,
                    availability_factor=decimal_fraction(factor),
                    open_hours=tuple(decimal_fraction(x) for x in row),
                )
                days = [day for day in window.days() if opened is None or day >= opened]
                values["capacity"] = sum(
                    shape.capacity_on(day, _override(store_id, day)) for day in days
                )
                values["bay_hours"] = sum((shape.bay_hours_on(day) for day in days), Fraction(0))
            values["available_hours"] = sum(map(decimal_fraction, planned), Fraction(0))
            found[store_id] = Facts(**values)
    return found


# The 5th: from the days. The 20th: the month rows less the ten days after. The 30th: the
# month rows alone.
@pytest.mark.parametrize("as_of", [date(2026, 11, 5), AS_OF, date(2026, 11, 30)])
async def test_network_and_region_facts_equal_the_store_by_store_day_by_day_sums(
    analytics_db: Database, clock: ManualClock, as_of: date
) -> None:
    kpis = KpiQueries(Application(analytics_db, DEFINITION.registry, clock))
    window = Window.of(NOVEMBER, as_of)
    every = [s[0] for s in STORES]
    expected = await _reference(analytics_db, every, window)

    async def facts(store_ids: list[str] | None) -> Facts:
        return await kpis.app.query(lambda conn: kpis.facts(conn, store_ids, window))

    by_store = await kpis.app.query(lambda conn: kpis.facts_by_store(conn, None, window))
    assert by_store == expected
    assert await facts(None) == total(list(expected.values()))
    assert await facts(["SZ01", "SZ02"]) == expected["SZ01"] + expected["SZ02"]
    assert await facts(["SZ02"]) == expected["SZ02"]
    # The closed store's counters count, its capacity does not.
    assert expected["BJ02"].capacity == 0 and expected["BJ02"].part_issues > 0
    if as_of == AS_OF:
        # SZ02 opened on the 10th: the 10th to the 20th are 10 open days and Sunday the
        # 15th, whose override counts (that of the 3rd, before the opening, does not).
        assert expected["SZ02"].capacity == 10 * 17 + 40
        assert expected["SZ01"].vehicles_in == sum(10 + n for n in range(20))


async def test_the_network_dashboard_equals_the_store_by_store_figures(
    analytics_db: Database, clock: ManualClock
) -> None:
    app = Application(analytics_db, DEFINITION.registry, clock)
    kpis = KpiQueries(app)
    dashboard = DashboardQueries(app, kpis, WarningQueries(app, kpis))
    window = Window.of(NOVEMBER, AS_OF)
    expected = await _reference(analytics_db, [s[0] for s in STORES], window)
    csi = {s: Fraction(f.satisfaction_sum, f.satisfaction_count) for s, f in expected.items()}

    found = await dashboard.dashboard(Scope(Level.NETWORK, ""), AS_OF, 5)

    summed = total(list(expected.values()))
    assert found.vehicles_in == summed.vehicles_in
    assert found.csi == Fraction(summed.satisfaction_sum, summed.satisfaction_count)
    assert found.csi_highest == max(csi.items(), key=lambda kv: (kv[1], kv[0]))
    assert found.csi_lowest == min(csi.items(), key=lambda kv: (kv[1], kv[0]))
    assert found.revenue.labour_fen == summed.labour_revenue_fen
