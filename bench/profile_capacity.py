"""Where a BookAppointment's CPU goes: `python -m bench.profile_capacity`.

The load of bench section 5b (bench.sections.capacity): the real capacity service in this
process on a fresh PostgreSQL database, each client booking into its own store (registered
through RegisterStore), 30 appointments a day spread over the opening hours, then the next
day. Sampled as bench.profile_commands samples the stock commands (its CpuSampler: the
event loop thread's stack on every millisecond of process CPU, joined across
SQLAlchemy's greenlets); rows are inclusive shares of the busy samples.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import datetime, timedelta
from types import FrameType
from typing import Any
from zoneinfo import ZoneInfo

from psycopg import waiting
from storemesh.capacity.v1 import capacity_pb2_grpc as pb_grpc

from bench import config
from bench.context import BenchContext
from bench.load import closed_loop
from bench.profile_commands import (
    LIBRARIES,
    Component,
    CpuSampler,
    Samples,
    add_pipelined_begin,
    render,
    render_top,
)
from bench.runner import LOG_LEVEL
from bench.sections.capacity import CALL_TIMEOUT, _booking, _register, _slot
from kernel import event_loop
from kernel.telemetry import configure_logging, configure_tracing
from kernel.testing.servers import resolve

BOOK_SIZE = 30

CAPACITY = (
    Component("served call (interceptor and all in it)", (("kernel/grpc_server.py", "behaviour"),)),
    Component("  token verification (TokenVerifier.verify)", (("kernel/auth.py", "verify"),)),
    Component(
        "  store facts to place the request (recent_store_facts)",
        (("services/capacity/queries.py", "recent_store_facts"),),
    ),
    Component(
        "  request to command (checked_booking, booking)",
        (
            ("services/capacity/grpc_messages.py", "checked_booking"),
            ("services/capacity/grpc_messages.py", "booking"),
        ),
    ),
    Component("  Application.handle", (("kernel/application.py", "handle"),)),
    Component("    command fingerprint", (("kernel/fingerprint.py", "fingerprint"),)),
    Component(
        "    store facts in the transaction (load_store_facts)",
        (("services/capacity/application.py", "load_store_facts"),),
    ),
    Component(
        "    event-store load (snapshot, stream read, fold)",
        (("kernel/unit_of_work.py", "load"),),
    ),
    Component(
        "    decide (appointment_book.decide)",
        (("services/capacity/domain/appointment_book.py", "decide"),),
    ),
    Component("    event encode (registry.encode)", (("kernel/events.py", "encode"),)),
    Component("    event-store append", (("kernel/eventstore.py", "append"),)),
    Component(
        "    evolve (appointment_book.evolve)",
        (("services/capacity/domain/appointment_book.py", "evolve"),),
    ),
    Component("    snapshot save", (("kernel/eventstore.py", "save_snapshot"),)),
    Component(
        "    projection (capacity read_model.project)",
        (("services/capacity/read_model/tables.py", "project"),),
    ),
    Component(
        "    cached streams re-checked (_check_unguarded)",
        (("kernel/application.py", "_check_unguarded"),),
    ),
    Component("    result to JSON (codec.to_json)", (("kernel/codec.py", "to_json"),)),
    Component(
        "    the command's end: cache check, deferred rows, log (Application._finish)",
        (("kernel/application.py", "_finish"),),
    ),
    Component(
        "      timers, deferred rows, command log (command_writes.write)",
        (("kernel/command_writes.py", "write"),),
    ),
    Component(
        "  Database.transaction's own work (span, checkout, COMMIT, return; the relay's too)",
        (("kernel/db.py", "transaction"),),
    ),
    Component(
        "  reply message (appointment_message)",
        (("services/capacity/grpc_messages.py", "appointment_message"),),
    ),
    Component("  OpenTelemetry spans", (("/opentelemetry/", ""),)),
    Component("relay (background, woken by each commit)", (("kernel/relay.py", ""),)),
    Component("timer runner (background polls)", (("kernel/timers.py", "run_due"),)),
    Component("bench clients (the calling side)", (("bench/profile_capacity.py", "book"),)),
)

CAPACITY_LIBRARIES = tuple(
    (label, markers)
    if label != "services.inventory"
    else ("services.capacity", ("/services/capacity/",))
    for label, markers in LIBRARIES
)


class RoundTrips:
    """Counts the times psycopg waited to read the server's answer (a round trip: one per
    statement sent alone, commit, or pipeline) on behalf of a served call; the relay's and
    the timers' are left out."""

    def __init__(self) -> None:
        self.count = 0
        self._wait_async = waiting.wait_async

    def __enter__(self) -> RoundTrips:
        original, counter = self._wait_async, self

        async def wait_async(gen: Any, *args: Any, **kwargs: Any) -> Any:
            if _served():
                gen = _Counted(gen, counter)
            return await original(gen, *args, **kwargs)

        waiting.wait_async = wait_async
        return self

    def __exit__(self, *exc: object) -> None:
        waiting.wait_async = self._wait_async


