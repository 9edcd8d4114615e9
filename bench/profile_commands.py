"""Where a stock command's CPU goes: `python -m bench.profile_commands` (or `make profile`).

Starts the real inventory service in this process on a fresh PostgreSQL database (as the
benchmark does), puts the clients' stores in its store directory (as capacity would),
sends a bounded number of ReceiveStock and then ReserveStock calls over
loopback gRPC and samples the event loop thread's stack meanwhile; prints the share of
busy samples each component was on the stack for.

A CPU-time sampler, not cProfile: SQLAlchemy's async bridge runs statements in
greenlets, and cProfile's call stack loses track at every greenlet switch (its
cumulative times came out several times the wall time). Here a sample taken inside a
greenlet is joined to the stack of the coroutine that spawned it, so a component's
share is inclusive of what it called. The timer counts the CPU of the whole process;
samples that find the loop waiting in `epoll` are CPU spent in other threads (grpcio's
C core, mostly) and are counted apart. Shares hold on a busy machine, where absolute
times are noise.
"""

from __future__ import annotations

import argparse
import signal
import sys
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import FrameType

import greenlet
from storemesh.inventory.v1 import inventory_pb2 as pb
from storemesh.inventory.v1 import inventory_pb2_grpc as pb_grpc

from bench import config
from bench.context import BenchContext
from bench.load import LoadResult, closed_loop
from bench.runner import LOG_LEVEL
from kernel import event_loop
from kernel.service import Service
from kernel.store_directory import store_directory
from kernel.telemetry import configure_logging, configure_tracing
from kernel.testing.servers import resolve

Frame = tuple[str, str]  # (file, function)


@dataclass(frozen=True)
class Component:
    """A part of the command path: a sample counts when any function named is on its stack."""

    label: str
    functions: tuple[Frame, ...]  # (file suffix, function name); no name: any in the file


# Rows nest (indented) and overlap where they do: each is inclusive of what it calls.
COMPONENTS = (
    Component("served call (interceptor and all in it)", (("kernel/grpc_server.py", "behaviour"),)),
    Component("  token verification (TokenVerifier.verify)", (("kernel/auth.py", "verify"),)),
    Component(
        "  store-directory lookup (require_open_store)",
        (("kernel/store_directory.py", "require_open_store"),),
    ),
    Component(
        "  part-reference check (read_model.get_part)",
        (("services/inventory/read_model/lookups.py", "get_part"),),
    ),
    Component("  Application.handle", (("kernel/application.py", "handle"),)),
    Component("    command fingerprint", (("kernel/fingerprint.py", "fingerprint"),)),
    Component(
        "    event-store load (snapshot, stream read, fold)",
        (("kernel/unit_of_work.py", "load"),),
    ),
    Component(
        "    event-store append (at once; queued for the closing statement)",
        (("kernel/eventstore.py", "append"), ("kernel/unit_of_work.py", "append")),
    ),
    Component("    snapshot save", (("kernel/eventstore.py", "save_snapshot"),)),
    Component(
        "    projection (read_model.project)",
        (("services/inventory/read_model/tables.py", "project"),),
    ),
    Component("    timer schedule (ReserveStock)", (("kernel/unit_of_work.py", "schedule"),)),
    Component(
        "    closing statement (appends, timers, rows, command log; its round trip)",
        (("kernel/command_writes.py", "write"), ("kernel/command_writes.py", "write_with_appends")),
    ),
    Component(
        "    begin and commit (AsyncConnection begin / transaction exit)",
        (
            ("sqlalchemy/ext/asyncio/engine.py", "begin"),
            ("sqlalchemy/ext/asyncio/engine.py", "start"),
            ("sqlalchemy/ext/asyncio/base.py", "__aexit__"),
            ("sqlalchemy/ext/asyncio/engine.py", "__aexit__"),
        ),
    ),
    Component(
        "  Database.transaction's own work (span, checkout, COMMIT, return; the relay's too)",
        (("kernel/db.py", "transaction"),),
    ),
    Component("  OpenTelemetry spans", (("/opentelemetry/", ""),)),
    Component("relay (background, woken by each commit)", (("kernel/relay.py", "relay_once"),)),
    Component("timer runner (background polls)", (("kernel/timers.py", "run_due"),)),
    Component(
        "bench clients (the calling side)",
        (("bench/profile_commands.py", "receive"), ("bench/profile_commands.py", "reserve")),
    ),
)

# Innermost frame by library: which layer burns the CPU, whoever called it.
LIBRARIES = (
    ("SQLAlchemy", ("/sqlalchemy/",)),
    ("psycopg", ("/psycopg/", "/psycopg_binary/")),
    ("grpcio (Python side, client and server)", ("/grpc/",)),
    ("OpenTelemetry", ("/opentelemetry/",)),
    ("structlog", ("/structlog/",)),
    ("PyJWT + cryptography", ("/jwt/", "/cryptography/")),
    ("protobuf", ("/google/protobuf/", "/storemesh/")),
    ("asyncio event loop", ("/asyncio/", "/selectors.py")),
    ("kernel", ("/kernel/",)),
    ("services.inventory", ("/services/inventory/",)),
    ("nats-py", ("/nats/",)),
    ("bench clients", ("/bench/",)),
)


