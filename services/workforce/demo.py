"""The demo network's technicians: the capability map of domain.md across the demo stores.

Six to ten technicians a store by its bays; levels about T1 50%, T2 35%, T3 15%; everyone
does general mechanical-electrical work or maintenance, while body and paint, diagnostics,
high-voltage EV and ADAS get rarer in that order, the last two concentrated in the big
stores. About a third publish support availability for a day or half-day ahead this week
or next. Request ids are derived from what is loaded, so loading twice changes nothing.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import grpc
from storemesh.workforce.v1 import workforce_pb2 as pb
from storemesh.workforce.v1 import workforce_pb2_grpc as pb_grpc

from services.demo_network import STORES, SUPPORT_CASE, DemoStore, request_id

CHINA = ZoneInfo("Asia/Shanghai")
SURNAMES = ("Li", "Wang", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou", "Lin")
GIVEN_NAMES = (
    "Wei", "Fang", "Jun", "Lei", "Qiang", "Hua", "Ming", "Jie", "Tao", "Bin", "Hao", "Xin",
    "Peng", "Yong", "Gang", "Kai",
)  # fmt: skip
PARTS_OF_DAY = (pb.PART_OF_DAY_ALL_DAY, pb.PART_OF_DAY_MORNING, pb.PART_OF_DAY_AFTERNOON)


def headcount(store: DemoStore) -> int:
    """6 technicians for the smallest workshop (6 bays), 10 for the biggest (16 bays)."""
    return min(10, max(6, 6 + round((store.bays - 6) * 0.4)))


def levels(count: int) -> list[pb.Level.ValueType]:
    """T3 15%, T2 35%, the rest T1, most senior first."""
    experts = max(1, round(count * 0.15))
    seniors = round(count * 0.35)
    return (
        [pb.LEVEL_T3] * experts
        + [pb.LEVEL_T2] * seniors
        + [pb.LEVEL_T1] * (count - experts - seniors)
    )


def specialties(store: DemoStore, level: pb.Level.ValueType, rng: random.Random) -> list[str]:
    found = [rng.choice(("mech_elec", "mech_elec", "maintenance"))]
    if level == pb.LEVEL_T1:
        found.append("maintenance")
    if rng.random() < 0.3:
        found.append("body_paint")
    if level >= pb.LEVEL_T2 and rng.random() < 0.6:
        found.append("diagnostics")
    big = store.bays >= 12
    if level >= pb.LEVEL_T2 and rng.random() < (0.55 if big else 0.12):
        found.append("hv_ev")
    adas_chance = {pb.LEVEL_T3: 0.7, pb.LEVEL_T2: 0.25}.get(level, 0.0) if big else 0.0
    if rng.random() < adas_chance:
        found.append("adas")
    return sorted(set(found))


def days_ahead(today: date) -> list[date]:
    """From tomorrow to the Sunday of next week: the days a window can still be published."""
    next_sunday = today + timedelta(days=13 - today.weekday())
    return [today + timedelta(days=n) for n in range(1, (next_sunday - today).days + 1)]


async def load(channel: grpc.aio.Channel, metadata: Any) -> None:
    stub = pb_grpc.WorkforceServiceStub(channel)
    today = datetime.now(CHINA).date()
    for store in STORES:
        rng = random.Random(f"workforce/{store.code}")
        for n, level in enumerate(levels(headcount(store)), start=1):
            technician_id = f"{store.code}-T{n:02d}"
            await stub.RegisterTechnician(
                pb.RegisterTechnicianRequest(
                    request_id=request_id("technician", technician_id),
                    technician_id=technician_id,
                    store_id=store.code,
                    name=f"{rng.choice(SURNAMES)} {rng.choice(GIVEN_NAMES)}",
                    level=level,
                    specialties=specialties(store, level, rng),
                ),
                metadata=metadata,
            )
            if level != pb.LEVEL_T1 and rng.random() < 0.5:
                await _publish_availability(stub, metadata, technician_id, today)
    await _support_case(stub, metadata, today)
    await _statuses(stub, metadata)


def coming_friday(today: date) -> date:
    return next(d for d in days_ahead(today) if d.isoweekday() == 5)


async def _support_case(
    stub: pb_grpc.WorkforceServiceAsyncStub, metadata: Any, today: date
) -> None:
    """SOP 2's case (services/demo_network.py SUPPORT_CASE): Dongguan's T3 knows the
    high-voltage battery and may be lent on the coming Friday afternoon."""
    case = SUPPORT_CASE
    await stub.AddSpecialty(
        pb.AddSpecialtyRequest(
            request_id=request_id("specialty", case.technician_id, case.specialty),
            technician_id=case.technician_id,
            specialty=case.specialty,
        ),
        metadata=metadata,
    )
    friday = coming_friday(today)
    await stub.PublishAvailability(
        pb.PublishAvailabilityRequest(
            request_id=request_id("availability", case.technician_id, friday, "case"),
            technician_id=case.technician_id,
            week_of=friday.isoformat(),
            weekday=pb.WEEKDAY_FRIDAY,
            part_of_day=pb.PART_OF_DAY_AFTERNOON,
        ),
        metadata=metadata,
    )


async def _publish_availability(
    stub: pb_grpc.WorkforceServiceAsyncStub, metadata: Any, technician_id: str, today: date
) -> None:
    """One or two windows ahead ("Wednesday all day", "Friday afternoon")."""
    rng = random.Random(f"availability/{technician_id}/{today.isoformat()}")
    for day in sorted(rng.sample(days_ahead(today), rng.choice((1, 2)))):
        if day.isoweekday() == 7:
            continue
        part = rng.choice(PARTS_OF_DAY)
        await stub.PublishAvailability(
            pb.PublishAvailabilityRequest(
                request_id=request_id("availability", technician_id, day, part),
                technician_id=technician_id,
                week_of=day.isoformat(),
                weekday=day.isoweekday(),  # type: ignore[arg-type]
                part_of_day=part,
            ),
            metadata=metadata,
        )


async def _statuses(stub: pb_grpc.WorkforceServiceAsyncStub, metadata: Any) -> None:
    """A few technicians are not on duty today, as on any real capability map."""
    for technician_id, status in (
        ("SZ01-T09", pb.TECHNICIAN_STATUS_OFF_DUTY),
        ("GZ01-T06", pb.TECHNICIAN_STATUS_ON_LEAVE),
        ("DG01-T05", pb.TECHNICIAN_STATUS_OFF_DUTY),
    ):
        await stub.ChangeStatus(
            pb.ChangeStatusRequest(
                request_id=request_id("status", technician_id, status),
                technician_id=technician_id,
                status=status,
            ),
            metadata=metadata,
        )
