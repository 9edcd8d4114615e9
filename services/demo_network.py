"""The demo network `make run` loads: a South China brand's stores, parts and people.

Every call carries a request id derived from what it loads, so loading twice is harmless.
Each service's demo.py loads its part of it through that service's public gRPC API.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from kernel.application import REQUEST_ID_REUSED

DEMO_NAMESPACE = uuid.UUID("6f1f5d8e-8d0c-4a55-9d0e-2f9a3b7c1e10")


def request_id(*key: object) -> str:
    return str(uuid.uuid5(DEMO_NAMESPACE, "/".join(str(k) for k in key)))


# An earlier start loaded this call with values of its own moment (e.g. the first free
# minute of the day then): what it loaded stands.
LOADED_BEFORE = REQUEST_ID_REUSED


def refusal_reason(err: grpc.aio.AioRpcError) -> str:
    """The ErrorInfo reason of a refusal ('' when it has none)."""
    status = rpc_status.from_call(err)  # type: ignore[arg-type]
    for packed in status.details if status is not None else ():
        info = error_details_pb2.ErrorInfo()
        if packed.Unpack(info):
            return str(info.reason)
    return ""


# The stores' day (every day of the week): 08:00-17:30, the 9.5 h day of domain.md's
# diagnosis case, in minutes of the day.
OPENS, CLOSES = 8 * 60, 17 * 60 + 30
SHANGHAI = ZoneInfo("Asia/Shanghai")


def booking_day(now: datetime) -> tuple[date, int]:
    """Today and its first bookable minute, while the stores are still open today; once
    they have closed, tomorrow from opening. The monitor shows the day booked."""
    local = now.astimezone(SHANGHAI)
    first = max(OPENS, local.hour * 60 + local.minute + 1)
    if first < CLOSES:
        return local.date(), first
    return local.date() + timedelta(days=1), OPENS


@dataclass(frozen=True)
class SupportCase:
    """SOP 2's case: a battery fault at Shenzhen beyond its own technicians; Dongguan's T3
    (its first technician) is lent for Friday afternoon (12:00-18:00)."""

    store_id: str = "SZ01"
    specialty: str = "hv_ev"
    technician_id: str = "DG01-T01"
    fault: str = "HV battery pack isolation fault, intermittent"


@dataclass(frozen=True)
class DiversionCase:
    """SOP 3's case: Shenzhen's last booking of the booking day, offered Dongguan."""

    store_id: str = "SZ01"
    appointment_prefix: str = "DEMO-SZ01-DIVERT"
    customer_ref: str = "CUST-SZ01-7731"
    vehicle: str = "粤B73310"
    service_type: str = "maintenance"
    expected_labour_hours: float = 1.5

    def appointment_on(self, day: date) -> str:
        """The case's appointment on the booking `day`: one id per day, since a sync never
        moves a booking (the same id still booked today would keep it off tomorrow)."""
        return f"{self.appointment_prefix}-{day:%m%d}"


SUPPORT_CASE = SupportCase()
DIVERSION_CASE = DiversionCase()


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

# Stores that joined StoreMesh by their DMS's stock count (SyncStockCounts) rather than
# receipt by receipt: the DMS sends when each part last moved there, and these parts lay
# idle for the days given (stale stock, 呆滞库存, from the day they join); every other
# part moved a few days before the count.
JOINED_BY_COUNT: dict[str, dict[str, int]] = {
    "QY01": {"BDY-BUMPER-F": 410, "BDY-MIRROR-L": 230, "BRK-DSC-F": 150},
    "ZQ01": {"SUS-SHOCK-F": 320, "BDY-MIRROR-L": 180},
}
# Repair orders at their neighbours that use those parts (store, part, quantity): the
# receivers collab's RecommendRevitalisation proposes.
STALE_PARTS_USED = (
    ("GZ01", "BDY-BUMPER-F", 2),
    ("FS01", "SUS-SHOCK-F", 2),
    ("FS01", "BDY-MIRROR-L", 1),
)
