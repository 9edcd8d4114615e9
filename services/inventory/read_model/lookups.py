"""Reading inventory's read model: positions, the catalogue, the network lookup, the
sharing table, stale stock and the fill rate."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    String,
    and_,
    bindparam,
    case,
    cast,
    exists,
    func,
    literal,
    or_,
    select,
    true,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from kernel.db import any_of, without_jit
from kernel.db_reads import Reader, ReadQuery, reader_of
from kernel.store_directory import store_directory
from services.inventory.domain.stale import StaleHolding, StaleRule, kept_usage_since
from services.inventory.read_model.tables import (
    PartView,
    PositionView,
    part_of_row,
    parts_view,
    position_of_row,
    positions_view,
    usage_daily,
    usage_kept,
    usage_kept_on,
)


async def get_part(conn: AsyncConnection, part_number: str) -> PartView | None:
    row = (
        await conn.execute(select(parts_view).where(parts_view.c.part_number == part_number))
    ).first()
    return None if row is None else part_of_row(row)


async def known_parts(conn: AsyncConnection, part_numbers: list[str]) -> set[str]:
    """Which of these part numbers the catalogue holds, in one round trip (a whole
    store's count: 5,000 numbers)."""
    number = parts_view.c.part_number
    query = select(number).where(any_of(number, "numbers", conn.dialect))
    return set((await conn.execute(query, {"numbers": part_numbers})).scalars())


async def list_parts(
    conn: AsyncConnection, category: str, after: str | None, limit: int
) -> list[PartView]:
    query = select(parts_view).order_by(parts_view.c.part_number).limit(limit)
    if category:
        query = query.where(parts_view.c.category == category)
    if after is not None:
        query = query.where(parts_view.c.part_number > after)
    return [part_of_row(row) for row in await conn.execute(query)]


async def get_position(conn: AsyncConnection, store_id: str, part_number: str) -> PositionView:
    row = (
        await conn.execute(
            select(positions_view).where(
                and_(
                    positions_view.c.store_id == store_id,
                    positions_view.c.part_number == part_number,
                )
            )
        )
    ).first()
    if row is None:
        return PositionView(store_id, part_number, 0, 0, 0, 0, 0, None, ())
    return position_of_row(row)


async def list_store_stock(
    conn: AsyncConnection,
    store_id: str,
    category: str,
    only_available: bool,
    after: str | None,
    limit: int,
) -> list[PositionView]:
    query = select(positions_view).where(positions_view.c.store_id == store_id)
    if category:
        query = query.join(
            parts_view, parts_view.c.part_number == positions_view.c.part_number
        ).where(parts_view.c.category == category)
    if only_available:
        query = query.where(positions_view.c.available > 0)
    if after is not None:
        query = query.where(positions_view.c.part_number > after)
    query = query.order_by(positions_view.c.part_number).limit(limit)
    return [position_of_row(row) for row in await conn.execute(query)]


class StoreStockView(NamedTuple):
    """One store's stock of the part a lookup asked for (a row of the lookup as it is)."""

    store_id: str
    available: int
    on_hand: int
    last_movement_at: datetime | None


def _find_stock_statement(excluding: bool, resuming: bool) -> ReadQuery:
    p, d = positions_view.c, store_directory.c
    # A closed store refuses a reservation (STORE_CLOSED): it is no source to recommend.
    closed = exists().where(d.store_id == p.store_id, d.closed)
    query = select(p.store_id, p.available, p.on_hand, p.last_movement_at).where(
        and_(p.part_number == bindparam("part_number"), p.available >= bindparam("minimum")),
        ~closed,
    )
    if excluding:
        query = query.where(p.store_id != bindparam("exclude_store_id"))
    if resuming:
        available = bindparam("after_available", type_=BigInteger)
        store = bindparam("after_store_id", type_=String)
        query = query.where(
            or_(p.available < available, and_(p.available == available, p.store_id > store))
        )
    limit = bindparam("limit", type_=Integer)
    return ReadQuery(query.order_by(p.available.desc(), p.store_id).limit(limit))


# By (excluding a store, resuming after a key): each shape compiled once.
_FIND_STOCK = {(e, r): _find_stock_statement(e, r) for e in (False, True) for r in (False, True)}

_PART_EXISTS = ReadQuery(
    select(parts_view.c.part_number).where(parts_view.c.part_number == bindparam("part_number"))
)


def _find_stock_query(
    part_number: str,
    min_available: int,
    exclude_store_id: str,
    after: tuple[int, str] | None,
    limit: int,
) -> tuple[ReadQuery, dict[str, Any]]:
    params: dict[str, Any] = {"part_number": part_number, "minimum": min_available, "limit": limit}
    if exclude_store_id:
        params["exclude_store_id"] = exclude_store_id
    if after is not None:
        params["after_available"], params["after_store_id"] = after
    return _FIND_STOCK[bool(exclude_store_id), after is not None], params


async def find_stock(
    source: Reader | AsyncConnection,
    part_number: str,
    min_available: int,
    exclude_store_id: str,
    after: tuple[int, str] | None,
    limit: int,
) -> list[StoreStockView]:
    """Stores holding at least `min_available` of the part, most available first: on the
    kernel's read path (`Database.reader`), or in a SQLAlchemy transaction."""
    reader = reader_of(source)
    query, params = _find_stock_query(part_number, min_available, exclude_store_id, after, limit)
    return list(map(StoreStockView._make, await reader.rows(query, params)))


async def part_exists(reader: Reader, part_number: str) -> bool:
    return bool(await reader.rows(_PART_EXISTS, {"part_number": part_number}))


@dataclass(frozen=True)
class MatrixRowView:
    part_number: str
    name: str
    issued_in_window: int
    available: tuple[int, ...]


async def sharing_matrix(
    conn: AsyncConnection, top_n: int, since: date, store_ids: list[str]
) -> tuple[list[str], list[MatrixRowView]]:
    """The inventory sharing table: top-N parts by issues in the window x stores."""
    u = usage_daily.c
    usage = (
        select(u.part_number, func.sum(u.issued_quantity).label("issued"))
        .where(u.day >= since)
        .group_by(u.part_number)
        .subquery()
    )
    top = (
        await conn.execute(
            select(
                parts_view.c.part_number,
                parts_view.c.name,
                func.coalesce(usage.c.issued, 0).label("issued"),
            )
            .select_from(
                parts_view.outerjoin(usage, usage.c.part_number == parts_view.c.part_number)
            )
            .order_by(func.coalesce(usage.c.issued, 0).desc(), parts_view.c.part_number)
            .limit(top_n)
        )
    ).all()
    part_numbers = [row.part_number for row in top]
    p = positions_view.c
    cells_query = select(p.store_id, p.part_number, p.available).where(
        p.part_number.in_(part_numbers)
    )
    if store_ids:
        cells_query = cells_query.where(p.store_id.in_(store_ids))
    cells = {(r.store_id, r.part_number): r.available for r in await conn.execute(cells_query)}
    stores = store_ids or sorted({store for store, _ in cells})
    rows = [
        MatrixRowView(
            row.part_number,
            row.name,
            int(row.issued),
            tuple(cells.get((store, row.part_number), 0) for store in stores),
        )
        for row in top
    ]
    return stores, rows


@dataclass(frozen=True)
class StaleItemView:
    store_id: str
    part_number: str
    name: str
    on_hand: int
    unit_cost_fen: int
    value_fen: int
    last_movement_at: datetime | None
    idle_days: int
    idle: bool
    overstock: bool
    stale_quantity: int
    stale_value_fen: int
    issued_in_window: int
    cover_quantity: int


@dataclass(frozen=True)
class StaleQuery:
    """What stale means for one read: positions idle since `cutoff` (last movement at or
    before it), and the usage window `first`..`last` for the overstock rule."""

    rule: StaleRule
    cutoff: datetime
    first: date
    last: date


# Which stores' positions to judge, given the column naming a row's store.
StoreFilter = Callable[[ColumnElement[str]], ColumnElement[bool]]


def _live_usage(q: StaleQuery) -> tuple[ColumnElement[int], ColumnElement[date]]:
    """A position's issues in the window and its first request ever, probed on
    usage_daily's key (the first is its index's first entry)."""
    p, u = positions_view.c, usage_daily.c
    same = and_(u.store_id == p.store_id, u.part_number == p.part_number)
    issued = (
        select(func.coalesce(func.sum(u.issued_quantity), 0))
        .where(same, u.day >= q.first, u.day <= q.last)
        .scalar_subquery()
    )
    first_asked = select(func.min(u.day)).where(same).scalar_subquery()
    return cast(issued, BigInteger), first_asked


def _kept_usable(m: Any, q: StaleQuery) -> ColumnElement[bool]:
    """A store's kept usage serves this window: the same length, recent enough."""
    since = kept_usage_since(q.first, q.last)
    return and_(m.usage_days == q.rule.usage_days, m.day >= since, m.day <= q.last)


def _since_kept(q: StaleQuery, stores: StoreFilter | None) -> Any:
    """Per position of a store with usable kept usage, what changed in its window since
    the close: the issues after the close's day, less those that have left the window
    since (a few days of usage_daily, read by day)."""
    u = usage_daily.c
    kept_on = usage_kept_on.alias("kept_since")
    m = kept_on.c
    since = kept_usage_since(q.first, q.last)
    added = and_(u.day > m.day, u.day <= q.last)
    dropped = and_(u.day >= m.window_first, u.day < q.first)
    before = since - timedelta(days=q.rule.usage_days - 1)
    by_day = or_(and_(u.day >= before, u.day < q.first), and_(u.day > since, u.day <= q.last))
    delta = func.sum(case((added, u.issued_quantity), else_=-u.issued_quantity))
    query = (
        select(u.store_id, u.part_number, delta.label("delta"))
        .select_from(usage_daily.join(kept_on, m.store_id == u.store_id))
        .where(by_day, or_(added, dropped), _kept_usable(m, q))
        .group_by(u.store_id, u.part_number)
    )
    if stores is not None:
        query = query.where(stores(u.store_id))
    return query.subquery("since_kept")


def _judged(
    q: StaleQuery, stores: StoreFilter | None = None, kept: bool = True, only_stale: bool = False
) -> Any:
    """Every position holding stock, judged by domain/stale.py's `judge` in SQL (the
    network's stale stock is sorted and paged by stale value, so the rule must run where
    the rows are): its window's issues and its first request (a full history when before
    the window), then idle, the cover, overstock and the stale quantity.

    Those two figures come from what the daily close kept for the position's store
    (`kept`: usage_kept_on and usage_kept, joined), brought to this window by the few
    days of usage_daily since; for a store without a usable close (none yet, a week old,
    another `usage_days`), and for every store with `kept=False`, from two probes of
    usage_daily per position. Both give the same figures (a part first asked for after
    the close has no kept row and cannot have a full history yet)."""
    p, c = positions_view.c, parts_view.c
    issued, first_asked = _live_usage(q)
    held = p.on_hand > 0 if stores is None else and_(p.on_hand > 0, stores(p.store_id))
    joined: Any = positions_view.join(parts_view, c.part_number == p.part_number)
    if kept:
        on, k = usage_kept_on.c, usage_kept.c
        since = _since_kept(q, stores)
        d = since.c
        joined = (
            joined.outerjoin(usage_kept_on, and_(on.store_id == p.store_id, _kept_usable(on, q)))
            .outerjoin(usage_kept, and_(k.store_id == p.store_id, k.part_number == p.part_number))
            .outerjoin(since, and_(d.store_id == p.store_id, d.part_number == p.part_number))
        )
        live = on.store_id.is_(None)
        kept_issued = func.coalesce(k.issued, 0) + func.coalesce(d.delta, 0)
        issued = case((live, issued), else_=kept_issued)
        first_asked = case((live, first_asked), else_=k.first_asked)
        if only_stale:
            # Stale only when idle or with a full history: the others (most of a network
            # that uses its stock) are left out before the figures are computed.
            moved = p.last_movement_at
            maybe = or_(live, k.first_asked < q.first, and_(moved.is_not(None), moved <= q.cutoff))
            held = and_(held, maybe)
    inputs = (
        select(
            p.store_id,
            p.part_number,
            c.name,
            p.on_hand,
            c.unit_cost_fen,
            p.last_movement_at,
            cast(issued, BigInteger).label("issued"),
            first_asked.label("first_asked"),
        )
        .select_from(joined)
        .where(held)
        # A fence: PostgreSQL would otherwise pull the subquery up and probe usage_daily
        # again for every expression below that names its figures (ten probes a row).
        .offset(0)
        .subquery("stale_inputs")
    )
    i = inputs.c
    full_history = and_(i.first_asked.is_not(None), i.first_asked < q.first)
    usage, cover_days = q.rule.usage_days, q.rule.cover_days
    cover = case((full_history, (i.issued * cover_days + (usage - 1)) // usage), else_=literal(0))
    covered = select(inputs, full_history.label("full_history"), cover.label("cover")).subquery(
        "stale_cover"
    )
    k = covered.c
    idle = and_(k.last_movement_at.is_not(None), k.last_movement_at <= q.cutoff)
    overstock = and_(k.full_history, k.on_hand > k.cover)
    quantity = case((idle, k.on_hand), (overstock, k.on_hand - k.cover), else_=literal(0))
    return select(
        covered,
        idle.label("idle"),
        overstock.label("overstock"),
        quantity.label("stale_quantity"),
        (quantity * k.unit_cost_fen).label("stale_value_fen"),
    )


async def keep_usage(conn: AsyncConnection, q: StaleQuery, store_ids: list[str]) -> None:
    """What the close keeps for these stores (usage_kept_on, usage_kept): each position's
    first request and its issues over the window `q.first`..`q.last`, probed as
    `_judged(kept=False)` does, for every position the store ever asked for (holding
    stock or not: it may receive some before the next close)."""
    p, on, k = positions_view.c, usage_kept_on.c, usage_kept.c
    issued, first_asked = _live_usage(q)
    probed = (
        select(p.store_id, p.part_number, first_asked.label("first_asked"), issued.label("issued"))
        .where(p.store_id.in_(store_ids))
        .offset(0)  # the fence: one probe each, not one more for the filter below
        .subquery("probed")
    )
    asked = select(probed).where(probed.c.first_asked.is_not(None))
    await conn.execute(usage_kept.delete().where(k.store_id.in_(store_ids)))
    await conn.execute(
        usage_kept.insert().from_select(["store_id", "part_number", "first_asked", "issued"], asked)
    )
    await conn.execute(usage_kept_on.delete().where(on.store_id.in_(store_ids)))
    day = {"day": q.last, "usage_days": q.rule.usage_days, "window_first": q.first}
    await conn.execute(usage_kept_on.insert(), [{"store_id": s, **day} for s in store_ids])


async def stale_by_store(
    conn: AsyncConnection,
    q: StaleQuery,
    after: str = "",
    limit: int | None = None,
    *,
    keep: bool = False,
    kept: bool = True,
) -> list[StaleHolding]:
    """Each store holding stock (by store id, after `after`; at most `limit`), with what
    of it is stale (the same rule as `stale_stock`), summed per store; stores with
    nothing stale say 0. Only the batch's stores are judged; with `keep` (the close),
    their usage figures for `q`'s window are kept first (`keep_usage`)."""
    b = positions_view.c
    batch = (
        select(b.store_id)
        .where(b.on_hand > 0, b.store_id > after)
        .group_by(b.store_id)
        .order_by(b.store_id)
        .limit(limit)
    )
    store_ids = list((await conn.execute(batch)).scalars())
    if not store_ids:
        return []
    await without_jit(conn)
    if keep:
        await keep_usage(conn, q, store_ids)

    def of_batch(store: ColumnElement[str]) -> ColumnElement[bool]:
        return store.in_(store_ids)

    j = _judged(q, of_batch, kept).subquery("judged").c
    only_overstock = and_(j.overstock, ~j.idle)
    query = (
        select(
            j.store_id,
            func.sum(j.stale_value_fen),
            func.sum(case((j.stale_quantity > 0, 1), else_=0)),
            func.sum(j.stale_quantity),
            func.sum(case((only_overstock, j.stale_value_fen), else_=0)),
            func.sum(case((only_overstock, 1), else_=0)),
            func.sum(case((only_overstock, j.stale_quantity), else_=0)),
        )
        .group_by(j.store_id)
        .order_by(j.store_id)
        .limit(limit)
    )
    return [
        StaleHolding(row[0], *(int(figure or 0) for figure in row[1:]))
        for row in await conn.execute(query)
    ]


async def stale_stock(
    conn: AsyncConnection,
    store_id: str,
    now: datetime,
    q: StaleQuery,
    criterion: str,
    after: tuple[int, str, str] | None,
    limit: int,
    *,
    kept: bool = True,
) -> tuple[list[StaleItemView], int, int]:
    """Stale stock (`criterion` "idle", "overstock" or "" for either), most stale value
    first, with the total stale value and the part of it overstocked but not idle."""

    def of_store(store: ColumnElement[str]) -> ColumnElement[bool]:
        return store == store_id

    # Judged once for the total and the page (PostgreSQL materialises a CTE named twice).
    judged = _judged(q, of_store if store_id else None, kept, only_stale=True).cte("judged")
    j = judged.c
    condition = j.stale_quantity > 0
    if criterion == "idle":
        condition = j.idle
    elif criterion == "overstock":
        condition = j.overstock
    only_overstock = and_(j.overstock, ~j.idle)
    totals = (
        select(
            func.coalesce(func.sum(j.stale_value_fen), 0).label("total"),
            func.coalesce(func.sum(case((only_overstock, j.stale_value_fen), else_=0)), 0).label(
                "overstock_total"
            ),
        )
        .where(condition)
        .subquery("totals")
    )
    page = select(judged).where(condition)
    if after is not None:
        v, s, part = after
        page = page.where(
            or_(
                j.stale_value_fen < v,
                and_(
                    j.stale_value_fen == v,
                    or_(j.store_id > s, and_(j.store_id == s, j.part_number > part)),
                ),
            )
        )
    key = (j.stale_value_fen.desc(), j.store_id, j.part_number)
    listed = page.order_by(*key).limit(limit).subquery("page")
    n = listed.c
    query = (
        select(totals, listed)
        .select_from(totals.outerjoin(listed, true()))
        .order_by(n.stale_value_fen.desc(), n.store_id, n.part_number)
    )
    await without_jit(conn)
    rows = (await conn.execute(query)).all()
    items = [_stale_item(row, now) for row in rows if row.store_id is not None]
    return items, int(rows[0].total), int(rows[0].overstock_total)


def _stale_item(row: Any, now: datetime) -> StaleItemView:
    moved = row.last_movement_at  # aware: the kernel's UtcDateTime column
    return StaleItemView(
        row.store_id,
        row.part_number,
        row.name,
        row.on_hand,
        row.unit_cost_fen,
        row.on_hand * row.unit_cost_fen,
        moved,
        (now - moved).days if moved else 0,
        bool(row.idle),
        bool(row.overstock),
        int(row.stale_quantity),
        int(row.stale_value_fen),
        int(row.issued),
        int(row.cover),
    )


async def fill_rate(
    conn: AsyncConnection, store_id: str, first: date, last: date
) -> tuple[int, int]:
    u = usage_daily.c
    query = select(func.coalesce(func.sum(u.requests), 0), func.coalesce(func.sum(u.filled), 0))
    query = query.where(and_(u.day >= first, u.day <= last))
    if store_id:
        query = query.where(u.store_id == store_id)
    requests, filled = (await conn.execute(query)).one()
    return int(requests), int(filled)
