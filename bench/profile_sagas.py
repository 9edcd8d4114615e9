"""Where a transfer saga's CPU goes: `python -m bench.profile_sagas`.

Runs the transfer sagas section (bench/sections/transfer_sagas.py: inventory, capacity,
collab and the load client in this process) under the CPU sampler of
bench/profile_commands.py (SIGPROF on every millisecond of process CPU, greenlet stacks
joined to their coroutine) and prints, for the busy samples, the share each component
was on the stack for (inclusive) and the innermost project functions (exclusive).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from types import FrameType
from typing import Any

import greenlet

from bench import config
from bench.context import BenchContext
from bench.profile_commands import Frame, _walk
from bench.report import SectionReport
from bench.runner import LOG_LEVEL
from kernel import event_loop
from kernel.db import Database
from kernel.telemetry import configure_logging, configure_tracing
from kernel.testing.servers import resolve

# (label, file suffix or fragment, function or "" for any in the file)
COMPONENTS: tuple[tuple[str, str, str], ...] = (
    ("gRPC served call (any service)", "kernel/grpc_server.py", "behaviour"),
    ("  collab servicer", "services/collab/grpc_api.py", ""),
    ("  inventory servicer", "services/inventory/grpc_api.py", ""),
    ("Application.handle (commands, all services)", "kernel/application.py", "handle"),
    ("uow.load (saga stream read + fold)", "kernel/unit_of_work.py", "load"),
    ("uow.record", "kernel/unit_of_work.py", "record"),
    ("SagaRuntime.feed", "kernel/saga/runtime.py", "feed"),
    ("  saga decide", "kernel/saga/definition.py", "decide"),
    ("  saga evolve", "kernel/saga/definition.py", "evolve"),
    ("saga dispatcher claim (poll)", "kernel/saga/dispatcher.py", "_claim"),
    ("saga dispatcher perform (call)", "kernel/saga/dispatcher.py", "_perform"),
    ("  dispatcher participant.call", "kernel/saga/dispatcher.py", "call"),
    ("  dispatcher settle (reply tx)", "kernel/saga/dispatcher.py", "_settle"),
    ("timer runner", "kernel/timers.py", ""),
    ("relay", "kernel/relay.py", ""),
    ("subscriptions (inbound events)", "kernel/subscriptions.py", ""),
    ("projections (collab read model)", "services/collab/read_model", ""),
    ("event store", "kernel/eventstore.py", ""),
    ("command log", "kernel/command_writes.py", ""),
    ("load client (bench partners)", "bench/sections/transfer_sagas.py", ""),
    ("nats-py", "/nats/", ""),
    ("OpenTelemetry", "/opentelemetry/", ""),
    ("structlog", "/structlog/", ""),
    ("begin/commit", "sqlalchemy/ext/asyncio/engine.py", "begin"),
)
LIBRARIES = (
    ("SQLAlchemy", "/sqlalchemy/"),
    ("psycopg", "/psycopg"),
    ("grpcio", "/grpc/"),
    ("OpenTelemetry", "/opentelemetry/"),
    ("structlog", "/structlog/"),
    ("JWT/crypto", "/jwt/"),
    ("protobuf", "/google/protobuf/"),
    ("asyncio", "/asyncio/"),
    ("nats-py", "/nats/"),
    ("kernel", "/kernel/"),
    ("services", "/services/"),
    ("bench", "/bench/"),
)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _hit(frame: Frame, where: str, name: str) -> bool:
    if name:
        return frame[0].endswith(where) and frame[1] == name
    return where in frame[0]


class Sampler:
    def __init__(self) -> None:
        self.busy = 0
        self.idle = 0
        self.components: Counter[str] = Counter()
        self.libraries: Counter[str] = Counter()
        self.inclusive: Counter[str] = Counter()
        self.exclusive: Counter[str] = Counter()

    def __enter__(self) -> Sampler:
        import signal

        self._previous = signal.signal(signal.SIGPROF, self._sample)
        signal.setitimer(signal.ITIMER_PROF, 0.001, 0.001)
        return self

    def __exit__(self, *exc: object) -> None:
        import signal

        signal.setitimer(signal.ITIMER_PROF, 0, 0)
        signal.signal(signal.SIGPROF, self._previous)

    def _sample(self, _signum: int, frame: FrameType | None) -> None:
        stack = _walk(frame)
        current = greenlet.getcurrent()
        if current.parent is not None:
            stack += _walk(current.parent.gr_frame)
        if not stack:
            return
        top = stack[0]
        if top[0].endswith("selectors.py") and top[1] == "select":
            self.idle += 1
            return
        self.busy += 1
        for label, where, name in COMPONENTS:
            if any(_hit(f, where, name) for f in stack):
                self.components[label] += 1
        for label, marker in LIBRARIES:
            if marker in top[0]:
                self.libraries[label] += 1
                break
        else:
            self.libraries["other"] += 1
        own = [f for f in stack if f[0].startswith(ROOT) and "/.venv/" not in f[0]]
        if own:
            self.exclusive[_name(own[0])] += 1
        for name in {_name(f) for f in own}:
            self.inclusive[name] += 1


def _name(frame: Frame) -> str:
    return f"{os.path.relpath(frame[0], ROOT)}:{frame[1]}"


def render(s: Sampler, top: int) -> str:
    busy = max(s.busy, 1)
    out = [f"{s.busy} busy samples (1 ms CPU each), {s.idle} in epoll (other threads)", ""]
    out += ["| Component (inclusive) | share |", "| --- | --- |"]
    out += [f"| {label} | {s.components[label] / busy:.1%} |" for label, _, _ in COMPONENTS]
    out += ["", "| Innermost library | share |", "| --- | --- |"]
    out += [f"| {k} | {v / busy:.1%} |" for k, v in s.libraries.most_common()]
    out += ["", "| Project function (inclusive) | share |", "| --- | --- |"]
    out += [f"| {k} | {v / busy:.1%} |" for k, v in s.inclusive.most_common(top)]
    out += ["", "| Innermost project frame (own code + libraries it calls) | share |"]
    out += ["| --- | --- |"]
    out += [f"| {k} | {v / busy:.1%} |" for k, v in s.exclusive.most_common(top)]
    return "\n".join(out) + "\n"


async def run(top: int) -> str:
    from bench.sections import transfer_sagas

    configure_logging("bench", LOG_LEVEL)
    configure_tracing("bench", "none")
    endpoints = resolve()
    ctx = BenchContext(config.from_env(), endpoints, log_level=LOG_LEVEL)
    report = SectionReport("sagas", transfer_sagas.TITLE)
    transactions: Counter[str] = Counter()
    original = Database.transaction

    def counted(self: Database, name: str = "db.transaction") -> Any:
        transactions[name] += 1
        return original(self, name)

    Database.transaction = counted  # type: ignore[method-assign]
    try:
        with Sampler() as sampler:
            await transfer_sagas.run(ctx, report)
    finally:
        Database.transaction = original  # type: ignore[method-assign]
        ctx.close()
        endpoints.stop()
    lines = ["| Transactions (all services, set-up included) | count |", "| --- | --- |"]
    lines += [f"| {k} | {v} |" for k, v in transactions.most_common()]
    return "\n".join([*report.body, "", render(sampler, top), *lines]) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_sagas", description=__doc__)
    parser.add_argument("--top", type=int, default=40, help="project functions listed")
    args = parser.parse_args(argv)
    print(event_loop.run(run(args.top)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
