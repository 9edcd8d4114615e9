"""Raw baselines: bare psycopg INSERT+COMMIT, or COPY, of event-shaped rows."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import psycopg
from psycopg.types.json import Json

from bench.config import Sizes
from bench.context import libpq
from bench.load import LoadResult, closed_loop

RAW_TABLE = "bench_raw_events"

INSERT_RAW = (
    f"INSERT INTO {RAW_TABLE} (stream_id, stream_version, event_id, event_type, store_id,"
    " payload, metadata, recorded_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
)


async def create_raw_table(url: str) -> None:
    """A twin of the kernel's `events` table: same columns, defaults and indexes."""
    async with await psycopg.AsyncConnection.connect(libpq(url), autocommit=True) as conn:
        await conn.execute(f"CREATE TABLE IF NOT EXISTS {RAW_TABLE} (LIKE events INCLUDING ALL)")


@dataclass(frozen=True)
class Bracket:
    """A raw baseline run right before and right after the figures it is the denominator
    of: a stall of the machine's disk in one raw step (seen to halve or double it from one
    run to the next) moves their mean half as far."""

    before: LoadResult
    after: LoadResult

    @property
    def rate(self) -> float:
        return (self.before.rate + self.after.rate) / 2


T = TypeVar("T")


async def bracketed(
    url: str,
    clients: int,
    row: tuple[str, bytes, str, dict[str, Any]],
    sizes: Sizes,
    figures: Callable[[], Awaitable[T]],
) -> tuple[Bracket, T]:
    """`raw_insert_commit` of `row` (event type, payload, store, metadata) at `clients`,
    then `figures()`, then the raw step again: the bracket and what `figures` gave."""
    event_type, payload, store_id, metadata = row

    def raw() -> Awaitable[LoadResult]:
        return raw_insert_commit(
            url,
            "raw",
            clients,
            payload=payload,
            metadata=metadata,
            event_type=event_type,
            store_id=store_id,
            max_rows=sizes.raw_step_max_rows,
            max_seconds=sizes.raw_step_seconds,
        )

    before = await raw()
    measured = await figures()
    return Bracket(before, await raw()), measured


async def raw_insert_commit(
    url: str,
    label: str,
    clients: int,
    *,
    payload: bytes,
    metadata: dict[str, Any],
    event_type: str,
    store_id: str,
    max_rows: int,
    max_seconds: float,
) -> LoadResult:
    """Each client on its own connection: INSERT one event row, COMMIT, repeat."""
    tag = uuid.uuid4().hex[:8]
    conns: list[psycopg.AsyncConnection[Any]] = []
    try:
        for _ in range(clients):
            conns.append(await psycopg.AsyncConnection.connect(libpq(url)))

        async def call(client: int, seq: int) -> None:
            conn = conns[client]
            await conn.execute(
                INSERT_RAW,
                (
                    f"raw/{tag}/{client}",
                    seq + 1,
                    uuid.uuid4(),
                    event_type,
                    store_id,
                    payload,
                    Json(metadata),
                    datetime.now(UTC),
                ),
            )
            await conn.commit()

        return await closed_loop(
            label, clients, call, max_calls=max_rows, max_seconds=max_seconds, warmup_calls=3
        )
    finally:
        for conn in conns:
            with contextlib.suppress(Exception):
                await conn.close()


async def raw_copy(url: str, store: str, stream_prefix: str = "") -> tuple[float, int]:
    """COPY the rows a command stored (the events of `store` whose stream starts with
    `stream_prefix`) into the twin table, then COMMIT: (seconds, rows)."""
    async with await psycopg.AsyncConnection.connect(libpq(url)) as conn:
        rows = await (
            await conn.execute(
                "SELECT stream_id, stream_version, event_type, store_id, payload, metadata,"
                " recorded_at FROM events WHERE store_id = %s AND starts_with(stream_id, %s)"
                " ORDER BY position",
                (store, stream_prefix),
            )
        ).fetchall()
        started = time.perf_counter()
        async with (
            conn.cursor() as cur,
            cur.copy(
                f"COPY {RAW_TABLE} (stream_id, stream_version, event_id, event_type, store_id,"
                " payload, metadata, recorded_at) FROM STDIN"
            ) as copy,
        ):
            for r in rows:
                await copy.write_row((r[0], r[1], uuid.uuid4(), r[2], r[3], r[4], Json(r[5]), r[6]))
        await conn.commit()
        return time.perf_counter() - started, len(rows)


async def relayed(url: str, limit_seconds: float = 300.0) -> float:
    """Seconds until the relay has published everything committed (the outbox is empty):
    waited for before a measured bulk call, so that it does not pay for the relay work of
    the set-up or of the call before it."""
    started = time.perf_counter()
    async with await psycopg.AsyncConnection.connect(libpq(url), autocommit=True) as conn:
        while time.perf_counter() - started < limit_seconds:
            row = await (await conn.execute("SELECT count(*) FROM outbox")).fetchone()
            if row is not None and row[0] == 0:
                break
            await asyncio.sleep(0.01)
    return time.perf_counter() - started