def _matches(frame: Frame, suffix: str, name: str) -> bool:
    return (suffix in frame[0] if not name else frame[0].endswith(suffix)) and (
        not name or frame[1] == name
    )


@dataclass
class Samples:
    busy: int = 0
    idle: int = 0
    components: Counter[str] = field(default_factory=Counter)
    libraries: Counter[str] = field(default_factory=Counter)
    # With --top: every function on the stack (inclusive) and the innermost one (self).
    detailed: bool = False
    # The rows to count samples under (bench.profile_capacity has its own).
    parts: tuple[Component, ...] = COMPONENTS
    libraries_of: tuple[tuple[str, tuple[str, ...]], ...] = LIBRARIES
    inclusive: Counter[Frame] = field(default_factory=Counter)
    innermost: Counter[Frame] = field(default_factory=Counter)

    def add(self, stack: list[Frame]) -> None:
        if not stack:
            return
        top = stack[0]
        if top[0].endswith("selectors.py") and top[1] == "select":  # other threads' CPU
            self.idle += 1
            return
        self.busy += 1
        if self.detailed:
            self.innermost[top] += 1
            self.inclusive.update(set(stack))
        for component in self.parts:
            if any(_matches(f, s, n) for f in stack for s, n in component.functions):
                self.components[component.label] += 1
        for label, markers in self.libraries_of:
            if any(marker in top[0] for marker in markers):
                self.libraries[label] += 1
                break
        else:
            self.libraries["elsewhere (stdlib)"] += 1


def _walk(frame: FrameType | None) -> list[Frame]:
    stack = []
    while frame is not None:
        stack.append((frame.f_code.co_filename, frame.f_code.co_name))
        frame = frame.f_back
    return stack


class CpuSampler:
    """Samples the main thread's stack on every millisecond of process CPU (SIGPROF).

    The handler runs in the event loop's own thread at the next bytecode, so it sees the
    frame doing the work without waiting for the GIL to be handed over (a sampler thread
    would only ever look where the loop releases the GIL: at socket I/O).
    """

    def __init__(
        self, interval: float = 0.001, *, detailed: bool = False, samples: Samples | None = None
    ) -> None:
        self.interval = interval
        self.samples = samples or Samples(detailed=detailed)

    def __enter__(self) -> CpuSampler:
        self._previous = signal.signal(signal.SIGPROF, self._sample)
        signal.setitimer(signal.ITIMER_PROF, self.interval, self.interval)
        return self

    def __exit__(self, *exc: object) -> None:
        signal.setitimer(signal.ITIMER_PROF, 0, 0)
        signal.signal(signal.SIGPROF, self._previous)

    def _sample(self, _signum: int, frame: FrameType | None) -> None:
        stack = _walk(frame)
        current = greenlet.getcurrent()
        if current.parent is not None:
            # Inside SQLAlchemy's greenlet: its frames stop at the greenlet; the coroutine
            # that spawned it waits in the parent.
            stack += _walk(current.parent.gr_frame)
        self.samples.add(stack)


