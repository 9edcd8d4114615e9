"""7. SyncStockCounts of a store's whole stock (5,000 positions) over gRPC on PostgreSQL,
beside a raw COPY of the same event rows into a twin of the events table."""

from __future__ import annotations

import time
import uuid
from datetime import datetime
from typing import Any

from storemesh.inventory.v1 import inventory_pb2 as pb
from storemesh.inventory.v1 import inventory_pb2_grpc as pb_grpc

from bench.context import BenchContext, RunningService
from bench.raw import create_raw_table, raw_copy, relayed
from bench.report import SectionReport, Target, num, pct
from kernel.application import UnitOfWork
from kernel.codec import timestamp
from services.inventory.application import PARTS
from services.inventory.domain.catalogue import RegisterPart

STORE = "NEW"
# Stores joining, one after the other: the target is judged on the median of their calls
# (one call takes half a second, at the mercy of one noisy half second).
JOINING = (STORE, "NEW-2", "NEW-3")
TITLE = "7. SyncStockCounts: a store's whole stock in one call"
POSITIONS = 5_000
TARGET_RATE = 10_000.0  # positions per second (issue 10, "Bulk sync for a DMS")
CALL_TIMEOUT = 300.0
HEADER = ("What", "Positions", "Seconds", "Positions/s", "vs raw COPY", "CPU ms / 1,000")


def _rid() -> str:
    return str(uuid.uuid4())


async def _catalogue(svc: RunningService, numbers: list[str]) -> None:
    """Set-up, not measured: the parts registered through their aggregate, one transaction."""
    app = svc.service.app

    async def register_all(uow: UnitOfWork) -> None:
        for n in numbers:
            command = RegisterPart(n, f"Bench part {n}", "bench", "pcs", 1_000, app.clock.now())
            await uow.execute(PARTS, PARTS.stream_id(n), command)

    await app.handle(None, register_all)


async def _sync(
    stub: Any,
    svc: RunningService,
    numbers: list[str],
    shift: int,
    request_id: str,
    counted_at: datetime,
    store_id: str = STORE,
) -> tuple[float, float, Any]:
    request = pb.SyncStockCountsRequest(
        request_id=request_id,
        store_id=store_id,
        counted_at=timestamp(counted_at),
        reason="bench count",
        counts=[
            pb.StockCount(part_number=n, counted_quantity=(k + shift) % 9 + 1)
            for k, n in enumerate(numbers)
        ],
    )
    cpu, wall = time.process_time(), time.perf_counter()
    response = await stub.SyncStockCounts(request, metadata=svc.metadata, timeout=CALL_TIMEOUT)
    return time.perf_counter() - wall, time.process_time() - cpu, response


async def run(ctx: BenchContext, report: SectionReport) -> None:
    numbers = [f"P-{k:05d}" for k in range(POSITIONS)]
    async with (
        ctx.database("stocksync") as url,
        ctx.namespace("sync") as ns,
        ctx.inventory(url, ns) as svc,
    ):
        stub = pb_grpc.InventoryServiceStub(svc.channel)
        await _catalogue(svc, numbers)
        await create_raw_table(url)

        first_id, first_at = str(uuid.uuid4()), svc.service.app.clock.now()
        await relayed(url)
        new_s, new_cpu, new = await _sync(stub, svc, numbers, 0, first_id, first_at)
        assert new.adjusted == POSITIONS, (new.adjusted, new.unchanged, new.refused)
        relay_s = await relayed(url)
        joins = [(new_s, new_cpu)]
        for store in JOINING[1:]:
            at = svc.service.app.clock.now()
            join_s, join_cpu, joined = await _sync(stub, svc, numbers, 0, _rid(), at, store)
            assert joined.adjusted == POSITIONS
            joins.append((join_s, join_cpu))
            await relayed(url)
        median_s, median_cpu = sorted(joins)[len(joins) // 2]
        copy_s, copied = await raw_copy(url, STORE)
        assert copied == POSITIONS
        recount_at = svc.service.app.clock.now()
        again_s, again_cpu, again = await _sync(stub, svc, numbers, 1, _rid(), recount_at)
        assert again.adjusted == POSITIONS
        await relayed(url)
        same_s, same_cpu, same = await _sync(stub, svc, numbers, 1, _rid(), recount_at)
        assert same.unchanged == POSITIONS
        replay_s, replay_cpu, replay = await _sync(stub, svc, numbers, 0, first_id, first_at)
        assert replay == new

    raw_rate = copied / copy_s

    def row(what: str, seconds: float, cpu: float) -> list[str]:
        rate = POSITIONS / seconds
        return [
            what,
            f"{POSITIONS:,}",
            num(seconds),
            num(rate),
            pct(rate, raw_rate),
            num(1000 * cpu * 1000 / POSITIONS),
        ]

    rows = [
        [
            "raw psycopg COPY + COMMIT of the same rows",
            f"{copied:,}",
            num(copy_s),
            num(raw_rate),
            "baseline",
            "—",
        ],
        *(
            row(f"SyncStockCounts, every position new (store {store} joins)", *join)
            for store, join in zip(JOINING, joins, strict=True)
        ),
        row(
            f"SyncStockCounts, every position new: median of the {len(JOINING)} stores",
            median_s,
            median_cpu,
        ),
        row("SyncStockCounts, every position differs (a recount)", again_s, again_cpu),
        row("SyncStockCounts, every position matches (nothing recorded)", same_s, same_cpu),
        row("SyncStockCounts, the first batch retried (replayed)", replay_s, replay_cpu),
        [
            "the new batch's events on JetStream (relay, after the first call's reply)",
            f"{POSITIONS:,}",
            num(relay_s),
            num(POSITIONS / relay_s),
            pct(POSITIONS / relay_s, raw_rate),
            "—",
        ],
    ]
    report.add(
        "The real inventory service in the benchmark process on a fresh PostgreSQL database"
        f" (HQ token, log level `warning`). The catalogue holds {POSITIONS:,} parts (set-up,"
        f" not measured); a store's DMS sends all of them in one `SyncStockCounts` call"
        f" ({len(JOINING)} stores join in turn; the recount, unchanged and replayed rows are"
        f" the first store's),"
        " which the service runs as one transaction: the store's positions loaded in two"
        " queries, every line decided in memory, the events COPYed into a staging table and"
        " appended with one statement (streams, events, outbox), the positions' read-model"
        " rows written with one COPY and one upsert, one command-log row"
        " (kernel/bulk_append.py). Before each measured call the benchmark waits until the"
        " relay has published everything committed (the set-up's catalogue, the previous"
        " call's events), so no call pays for another's relay work; the last row is the"
        " relay publishing the first call's events after its reply.",
        "",
        "Baseline: the StockAdjusted rows the first sync stored, `COPY`ed by bare psycopg"
        " into a twin of the `events` table and committed. *CPU ms / 1,000* is the benchmark"
        " process's CPU (client, service, relay) per thousand positions.",
        "",
    )
    report.table(HEADER, rows)
    report.targets.append(
        Target(
            f"SyncStockCounts of 5,000 new positions (median of {len(JOINING)} stores joining)",
            POSITIONS / median_s,
            TARGET_RATE,
            "positions/s",
            True,
        )
    )
