"""Analytics' tables of its own facts, kept in the same transaction as the events:

- `analytics_reports`: every operating report, the one in force per store and period
  flagged, the ones corrections replaced kept (their ids answer GetOperatingReport);
- `analytics_targets`: the target in force per store, indicator and period;
- `analytics_target_history`: every value a target was set to, by position (targets as
  they stood on an as-of day);
- `analytics_warnings`: every warning raised, as it stands now, with when it was cleared;
- `analytics_warning_history`: each time a warning was raised or changed colour, until it
  was cleared or changed colour again (warnings as they stood on an as-of day);
- `analytics_published`: each month's ranking and each quarter's or year's champions, as
  published when the period closed;
- `analytics_pilot`: each store HQ put into the pilot, since when and until when.

The read models projected from the other services' events are in projections.py.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    Date,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    insert,
    literal,
    select,
    update,
)

from kernel.application import UnitOfWork
from kernel.codec import to_json
from kernel.db import Migration, UtcDateTime, upsert
from kernel.eventstore import RecordedEvent
from services.analytics.domain.operating_reports import (
    OperatingReportRecorded,
    OperatingReportSuperseded,
)
from services.analytics.domain.pilot import PilotParticipationSet
from services.analytics.domain.rankings import ContributionRankingPublished, SupportChampionsNamed
from services.analytics.domain.targets import TargetSet
from services.analytics.domain.warning_board import WarningCleared, WarningRaised

metadata = MetaData()

reports = Table(
    "analytics_reports",
    metadata,
    Column("store_id", String(32), primary_key=True),
    Column("period_kind", Integer, primary_key=True),
    Column("period_start", Date, primary_key=True),
    Column("report_id", String(128), primary_key=True),
    # The event's position: the order reports of one period were recorded in.
    Column("position", BigInteger, nullable=False),
    Column("figures", JSON, nullable=False),
    Column("in_force", Boolean, nullable=False),
    Column("superseded_by", String(128), nullable=True),
    Column("recorded_at", UtcDateTime(timezone=True), nullable=False),
    Index("ix_analytics_reports_period", "period_kind", "period_start", "store_id"),
)

targets = Table(
    "analytics_targets",
    metadata,
    Column("store_id", String(32), primary_key=True),
    Column("indicator", String(64), primary_key=True),
    Column("period_kind", Integer, primary_key=True),
    Column("period_start", Date, primary_key=True),
    Column("value", Float, nullable=False),
    # The exact value ("883/10"): what warnings compare with.
    Column("exact", String(80), nullable=False),
    Column("year", Integer, nullable=False),
    Column("set_at", UtcDateTime(timezone=True), nullable=False),
    Index("ix_analytics_targets_year", "year", "store_id", "indicator"),
)
# The targets set again since an as-of day (`queries_as_of.targets_in_force`): few.
targets_set_at = Index("ix_analytics_targets_set_at", targets.c.set_at)

target_history = Table(
    "analytics_target_history",
    metadata,
    Column("store_id", String(32), primary_key=True),
    Column("indicator", String(64), primary_key=True),
    Column("period_kind", Integer, primary_key=True),
    Column("period_start", Date, primary_key=True),
    # The TargetSet's position (0 for the values the table held when it was made).
    Column("position", BigInteger, primary_key=True),
    Column("exact", String(80), nullable=False),
    Column("set_at", UtcDateTime(timezone=True), nullable=False),
    Index("ix_analytics_target_history_period", "period_kind", "period_start", "indicator"),
)

published = Table(
    "analytics_published",
    metadata,
    # A month's ranking, a quarter's or year's champions: as published, once.
    Column("period_kind", Integer, primary_key=True),
    Column("period_start", Date, primary_key=True),
    Column("what", String(16), primary_key=True),
    Column("body", JSON, nullable=False),
    Column("published_at", UtcDateTime(timezone=True), nullable=False),
)


warnings = Table(
    "analytics_warnings",
    metadata,
    Column("warning_id", String(300), primary_key=True),
    Column("store_id", String(32), nullable=False),
    Column("rule", Integer, nullable=False),
    Column("level", Integer, nullable=False),
    Column("indicator", String(64), nullable=False),
    Column("period_kind", Integer, nullable=False),
    Column("period_start", Date, nullable=False),
    Column("actual", String(80), nullable=False),
    Column("reference", String(80), nullable=False),
    Column("deviation", String(80), nullable=False),
    # For ordering: the deviation as a number (the exact one is `deviation`).
    Column("deviation_value", Float, nullable=False),
    Column("drill_down", String(300), nullable=False),
    Column("raised_at", UtcDateTime(timezone=True), nullable=False),
    Column("cleared_at", UtcDateTime(timezone=True), nullable=True),
    Index("ix_analytics_warnings_store", "store_id", "cleared_at"),
)

# The same columns, a row per raise (by the event's position: two closes may raise at the
# same moment): a change of colour ends the row before it, so at any moment one row of a
# warning stands (or none), with the colour it had then.
warning_history = Table(
    "analytics_warning_history",
    metadata,
    *(
        Column(c.name, c.type, primary_key=c.name == "warning_id", nullable=c.nullable)
        for c in warnings.columns
    ),
    Column("position", BigInteger, primary_key=True),
    Index("ix_analytics_warning_history_store", "store_id", "raised_at"),
)


pilot = Table(
    "analytics_pilot",
    metadata,
    Column("store_id", String(32), primary_key=True),
    Column("joined_on", Date, nullable=False),
    # The first day no longer in; NULL: still in.
    Column("left_on", Date, nullable=True),
    Column("set_at", UtcDateTime(timezone=True), nullable=False),
)


def _create(conn: Connection) -> None:
    later = (pilot, target_history, warning_history)
    metadata.create_all(conn, tables=[t for t in metadata.sorted_tables if t not in later])


def _create_target_history(conn: Connection) -> None:
    """The history, started with each target's value in force (set at its `set_at`)."""
    target_history.create(conn, checkfirst=True)
    targets_set_at.create(conn, checkfirst=True)
    t = targets.c
    keys = ("store_id", "indicator", "period_kind", "period_start")
    conn.execute(
        insert(target_history).from_select(
            [*keys, "position", "exact", "set_at"],
            select(*(t[k] for k in keys), literal(0), t.exact, t.set_at),
        )
    )


