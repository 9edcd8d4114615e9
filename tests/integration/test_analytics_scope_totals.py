"""A region's and the network's dashboard and KPI are added up column by column in
PostgreSQL (queries_scope.py), not store by store: on small seeded networks of random
stores, days, operating reports and targets, they must equal what the stores' own figures
give, store by store, exactly:

- the network dashboard is the sum of its stores' dashboards (vehicles in, revenue by
  line, returning and new customers: counted customer references where a store has any,
  its report's returning customers where not) and of its regions' dashboards;
- every figure equals the per-store path: each store's `Facts` (`facts_by_store`) and
  decoded report, through domain/kpis.py's per-store functions (`total`,
  `scope_indicator_values`, `revenue_by_line`, `customers_split`, `combined`), the CSI
  highest and lowest as `max`/`min` over (CSI, store id), the targets added as Fractions.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from typing import Any

import pytest
from sqlalchemy import Table, text

from kernel.application import Application
from kernel.clock import ManualClock
from kernel.codec import to_json
from kernel.db import Database
from services.analytics import network_model as model
from services.analytics.bootstrap import DEFINITION
from services.analytics.domain.kpis import (
    Facts,
    combined,
    customers_split,
    percentile,
    revenue_by_line,
    scope_indicator_values,
    technician_productivity,
    total,
)
from services.analytics.domain.operating_figures import (
    Costs,
    OperatingFigures,
    RevenueByLine,
    Role,
    Staffing,
)
from services.analytics.domain.periods import Period
from services.analytics.queries_dashboard import Dashboard, DashboardQueries
from services.analytics.queries_kpis import KpiQueries, Level, Scope, Window, reports_in_force
from services.analytics.queries_warnings import WarningQueries
from services.analytics.read_model import reports, targets

Rows = dict[Table, list[dict[str, Any]]]
NOVEMBER = Period.month(2026, 11)
REGIONS = ("South", "North", "West")
STORES = 14
NETWORK = Scope(Level.NETWORK, "")
# The 6th: from the days. The 19th: the month rows less the days after. The 30th: the
# month rows alone.
AS_OF = (date(2026, 11, 6), date(2026, 11, 19), date(2026, 11, 30))


async def _seed(db: Database, rng: random.Random) -> dict[str, str]:
    """A random network: profiles (some opened mid-month, one closed), days with counters
    and hours whose float sums are not round, a few capacity overrides, shifts, operating
    reports for most stores (one superseded), targets whole and fractional. Returns each
    store's region."""
    regions = {}
    rows: Rows = defaultdict(list)
    async with db.transaction() as conn:
        for k in range(STORES):
            store_id = f"S{k:02d}"
            regions[store_id] = region = REGIONS[k % len(REGIONS)]
            opened = rng.choice(
                [None, date(2019, 5, 1), NOVEMBER.start + timedelta(rng.randint(1, 25))]
            )
            hours = [rng.choice([0.0, 8.0, 9.5, 28 / 3]) for _ in range(7)]
            rows[model.stores].append(
                dict(
                    store_id=store_id,
                    region=region,
                    bays=rng.randint(3, 12),
                    default_daily_capacity=rng.randint(8, 40),
                    availability_factor=rng.choice([0.85, 0.7, 0.9, 1.0]),
                    open_hours=hours,
                    opened_on=opened,
                    closed=k == 5,
                    version=0,
                )
            )
            _days(rows, rng, store_id)
            _report(rows, rng, store_id, k)
            _transfers_and_stale_stock(rows, rng, store_id)
            for code in ("revenue", "vehicles_in", "csi"):
                value = Fraction(rng.randint(1, 10**7), rng.choice([1, 1, 3, 10]))
                rows[targets].append(
                    dict(
                        store_id=store_id,
                        indicator=code,
                        period_kind=int(NOVEMBER.kind),
                        period_start=NOVEMBER.start,
                        value=float(value),
                        exact=str(value),
                        year=2026,
                        set_at=datetime(2026, 10, 20, tzinfo=UTC),
                    )
                )
        for table, values in rows.items():
            await conn.execute(table.insert(), values)
        await conn.execute(text(model.months_from_days(postgres=True)))
    return regions


