"""`make run`: a real NATS server, every service on SQLite under ./var, and a demo network.

Each service runs in its own process, as in production; their JSON logs go to
var/logs/<service>.log. Ctrl-C stops them gracefully (SIGTERM, in-flight calls finish),
then NATS. A second start keeps the data (the demo loader uses fixed request ids, so
replaying it changes nothing).
"""

from __future__ import annotations

import asyncio
import importlib
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from kernel.auth import TokenIssuer, generate_keys
from kernel.testing.servers import NatsServerProcess

VAR = Path(os.environ.get("STOREMESH_VAR", "var")).resolve()
NATS_PORT = int(os.environ.get("STOREMESH_RUN_NATS_PORT", "14222"))
SERVICES = ("capacity", "inventory", "workforce", "collab", "analytics")
START_TIMEOUT_SECONDS = 60.0


def available_services() -> dict[str, int]:
    """The services that exist in this checkout, in start order, with their ports."""
    found = {}
    for name in SERVICES:
        try:
            module = importlib.import_module(f"services.{name}.bootstrap")
        except ModuleNotFoundError:
            continue
        found[name] = int(module.PORT)
    return found


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def start_service(
    name: str, port: int, public_key: Path, partners: dict[str, str]
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        **partners,
        "STOREMESH_DATABASE_URL": os.environ.get(
            f"STOREMESH_{name.upper()}_DATABASE_URL", f"sqlite+aiosqlite:///{VAR}/{name}.db"
        ),
        "STOREMESH_NATS_URL": f"nats://127.0.0.1:{NATS_PORT}",
        "STOREMESH_GRPC_ADDRESS": f"127.0.0.1:{port}",
        "STOREMESH_JWT_PUBLIC_KEY_FILE": str(public_key),
    }
    log = (VAR / "logs" / f"{name}.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", f"services.{name}"], env=env, stdout=log, stderr=log
    )


async def wait_serving(name: str, port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited; see var/logs/{name}.log")
            try:
                reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.aio.AioRpcError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{name} not serving after {START_TIMEOUT_SECONDS:.0f} s")


def stop_all(processes: dict[str, subprocess.Popen[bytes]]) -> None:
    for process in processes.values():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes.values():
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()


async def main() -> None:
    (VAR / "logs").mkdir(parents=True, exist_ok=True)
    private_key, public_key = generate_keys(VAR / "keys")
    nats = NatsServerProcess(port=NATS_PORT, store_dir=str(VAR / "nats"))
    nats.start()
    issuer = TokenIssuer.from_file(private_key)
    hq_token = issuer.mint("dev-hq", "hq", ttl=timedelta(days=30))
    dms_token = issuer.mint("dev-dms-sz01", "dms", ["SZ01"], ttl=timedelta(days=30))
    ports = available_services()
    # Collab calls inventory as a service, with a token of its own.
    partners = {
        "STOREMESH_INVENTORY_ADDRESS": f"127.0.0.1:{ports.get('inventory', 50051)}",
        "STOREMESH_SERVICE_TOKEN": issuer.mint("dev-collab", "service", ttl=timedelta(days=30)),
    }
    processes: dict[str, subprocess.Popen[bytes]] = {}
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        busy = [f"{name} ({port})" for name, port in ports.items() if port_in_use(port)]
        if busy:
            raise SystemExit(f"ports already in use, is StoreMesh running already? {busy}")
        for name, port in ports.items():
            processes[name] = start_service(name, port, public_key, partners)
        for name, port in ports.items():
            await wait_serving(name, port, processes[name])
        from services import demo

        await demo.load(ports, hq_token)
        print("\nStoreMesh is running (Ctrl-C stops it). Data and logs live in ./var.\n")
        print(f"  NATS (JetStream)   nats://127.0.0.1:{NATS_PORT}")
        for name, port in ports.items():
            print(f"  {name:<18} 127.0.0.1:{port}  (gRPC, reflection on)  var/logs/{name}.log")
        print(f"\n  HQ token (30 days):        {hq_token}")
        print(f"  SZ01 DMS token (30 days):  {dms_token}\n")
        if "inventory" in ports:
            print(
                '  try:  grpcurl -plaintext -H "authorization: Bearer <HQ token>" '
                '-d \'{"part_number":"BRK-PAD-F","min_available":1}\' '
                f"127.0.0.1:{ports['inventory']} "
                "storemesh.inventory.v1.InventoryService/FindStock\n",
                flush=True,
            )
        await stop.wait()
        print("\nstopping ...", flush=True)
    finally:
        stop_all(processes)
        nats.stop()
        print("stopped.", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
