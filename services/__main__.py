"""`make run`: a real NATS server, every service on SQLite under ./var, and a demo network.

Each service runs in its own process, as in production; their JSON logs go to
var/logs/<service>.log ($STOREMESH_VAR instead of ./var when set). Ctrl-C, or SIGINT or
SIGTERM to this process or to the `make` that started it, stops them gracefully (SIGTERM,
in-flight calls finish), then NATS. A second start keeps the data (the demo loader uses
fixed request ids, so replaying it changes nothing).
"""

from __future__ import annotations

import asyncio
import contextlib
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

from kernel.auth import TokenIssuer, generate_keys, var_dir
from kernel.testing.servers import NatsServerProcess
from services.demo_network import STORES

VAR = var_dir()
NATS_PORT = int(os.environ.get("STOREMESH_RUN_NATS_PORT", "14222"))
# Added to every service's port, so a second checkout (or a test) runs beside the first.
PORT_OFFSET = int(os.environ.get("STOREMESH_RUN_PORT_OFFSET", "0"))
ORPHAN_POLL_SECONDS = 0.5
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
        found[name] = int(module.PORT) + PORT_OFFSET
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
                raise RuntimeError(f"{name} exited; see {VAR}/logs/{name}.log")
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
    processes: dict[str, subprocess.Popen[bytes]] = {}
    # Its own session: a Ctrl-C reaches the services, which stop before it (stop_all).
    nats = NatsServerProcess(port=NATS_PORT, store_dir=str(VAR / "nats"), own_session=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    watch = asyncio.create_task(_orphaned(stop))
    try:
        # A stop during start-up (Ctrl-C while the demo loads) ends the start-up at once.
        starting = asyncio.create_task(start(nats, processes))
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait({starting, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if starting.done():
            starting.result()
            await stop.wait()
        else:
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starting
        print("\nstopping ...", flush=True)
    finally:
        watch.cancel()
        stop_all(processes)
        nats.stop()
        print("stopped.", flush=True)


async def start(nats: NatsServerProcess, processes: dict[str, subprocess.Popen[bytes]]) -> None:
    private_key, public_key = generate_keys(VAR / "keys")
    ports = available_services()
    busy = [f"{name} ({port})" for name, port in ports.items() if port_in_use(port)]
    if busy:
        raise SystemExit(f"ports already in use, is StoreMesh running already? {busy}")
    await asyncio.to_thread(nats.start)
    issuer = TokenIssuer.from_file(private_key)
    hq_token = issuer.mint("dev-hq", "hq", ttl=timedelta(days=30))
    write_token("hq.token", hq_token)
    # A DMS token per demo store: the demo's transfer waits for its source store's answer.
    dms_tokens = {
        store.code: issuer.mint(
            f"dev-dms-{store.code.lower()}", "dms", [store.code], ttl=timedelta(days=30)
        )
        for store in STORES
    }
    for code, token in dms_tokens.items():
        write_token(f"dms-{code.lower()}.token", token)
    # Collab calls inventory, workforce and capacity as a service, with a token of its own.
    partners = {
        "collab": {
            "STOREMESH_INVENTORY_ADDRESS": f"127.0.0.1:{ports.get('inventory', 0)}",
            "STOREMESH_WORKFORCE_ADDRESS": f"127.0.0.1:{ports.get('workforce', 0)}",
            "STOREMESH_CAPACITY_ADDRESS": f"127.0.0.1:{ports.get('capacity', 0)}",
            "STOREMESH_SERVICE_TOKEN": issuer.mint("dev-collab", "service", ttl=timedelta(days=30)),
        },
        # Analytics asks capacity for peer groups.
        "analytics": {
            "STOREMESH_CAPACITY_ADDRESS": f"127.0.0.1:{ports.get('capacity', 0)}",
            "STOREMESH_SERVICE_TOKEN": issuer.mint(
                "dev-analytics", "service", ttl=timedelta(days=30)
            ),
        },
    }
    for name, port in ports.items():
        processes[name] = start_service(name, port, public_key, partners.get(name, {}))
    for name, port in ports.items():
        await wait_serving(name, port, processes[name])
    from services import demo

    await demo.load(ports, hq_token)
    print(f"\nStoreMesh is running (Ctrl-C stops it). Data, logs and tokens live in {VAR}.\n")
    print(f"  NATS (JetStream)   nats://127.0.0.1:{NATS_PORT}")
    for name, port in ports.items():
        print(f"  {name:<18} 127.0.0.1:{port}  (gRPC, reflection on)  {VAR}/logs/{name}.log")
    print(f"\n  HQ token (30 days):        {hq_token}")
    print(f"  SZ01 DMS token (30 days):  {dms_tokens['SZ01']}")
    print(f"  (in {VAR}/tokens/ with each demo store's DMS token; python -m kernel.call reads")
    print("  hq.token from there)\n")
    if _shifted():
        print(
            f"  (ports or var dir moved: prefix kernel.call with `{_shifted()}`, or export them)\n"
        )
    if "capacity" in ports:
        print(
            "  look first:  .venv/bin/python -m kernel.call capacity GetNetworkDayView '{}'\n"
            "               (today's capacity monitor: Shenzhen SZ01 red, 32 booked on 30)"
        )
    if "inventory" in ports:
        print(
            "  then:        .venv/bin/python -m kernel.call inventory FindStock "
            '\'{"part_number": "BRK-PAD-F", "min_available": 1}\'\n',
            flush=True,
        )
    if "collab" in ports:
        print(
            "  SOP 1:       .venv/bin/python -m kernel.call collab RecommendSources "
            '\'{"store_id": "SZ01", "part_number": "LMP-HEAD-L", "quantity": 1}\'\n'
            "               .venv/bin/python -m kernel.call collab ListTransfers '{}'\n"
            "               (the headlamp transfer waits for its source to approve it:\n"
            f"               --token $(cat {VAR}/tokens/dms-<source>.token) ApproveTransfer "
            '\'{"transfer_id": "..."}\')\n'
            "  SOP 2:       .venv/bin/python -m kernel.call collab ListSupports '{}'\n"
            "               (Shenzhen's battery support waits for the lending store:\n"
            f"               --token $(cat {VAR}/tokens/dms-dg01.token) ApproveSupport "
            '\'{"support_id": "..."}\')\n'
            "  SOP 3:       .venv/bin/python -m kernel.call collab ListDiversions '{}'\n"
            "               (a Shenzhen customer is offered the nearest store with a free bay,\n"
            "               in opening hours only; answer as Shenzhen:\n"
            f"               --token $(cat {VAR}/tokens/dms-sz01.token) AnswerDiversion "
            '\'{"diversion_id": "...", "answer": "DIVERSION_ANSWER_ACCEPTED"}\')\n',
            flush=True,
        )


def _shifted() -> str:
    """The settings kernel.call needs to find this run when it is not on the defaults."""
    found = [
        f"{name}={os.environ[name]}"
        for name in ("STOREMESH_RUN_PORT_OFFSET", "STOREMESH_VAR")
        if os.environ.get(name) and os.environ[name] != "0"
    ]
    return " ".join(found)


def write_token(name: str, token: str) -> None:
    """Tokens for the CLIs (kernel.call), readable by this user only."""
    folder = VAR / "tokens"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.touch(mode=0o600)
    path.write_text(token + "\n")


async def _orphaned(stop: asyncio.Event) -> None:
    """Stop when the parent goes away or `make` was interrupted: GNU make passes SIGTERM on
    to its children but not SIGINT (it expects the terminal to have signalled the whole
    group), and waits for them; a `kill -INT` to make alone would otherwise stop nothing."""
    parent = os.getppid()
    make_catches_sigint = _is_make(parent) and _catches_sigint(parent)
    while not stop.is_set():
        if os.getppid() != parent or (make_catches_sigint and not _catches_sigint(parent)):
            stop.set()
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), ORPHAN_POLL_SECONDS)


def _is_make(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() in ("make", "gmake")
    except OSError:
        return False


def _catches_sigint(pid: int) -> bool:
    """Whether the process has a SIGINT handler (Linux /proc): make resets it to the default
    while it handles a SIGINT, which is how its child learns of one."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("SigCgt:"):
                return bool(int(line.split()[1], 16) & (1 << (signal.SIGINT - 1)))
    except OSError:
        pass
    return False


if __name__ == "__main__":
    asyncio.run(main())
