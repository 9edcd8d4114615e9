"""The demo network `make run` loads, through each service's public gRPC API, in one place.

The data is services/demo_network.py; each service's demo.py loads its part of it. Capacity
goes first: the others learn the stores from its events.
"""

from __future__ import annotations

import grpc

from kernel.peer_client import bearer
from services.analytics import demo as analytics_demo
from services.capacity import demo as capacity_demo
from services.collab import demo as collab_demo
from services.inventory import demo as inventory_demo
from services.workforce import demo as workforce_demo

LOADERS = (
    ("capacity", capacity_demo.load),
    ("inventory", inventory_demo.load),
    ("workforce", workforce_demo.load),
    # Last: it asks inventory (already stocked) for the headlamp's sources.
    ("collab", collab_demo.load),
    # Its reports and targets name stores it learns from capacity's events.
    ("analytics", analytics_demo.load),
)


async def load(ports: dict[str, int], token: str) -> None:
    metadata = bearer(token)
    for name, load_part in LOADERS:
        if name in ports:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{ports[name]}") as channel:
                said = await load_part(channel, metadata)
            if isinstance(said, str):
                print(said, flush=True)
