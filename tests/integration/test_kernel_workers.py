"""STOREMESH_GRPC_WORKERS=2: two processes of inventory serve one port, both take calls,
and SIGTERM to the launcher stops them together."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from storemesh.inventory.v1 import inventory_pb2 as pb
from storemesh.inventory.v1 import inventory_pb2_grpc as pb_grpc

from kernel.testing.servers import Endpoints, free_port
from tests.integration.kernel_fixtures import children, service_process, service_process_env

LISTEN, ESTABLISHED = "0A", "01"
CONNECTIONS = 16  # the chance that all land on one of two workers is 2 in 65,536


def _sockets(port: int, state: str) -> set[str]:
    """Inodes of this host's TCP sockets on local `port` in `state` (gRPC listens on IPv6
    sockets with IPv4-mapped addresses, so both tables are read)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == state:
                inodes.add(fields[9])
    return inodes


def _owner(inode: str, pids: list[int]) -> int | None:
    for pid in pids:
        fd_dir = Path(f"/proc/{pid}/fd")
        for fd in fd_dir.iterdir():
            try:
                if os.readlink(fd) == f"socket:[{inode}]":
                    return pid
            except OSError:
                continue
    return None


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


async def _until(what: str, condition: Callable[[], bool], within: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.1)


@pytest.fixture
def launcher(
    pg_url: str, endpoints: Endpoints, namespace: str, key_pair: tuple[Path, Path], tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = free_port()
    env = service_process_env(
        f"127.0.0.1:{port}",
        pg_url,
        endpoints,
        namespace,
        key_pair[1],
        STOREMESH_GRPC_WORKERS="2",
        STOREMESH_LOG_LEVEL="warning",
    )
    with service_process(env, tmp_path / "workers.log") as process:
        yield process, port


async def test_two_workers_share_one_port_and_stop_together(
    launcher: tuple[subprocess.Popen[bytes], int], mint: Callable[..., str]
) -> None:
    process, port = launcher
    await _until(
        "two workers listening",
        lambda: len(_sockets(port, LISTEN)) == 2 or process.poll() is not None,
    )
    assert process.poll() is None, "the launcher exited early"
    workers = children(process.pid)
    assert len(workers) == 2
    md = (("authorization", f"Bearer {mint('hq')}"),)

    # A local subchannel pool each: channels to one target otherwise share one connection.
    channels = [
        grpc.aio.insecure_channel(
            f"127.0.0.1:{port}", options=[("grpc.use_local_subchannel_pool", 1)]
        )
        for _ in range(CONNECTIONS)
    ]
    try:
        health = health_pb2_grpc.HealthStub(channels[0])

        async def serving() -> bool:
            answer = await health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
            return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)

        deadline = asyncio.get_running_loop().time() + 60
        while not await serving():
            assert asyncio.get_running_loop().time() < deadline, "never SERVING"
            await asyncio.sleep(0.2)
        await pb_grpc.InventoryServiceStub(channels[0]).RegisterPart(
            pb.RegisterPartRequest(
                request_id=str(uuid.uuid4()),
                part=pb.Part(part_number="P-100", name="Brake pads", category="brakes", unit="set"),
            ),
            metadata=md,
            timeout=30,
        )
        answers: list[Any] = await asyncio.gather(
            *(
                pb_grpc.InventoryServiceStub(channel).ReceiveStock(
                    pb.ReceiveStockRequest(
                        request_id=str(uuid.uuid4()),
                        store_id=f"SZ{k:02d}",
                        part_number="P-100",
                        quantity=k + 1,
                    ),
                    metadata=md,
                    timeout=30,
                )
                for k, channel in enumerate(channels)
            )
        )
        assert [a.on_hand for a in answers] == [k + 1 for k in range(CONNECTIONS)]
        served_by = {_owner(inode, workers) for inode in _sockets(port, ESTABLISHED)}
        served_by.discard(None)
        assert served_by == set(workers), "both workers took connections"
    finally:
        for channel in channels:
            await channel.close()

    process.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(process.wait, 30) == 0
    assert not any(_alive(pid) for pid in workers), "workers stopped"
    assert _sockets(port, LISTEN) == set()


async def test_a_worker_that_dies_stops_the_others_and_the_launcher_fails(
    launcher: tuple[subprocess.Popen[bytes], int],
) -> None:
    process, port = launcher
    await _until(
        "two workers listening",
        lambda: len(_sockets(port, LISTEN)) == 2 or process.poll() is not None,
    )
    workers = children(process.pid)
    assert len(workers) == 2

    os.kill(workers[0], signal.SIGKILL)

    # Non-zero, so the orchestrator restarts the pod as a whole.
    assert await asyncio.to_thread(process.wait, 30) == 1
    assert not _alive(workers[1]), "the surviving worker was stopped"
    assert _sockets(port, LISTEN) == set()
