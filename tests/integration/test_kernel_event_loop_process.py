"""`python -m services.inventory` runs on the loop STOREMESH_EVENT_LOOP names (uvloop by
default), says so in its start-up log, serves a command on it, and stops gracefully on
SIGTERM (the loop's signal handlers work); an unknown loop stops it at start-up."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
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
from tests.integration.kernel_fixtures import service_process_env
from tests.integration.test_kernel_stream_order_processes import until_serving


def _environment(
    pg_url: str, endpoints: Endpoints, namespace: str, public_key: Path, loop: str | None
) -> tuple[dict[str, str], str]:
    address = f"127.0.0.1:{free_port()}"
    env = service_process_env(
        address,
        pg_url,
        endpoints,
        namespace,
        public_key,
        STOREMESH_GRPC_WORKERS="1",
        STOREMESH_LOG_LEVEL="info",
    )
    env.pop("STOREMESH_EVENT_LOOP", None)
    if loop is not None:
        env["STOREMESH_EVENT_LOOP"] = loop
    return env, address


@contextlib.contextmanager
def _inventory(env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`python -m services.inventory`, its output in `log_path`; killed if still running."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.inventory"], env=env, stdout=log, stderr=log
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


def _events(log: Path) -> list[dict[str, Any]]:
    found = []
    for line in log.read_text().splitlines():
        with contextlib.suppress(ValueError):
            found.append(json.loads(line))
    return [entry for entry in found if isinstance(entry, dict)]


@pytest.mark.parametrize(("setting", "expected"), [(None, "uvloop"), ("asyncio", "asyncio")])
async def test_the_service_serves_on_the_configured_loop_and_stops_on_sigterm(
    pg_url: str,
    endpoints: Endpoints,
    namespace: str,
    key_pair: tuple[Path, Path],
    mint: Callable[..., str],
    tmp_path: Path,
    setting: str | None,
    expected: str,
) -> None:
    env, address = _environment(pg_url, endpoints, namespace, key_pair[1], setting)
    log_path = tmp_path / "inventory.log"
    with _inventory(env, log_path) as process:
        md = (("authorization", f"Bearer {mint('hq')}"),)
        async with grpc.aio.insecure_channel(address) as channel:
            await until_serving(channel)
            stub = pb_grpc.InventoryServiceStub(channel)
            await stub.RegisterPart(
                pb.RegisterPartRequest(
                    request_id=str(uuid.uuid4()),
                    part=pb.Part(part_number="P-1", name="Pads", category="brakes", unit="set"),
                ),
                metadata=md,
                timeout=30,
            )
            answer = await stub.ReceiveStock(
                pb.ReceiveStockRequest(
                    request_id=str(uuid.uuid4()), store_id="SZ01", part_number="P-1", quantity=7
                ),
                metadata=md,
                timeout=30,
            )
            assert answer.on_hand == 7
        process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(process.wait, 30) == 0

    events = _events(log_path)
    (started,) = [e for e in events if e.get("event") == "service.started"]
    assert started["event_loop"] == expected
    assert any(e.get("event") == "service.stopped" for e in events), "a graceful stop"


async def test_an_unknown_loop_stops_the_service_at_start_up(
    pg_url: str, endpoints: Endpoints, namespace: str, key_pair: tuple[Path, Path]
) -> None:
    env, _ = _environment(pg_url, endpoints, namespace, key_pair[1], "tokio")
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "services.inventory"],
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert b"STOREMESH_EVENT_LOOP='tokio': must be one of uvloop, asyncio" in done.stderr