def _days(rows: Rows, rng: random.Random, store_id: str) -> None:
    # Stores with equal CSI, the highest or the lowest (a score of 5 or 3 every visit; the
    # others' scores are in between): ties broken by store id.
    whole_score = {1: 5, 3: 3}.get(int(store_id[1:]) % 5)
    for n in range(30):
        if rng.random() < 0.15:
            continue  # no row that day
        day = NOVEMBER.start + timedelta(days=n)
        visits = rng.randint(0, 30)
        values: dict[str, Any] = {name: rng.randint(0, 50) for name in model.STORED_COUNTERS}
        values.update(
            visits_completed=visits,
            vehicles_in=visits + rng.randint(0, 5),
            satisfaction_count=visits,
            satisfaction_sum=whole_score * visits
            if whole_score
            else rng.randint(3 * visits + 1, 5 * visits - 1)
            if visits
            else 0,
            labour_hours=round(rng.uniform(0, 40), 1),
            productive_hours=rng.randint(0, 300) / 10,
            labour_revenue_fen=rng.randint(0, 10**6),
            parts_revenue_fen=rng.randint(0, 10**6),
            other_revenue_fen=rng.randint(0, 10**5),
        )
        # Every third store's events carry no customer reference (its report, if any,
        # says its returning customers); the others counted some of their vehicles in.
        counted = int(store_id[1:]) % 3 != 0
        new = min(values["new_customers_in"], values["vehicles_in"]) if counted else 0
        returning = values["returning_customers_in"] if counted else 0
        values.update(
            new_customers_in=new,
            returning_customers_in=min(returning, values["vehicles_in"] - new),
        )
        override = rng.randint(0, 60) if rng.random() < 0.1 else None
        rows[model.store_days].append(
            dict(store_id=store_id, day=day, **values, capacity_override=override)
        )
        if rng.random() < 0.7:
            rows[model.shifts].append(
                dict(
                    store_id=store_id,
                    technician_id="T1",
                    day=day,
                    available_hours=rng.choice([7.3, 8.1, 0.1 * n + 6]),
                )
            )


def _transfers_and_stale_stock(rows: Rows, rng: random.Random, store_id: str) -> None:
    for n in range(rng.randint(0, 12)):
        completed = NOVEMBER.start + timedelta(days=rng.randint(0, 29))
        rows[model.transfers].append(
            dict(
                transfer_id=f"T-{store_id}-{n}",
                requesting_store_id=store_id,
                source_store_id="S00",
                customer_waiting=False,
                requested_day=completed,
                completed_day=completed if rng.random() < 0.9 else None,
                response_seconds=rng.choice([None, rng.randint(60, 9_000), 1_800]),
                within_sla=True,
            )
        )
    for n in sorted(rng.sample(range(30), rng.randint(0, 4))):
        rows[model.stale_stock].append(
            dict(
                store_id=store_id,
                day=NOVEMBER.start + timedelta(days=n),
                value_fen=rng.randint(0, 10**7),
                positions=1,
                units=1,
            )
        )


async def _stale_and_p90(
    db: Database, stores: list[str], window: Window
) -> tuple[int | None, Fraction | None]:
    """Row by row: each store's stale stock on its last valued day, summed; the p90 of the
    transfers its stores requested, as `percentile` takes it."""
    stale, minutes = {}, []
    async with db.connect() as conn:
        for store_id, day, value in await conn.execute(
            text("SELECT store_id, day, value_fen FROM analytics_stale_stock ORDER BY day")
        ):
            if store_id in stores and window.start <= day < window.end:
                stale[store_id] = value
        for store_id, day, seconds in await conn.execute(
            text(
                "SELECT requesting_store_id, completed_day, response_seconds"
                " FROM analytics_transfers"
            )
        ):
            in_window = day is not None and window.start <= day < window.end
            if store_id in stores and in_window and seconds is not None:
                minutes.append(Fraction(seconds, 60))
    return (sum(stale.values()) if stale else None), percentile(minutes, Fraction(9, 10))


