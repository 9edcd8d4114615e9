"""The values the edge fuzz sends: plausible ones by field name, so the untouched fields
of a case reach the business rules, and hostile ones by field type."""

from __future__ import annotations

import base64
import math
from datetime import UTC, date, datetime, timedelta

from google.protobuf.descriptor import FieldDescriptor

from kernel import edge

# Business time of the fuzzed network: the ManualClock's Monday 2026-11-02 08:00 UTC.
NOW = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
FRIDAY = date(2026, 11, 6)


def china(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC) - timedelta(hours=8)


# Plausible values by field name, so the unchanged fields of a case reach the domain.
PLAUSIBLE_TEXT = {
    "store_id": "SZ01",
    "exclude_store_id": "GZ01",
    "requesting_store_id": "SZ01",
    "destination_store_id": "GZ01",
    "to_store_id": "GZ01",
    "from_store_id": "SZ01",
    "host_store_id": "GZ01",
    "rated_by_store_id": "GZ01",
    "diverted_from_store_id": "GZ01",
    "part_number": "P-100",
    "technician_id": "T-1",
    "reservation_id": "R-1",
    "appointment_id": "A-1",
    "visit_id": "W-1",
    "support_id": "S-1",
    "specialty": "hv_ev",
    "specialties": "hv_ev",
    "store_ids": "SZ01",
    "technician_ids": "T-1",
    "day": NOW.date().isoformat(),
    "week_of": FRIDAY.isoformat(),
    "month": "2026-11",
    "start": "2026-11-01",
    "joined_on": "2026-10-01",
    "left_on": "",
    "as_of": FRIDAY.isoformat(),
    "on": FRIDAY.isoformat(),
    "effective_from": "",
    "from_date": "",
    "to_date": "",
    "opened_on": "2021-05-01",
    "issued_on": "2024-01-01",
    "expires_on": "2028-01-01",
    "category": "brakes",
    "region": "Shenzhen",
    "city": "Shenzhen",
    "time_zone": "Asia/Shanghai",
    "unit": "set",
    "page_token": "",
    "indicator": "revenue",
    "source_store_id": "",
    "supersedes_report_id": "",
    "phone": "13800138000",
    "drill_down": "store/SZ01/indicator/revenue/period/2026-11",
}
PLAUSIBLE_NUMBER = {
    "page_size": 1,
    "opens_minute": 480,
    "closes_minute": 1050,
    "min_idle_days": 0,
    "ttl_seconds": 600,
    "window_days": 30,
    "wait_threshold_minutes": 30,
    "latitude": 22.54,
    "longitude": 114.05,
    "availability_factor": 0.9,
    "available_hours": 8.0,
    "expected_labour_hours": 2.0,
    "bays": 4,
    "capacity": 10,
    "default_daily_capacity": 10,
    "rating": 5,
    "satisfaction_score": 5,
    "unit_cost_fen": 12_000,
    "write_down_fen": 0,
    "freight_fen": 0,
    "hours_worked": 0.0,
    "travel_and_lodging_fen": 0,
    "year": 2026,
    "spring_festival_month": 2,
    "spring_festival_dip": 0.13,
}
# Enum values by enum type where the first one is not what a plausible request names.
PLAUSIBLE_ENUM = {"storemesh.analytics.events.v1.PeriodKind": "PERIOD_KIND_MONTH"}
PLAUSIBLE_TIME = {
    "starts_at": china(FRIDAY, 13),
    "ends_at": china(FRIDAY, 17),
    "available_from": china(FRIDAY, 8),
    "available_to": china(FRIDAY, 18),
    "requested_at": china(date(2026, 11, 3), 10),
    "slot_at": china(date(2026, 11, 3), 11),
    "counted_at": NOW - timedelta(hours=1),
}

