"""The technician capability map's vocabulary: levels, specialties, statuses, certificates."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from enum import IntEnum


class Level(IntEnum):
    """T1 junior, T2, T3 expert; numbers match the proto enum (0 is UNSPECIFIED)."""

    T1 = 1
    T2 = 2
    T3 = 3

    def satisfies(self, need: Level) -> bool:
        """A higher level can do everything a lower level can."""
        return self >= need


class TechnicianStatus(IntEnum):
    ON_DUTY = 1
    OFF_DUTY = 2
    ON_LEAVE = 3
    ON_LOAN = 4
    LEFT = 5


# Statuses a store reports by hand; ON_LOAN follows a support check-in, LEFT a departure.
REPORTED_STATUSES = frozenset(
    {TechnicianStatus.ON_DUTY, TechnicianStatus.OFF_DUTY, TechnicianStatus.ON_LEAVE}
)

WELL_KNOWN_SPECIALTIES: dict[str, str] = {
    "hv_ev": "high-voltage EV systems: battery, motor, power electronics (三电)",
    "body_paint": "body and paint (钣喷)",
    "adas": "smart driving / ADAS (智能驾驶)",
    "mech_elec": "general mechanical-electrical (机电)",
    "maintenance": "maintenance (保养)",
    "diagnostics": "diagnostics (诊断)",
}

_ALIASES: dict[str, str] = {
    "三电": "hv_ev",
    "钣喷": "body_paint",
    "智能驾驶": "adas",
    "机电": "mech_elec",
    "保养": "maintenance",
    "诊断": "diagnostics",
}

SPECIALTY_CODE = re.compile(r"^[a-z][a-z0-9_]{1,39}$")
_SEPARATORS = re.compile(r"[\s\-]+")


def specialty_code(raw: str) -> str | None:
    """The normalised code of a specialty ("Body-Paint" -> "body_paint"), None if malformed.

    The list stays open: any well-formed code is a specialty, the six of domain.md are only
    the ones seen in the field.
    """
    text = raw.strip()
    if text in _ALIASES:
        return _ALIASES[text]
    code = _SEPARATORS.sub("_", text.lower())
    return code if SPECIALTY_CODE.match(code) else None


@dataclass(frozen=True)
class Certification:
    name: str
    issued_on: date
    expires_on: date | None = None