def _create_warning_history(conn: Connection) -> None:
    """The history, started with each warning as it stands (its earlier colours are gone)."""
    warning_history.create(conn, checkfirst=True)
    columns = [c.name for c in warnings.columns]
    conn.execute(
        insert(warning_history).from_select(
            [*columns, "position"], select(*warnings.columns, literal(0))
        )
    )


def _create_pilot(conn: Connection) -> None:
    pilot.create(conn, checkfirst=True)


MIGRATIONS = (
    Migration(1, "analytics: reports, targets, published rankings", _create),
    Migration(3, "analytics: pilot participation", _create_pilot),
    Migration(14, "analytics: target history (targets as of a day)", _create_target_history),
    Migration(16, "analytics: warning history (warnings as of a day)", _create_warning_history),
)


async def project(uow: UnitOfWork, event: Any, recorded: RecordedEvent, state: Any) -> None:
    if isinstance(event, OperatingReportRecorded):
        await upsert(
            uow.conn,
            reports,
            {
                "store_id": event.store_id,
                "period_kind": int(event.period.kind),
                "period_start": event.period.start,
                "report_id": event.report_id,
                "position": recorded.position,
                "figures": to_json(event.figures),
                "in_force": True,
                "superseded_by": None,
                "recorded_at": event.occurred_at,
            },
            ["store_id", "period_kind", "period_start", "report_id"],
        )
    elif isinstance(event, OperatingReportSuperseded):
        c = reports.c
        await uow.conn.execute(
            update(reports)
            .where(
                c.store_id == event.store_id,
                c.period_kind == int(event.period.kind),
                c.period_start == event.period.start,
                c.report_id == event.report_id,
            )
            .values(in_force=False, superseded_by=event.superseded_by_report_id)
        )
    elif isinstance(event, ContributionRankingPublished | SupportChampionsNamed):
        ranking = isinstance(event, ContributionRankingPublished)
        period = event.month if isinstance(event, ContributionRankingPublished) else event.period
        body = (
            event.standings if isinstance(event, ContributionRankingPublished) else event.champions
        )
        await upsert(
            uow.conn,
            published,
            {
                "period_kind": int(period.kind),
                "period_start": period.start,
                "what": "ranking" if ranking else "champions",
                "body": to_json(body),
                "published_at": event.occurred_at,
            },
            ["period_kind", "period_start", "what"],
        )
    elif isinstance(event, WarningRaised):
        values: dict[str, Any] = {
            "warning_id": event.warning_id,
            "store_id": event.store_id,
            "rule": int(event.rule),
            "level": int(event.level),
            "indicator": event.indicator,
            "period_kind": int(event.period.kind),
            "period_start": event.period.start,
            "actual": str(event.actual),
            "reference": str(event.reference),
            "deviation": str(event.deviation),
            "deviation_value": float(event.deviation),
            "drill_down": event.drill_down,
            "raised_at": event.occurred_at,
            "cleared_at": None,
        }
        await upsert(uow.conn, warnings, values, ["warning_id"])
        await _end_standing(uow, event.warning_id, event.occurred_at)
        await uow.conn.execute(
            warning_history.insert().values(**values, position=recorded.position)
        )
    elif isinstance(event, WarningCleared):
        await uow.conn.execute(
            update(warnings)
            .where(warnings.c.warning_id == event.warning_id)
            .values(cleared_at=event.occurred_at)
        )
        await _end_standing(uow, event.warning_id, event.occurred_at)
    elif isinstance(event, TargetSet):
        await upsert(
            uow.conn,
            targets,
            {
                "store_id": event.store_id,
                "indicator": event.indicator,
                "period_kind": int(event.period.kind),
                "period_start": event.period.start,
                "value": float(event.value),
                "exact": str(event.value),
                "year": event.period.start.year,
                "set_at": event.occurred_at,
            },
            ["store_id", "indicator", "period_kind", "period_start"],
        )
        await upsert(
            uow.conn,
            target_history,
            {
                "store_id": event.store_id,
                "indicator": event.indicator,
                "period_kind": int(event.period.kind),
                "period_start": event.period.start,
                "position": recorded.position,
                "exact": str(event.value),
                "set_at": event.occurred_at,
            },
            ["store_id", "indicator", "period_kind", "period_start", "position"],
        )
    elif isinstance(event, PilotParticipationSet):
        await upsert(
            uow.conn,
            pilot,
            {
                "store_id": event.store_id,
                "joined_on": event.joined_on,
                "left_on": event.left_on,
                "set_at": event.occurred_at,
            },
            ["store_id"],
        )


async def _end_standing(uow: UnitOfWork, warning_id: str, at: Any) -> None:
    """The warning's standing row in the history ends (cleared, or raised in a new colour)."""
    h = warning_history.c
    await uow.conn.execute(
        update(warning_history)
        .where(h.warning_id == warning_id, h.cleared_at.is_(None))
        .values(cleared_at=at)
    )