TEXT = [
    ("empty", ""),
    ("blank", "   "),
    ("10000 chars", "x" * 10_000),
    ("257 chars", "y" * 257),
    ("NUL", "a\x00b"),
    ("control", "\x01\x1b[2J"),
    ("han", "深圳福田"),
    ("sql", "'; DROP TABLE events; --"),
    ("rtl", "\u202eevil"),
    ("unknown zone", "Mars/Olympus_Mons"),
    ("zone path", "../../etc/passwd"),
]
IDS = [
    ("empty", ""),
    ("10000 chars", "z" * 10_000),
    ("NUL", "S\x00Z01"),
    ("control", "SZ\n01"),
    ("path", "a/../b"),
    ("rooted", "/SZ01"),
    ("trailing slash", "SZ01/"),
    ("dotdot", ".."),
    ("han", "深圳"),
    ("sql", "SZ01' OR '1'='1"),
    ("unknown", "NOPE-404"),
]
DATES = [
    ("empty", ""),
    ("NUL", "2026-11-06\x00"),
    ("10000 chars", "9" * 10_000),
    ("end of calendar", "9999-12-31"),
    ("start of calendar", "0001-01-01"),
    ("early January year 1", "0001-01-15"),
    ("compact", "20261201"),
    ("week date", "2026-W49-1"),
    ("30 February", "2026-02-30"),
    ("month 13", "2026-13-01"),
    ("words", "tomorrow"),
]
MONTHS = [
    ("empty", ""),
    ("NUL", "2026-11\x00"),
    ("10000 chars", "9" * 10_000),
    ("end of calendar", "9999-12"),
    ("start of calendar", "0001-01"),
    ("compact", "202611"),
    ("month 13", "2026-13"),
    ("month 0", "2026-00"),
    ("a day", "2026-11-02"),
    ("words", "last month"),
]
# A warning's drill-down key (store/<id>/indicator/<code>/period/<key>) naming periods at
# the ends of the calendar and of other shapes.
DRILL_DOWNS = [
    *(
        (label, f"store/SZ01/indicator/revenue/period/{key}")
        for label, key in (
            ("year 1", "0001"),
            ("year 9999", "9999"),
            ("first week", "0001-W01"),
            ("last week", "9999-W52"),
            ("week 53 of a 52-week year", "2026-W53"),
            ("first day", "0001-01-01"),
            ("last day", "9999-12-31"),
            ("first month", "0001-01"),
            ("last quarter", "9999-Q4"),
            ("quarter 5", "2026-Q5"),
        )
    ),
    ("other store", "store/GZ01/indicator/revenue/period/2026-11"),
    ("unknown store", "store/NOPE/indicator/revenue/period/2026-11"),
    ("unknown indicator", "store/SZ01/indicator/nope/period/2026-11"),
    ("short", "store/SZ01"),
    ("no store", "store//indicator/revenue/period/2026-11"),
]
TOKENS = [
    ("garbage", "not-a-token"),
    ("10000 chars", "A" * 10_000),
    ("NUL", "ey\x00"),
    ("base64 not json", base64.urlsafe_b64encode(b"\xff\xfe").decode()),
    ("json not token", base64.urlsafe_b64encode(b'{"a":1}').decode()),
]
INT32 = [("zero", 0), ("minus one", -1), ("int32 max", 2**31 - 1), ("int32 min", -(2**31))]
INT64 = [*INT32, ("int64 max", 2**63 - 1), ("int64 min", -(2**63))]
DOUBLES = [
    ("NaN", math.nan),
    ("+inf", math.inf),
    ("-inf", -math.inf),
    ("negative", -1.0),
    ("huge", 1e308),
    ("zero", 0.0),
    ("tiny", 5e-324),
]
TIMESTAMPS: list[tuple[str, tuple[int, int] | None]] = [
    ("unset", None),
    ("epoch", (0, 0)),
    ("start of calendar", (edge.MIN_TIMESTAMP_SECONDS, 0)),
    ("end of calendar", (edge.MAX_TIMESTAMP_SECONDS, 0)),
    ("before the calendar", (edge.MIN_TIMESTAMP_SECONDS - 1, 0)),
    ("seconds 2^62", (2**62, 0)),
    ("nanos -1", (1_790_000_000, -1)),
    ("nanos 2e9", (1_790_000_000, 2_000_000_000)),
]
INT_TYPES = {
    FieldDescriptor.TYPE_INT32: INT32,
    FieldDescriptor.TYPE_SINT32: INT32,
    FieldDescriptor.TYPE_INT64: INT64,
    FieldDescriptor.TYPE_SINT64: INT64,
}
