"""A/B of process-wide switches on the command path: `python -m bench.ab_commands`.

Each variant (a collector mode, psycopg transactions with or without the kernel's
pipelined BEGIN/COMMIT, the relay's gathering delay) that needs a service of its own gets
one (the inventory service, as in section 1 of `make bench`, on a database of its own),
all running at once. ReserveStock is then measured in short blocks taken in turn, variant
after variant with the raw INSERT+COMMIT baseline as one more, the order rotated each
block, so a noisy minute on the shared machine falls on all of them alike; the collector
is switched before each block. Prints medians over the blocks (the table kept in
bench/ab_commands.md).
"""

from __future__ import annotations

import argparse
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
    reserve_one,
)
from kernel import event_loop
from kernel.telemetry import configure_logging, configure_tracing
from kernel.testing.servers import resolve


@dataclass(frozen=True)
class Variant:
    label: str
    gc_mode: str  # BenchContext.gc_mode
    young: int
    pipelined_begin: bool
    relay_gather_ms: float = 5.0
    # Database.direct_commit: transactions committed on psycopg itself (False: SQLAlchemy's
    # begin/commit around every transaction, as before the switch existed).
    direct_commit: bool = True

    @property
    def service(self) -> tuple[bool, float, bool]:
        """What needs a service of its own (the collector is switched per block)."""
        return (self.pipelined_begin, self.relay_gather_ms, self.direct_commit)


VARIANTS = {
    "gc-off": Variant("no GC tuning, pipelined BEGIN/COMMIT", "off", 0, True),
    "freeze": Variant("gc.freeze only, pipelined BEGIN/COMMIT", "freeze", 0, True),
    "serving": Variant("gc.freeze + young 50000, pipelined BEGIN/COMMIT", "serving", 50_000, True),
    "plain-off": Variant("no GC tuning, plain psycopg transactions", "off", 0, False),
    "plain": Variant(
        "gc.freeze + young 50000, plain psycopg transactions", "serving", 50_000, False
    ),
    "sa-tx": Variant(
        "gc.freeze + young 50000, plain psycopg transactions under SQLAlchemy's",
        "serving",
        50_000,
        False,
        direct_commit=False,
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


async def _interleaved(ctx: BenchContext, keys: list[str], blocks: int, clients: int) -> str:
    """All variants' services up at once, measured in short blocks taken in turn (the
    collector's mode is switched before each block), so the machine's noise falls on
    every variant alike; the raw baseline is one more variant of the rotation."""
    sizes = ctx.sizes
    services: dict[tuple[bool, float, bool], tuple[Any, Any]] = {}
    urls: dict[tuple[bool, float, bool], str] = {}
    async with contextlib.AsyncExitStack() as stack:
        for n, service in enumerate(sorted({VARIANTS[k].service for k in keys})):
            pipelined, gather, direct = service
            ctx.pipelined_begin, ctx.relay_gather_ms = pipelined, gather
            url = await stack.enter_async_context(ctx.database(f"ab{n}"))
            ns = await stack.enter_async_context(ctx.namespace("ab"))
            svc = await stack.enter_async_context(ctx.inventory(url, ns))
            svc.service.db.direct_commit = svc.service.db.direct_commit and direct
            stub = pb_grpc.InventoryServiceStub(svc.channel)
            await _seed_directory(svc, sizes)
            await _setup_parts(stub, svc.metadata, sizes.command_parts)
            services[service], urls[service] = (stub, svc.metadata), url
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
        row = await raw_row(url)
        results: dict[str, list[tuple[float, float, float]]] = {k: [] for k in [*keys, "raw"]}
        for block in range(blocks):
            order = [*keys, "raw"]
            order = order[block % len(order) :] + order[: block % len(order)]
            for key in order:
                if key == "raw":
                    r = await raw_block(url, clients, row, sizes)
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


async def raw_row(url: str) -> dict[str, Any]:
    """The stored StockReceived row the raw baseline inserts, as raw_insert_commit's keywords."""
    return dict(
        zip(
            ("event_type", "payload", "store_id", "metadata"),
            await _real_event_row(url),
            strict=True,
        )
    )


async def raw_block(url: str, clients: int, row: dict[str, Any], sizes: config.Sizes) -> LoadResult:
    """One block of the raw INSERT+COMMIT baseline, within the raw step's budget."""
    return await raw_insert_commit(
        url,
        "raw",
        clients,
        **row,
        max_rows=sizes.raw_step_max_rows,
        max_seconds=sizes.raw_step_seconds,
    )


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
        await reserve_one(stub, md, stores[client], parts[seq % len(parts)])

    return await closed_loop(
        "ReserveStock",
        clients,
        reserve,
        max_calls=sizes.command_step_max_calls,
        max_seconds=sizes.command_step_seconds,
        warmup_calls=1,
    )


async def _main(args: argparse.Namespace) -> None:
    configure_logging("bench", LOG_LEVEL)
    configure_tracing("bench", "none")
    sizes = dataclasses.replace(
        config.QUICK,
        command_clients=(args.clients,),
        command_step_seconds=args.seconds,
        command_step_max_calls=args.max_calls,
        command_warmup_calls=3,
        command_parts=args.parts,
        raw_step_seconds=args.seconds / 2,
        raw_step_max_rows=20_000,
    )
    endpoints = resolve()
    ctx = BenchContext(sizes, endpoints, log_level=LOG_LEVEL)
    try:
        print(await _interleaved(ctx, args.variants, args.blocks, args.clients))
    finally:
        ctx.close()
        endpoints.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ab_commands", description=__doc__)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=2.5, help="per block")
    parser.add_argument("--max-calls", type=int, default=4_000, help="per block")
    parser.add_argument("--parts", type=int, default=40)
    parser.add_argument("--blocks", type=int, default=8, help="blocks per variant")
    event_loop.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
