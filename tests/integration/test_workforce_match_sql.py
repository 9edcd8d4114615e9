"""The match's PostgreSQL text statement finds exactly what the SQLAlchemy statement does.

`lookups.match_candidates` sends `MATCH_SQL` on PostgreSQL (cheaper to send) and the
SQLAlchemy statement elsewhere; both are `refusal_to_hold` in SQL. Here both run on the
same varied read model (leave, every support status, lapsed and live holds, departures,
a store without a location, one missing from the directory) for many needs whose
boundaries fall on the data's own, and must return the same rows.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from kernel.store_directory import store_directory
from services.demo_network import STORES
from services.workforce.domain.capability import TechnicianStatus
from services.workforce.domain.state import SupportStatus
from services.workforce.read_model import lookups
from services.workforce.read_model.tables import (
    availability,
    leaves,
    specialties,
    supports,
    technicians,
)
from tests.integration.conftest import Running
from tests.integration.workforce_fixtures import workforce_service

__all__ = ["workforce_service"]

NOW = datetime(2026, 3, 2, 8, tzinfo=UTC)
SKILLS = ("hv_ev", "body_paint", "adas", "diagnostics")
STORE_IDS = [s.code for s in STORES[:6]] + ["NL01", "GONE01"]  # no location; not in directory


def _at(hours: int) -> datetime:
    return NOW + timedelta(hours=hours)


def _rows(rng: random.Random) -> dict[Any, list[dict[str, Any]]]:
    found: dict[Any, list[dict[str, Any]]] = {
        technicians: [],
        specialties: [],
        availability: [],
        leaves: [],
        supports: [],
    }
    for n in range(80):
        tid = f"T{n:03d}"
        found[technicians].append(
            {
                "technician_id": tid,
                "store_id": rng.choice(STORE_IDS),
                "name": f"Tech {n}",
                "level": rng.randint(1, 3),
                "status": int(rng.choice(list(TechnicianStatus))),
                "state": {},
                "updated_at": NOW,
            }
        )
        for skill in rng.sample(SKILLS, rng.randint(0, 3)):
            found[specialties].append({"technician_id": tid, "specialty": skill})
        start = rng.randint(-6, 30)
        for _ in range(rng.randint(0, 2)):
            end = start + rng.randint(2, 12)
            found[availability].append(
                {"technician_id": tid, "starts_at": _at(start), "ends_at": _at(end)}
            )
            start = end + rng.randint(1, 10)
        if rng.random() < 0.3:
            first = rng.randint(-10, 30)
            found[leaves].append(
                {
                    "technician_id": tid,
                    "leave_id": "L0",
                    "starts_at": _at(first),
                    "ends_at": _at(first + rng.randint(1, 24)),
                }
            )
        for k in range(rng.randint(0, 3)):
            first = rng.randint(-24 * 120, 30)
            found[supports].append(
                {
                    "technician_id": tid,
                    "support_id": f"S{k}",
                    "home_store_id": "X",
                    "host_store_id": "Y",
                    "specialty": rng.choice(SKILLS),
                    "minimum_level": 1,
                    "starts_at": _at(first),
                    "ends_at": _at(first + rng.randint(1, 8)),
                    "hold_expires_at": _at(rng.randint(-3, 3)),
                    "urgent": False,
                    "status": int(rng.choice(list(SupportStatus))),
                    "rated_by": [],
                }
            )
    return found


async def _both(conn: AsyncConnection, **need: Any) -> tuple[list[Any], list[Any]]:
    params = {**need, "minimum_level": int(need["minimum_level"])}
    text = (await conn.exec_driver_sql(lookups.MATCH_SQL, params)).all()
    core = (await conn.execute(lookups._match_query(), params)).all()
    return sorted(tuple(r) for r in text), sorted(tuple(r) for r in core)


async def test_the_text_statement_finds_what_the_sqlalchemy_statement_finds(
    workforce_service: Running,
) -> None:
    db = workforce_service.service.db
    rng = random.Random(20260302)
    async with db.transaction("test.seed") as conn:
        await conn.execute(
            store_directory.insert().values(
                store_id="NL01", name="No location", region="", closed=False, version=1
            )
        )
        for table, rows in _rows(rng).items():
            await conn.execute(table.insert(), rows)
    found_some = found_none = 0
    async with db.transaction("test.compare") as conn:
        for _ in range(150):
            start = rng.randint(-4, 30)
            text, core = await _both(
                conn,
                specialty=rng.choice(SKILLS),
                minimum_level=rng.randint(1, 3),
                requesting_store_id=rng.choice(STORE_IDS),
                starts_at=_at(start),
                ends_at=_at(start + rng.randint(1, 6)),
                now=NOW,
                lent_since=NOW - timedelta(days=90),
            )
            assert text == core
            found_some += bool(text)
            found_none += not text
    assert found_some > 20 and found_none > 20  # the needs exercise both outcomes
