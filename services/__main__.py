"""`make run`: a real NATS server, every service on SQLite under ./var, and a demo network.

Stops everything cleanly on Ctrl-C; a second start keeps the data (the demo loader uses
fixed request ids, so replaying it changes nothing).
"""

from __future__ import annotations

import asyncio
import importlib
import os
import signal
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from kernel.auth import TokenIssuer, generate_keys
from kernel.config import Settings
from kernel.testing.servers import NatsServerProcess

VAR = Path(os.environ.get("STOREMESH_VAR", "var")).resolve()
NATS_PORT = int(os.environ.get("STOREMESH_RUN_NATS_PORT", "14222"))
SERVICES = ("capacity", "inventory", "workforce", "collab", "analytics")


def available_services() -> list[Any]:
    """The service packages that exist in this checkout, in start order."""
    found = []
    for name in SERVICES:
        try:
            found.append(importlib.import_module(f"services.{name}.bootstrap"))
        except ModuleNotFoundError:
            continue
    return found


async def main() -> None:
    VAR.mkdir(parents=True, exist_ok=True)
    private_key, public_key = generate_keys(VAR / "keys")
    nats = NatsServerProcess(port=NATS_PORT, store_dir=str(VAR / "nats"))
    nats.start()
    issuer = TokenIssuer.from_file(private_key)
    hq_token = issuer.mint("dev-hq", "hq", ttl=timedelta(days=30))
    dms_token = issuer.mint("dev-dms-sz01", "dms", ["SZ01"], ttl=timedelta(days=30))
    started = []
    try:
        for module in available_services():
            name = module.DEFINITION.name
            settings = replace(
                Settings.from_env(name, module.PORT),
                database_url=os.environ.get(
                    f"STOREMESH_{name.upper()}_DATABASE_URL",
                    f"sqlite+aiosqlite:///{VAR}/{name}.db",
                ),
                nats_url=f"nats://127.0.0.1:{NATS_PORT}",
                jwt_public_key_file=str(public_key),
            )
            service = await module.build(settings)
            port = await service.host.start()
            started.append((name, service, port))
        from services import demo

        await demo.load({name: port for name, _, port in started}, hq_token)
        print("\nStoreMesh is running (Ctrl-C stops it). Data lives in ./var.\n")
        print(f"  NATS (JetStream)   nats://127.0.0.1:{NATS_PORT}")
        for name, _, port in started:
            print(f"  {name:<18} 127.0.0.1:{port}  (gRPC, reflection on)")
        print(f"\n  HQ token (30 days):        {hq_token}")
        print(f"  SZ01 DMS token (30 days):  {dms_token}\n")
        ports = {name: port for name, _, port in started}
        if "inventory" in ports:
            print(
                '  try:  grpcurl -plaintext -H "authorization: Bearer <HQ token>" '
                '-d \'{"part_number":"BRK-PAD-F","min_available":1}\' '
                f"127.0.0.1:{ports['inventory']} "
                "storemesh.inventory.v1.InventoryService/FindStock\n",
                flush=True,
            )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        print("\nstopping ...", flush=True)
    finally:
        for _, service, _ in reversed(started):
            await service.host.stop()
        nats.stop()
        print("stopped.", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