def _short(frame: Frame) -> str:
    path = frame[0]
    for marker in ("site-packages/", "/perf10/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"`{path}:{frame[1]}`"


def render_top(samples: Samples, top: int) -> str:
    busy = max(samples.busy, 1)
    lines = [
        "| Function (inclusive) | share | Function (innermost) | share |",
        "| --- | --- | --- | --- |",
    ]
    inc = samples.inclusive.most_common(top)
    inn = samples.innermost.most_common(top)
    for i in range(top):
        a = f"{_short(inc[i][0])} | {inc[i][1] / busy:.1%}" if i < len(inc) else " | "
        b = f"{_short(inn[i][0])} | {inn[i][1] / busy:.1%}" if i < len(inn) else " | "
        lines.append(f"| {a} | {b} |")
    return "\n".join(lines) + "\n"


def render(command: str, load: LoadResult, samples: Samples) -> str:
    busy = max(samples.busy, 1)
    lines = [
        f"### {command}: {load.ok} calls, {load.clients} clients",
        "",
        f"CPU per call {load.cpu_ms_per_op:.2f} ms (whole process, sampler included);"
        f" {load.ok / load.elapsed:.0f} calls/s, p50 {load.p50_ms:.1f} ms,"
        f" p99 {load.p99_ms:.1f} ms (rates move with the machine's load).",
        "",
        f"{samples.busy} samples of the event loop thread at work; {samples.idle} more found"
        " it waiting while other threads (grpcio's C core) used the CPU, left out below.",
        "",
        "| Component (inclusive; indented rows are inside the row above) | share of busy |",
        "| --- | --- |",
    ]
    lines += [
        f"| {c.label.replace('  ', '&nbsp;&nbsp;')} | {samples.components[c.label] / busy:.1%} |"
        for c in samples.parts
    ]
    lines += ["", "| Innermost frame in | share of busy |", "| --- | --- |"]
    lines += [
        f"| {label} | {count / busy:.1%} |" for label, count in samples.libraries.most_common()
    ]
    return "\n".join(lines) + "\n"


async def _sampled(
    label: str,
    clients: int,
    calls: int,
    max_seconds: float,
    call: Callable[[int, int], Awaitable[object]],
    detailed: bool = False,
) -> tuple[Samples, LoadResult]:
    with CpuSampler(detailed=detailed) as sampler:
        result = await closed_loop(
            label, clients, call, max_calls=calls, max_seconds=max_seconds, warmup_calls=2
        )
    if result.errors:
        raise RuntimeError(f"{label}: calls failed: {dict(result.errors)}")
    return sampler.samples, result


async def run(
    calls: int,
    clients: int,
    max_seconds: float,
    top: int = 0,
    pipelined_begin: bool = False,
    sa_transactions: bool = False,
) -> str:
    configure_logging("bench", LOG_LEVEL)
    configure_tracing("bench", "none")
    endpoints = resolve()
    ctx = BenchContext(config.from_env(), endpoints, log_level=LOG_LEVEL)
    ctx.pipelined_begin = pipelined_begin
    out = []
    try:
        async with (
            ctx.database("profile") as url,
            ctx.namespace("prof") as ns,
            ctx.inventory(url, ns) as svc,
        ):
            if sa_transactions:
                svc.service.db.direct_commit = False
            stub = pb_grpc.InventoryServiceStub(svc.channel)
            md = svc.metadata
            parts = [f"P-{k:03d}" for k in range(20)]
            await _seed_directory(svc.service, clients)
            for number in parts:
                await stub.RegisterPart(
                    pb.RegisterPartRequest(
                        request_id=str(uuid.uuid4()),
                        part=pb.Part(part_number=number, name=number, category="bench", unit="pcs"),
                    ),
                    metadata=md,
                    timeout=30,
                )

            async def receive(client: int, seq: int) -> None:
                await stub.ReceiveStock(
                    pb.ReceiveStockRequest(
                        request_id=str(uuid.uuid4()),
                        store_id=f"PROF-{client:02d}",
                        part_number=parts[seq % len(parts)],
                        quantity=1_000,
                        reference=f"DN-{seq}",
                    ),
                    metadata=md,
                    timeout=30,
                )

            async def reserve(client: int, seq: int) -> None:
                await stub.ReserveStock(
                    pb.ReserveStockRequest(
                        request_id=str(uuid.uuid4()),
                        store_id=f"PROF-{client:02d}",
                        part_number=parts[seq % len(parts)],
                        quantity=1,
                        ttl_seconds=3_600,
                        reference="profile",
                    ),
                    metadata=md,
                    timeout=30,
                )

            for label, call in (("ReceiveStock", receive), ("ReserveStock", reserve)):
                samples, load = await _sampled(
                    label, clients, calls, max_seconds, call, detailed=top > 0
                )
                out.append(render(label, load, samples))
                if top:
                    out.append(render_top(samples, top))
    finally:
        ctx.close()
        endpoints.stop()
    return "\n".join(out)


async def _seed_directory(service: Service, clients: int) -> None:
    """The clients' stores in the store directory, as capacity's events would have put
    them in production (rows written here, as the workforce benchmark does)."""
    rows = [
        {
            "store_id": f"PROF-{k:02d}",
            "name": f"Store {k}",
            "region": "",
            "closed": False,
            "version": 1,
        }
        for k in range(clients)
    ]
    async with service.db.transaction("profile.seed_directory") as conn:
        await conn.execute(store_directory.insert(), rows)


def add_pipelined_begin(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--pipelined-begin",
        action="store_true",
        help="the service with Settings.db_pipelined_begin on (off is the default)",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_commands", description=__doc__)
    parser.add_argument("--calls", type=int, default=600, help="calls per command (all clients)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--max-seconds", type=float, default=60.0, help="time budget per command")
    parser.add_argument("--top", type=int, default=0, help="also list the N busiest functions")
    add_pipelined_begin(parser)
    parser.add_argument(
        "--sa-transactions",
        action="store_true",
        help="SQLAlchemy's begin/commit around every transaction (Database.direct_commit off)",
    )
    args = parser.parse_args(argv)
    print(
        event_loop.run(
            run(
                args.calls,
                args.clients,
                args.max_seconds,
                args.top,
                args.pipelined_begin,
                args.sa_transactions,
            )
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
