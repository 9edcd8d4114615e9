"""Section 1's worker rows: ReserveStock at 8 clients, inventory in 1 and in 2 processes.

The service runs as `python -m services.inventory` with STOREMESH_GRPC_WORKERS, as in
production (kernel.workers: the workers share the port with SO_REUSEPORT), on a database
and NATS namespace of its own; the clients stay in the benchmark process, each on a
connection of its own so the kernel can share them out among the workers. The clients'
stores are in the store directory, as in the in-process rows.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import grpc
import psycopg
from grpc_health.v1 import health_pb2, health_pb2_grpc
from storemesh.inventory.v1 import inventory_pb2 as pb
from storemesh.inventory.v1 import inventory_pb2_grpc as pb_grpc

from bench.context import BenchContext, libpq
from bench.load import LoadResult, closed_loop
from kernel.testing.servers import free_port

CLIENTS = 8
START_SECONDS = 90.0
CALL_TIMEOUT = 30.0


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes so far (/proc/<pid>/stat)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


async def reserve_with_workers(
    ctx: BenchContext, workers: int, url: str, namespace: str, parts: int
) -> LoadResult:
    """ReserveStock at 8 clients against a launcher of `workers` inventory processes."""
    port = free_port()
    assert ctx._keys is not None
    env = {
        **os.environ,
        "STOREMESH_GRPC_WORKERS": str(workers),
        "STOREMESH_GRPC_ADDRESS": f"127.0.0.1:{port}",
        "STOREMESH_DATABASE_URL": url,
        "STOREMESH_NATS_URL": ctx.endpoints.nats_url,
        "STOREMESH_NATS_NAMESPACE": namespace,
        "STOREMESH_JWT_PUBLIC_KEY_FILE": str(Path(ctx._keys.name) / "jwt-public.pem"),
        "STOREMESH_LOG_LEVEL": ctx.log_level,
        "STOREMESH_SHUTDOWN_GRACE_SECONDS": "2",
        # As the in-process rows: a connection per client.
        "STOREMESH_DB_POOL_SIZE": str(max(CLIENTS // workers, 1)),
    }
    launcher = _launch(env)
    channels = [
        grpc.aio.insecure_channel(
            f"127.0.0.1:{port}", options=[("grpc.use_local_subchannel_pool", 1)]
        )
        for _ in range(CLIENTS)
    ]
    try:
        await _serving(launcher, port, workers, channels)
        md = (("authorization", f"Bearer {ctx.token('hq')}"),)
        stubs = [pb_grpc.InventoryServiceStub(channel) for channel in channels]
        numbers = [f"P-{k:05d}" for k in range(parts)]
        for number in numbers:
            await stubs[0].RegisterPart(
                pb.RegisterPartRequest(
                    request_id=str(uuid.uuid4()),
                    part=pb.Part(part_number=number, name=number, category="bench", unit="pcs"),
                ),
                metadata=md,
                timeout=CALL_TIMEOUT,
            )
        stores = [f"W{workers}-S{i:02d}" for i in range(CLIENTS)]
        await _seed_directory(url, stores)
        await asyncio.gather(
            *(
                _receive_all(stubs[i], md, stores[i], numbers)
                for i in range(CLIENTS)  # set-up, not measured
            )
        )

        async def reserve(client: int, seq: int) -> None:
            await stubs[client].ReserveStock(
                pb.ReserveStockRequest(
                    request_id=str(uuid.uuid4()),
                    store_id=stores[client],
                    part_number=numbers[seq % len(numbers)],
                    quantity=1,
                    ttl_seconds=3_600,
                    reference="bench",
                ),
                metadata=md,
                timeout=CALL_TIMEOUT,
            )

        # With one worker the launcher is the service; with more, it only waits.
        service = [launcher.pid, *_children(launcher.pid)]
        cpu_before = _cpu_seconds(service)
        result = await closed_loop(
            f"ReserveStock, {workers} workers",
            CLIENTS,
            reserve,
            max_calls=ctx.sizes.command_step_max_calls,
            max_seconds=ctx.sizes.command_step_seconds,
            warmup_calls=ctx.sizes.command_warmup_calls,
        )
        # CPU ms/op as in the in-process rows: the clients' and the service's together.
        result.cpu_seconds += _cpu_seconds(service) - cpu_before
        return result
    finally:
        for channel in channels:
            await channel.close()
        await asyncio.to_thread(_stop, launcher)


async def _seed_directory(url: str, stores: list[str]) -> None:
    """The clients' stores in the directory, as in the in-process rows (the workers merge
    the table on a miss)."""
    async with await psycopg.AsyncConnection.connect(libpq(url)) as conn:
        await conn.cursor().executemany(
            "INSERT INTO store_directory (store_id, name, region, closed, version)"
            " VALUES (%s, %s, '', false, 1)",
            [(store, store) for store in stores],
        )


async def _receive_all(stub: Any, md: Any, store: str, numbers: list[str]) -> None:
    for number in numbers:
        await stub.ReceiveStock(
            pb.ReceiveStockRequest(
                request_id=str(uuid.uuid4()),
                store_id=store,
                part_number=number,
                quantity=1_000_000,
            ),
            metadata=md,
            timeout=CALL_TIMEOUT,
        )


def _listening(port: int) -> int:
    """Sockets listening on the port (gRPC binds IPv6 sockets with IPv4-mapped addresses)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            count += int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A"
    return count


async def _serving(
    launcher: subprocess.Popen[bytes], port: int, workers: int, channels: list[grpc.aio.Channel]
) -> None:
    """Every worker listens before any client connects (or they all land on the first),
    then every client's connection answers SERVING."""
    deadline = asyncio.get_running_loop().time() + START_SECONDS
    waiting = list(channels)
    while waiting:
        if launcher.poll() is not None:
            raise RuntimeError(f"the inventory launcher exited with {launcher.returncode}")
        if asyncio.get_running_loop().time() > deadline:
            raise RuntimeError("the inventory workers never became SERVING")
        if _listening(port) < workers:
            await asyncio.sleep(0.2)
            continue
        channel = waiting[0]
        try:
            answer = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=2
            )
        except grpc.aio.AioRpcError:
            answer = None
        if answer is not None and answer.status == health_pb2.HealthCheckResponse.SERVING:
            waiting.pop(0)
        else:
            await asyncio.sleep(0.2)


def _launch(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "services.inventory"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _stop(launcher: subprocess.Popen[bytes]) -> None:
    if launcher.poll() is None:
        launcher.send_signal(signal.SIGTERM)
    try:
        launcher.wait(timeout=40)
    except subprocess.TimeoutExpired:
        for child in _children(launcher.pid):
            os.kill(child, signal.SIGKILL)
        launcher.kill()
        launcher.wait()