def _served() -> bool:
    frame: FrameType | None = sys._getframe(2)
    while frame is not None:
        code = frame.f_code
        if code.co_name == "behaviour" and code.co_filename.endswith("kernel/grpc_server.py"):
            return True
        frame = frame.f_back
    return False


class _Counted:
    """A psycopg generator whose waits for the socket to read are counted."""

    def __init__(self, gen: Any, counter: RoundTrips) -> None:
        self.gen, self.counter = gen, counter

    def __iter__(self) -> _Counted:
        return self

    def _seen(self, state: Any) -> Any:
        if state == waiting.Wait.R:
            self.counter.count += 1
        return state

    def __next__(self) -> Any:
        return self._seen(next(self.gen))

    def send(self, value: Any) -> Any:
        return self._seen(self.gen.send(value))

    def throw(self, *exc: Any) -> Any:
        return self._seen(self.gen.throw(*exc))


async def run(
    calls: int,
    clients: int,
    max_seconds: float,
    top: int = 0,
    round_trips: bool = False,
    pipelined_begin: bool = False,
) -> str:
    configure_logging("bench", LOG_LEVEL)
    configure_tracing("bench", "none")
    endpoints = resolve()
    ctx = BenchContext(config.from_env(), endpoints, log_level=LOG_LEVEL)
    ctx.pipelined_begin = pipelined_begin
    try:
        async with (
            ctx.database("profile_capacity") as url,
            ctx.namespace("profcap") as ns,
            ctx.capacity(url, ns) as svc,
        ):
            stub = pb_grpc.CapacityServiceStub(svc.channel)
            md = svc.metadata
            stores = [f"PC-{k:02d}" for k in range(clients)]
            await asyncio.gather(*(_register(stub, md, s) for s in stores))
            first_day = datetime.now(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=1)

            async def book(client: int, seq: int) -> None:
                at = _slot(first_day, seq, BOOK_SIZE)
                await stub.BookAppointment(
                    _booking(stores[client], seq, at), metadata=md, timeout=CALL_TIMEOUT
                )

            if round_trips:
                with RoundTrips() as counted:
                    load = await closed_loop(
                        "BookAppointment", clients, book, max_calls=calls, max_seconds=max_seconds
                    )
                return (
                    f"BookAppointment: {counted.count / max(load.ok, 1):.2f} round trips"
                    " to PostgreSQL"
                    f" per call ({load.ok} calls, {clients} clients)"
                )
            samples = Samples(detailed=top > 0, parts=CAPACITY, libraries_of=CAPACITY_LIBRARIES)
            with CpuSampler(samples=samples):
                load = await closed_loop(
                    "BookAppointment",
                    clients,
                    book,
                    max_calls=calls,
                    max_seconds=max_seconds,
                    warmup_calls=2,
                )
            if load.errors:
                raise RuntimeError(f"BookAppointment: calls failed: {dict(load.errors)}")
            out = render("BookAppointment", load, samples)
            if top:
                out += "\n" + render_top(samples, top)
            return out
    finally:
        ctx.close()
        endpoints.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_capacity", description=__doc__)
    parser.add_argument("--calls", type=int, default=2000, help="calls (all clients)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--max-seconds", type=float, default=60.0)
    parser.add_argument("--top", type=int, default=0, help="also list the N busiest functions")
    parser.add_argument(
        "--round-trips",
        action="store_true",
        help="count the served calls' waits on PostgreSQL instead of sampling",
    )
    add_pipelined_begin(parser)
    print(event_loop.run(run(**vars(parser.parse_args(argv)))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
