"""Reports and targets as they stood on an as-of day on SQLite (what `make run` uses): the
same reads as on PostgreSQL, with a target set before the history table existed carried
into it by the migration."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import insert, update

from kernel.codec import to_json
from kernel.db import Database
from services.analytics import network_model
from services.analytics.bootstrap import DEFINITION
from services.analytics.domain.operating_figures import OperatingFigures, RevenueByLine
from services.analytics.domain.periods import Period
from services.analytics.queries_dashboard import _month_targets
from services.analytics.queries_kpis import combined_in_force, reports_in_force
from services.analytics.queries_scope import Window, scope_totals
from services.analytics.read_model import reports, target_history, targets

NOVEMBER = Period.month(2026, 11)
DECEMBER = Period.month(2026, 12)


def _at(day: int) -> datetime:
    return datetime(2026, 12, day, 2, 0, tzinfo=UTC)


def _report(store_id: str, report_id: str, position: int, revenue: int, day: int) -> dict:
    found = OperatingFigures(revenue=RevenueByLine(labour_fen=revenue))
    return {
        "store_id": store_id,
        "period_kind": int(NOVEMBER.kind),
        "period_start": NOVEMBER.start,
        "report_id": report_id,
        "position": position,
        "figures": to_json(found),
        # As the projection leaves them: only the latest of a period in force.
        "in_force": report_id != "R-1",
        "superseded_by": "R-2" if report_id == "R-1" else None,
        "recorded_at": _at(day),
    }


def _history(store_id: str, value: int, at: datetime) -> dict:
    return {
        "store_id": store_id,
        "indicator": "revenue",
        "period_kind": int(DECEMBER.kind),
        "period_start": DECEMBER.start,
        "exact": str(value),
        "set_at": at,
    }


def _target(store_id: str, value: int, at: datetime) -> dict:
    return {**_history(store_id, value, at), "value": float(value), "year": 2026}


async def test_reports_and_targets_as_of_on_sqlite(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'analytics.db'}")
    try:
        migrations = DEFINITION.migrations
        # A target set before the history existed: the migration carries it over.
        await db.migrate(DEFINITION.name, [m for m in migrations if m.version < 14])
        async with db.transaction() as conn:
            await conn.execute(insert(targets).values(_target("SZ01", 1000, _at(1))))
        await db.migrate(DEFINITION.name, migrations)
        async with db.transaction() as conn:
            for store_id, report_id, position, revenue, day in (
                ("SZ01", "R-1", 1, 100, 2),
                ("SZ01", "R-2", 3, 300, 5),
                ("GZ01", "R-3", 2, 50, 3),
            ):
                await conn.execute(
                    insert(reports).values(_report(store_id, report_id, position, revenue, day))
                )
            # Set again on 4 December, as the projection leaves it: in force and in history.
            await conn.execute(
                insert(target_history).values({**_history("SZ01", 2000, _at(4)), "position": 4})
            )
            await conn.execute(
                update(targets)
                .where(targets.c.store_id == "SZ01")
                .values(exact="2000", value=2000.0, set_at=_at(4))
            )
            for store_id, vehicles in (("SZ01", 10), ("GZ01", 20)):
                await conn.execute(
                    insert(network_model.store_months).values(
                        store_id=store_id, month=NOVEMBER.start, vehicles_in=vehicles
                    )
                )

        async with db.transaction() as conn:
            seen = {}
            for day in (1, 2, 3, 5, 6):
                cutoff = _at(day)
                found = await reports_in_force(conn, None, NOVEMBER, cutoff)
                both = await combined_in_force(conn, None, NOVEMBER, cutoff)
                totals = await scope_totals(
                    conn, None, Window.of(NOVEMBER, date(2026, 11, 30)), NOVEMBER, cutoff=cutoff
                )
                month_targets = await _month_targets(conn, None, DECEMBER, cutoff)
                seen[day] = (
                    {s: f.revenue.total_fen for s, f in found.items()},
                    both.revenue.total_fen if both else None,
                    totals.reporting.vehicles_in,
                    month_targets.get("revenue"),
                )
            now = await reports_in_force(conn, None, NOVEMBER)
    finally:
        await db.dispose()

    assert {d: s[0] for d, s in seen.items()} == {
        1: {},
        2: {},  # recorded at 02:00, the cutoff itself: not before it
        3: {"SZ01": 100},
        5: {"SZ01": 100, "GZ01": 50},
        6: {"SZ01": 300, "GZ01": 50},
    }
    assert [s[1] for s in seen.values()] == [None, None, 100, 150, 350]
    assert [s[2] for s in seen.values()] == [0, 0, 10, 30, 30]
    assert [s[3] for s in seen.values()] == [None, 1000, 1000, 2000, 2000]
    assert {s: f.revenue.total_fen for s, f in now.items()} == {"SZ01": 300, "GZ01": 50}
