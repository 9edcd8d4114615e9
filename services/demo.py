"""The demo network `make run` loads: a South China brand's stores, parts and people.

Every call carries a request id derived from what it loads, so loading twice is harmless.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from dataclasses import dataclass
from typing import Any

import grpc

DEMO_NAMESPACE = uuid.UUID("6f1f5d8e-8d0c-4a55-9d0e-2f9a3b7c1e10")


def request_id(*key: object) -> str:
    return str(uuid.uuid5(DEMO_NAMESPACE, "/".join(str(k) for k in key)))


@dataclass(frozen=True)
class DemoStore:
    code: str
    name: str
    city: str
    latitude: float
    longitude: float
    bays: int
    daily_capacity: int
    booked_today: int
    tier: int
    segment: int  # 1 premium, 2 mid, 3 mass
    opened: str


# The capacity monitor of domain.md is the first three rows: Shenzhen overloaded (32/30),
# Guangzhou healthy (20/25), Dongguan idle (12/20).
STORES = (
    DemoStore(
        "SZ01", "Shenzhen Futian", "Shenzhen", 22.5431, 114.0579, 16, 30, 32, 1, 2, "2018-03-01"
    ),
    DemoStore(
        "GZ01", "Guangzhou Tianhe", "Guangzhou", 23.1291, 113.2644, 14, 25, 20, 1, 2, "2016-09-15"
    ),
    DemoStore(
        "DG01", "Dongguan Nancheng", "Dongguan", 23.0205, 113.7518, 10, 20, 12, 2, 3, "2021-06-01"
    ),
    DemoStore(
        "SZ02", "Shenzhen Nanshan", "Shenzhen", 22.5333, 113.9304, 12, 24, 22, 1, 1, "2019-05-20"
    ),
    DemoStore(
        "GZ02", "Guangzhou Panyu", "Guangzhou", 22.9375, 113.3840, 9, 18, 11, 2, 2, "2022-01-10"
    ),
    DemoStore(
        "FS01", "Foshan Chancheng", "Foshan", 23.0215, 113.1214, 11, 22, 19, 2, 2, "2017-11-11"
    ),
    DemoStore(
        "ZH01", "Zhuhai Xiangzhou", "Zhuhai", 22.2710, 113.5767, 8, 16, 9, 2, 1, "2020-04-18"
    ),
    DemoStore(
        "HZ01", "Huizhou Huicheng", "Huizhou", 23.1115, 114.4152, 8, 15, 13, 2, 3, "2023-02-01"
    ),
    DemoStore(
        "ZS01", "Zhongshan Shiqi", "Zhongshan", 22.5176, 113.3926, 7, 14, 6, 2, 3, "2024-08-08"
    ),
    DemoStore(
        "JM01", "Jiangmen Pengjiang", "Jiangmen", 22.5787, 113.0815, 6, 12, 10, 3, 3, "2019-10-01"
    ),
    DemoStore(
        "ZQ01", "Zhaoqing Duanzhou", "Zhaoqing", 23.0469, 112.4651, 6, 12, 7, 3, 3, "2021-12-12"
    ),
    DemoStore(
        "QY01", "Qingyuan Qingcheng", "Qingyuan", 23.6820, 113.0560, 6, 10, 8, 3, 3, "2025-03-15"
    ),
    DemoStore(
        "ST01", "Shantou Longhu", "Shantou", 23.3541, 116.6820, 9, 18, 14, 2, 2, "2018-07-07"
    ),
    DemoStore(
        "ZJ01", "Zhanjiang Chikan", "Zhanjiang", 21.2707, 110.3594, 8, 16, 12, 3, 3, "2020-09-09"
    ),
    DemoStore(
        "SG01", "Shaoguan Wujiang", "Shaoguan", 24.8108, 113.5975, 6, 12, 5, 3, 3, "2022-05-05"
    ),
)

# (part number, name, category, unit, unit cost in CNY): the most used parts of a workshop.
PARTS = (
    ("BRK-PAD-F", "Front brake pad set", "brakes", "set", 420),
    ("BRK-PAD-R", "Rear brake pad set", "brakes", "set", 360),
    ("BRK-DSC-F", "Front brake disc", "brakes", "pc", 780),
    ("OIL-0W20-4L", "Engine oil 0W-20 4 L", "maintenance", "can", 310),
    ("FLT-OIL", "Oil filter", "maintenance", "pc", 65),
    ("FLT-AIR", "Engine air filter", "maintenance", "pc", 120),
    ("FLT-CABIN", "Cabin air filter", "maintenance", "pc", 150),
    ("WPR-BLADE", "Wiper blade pair", "maintenance", "pair", 180),
    ("SPK-PLUG", "Spark plug", "maintenance", "pc", 95),
    ("BAT-12V", "12 V auxiliary battery", "electrical", "pc", 980),
    ("HV-COOL-5L", "HV battery coolant 5 L", "hv_ev", "can", 460),
    ("HV-CONT-MAIN", "HV main contactor", "hv_ev", "pc", 2600),
    ("HV-CABLE-OBC", "On-board charger HV cable", "hv_ev", "pc", 3900),
    ("ADAS-CAM-FR", "Front ADAS camera", "adas", "pc", 5200),
    ("ADAS-RADAR-F", "Front radar sensor", "adas", "pc", 4800),
    ("BDY-BUMPER-F", "Front bumper cover", "body_paint", "pc", 1650),
    ("BDY-MIRROR-L", "Left door mirror", "body_paint", "pc", 1280),
    ("LMP-HEAD-L", "Left LED headlamp", "electrical", "pc", 3600),
    ("TYR-235-45R18", "Tyre 235/45 R18", "tyres", "pc", 890),
    ("SUS-SHOCK-F", "Front shock absorber", "suspension", "pc", 1150),
)


async def load(ports: dict[str, int], token: str) -> None:
    metadata = (("authorization", f"Bearer {token}"),)
    if "capacity" in ports:
        from services.capacity import demo as capacity_demo

        async with grpc.aio.insecure_channel(f"127.0.0.1:{ports['capacity']}") as channel:
            await capacity_demo.load(channel, metadata)
    if "inventory" in ports:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{ports['inventory']}") as channel:
            await load_inventory(channel, metadata)
    if "workforce" in ports:
        from services.workforce import demo as workforce_demo

        async with grpc.aio.insecure_channel(f"127.0.0.1:{ports['workforce']}") as channel:
            await workforce_demo.load(channel, metadata)
    if "collab" in ports:
        from services.collab import demo as collab_demo

        async with grpc.aio.insecure_channel(f"127.0.0.1:{ports['collab']}") as channel:
            print(await collab_demo.load(channel, metadata), flush=True)


async def load_inventory(channel: grpc.aio.Channel, metadata: Any) -> None:
    from storemesh.inventory.v1 import inventory_pb2 as pb
    from storemesh.inventory.v1 import inventory_pb2_grpc as pb_grpc

    stub = pb_grpc.InventoryServiceStub(channel)
    for number, name, category, unit, cost in PARTS:
        await stub.RegisterPart(
            pb.RegisterPartRequest(
                request_id=request_id("part", number),
                part=pb.Part(
                    part_number=number,
                    name=name,
                    category=category,
                    unit=unit,
                    unit_cost_fen=cost * 100,
                ),
            ),
            metadata=metadata,
        )
    rng = random.Random(2026)
    for store in STORES:
        for number, _, category, _, _ in PARTS:
            # Big stores stock more; high-value EV and ADAS parts sit in a few stores only.
            rare = category in ("hv_ev", "adas")
            if rare and rng.random() < 0.6:
                continue
            quantity = rng.randint(1, 4) if rare else rng.randint(2, 6) * max(store.bays // 4, 1)
            await _once_store_is_known(
                stub.ReceiveStock,
                pb.ReceiveStockRequest(
                    request_id=request_id("receipt", store.code, number),
                    store_id=store.code,
                    part_number=number,
                    quantity=quantity,
                    reference=f"DEMO-GR-{store.code}",
                ),
                metadata,
            )
        for i in range(rng.randint(3, 8)):
            number = rng.choice(PARTS)[0]
            await stub.RequestParts(
                pb.RequestPartsRequest(
                    request_id=request_id("ro", store.code, i),
                    store_id=store.code,
                    part_number=number,
                    repair_order=f"RO-{store.code}-{1000 + i}",
                    quantity=rng.randint(1, 3),
                    customer_waiting=rng.random() < 0.5,
                ),
                metadata=metadata,
            )


async def _once_store_is_known(call: Any, request: Any, metadata: Any) -> Any:
    """Inventory learns stores from capacity's events: give its directory a moment."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return await call(request, metadata=metadata)
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.NOT_FOUND or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)
