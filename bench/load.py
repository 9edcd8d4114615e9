"""Closed-loop load: N clients, each awaiting its own calls one after the other.

Each step is bounded twice: by a call budget (shared out among the clients) and by a
deadline. Latency is measured per successful call; throughput is successful calls over
the wall time from the common start to the last client's finish.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

Call = Callable[[int, int], Awaitable[object]]  # (client index, sequence number)


@dataclass
class LoadResult:
    label: str
    clients: int
    ok: int = 0
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)  # seconds, successful calls
    errors: Counter[str] = field(default_factory=Counter)
    warmup_errors: Counter[str] = field(default_factory=Counter)
    budget_calls: int = 0
    budget_seconds: float = 0.0
    cpu_seconds: float = 0.0  # of this process (clients, and the service when in-process)
    # Of the whole machine (every process: PostgreSQL, NATS, workers), from /proc/stat;
    # None where the kernel does not expose it.
    machine_cpu_seconds: float | None = None

    @property
    def rate(self) -> float:
        return self.ok / self.elapsed if self.elapsed > 0 else 0.0

    def percentile_ms(self, p: float) -> float:
        return percentile(self.latencies, p) * 1000

    @property
    def p50_ms(self) -> float:
        return self.percentile_ms(50)

    @property
    def p99_ms(self) -> float:
        return self.percentile_ms(99)

    @property
    def max_ms(self) -> float:
        return max(self.latencies, default=0.0) * 1000

    @property
    def cpu_ms_per_op(self) -> float:
        return 1000 * self.cpu_seconds / self.ok if self.ok else 0.0

    @property
    def machine_cpu_ms_per_op(self) -> float | None:
        if self.machine_cpu_seconds is None or not self.ok:
            return None
        return 1000 * self.machine_cpu_seconds / self.ok

    @property
    def machine_busy(self) -> float | None:
        """The share (0..1) of all the machine's cores busy during the step: near 1, the
        step was bound by CPU, and its rate moves only with the CPU its operations cost."""
        if self.machine_cpu_seconds is None or self.elapsed <= 0:
            return None
        return self.machine_cpu_seconds / (self.elapsed * machine_cores())

    @property
    def stopped_by(self) -> str:
        return "calls" if self.ok + sum(self.errors.values()) >= self.budget_calls else "time"

    def error_text(self) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(self.errors.items())) or "0"


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of unsorted values; 0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def process_cpu() -> float:
    """User + system CPU seconds of this process, all threads."""
    t = os.times()
    return t.user + t.system


def machine_cores() -> int:
    """The machine's cores, all of them (what /proc/stat's busy time is shared among)."""
    return os.cpu_count() or 1


_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def machine_cpu() -> float | None:
    """Busy CPU seconds of the whole machine since boot, all cores (/proc/stat's first
    line: user, nice, system, irq, softirq and steal; idle and iowait left out), or None
    off Linux."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu" or len(fields) < 9:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[1:9])
    return (user + nice + system + irq + softirq + steal) / _TICKS


def classify(exc: BaseException) -> str:
    if isinstance(exc, grpc.aio.AioRpcError):
        return exc.code().name
    return type(exc).__name__


def _quotas(total: int, clients: int) -> list[int]:
    base, extra = divmod(total, clients)
    return [base + (1 if i < extra else 0) for i in range(clients)]


async def closed_loop(
    label: str,
    clients: int,
    call: Call,
    *,
    max_calls: int,
    max_seconds: float,
    warmup_calls: int = 0,
) -> LoadResult:
    """Run `call(client, seq)` from `clients` concurrent loops; warm-up calls are not counted."""
    result = LoadResult(label, clients, budget_calls=max_calls, budget_seconds=max_seconds)

    async def warm(client: int) -> None:
        for seq in range(warmup_calls):
            try:
                await call(client, seq)
            except Exception as exc:
                result.warmup_errors[classify(exc)] += 1

    await asyncio.gather(*(warm(i) for i in range(clients)))
    cpu_before = process_cpu()
    machine_before = machine_cpu()
    started = time.perf_counter()
    deadline = started + max_seconds

    async def worker(client: int, quota: int) -> None:
        for seq in range(warmup_calls, warmup_calls + quota):
            t0 = time.perf_counter()
            if t0 >= deadline:
                return
            try:
                await call(client, seq)
            except Exception as exc:
                result.errors[classify(exc)] += 1
                continue
            result.latencies.append(time.perf_counter() - t0)

    await asyncio.gather(
        *(worker(i, q) for i, q in enumerate(_quotas(max_calls, clients)) if q > 0)
    )
    result.elapsed = time.perf_counter() - started
    result.cpu_seconds = process_cpu() - cpu_before
    machine_after = machine_cpu()
    if machine_before is not None and machine_after is not None:
        result.machine_cpu_seconds = machine_after - machine_before
    result.ok = len(result.latencies)
    return result


async def health_floor(
    channel: grpc.aio.Channel,
    clients: int,
    *,
    max_calls: int,
    max_seconds: float,
    warmup_calls: int,
    call_timeout: float = 30.0,
) -> LoadResult:
    """What a unary call costs the client and the server with nothing behind it: the
    standard health check (no token, no database) on `channel`."""
    health = health_pb2_grpc.HealthStub(channel)
    request = health_pb2.HealthCheckRequest(service="")

    async def call(client: int, seq: int) -> None:
        await health.Check(request, timeout=call_timeout)

    return await closed_loop(
        "health",
        clients,
        call,
        max_calls=max_calls,
        max_seconds=max_seconds,
        warmup_calls=warmup_calls,
    )
