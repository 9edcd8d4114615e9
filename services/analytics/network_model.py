"""The read models analytics projects from the other services' events (projections.py
writes them, exactly once per event through the subscriptions' inboxes):

- `analytics_store_days`: one row per store and business day, a counter per fact
  (domain/kpis.py `Facts`), plus the day's capacity override;
- `analytics_store_months`: the same counters per store and month (a month's figures of
  the whole network read 2,000 rows, not 60,000);
- `analytics_stores`: capacity's store profiles (region, bays, hours, capacity, opening day);
- `analytics_transfers`: each transfer from request to completion (response times, p90);
- `analytics_contributions`: collab's contribution points, per saga and store;
- `analytics_costs`: HQ's collaboration costs, per saga and kind;
- `analytics_supports`: each completed support (champions, the weekly report);
- `analytics_diversions`: each customer offered to another store, and whether accepted;
- `analytics_visit_types`, `analytics_service_lines`: completed visits and their revenue
  per store, day and service type (the structure view);
- `analytics_shifts`: the planned hours of a technician's day (a later plan replaces it);
- `analytics_customers_seen`: each pseudonymous customer reference's first day in the
  network, telling a new customer's vehicle from a returning one's (customers.py).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
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
    Numeric,
    Select,
    String,
    Table,
    and_,
    bindparam,
    func,
    inspect,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from kernel.application import UnitOfWork
from kernel.db import Migration, UtcDateTime, upsert
from services.analytics.domain.kpis import Facts

metadata = MetaData()

_FRACTIONAL = {"labour_hours", "bay_hours", "productive_hours", "available_hours"}
# Worked out when read, from the store's profile and the day's override.
_DERIVED = {"capacity", "bay_hours", "available_hours"}
STORED_COUNTERS = tuple(f for f in Facts.__dataclass_fields__ if f not in _DERIVED)


def _counters(fractional: type[Float[Any]] | type[Numeric[Any]]) -> list[Column[Any]]:
    """A column per stored counter: hours of the `fractional` type, the rest integers."""
    return [
        Column(name, fractional if name in _FRACTIONAL else BigInteger, nullable=False, default=0)
        for name in STORED_COUNTERS
    ]


store_days = Table(
    "analytics_store_days",
    metadata,
    Column("store_id", String(32), primary_key=True),
    Column("day", Date, primary_key=True),
    *_counters(Float),
    Column("capacity_override", Integer, nullable=True),
    Index("ix_analytics_store_days_day", "day"),
    # The few days with a capacity override, found without reading every day of a month.
    Index(
        "ix_analytics_store_days_override",
        "day",
        postgresql_where=text("capacity_override IS NOT NULL"),
        sqlite_where=text("capacity_override IS NOT NULL"),
    ),
)

# The same counters per store and month, kept beside the days by the same projection
# writes, so a month's figures of 2,000 stores are 2,000 rows rather than 60,000. Hours are
# exact decimals here: the events' values added without a float's rounding.
store_months = Table(
    "analytics_store_months",
    metadata,
    Column("store_id", String(32), primary_key=True),
    Column("month", Date, primary_key=True),
    *_counters(Numeric),
    Index("ix_analytics_store_months_month", "month"),
)

stores = Table(
    "analytics_stores",
    metadata,
    Column("store_id", String(32), primary_key=True),
    Column("region", String(200), nullable=False),
    Column("bays", Integer, nullable=False),
    Column("default_daily_capacity", Integer, nullable=False),
    Column("availability_factor", Float, nullable=False),
    # Open hours Monday to Sunday.
    Column("open_hours", JSON, nullable=False),
    Column("opened_on", Date, nullable=True),
    Column("closed", Boolean, nullable=False),
    Column("version", Integer, nullable=False),
    # The business day it closed: its capacity and bay hours count up to that day, so
    # its past periods keep their utilisation (None: open, or closed before migration 15
    # and left out as it was until a rebuild replays its close).
    Column("closed_on", Date, nullable=True),
)

transfers = Table(
    "analytics_transfers",
    metadata,
    Column("transfer_id", String(200), primary_key=True),
    Column("requesting_store_id", String(32), nullable=False),
    Column("source_store_id", String(32), nullable=False),
    Column("customer_waiting", Boolean, nullable=False),
    Column("requested_day", Date, nullable=True),
    Column("completed_day", Date, nullable=True),
    Column("response_seconds", BigInteger, nullable=True),
    Column("within_sla", Boolean, nullable=True),
    Index("ix_analytics_transfers_completed", "completed_day"),
)

contributions = Table(
    "analytics_contributions",
    metadata,
    Column("saga", String(100), primary_key=True),
    Column("saga_id", String(200), primary_key=True),
    Column("store_id", String(32), primary_key=True),
    Column("act", String(32), nullable=False),
    Column("points", Integer, nullable=False),
    Column("day", Date, nullable=False),
    Column("occurred_at", UtcDateTime(timezone=True), nullable=False),
    Index("ix_analytics_contributions_day", "day"),
)

costs = Table(
    "analytics_costs",
    metadata,
    Column("saga", String(100), primary_key=True),
    Column("saga_id", String(200), primary_key=True),
    Column("kind", String(32), primary_key=True),
    Column("store_id", String(32), nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("day", Date, nullable=False),
)

supports = Table(
    "analytics_supports",
    metadata,
    Column("support_id", String(200), primary_key=True),
    Column("technician_id", String(128), nullable=False),
    Column("home_store_id", String(32), nullable=False),
    Column("host_store_id", String(32), nullable=False),
    Column("day", Date, nullable=False),
    Column("hours", Float, nullable=False),
    Column("fault_solved", Boolean, nullable=False),
    # The two managers' ratings of each other (1-5), when given.
    # The database's default: the completion's upsert leaves them as a rating set them.
    Column("rating_sum", Integer, nullable=False, server_default=text("0")),
    Column("rating_count", Integer, nullable=False, server_default=text("0")),
    Index("ix_analytics_supports_day", "day"),
)

diversions = Table(
    "analytics_diversions",
    metadata,
    # Capacity's slot hold for another store's customer (SOP 3): offered, then accepted.
    Column("hold_id", String(200), primary_key=True),
    Column("from_store_id", String(32), nullable=False),
    Column("to_store_id", String(32), nullable=False),
    Column("day", Date, nullable=False),
    Column("accepted", Boolean, nullable=False),
    Index("ix_analytics_diversions_day", "day"),
)

visit_types = Table(
    "analytics_visit_types",
    metadata,
    # What a visit (or the appointment it came from) is for: walk-ins and bookings say it,
    # completions do not.
    Column("store_id", String(32), primary_key=True),
    Column("key", String(220), primary_key=True),
    Column("service_type", String(64), nullable=False),
    # The booking's pseudonymous customer reference, for the check-in that has none.
    Column("customer_ref", String(128), nullable=True),
)

customers_seen = Table(
    "analytics_customers_seen",
    metadata,
    # Capacity's pseudonymous reference (never a name or phone) and its first business day.
    Column("customer_ref", String(128), primary_key=True),
    Column("first_seen", Date, nullable=False),
)

service_lines = Table(
    "analytics_service_lines",
    metadata,
    Column("store_id", String(32), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("service_type", String(64), primary_key=True),
    Column("vehicles", BigInteger, nullable=False),
    Column("revenue_fen", BigInteger, nullable=False),
)

shifts = Table(
    "analytics_shifts",
    metadata,
    Column("store_id", String(32), primary_key=True),
    Column("technician_id", String(128), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("available_hours", Float, nullable=False),
)


# Each store's stale stock as the business day ended (inventory's StaleStockValued): a
# level, not a flow, so a period reads its last valued day, never a sum over days.
stale_stock = Table(
    "analytics_stale_stock",
    metadata,
    Column("store_id", String(32), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("value_fen", BigInteger, nullable=False),
    Column("positions", Integer, nullable=False),
    Column("units", BigInteger, nullable=False),
)


def _create(conn: Connection) -> None:
    metadata.create_all(conn)


def _create_stale_stock(conn: Connection) -> None:
    stale_stock.create(conn, checkfirst=True)


def _months(conn: Connection) -> None:
    """The month table and the override index, the months filled from the days."""
    store_months.create(conn, checkfirst=True)
    for index in store_days.indexes:
        index.create(conn, checkfirst=True)
    conn.execute(text(months_from_days(postgres=conn.dialect.name == "postgresql")))


def months_from_days(*, postgres: bool) -> str:
    """SQL filling `analytics_store_months` from `analytics_store_days` (hours exactly:
    each day's as the decimal it prints as, on PostgreSQL)."""
    if postgres:
        month, exact = "date_trunc('month', day)::date", "::text::numeric"
    else:
        month, exact = "date(day, 'start of month')", ""
    names = ", ".join(STORED_COUNTERS)
    sums = ", ".join(f"sum({n}{exact if n in _FRACTIONAL else ''})" for n in STORED_COUNTERS)
    return (
        f"INSERT INTO analytics_store_months (store_id, month, {names}) "
        f"SELECT store_id, {month}, {sums} FROM analytics_store_days "
        f"GROUP BY store_id, {month}"
    )


def _customers(conn: Connection) -> None:
    """New and returning customers: the seen table, the two counters (0 on the rows
    there are) and the booking's customer reference; what a fresh database's first
    migration already made is left as it is."""
    customers_seen.create(conn, checkfirst=True)
    names = ("new_customers_in", "returning_customers_in")
    wanted = [
        (t, n, "BIGINT NOT NULL DEFAULT 0") for t in (store_days, store_months) for n in names
    ]
    wanted.append((visit_types, "customer_ref", "VARCHAR(128)"))
    inspector = inspect(conn)
    for table, name, sql_type in wanted:
        if name not in {c["name"] for c in inspector.get_columns(table.name)}:
            conn.execute(text(f"ALTER TABLE {table.name} ADD COLUMN {name} {sql_type}"))


def _closed_on(conn: Connection) -> None:
    """The day a store closed (a fresh database's first migration has it already)."""
    if "closed_on" not in {c["name"] for c in inspect(conn).get_columns(stores.name)}:
        conn.execute(text(f"ALTER TABLE {stores.name} ADD COLUMN closed_on DATE"))


MIGRATIONS = (
    Migration(2, "analytics: read models projected from the network's events", _create),
    Migration(4, "analytics: stores' stale stock by day", _create_stale_stock),
    # Numbered apart from the service's others (1-3 and those to come).
    Migration(12, "analytics: counters per store and month; capacity overrides indexed", _months),
    Migration(13, "analytics: new and returning customers from capacity's references", _customers),
    Migration(15, "analytics: the day a store closed", _closed_on),
)


async def add_facts(uow: UnitOfWork, store_id: str, day: date, **counts: Any) -> None:
    """Add to the store's day and month counters (the rows are made on first use), at the
    end of the unit of work: a batch of events writes each store's day and month once."""
    values: dict[str, Any] = dict.fromkeys(STORED_COUNTERS, 0)
    values.update(counts)
    await uow.upsert_at_end(
        store_days,
        {"store_id": store_id, "day": day, **values},
        _DAY_KEY,
        increment=STORED_COUNTERS,
    )
    for name in _FRACTIONAL_STORED:
        values[name] = Decimal(repr(float(values[name])))
    await uow.upsert_at_end(
        store_months,
        {"store_id": store_id, "month": day.replace(day=1), **values},
        _MONTH_KEY,
        increment=STORED_COUNTERS,
    )


_DAY_KEY = ("store_id", "day")
_MONTH_KEY = ("store_id", "month")
_FRACTIONAL_STORED = tuple(n for n in STORED_COUNTERS if n in _FRACTIONAL)
UNKNOWN_SERVICE = "unknown"


async def remember_type(
    conn: AsyncConnection, store_id: str, key: str, service_type: str, customer_ref: str = ""
) -> None:
    await upsert(
        conn,
        visit_types,
        {
            "store_id": store_id,
            "key": key,
            "service_type": service_type or UNKNOWN_SERVICE,
            "customer_ref": customer_ref or None,
        },
        ["store_id", "key"],
    )


async def type_of(conn: AsyncConnection, store_id: str, key: str) -> str | None:
    return (await type_and_customer(conn, store_id, key))[0]


async def type_and_customer(
    conn: AsyncConnection, store_id: str, key: str
) -> tuple[str | None, str | None]:
    """The service type and customer reference remembered under `key` (None: none)."""
    v = visit_types.c
    query = select(v.service_type, v.customer_ref).where(v.store_id == store_id, v.key == key)
    row = (await conn.execute(query)).first()
    return (None, None) if row is None else (row.service_type, row.customer_ref)


async def add_service_line(
    uow: UnitOfWork, store_id: str, day: date, service_type: str, revenue_fen: int
) -> None:
    await uow.upsert_at_end(
        service_lines,
        {
            "store_id": store_id,
            "day": day,
            "service_type": service_type,
            "vehicles": 1,
            "revenue_fen": revenue_fen,
        },
        ["store_id", "day", "service_type"],
        increment=["vehicles", "revenue_fen"],
    )


async def set_capacity(conn: AsyncConnection, store_id: str, day: date, capacity: int) -> None:
    values: dict[str, Any] = {name: 0 for name in STORED_COUNTERS}
    await upsert(
        conn,
        store_days,
        {"store_id": store_id, "day": day, **values, "capacity_override": capacity},
        ["store_id", "day"],
        increment=list(STORED_COUNTERS),
    )


async def keep_profile(conn: AsyncConnection, values: dict[str, Any]) -> None:
    """A store's profile, replacing the row's only when not older (`version`, the event's
    place in capacity's store stream); a closed store stays closed."""
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    statement = insert(stores).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=["store_id"],
        set_={n: statement.excluded[n] for n in values if n not in ("store_id", "closed")},
        where=stores.c.version <= statement.excluded.version,
    )
    await conn.execute(statement)


async def stale_total(
    conn: AsyncConnection, store_ids: Sequence[str] | None, start: date, end: date
) -> int | None:
    """The stores' stale stock value, each on its last valued day in [start, end), summed
    (None: no store was valued then)."""
    params: dict[str, Any] = {"start": start, "end": end}
    if store_ids is not None:
        params["ids"] = list(store_ids)
    found = (await conn.execute(_stale_total(store_ids is not None), params)).scalar()
    return None if found is None else int(found)


@functools.lru_cache(maxsize=2)
def _stale_total(stores: bool) -> Select[Any]:
    """Built once (a statement costs more to build than to run), with bind parameters."""
    t = stale_stock.c
    last = select(t.store_id, func.max(t.day).label("day")).where(
        t.day >= bindparam("start", type_=Date), t.day < bindparam("end", type_=Date)
    )
    if stores:
        last = last.where(t.store_id.in_(bindparam("ids", expanding=True)))
    latest = last.group_by(t.store_id).subquery()
    return select(func.sum(t.value_fen)).join_from(
        stale_stock, latest, and_(t.store_id == latest.c.store_id, t.day == latest.c.day)
    )
