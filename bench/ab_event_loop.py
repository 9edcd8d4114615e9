"""A/B of the event loop on the command path: `python -m bench.ab_event_loop`.

A loop cannot be switched inside one process, so each loop gets a process of its own
(STOREMESH_EVENT_LOOP=uvloop / asyncio), each with the inventory service in-process as in
section 1 of `make bench` (its own database and NATS namespace, its positions stocked
first, not measured). The two processes then take short blocks in turn, step by step
(ReceiveStock, ReserveStock and the raw INSERT+COMMIT baseline, at each client count),
the loop that goes first alternating, so a noisy minute on the shared machine falls on
both alike. *CPU ms/op* is the measuring process's own CPU (clients and service). Prints
medians over the blocks and the median of the per-block ratios uvloop / asyncio.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import statistics
import subprocess
import sys
from typing import Any

from storemesh.inventory.v1 import inventory_pb2 as pb
from storemesh.inventory.v1 import inventory_pb2_grpc as pb_grpc

from bench import config
from bench.ab_commands import _setup_parts, raw_block, raw_row
from bench.context import BenchContext
from bench.load import LoadResult, closed_loop
from bench.raw import create_raw_table
from bench.runner import LOG_LEVEL
from bench.sections.inventory_commands import (
    CALL_TIMEOUT,
    RECEIVE_QUANTITY,
    _rid,
    _seed_directory,
    reserve_one,
)
from kernel import event_loop
from kernel.config import EVENT_LOOPS
from kernel.event_loop import running_loop_name
from kernel.telemetry import configure_logging, configure_tracing
from kernel.testing.servers import resolve

STEPS = ("receive", "reserve", "raw")


def _sizes(args: argparse.Namespace) -> config.Sizes:
    return dataclasses.replace(
        config.QUICK,
        command_clients=tuple(args.clients),
        command_step_seconds=args.seconds,
        command_step_max_calls=args.max_calls,
        command_warmup_calls=3,
        command_parts=args.parts,
        raw_step_seconds=args.seconds,
        raw_step_max_rows=args.max_calls * 4,
    )


async def _worker(args: argparse.Namespace) -> None:
    """One loop's side: a service, then blocks on request ("<step> <clients>" on stdin),
    each answered with one JSON line on stdout."""
    configure_logging("bench", LOG_LEVEL)
    configure_tracing("bench", "none")
    sizes = _sizes(args)
    endpoints = resolve()
    ctx = BenchContext(sizes, endpoints, log_level=LOG_LEVEL)
    try:
        async with (
            ctx.database("abloop") as url,
            ctx.namespace("abloop") as ns,
            ctx.inventory(url, ns) as svc,
        ):
            stub = pb_grpc.InventoryServiceStub(svc.channel)
            md = svc.metadata
            await _seed_directory(svc, sizes)
            await _setup_parts(stub, md, sizes.command_parts)
            parts = [f"P-{k:05d}" for k in range(sizes.command_parts)]
            for clients in sizes.command_clients:  # every position stocked, not measured
                for i in range(clients):
                    for number in parts:
                        await _receive(stub, md, f"C{clients}-S{i:02d}", number)
            await create_raw_table(url)
            row = await raw_row(url)
            print(json.dumps({"ready": running_loop_name()}), flush=True)
            while line := await asyncio.to_thread(sys.stdin.readline):
                step, clients = line.split()[0], int(line.split()[1])
                if step == "raw":
                    r = await raw_block(url, clients, row, sizes)
                else:
                    r = await _block(step, stub, md, parts, clients, sizes)
                answer = {"rate": r.rate, "cpu": r.cpu_ms_per_op, "p99": r.p99_ms, "ok": r.ok}
                print(json.dumps(answer), flush=True)
    finally:
        ctx.close()
        endpoints.stop()


async def _receive(stub: Any, md: Any, store: str, part: str) -> None:
    await stub.ReceiveStock(
        pb.ReceiveStockRequest(
            request_id=_rid(),
            store_id=store,
            part_number=part,
            quantity=RECEIVE_QUANTITY,
            reference="bench",
        ),
        metadata=md,
        timeout=CALL_TIMEOUT,
    )


async def _block(
    step: str, stub: Any, md: Any, parts: list[str], clients: int, sizes: config.Sizes
) -> LoadResult:
    stores = [f"C{clients}-S{i:02d}" for i in range(clients)]

    async def call(client: int, seq: int) -> None:
        part = parts[seq % len(parts)]
        if step == "receive":
            await _receive(stub, md, stores[client], part)
        else:
            await reserve_one(stub, md, stores[client], part)

    return await closed_loop(
        step,
        clients,
        call,
        max_calls=sizes.command_step_max_calls,
        max_seconds=sizes.command_step_seconds,
        warmup_calls=sizes.command_warmup_calls,
    )


def _coordinate(args: argparse.Namespace, argv: list[str]) -> str:
    workers: dict[str, subprocess.Popen[str]] = {}
    for loop in EVENT_LOOPS:
        workers[loop] = subprocess.Popen(
            [sys.executable, "-m", "bench.ab_event_loop", "--worker", *argv],
            env={**os.environ, "STOREMESH_EVENT_LOOP": loop},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
    try:
        for loop, process in workers.items():
            assert process.stdout is not None
            ready = json.loads(process.stdout.readline())
            assert ready == {"ready": loop}, f"{loop}: {ready}"

        def ask(loop: str, step: str, clients: int) -> dict[str, float]:
            process = workers[loop]
            assert process.stdin is not None and process.stdout is not None
            process.stdin.write(f"{step} {clients}\n")
            process.stdin.flush()
            return dict(json.loads(process.stdout.readline()))

        results: dict[tuple[str, int, str], list[dict[str, float]]] = {}
        for block in range(args.blocks):
            for clients in args.clients:
                for step in STEPS:
                    order = EVENT_LOOPS if block % 2 == 0 else EVENT_LOOPS[::-1]
                    for loop in order:
                        r = ask(loop, step, clients)
                        results.setdefault((step, clients, loop), []).append(r)
                        print(
                            f"ab: block {block} {clients} clients {step:8} {loop:8}"
                            f" {r['rate']:7.0f}/s cpu {r['cpu']:.2f} ms p99 {r['p99']:.1f} ms",
                            file=sys.stderr,
                            flush=True,
                        )
    finally:
        for process in workers.values():
            assert process.stdin is not None
            process.stdin.close()
        for process in workers.values():
            process.wait(timeout=120)
    return _table(results, args)


def _table(results: dict[tuple[str, int, str], list[dict[str, float]]], args: Any) -> str:
    out = [
        f"{args.blocks} blocks of {args.seconds:g} s per step and loop, taken in turn.",
        "",
        "| Clients | Step | Loop | ops/s | vs raw | CPU ms/op (min-max) | p99 ms |"
        " uvloop/asyncio ops/s | uvloop/asyncio CPU |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for clients in args.clients:
        for step in STEPS:
            for loop in EVENT_LOOPS:
                xs = results[(step, clients, loop)]
                raw = results[("raw", clients, loop)]
                rates = [x["rate"] for x in xs]
                cpus = [x["cpu"] for x in xs]
                shares = [x["rate"] / r["rate"] for x, r in zip(xs, raw, strict=True)]
                share = statistics.median(shares)
                if loop == "uvloop":
                    other = results[(step, clients, "asyncio")]
                    rate_ratio = statistics.median(
                        x["rate"] / o["rate"] for x, o in zip(xs, other, strict=True)
                    )
                    cpu_ratio = statistics.median(
                        x["cpu"] / o["cpu"] for x, o in zip(xs, other, strict=True)
                    )
                    ratio = f" {rate_ratio:.2f} | {cpu_ratio:.2f} |"
                else:
                    ratio = " | |"
                out.append(
                    f"| {clients} | {step} | {loop} | {statistics.median(rates):,.0f}"
                    f" | {share:.0%} | {statistics.median(cpus):.2f}"
                    f" ({min(cpus):.2f}-{max(cpus):.2f})"
                    f" | {statistics.median(x['p99'] for x in xs):.1f} |{ratio}"
                )
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ab_event_loop", description=__doc__)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--seconds", type=float, default=2.5, help="per block")
    parser.add_argument("--max-calls", type=int, default=2_000, help="per block")
    parser.add_argument("--parts", type=int, default=40)
    parser.add_argument("--blocks", type=int, default=8, help="blocks per step and loop")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    argv = sys.argv[1:]
    args = parser.parse_args(argv)
    if args.worker:
        event_loop.run(_worker(args))
    else:
        print(_coordinate(args, argv))


if __name__ == "__main__":
    main()