def _report(rows: Rows, rng: random.Random, store_id: str, k: int) -> None:
    if rng.random() < 0.25:
        return  # no report this month: its visits count as its revenue
    for position, in_force in ((2 * k, False), (2 * k + 1, True)):
        roles = rng.sample(list(Role), rng.randint(0, len(Role)))
        figures = OperatingFigures(
            revenue=RevenueByLine(
                **{name: rng.randint(0, 10**8) for name in RevenueByLine.__dataclass_fields__}
            ),
            costs=Costs(**{name: rng.randint(0, 10**7) for name in Costs.__dataclass_fields__}),
            staffing=tuple(
                Staffing(role=r, headcount=rng.randint(1, 15), leavers=rng.randint(0, 2))
                for r in sorted(roles)
            ),
            floor_area_m2=rng.randint(0, 2_000),
            csi=rng.choice([None, Fraction(rng.randint(600, 1_000), 10), Fraction(88)]),
            nps=rng.choice([None, Fraction(rng.randint(-100, 100), 3)]),
            complaints=rng.randint(0, 9),
            returning_customers=rng.randint(0, 600),
        )
        rows[reports].append(
            dict(
                store_id=store_id,
                period_kind=int(NOVEMBER.kind),
                period_start=NOVEMBER.start,
                report_id=f"R-{store_id}-{position}",
                position=position,
                figures=to_json(figures),
                in_force=in_force,
                superseded_by=None if in_force else f"R-{store_id}-{position + 1}",
                recorded_at=datetime(2026, 11, 2, tzinfo=UTC),
            )
        )


@dataclass
class Seeded:
    db: Database
    regions: dict[str, str]  # store -> region
    app: Application
    kpis: KpiQueries


@pytest.fixture(params=[1, 2, 3], ids=lambda seed: f"seed{seed}")
async def network(request: Any, pg_url: str, clock: ManualClock) -> AsyncIterator[Seeded]:
    db = Database(pg_url)
    await db.migrate("kernel", [])
    await db.migrate(DEFINITION.name, DEFINITION.migrations)
    regions = await _seed(db, random.Random(request.param))
    app = Application(db, DEFINITION.registry, clock)
    yield Seeded(db, regions, app, KpiQueries(app))
    await db.dispose()


def _added(dashboards: list[Dashboard]) -> dict[str, Any]:
    """What adds up over stores (or regions): vehicles in, revenue lines, customers."""
    lines = [d.revenue for d in dashboards]
    return {
        "vehicles_in": sum(d.vehicles_in for d in dashboards),
        "revenue": RevenueByLine(
            **{n: sum(getattr(r, n) for r in lines) for n in RevenueByLine.__dataclass_fields__}
        ),
        "returning": sum(d.returning_customers or 0 for d in dashboards),
        "new": sum(d.new_customers or 0 for d in dashboards),
    }


