"""A/B of process-wide switches on the command path: `python -m bench.ab_commands`.

Each variant (a garbage-collector mode, psycopg transactions with or without the kernel's
pipelined BEGIN/COMMIT) gets a fresh inventory service on a fresh database, like section
1 of `make bench`, and at 1 and 8 clients: raw INSERT+COMMIT, then ReceiveStock, then
ReserveStock. Variants run interleaved, round after round, so a noisy minute on the
shared machine hits them all; the table prints CPU ms per call and the share of the raw
baseline measured right before, per run, and their medians.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import statistics
import sys
from dataclasses import dataclass
from typing import Any

from storemesh.inventory.v1 import inventory_pb2 as pb
from storemesh.inventory.v1 import inventory_pb2_grpc as pb_grpc

from bench import config
from bench.context import BenchContext
from bench.load import LoadResult, closed_loop
from bench.raw import create_raw_table, raw_insert_commit
from bench.runner import LOG_LEVEL
from bench.sections.inventory_commands import (
    CALL_TIMEOUT,
    _commands_at,
    _real_event_row,
    _rid,
    _seed_directory,
)
from kernel.telemetry import configure_logging, configure_tracing
from kernel.testing.servers import resolve


@dataclass(frozen=True)
class Variant:
    label: str
    gc_mode: str  # BenchContext.gc_mode
    young: int
    pipelined_begin: bool
    relay_gather_ms: float = 5.0

    @property
    def service(self) -> tuple[bool, float]:
        """What needs a service of its own (the collector is switched per block)."""
        return (self.pipelined_begin, self.relay_gather_ms)


VARIANTS = {
    "gc-off": Variant("no GC tuning, pipelined BEGIN/COMMIT", "off", 0, True),
    "freeze": Variant("gc.freeze only, pipelined BEGIN/COMMIT", "freeze", 0, True),
    "serving": Variant("gc.freeze + young 50000, pipelined BEGIN/COMMIT", "serving", 50_000, True),
    "plain-off": Variant("no GC tuning, plain psycopg transactions", "off", 0, False),
    "plain": Variant(
        "gc.freeze + young 50000, plain psycopg transactions", "serving", 50_000, False
    ),
    "gather25": Variant(
        "gc.freeze + young 50000, pipelined BEGIN/COMMIT, relay gathers 25 ms",
        "serving",
        50_000,
        True,
        25.0,
    ),
    "plain-gather25": Variant(
        "gc.freeze + young 50000, plain psycopg transactions, relay gathers 25 ms",
        "serving",
        50_000,
        False,
        25.0,
    ),
}

Row = tuple[
    str, int, str, float, float, float, float
]  # variant, clients, what, rate, ratio, cpu, p99


async def _one(ctx: BenchContext, key: str, clients_list: tuple[int, ...]) -> list[Row]:
    variant = VARIANTS[key]
    ctx.gc_mode, ctx.gc_young_threshold = variant.gc_mode, variant.young
    ctx.pipelined_begin = variant.pipelined_begin
    ctx.relay_gather_ms = variant.relay_gather_ms
    sizes = ctx.sizes
    rows: list[Row] = []
    async with (
        ctx.database("ab") as url,
        ctx.namespace("ab") as ns,
        ctx.inventory(url, ns) as svc,
    ):
        stub = pb_grpc.InventoryServiceStub(svc.channel)
        md = svc.metadata
        await _seed_directory(svc, sizes)
        parts = [f"P-{k:05d}" for k in range(sizes.command_parts)]
        for number in parts:
            await stub.RegisterPart(
                pb.RegisterPartRequest(
                    request_id=_rid(),
                    part=pb.Part(part_number=number, name=number, category="bench", unit="pcs"),
                ),
                metadata=md,
                timeout=CALL_TIMEOUT,
            )
        await stub.ReceiveStock(
            pb.ReceiveStockRequest(
                request_id=_rid(), store_id="SETUP", part_number=parts[0], quantity=1
            ),
            metadata=md,
            timeout=CALL_TIMEOUT,
        )
        await create_raw_table(url)
        event_type, payload, store_id, metadata = await _real_event_row(url)
        for clients in clients_list:
            raw = await raw_insert_commit(
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
            received, reserved = await _commands_at(stub, md, parts, clients, sizes)
            for what, r in (("ReceiveStock", received), ("ReserveStock", reserved)):
                rows.append(
                    (key, clients, what, r.rate, r.rate / raw.rate, r.cpu_ms_per_op, r.p99_ms)
                )
                print(
                    f"ab: {key:10} {clients} {what:12} {r.rate:7.0f}/s {r.rate / raw.rate:6.1%}"
                    f" of raw ({raw.rate:.0f}/s) cpu {r.cpu_ms_per_op:.2f} ms"
                    f" p99 {r.p99_ms:.1f} ms",
                    file=sys.stderr,
                    flush=True,
                )
    return rows


async def _interleaved(ctx: BenchContext, keys: list[str], blocks: int, clients: int) -> str:
    """All variants' services up at once, measured in short blocks taken in turn (the
    collector's mode is switched before each block), so the machine's noise falls on
    every variant alike; the raw baseline is one more variant of the rotation."""
    sizes = ctx.sizes
    services: dict[tuple[bool, float], tuple[Any, Any]] = {}
    urls: dict[tuple[bool, float], str] = {}
    async with contextlib.AsyncExitStack() as stack:
        for n, (pipelined, gather) in enumerate(sorted({VARIANTS[k].service for k in keys})):
            ctx.pipelined_begin, ctx.relay_gather_ms = pipelined, gather
            url = await stack.enter_async_context(ctx.database(f"ab{n}"))
            ns = await stack.enter_async_context(ctx.namespace("ab"))
            svc = await stack.enter_async_context(ctx.inventory(url, ns))
            stub = pb_grpc.InventoryServiceStub(svc.channel)
            await _seed_directory(svc, sizes)
            await _setup_parts(stub, svc.metadata, sizes.command_parts)
            services[pipelined, gather], urls[pipelined, gather] = (stub, svc.metadata), url
        parts = [f"P-{k:05d}" for k in range(sizes.command_parts)]
        for stub, md in services.values():  # stock every position once, not measured
            await _commands_at(
                stub,
                md,
                parts,
                clients,
                dataclasses.replace(
                    sizes, command_step_max_calls=clients * len(parts), command_step_seconds=30
                ),
            )
        url = next(iter(urls.values()))
        await create_raw_table(url)
        event_type, payload, store_id, metadata = await _real_event_row(url)
        results: dict[str, list[tuple[float, float, float]]] = {k: [] for k in [*keys, "raw"]}
        for block in range(blocks):
            order = [*keys, "raw"]
            order = order[block % len(order) :] + order[: block % len(order)]
            for key in order:
                if key == "raw":
                    r = await raw_insert_commit(
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
                else:
                    v = VARIANTS[key]
                    ctx.gc_mode = v.gc_mode
                    ctx.tune_gc(v.young)
                    stub, md = services[v.service]
                    r = await _reserve_block(stub, md, parts, clients, sizes)
                results[key].append((r.rate, r.cpu_ms_per_op, r.p99_ms))
                print(
                    f"ab: block {block} {key:10} {r.rate:7.0f}/s cpu {r.cpu_ms_per_op:.2f} ms"
                    f" p99 {r.p99_ms:.1f} ms",
                    file=sys.stderr,
                    flush=True,
                )
    raw_rate = statistics.median(x[0] for x in results["raw"])
    out = [
        f"ReserveStock at {clients} clients, {blocks} blocks per variant taken in turn.",
        "",
        "| Variant | ops/s (median) | vs raw (median) | CPU ms/call (median)"
        " | CPU ms/call (min-max) | p99 ms (median) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for key in [*keys, "raw"]:
        xs = results[key]
        label = VARIANTS[key].label if key in VARIANTS else "raw psycopg INSERT+COMMIT"
        rate = statistics.median(x[0] for x in xs)
        cpus = [x[1] for x in xs]
        out.append(
            f"| {label} | {rate:,.0f} | {rate / raw_rate:.0%} | {statistics.median(cpus):.2f}"
            f" | {min(cpus):.2f}-{max(cpus):.2f} | {statistics.median(x[2] for x in xs):.1f} |"
        )
    return "\n".join(out)


async def _setup_parts(stub: Any, md: Any, count: int) -> None:
    for number in (f"P-{k:05d}" for k in range(count)):
        await stub.RegisterPart(
            pb.RegisterPartRequest(
                request_id=_rid(),
                part=pb.Part(part_number=number, name=number, category="bench", unit="pcs"),
            ),
            metadata=md,
            timeout=CALL_TIMEOUT,
        )


async def _reserve_block(
    stub: Any, md: Any, parts: list[str], clients: int, sizes: config.Sizes
) -> LoadResult:
    stores = [f"C{clients}-S{i:02d}" for i in range(clients)]

    async def reserve(client: int, seq: int) -> None:
        await stub.ReserveStock(
            pb.ReserveStockRequest(
                request_id=_rid(),
                store_id=stores[client],
                part_number=parts[seq % len(parts)],
                quantity=1,
                ttl_seconds=3_600,
                reference="bench",
            ),
            metadata=md,
            timeout=CALL_TIMEOUT,
        )

    return await closed_loop(
        "ReserveStock",
        clients,
        reserve,
        max_calls=sizes.command_step_max_calls,
        max_seconds=sizes.command_step_seconds,
        warmup_calls=1,
    )


def _table(rows: list[Row]) -> str:
    out = [
        "| Variant | Clients | Command | runs | ops/s (median) | vs raw (each run) |"
        " CPU ms/call (each run) | p99 ms (median) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    keys = list(dict.fromkeys((r[0], r[1], r[2]) for r in rows))
    for key, clients, what in sorted(keys, key=lambda k: (k[1], k[2], list(VARIANTS).index(k[0]))):
        mine = [r for r in rows if (r[0], r[1], r[2]) == (key, clients, what)]
        out.append(
            f"| {VARIANTS[key].label} | {clients} | {what} | {len(mine)}"
            f" | {statistics.median(r[3] for r in mine):,.0f}"
            f" | {', '.join(f'{r[4]:.0%}' for r in mine)}"
            f" | {', '.join(f'{r[5]:.2f}' for r in mine)}"
            f" | {statistics.median(r[6] for r in mine):.1f} |"
        )
    return "\n".join(out)


async def _main(args: argparse.Namespace) -> None:
    configure_logging("bench", LOG_LEVEL)
    configure_tracing("bench", "none")
    sizes = dataclasses.replace(
        config.QUICK,
        command_clients=tuple(args.clients),
        command_step_seconds=args.seconds,
        command_step_max_calls=args.max_calls,
        command_warmup_calls=3,
        command_parts=args.parts,
        raw_step_seconds=args.seconds / 2,
        raw_step_max_rows=20_000,
    )
    endpoints = resolve()
    ctx = BenchContext(sizes, endpoints, log_level=LOG_LEVEL)
    rows: list[Row] = []
    try:
        if args.blocks:
            print(await _interleaved(ctx, args.variants, args.blocks, args.clients[-1]))
            return
        for round_ in range(args.rounds):
            # Rotate the order each round: no variant always runs first or last.
            order = (
                args.variants[round_ % len(args.variants) :]
                + args.variants[: round_ % len(args.variants)]
            )
            for key in order:
                rows += await _one(ctx, key, tuple(args.clients))
    finally:
        ctx.close()
        endpoints.stop()
    print(_table(rows))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ab_commands", description=__doc__)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--seconds", type=float, default=4.0, help="per step")
    parser.add_argument("--max-calls", type=int, default=4_000, help="per step")
    parser.add_argument("--parts", type=int, default=40)
    parser.add_argument(
        "--blocks", type=int, default=0, help="interleaved blocks of ReserveStock (0: rounds)"
    )
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