@pytest.mark.parametrize("as_of", AS_OF, ids=lambda day: f"as_of_{day.day}")
async def test_the_network_dashboard_and_kpi_equal_the_store_by_store_figures(
    network: Seeded, as_of: date
) -> None:
    db, regions, app, kpis = network.db, network.regions, network.app, network.kpis
    dashboards = DashboardQueries(app, kpis, WarningQueries(app, kpis))
    window = Window.of(NOVEMBER, as_of)
    days = len(window.days())

    found = await dashboards.dashboard(NETWORK, as_of, 5)
    by_store = [await dashboards.dashboard(Scope(Level.STORE, s), as_of, 5) for s in regions]
    by_region = [await dashboards.dashboard(Scope(Level.REGION, r), as_of, 5) for r in REGIONS]

    # The network is the sum of its stores' dashboards, and of its regions'.
    network_added = {
        "vehicles_in": found.vehicles_in,
        "revenue": found.revenue,
        "returning": found.returning_customers,
        "new": found.new_customers,
    }
    assert network_added == _added(by_store) == _added(by_region)

    # Every figure as the per-store path gives it.
    per_store = await app.query(lambda conn: kpis.facts_by_store(conn, None, window))
    decoded = await app.query(lambda conn: reports_in_force(conn, None, NOVEMBER))
    assert decoded and len(decoded) < len(regions)  # some stores reported, not all
    report = combined([decoded[s] for s in sorted(decoded)])
    assert report is not None
    reporting = total([per_store.get(s, Facts()) for s in decoded])
    csi = {
        s: Fraction(f.satisfaction_sum, f.satisfaction_count)
        for s, f in per_store.items()
        if f.satisfaction_count
    }
    values = scope_indicator_values(per_store, decoded, days)
    # Several stores share the highest CSI, and the lowest: the ties are exercised.
    assert list(csi.values()).count(max(csi.values())) > 1
    assert list(csi.values()).count(min(csi.values())) > 1
    assert found.revenue == revenue_by_line(per_store, decoded)
    customers = customers_split(per_store, decoded)
    assert customers is not None
    assert (found.new_customers, found.returning_customers) == customers
    # Both kinds of store are there: counted references, and a report without any.
    counted = {s for s, f in per_store.items() if f.new_customers_in or f.returning_customers_in}
    assert counted & decoded.keys() and decoded.keys() - counted and counted - decoded.keys()
    assert found.vehicles_in == total(list(per_store.values())).vehicles_in
    assert found.technician_productivity == technician_productivity(
        reporting.vehicles_in, report.headcount_of(Role.TECHNICIAN), days
    )
    assert found.csi == values.get("csi")
    assert found.csi_highest == max(csi.items(), key=lambda kv: (kv[1], kv[0]))
    assert found.csi_lowest == min(csi.items(), key=lambda kv: (kv[1], kv[0]))
    month_targets: dict[str, Fraction] = {}
    async with db.connect() as conn:
        rows = await conn.execute(text("SELECT indicator, exact FROM analytics_targets"))
        for code, exact in rows:
            month_targets[code] = month_targets.get(code, Fraction(0)) + Fraction(exact)
    projected = {p.indicator: p.projection.target for p in found.projections}
    assert projected == {code: month_targets[code] for code in ("revenue", "vehicles_in")}

    got = await kpis.kpis(NETWORK, NOVEMBER, as_of)
    stale, p90 = await _stale_and_p90(db, list(regions), window)
    if stale is not None:
        values["stale_stock_value"] = Fraction(stale)
    assert got.facts == total(list(per_store.values()))
    assert got.values == values
    assert got.response_minutes_p90 == p90
    assert (got.new_customers, got.returning_customers) == customers


@pytest.mark.parametrize("as_of", AS_OF[1:2], ids=["as_of_19"])
async def test_a_region_s_kpi_equal_its_stores_figures(network: Seeded, as_of: date) -> None:
    db, regions, kpis = network.db, network.regions, network.kpis
    window = Window.of(NOVEMBER, as_of)
    for region in REGIONS:
        stores = [s for s, r in regions.items() if r == region]
        async with db.connect() as conn:
            per_store = await kpis.facts_by_store(conn, stores, window)
            decoded = await reports_in_force(conn, stores, NOVEMBER)
        got = await kpis.kpis(Scope(Level.REGION, region), NOVEMBER, as_of)
        values = scope_indicator_values(per_store, decoded, len(window.days()))
        stale, p90 = await _stale_and_p90(db, stores, window)
        if stale is not None:
            values["stale_stock_value"] = Fraction(stale)
        assert got.facts == total(list(per_store.values()))
        assert got.values == values
        assert got.response_minutes_p90 == p90
        assert (got.new_customers, got.returning_customers) == (
            customers_split(per_store, decoded) or (None, None)
        )
