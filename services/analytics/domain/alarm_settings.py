"""HQ's alarm lines (one stream for the network): the field's defaults until HQ moves one.

A line is set per indicator; its direction is the indicator's (a lower-is-better
indicator alarms above its line). Ratios only: a line is a share, whatever the store's
size, so one line can hold for the whole network.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction

from kernel.decider import Decider
from kernel.errors import Violations
from services.analytics.domain import indicators
from services.analytics.domain.warnings import DEFAULT_ALARM_LINES, AlarmLine


@dataclass(frozen=True, slots=True, kw_only=True)
class SetAlarmLine:
    indicator: str
    line: Fraction
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class AlarmLineSet:
    indicator: str
    line: Fraction
    previous_line: Fraction | None
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class AlarmSettings:
    changed: dict[str, Fraction] = field(default_factory=dict)

    def lines(self) -> tuple[AlarmLine, ...]:
        """The defaults with HQ's changes, then lines HQ added, by indicator code."""
        defaults = {a.indicator: a for a in DEFAULT_ALARM_LINES}
        lines = {**defaults}
        for code, line in self.changed.items():
            indicator = indicators.BY_CODE[code]
            lines[code] = AlarmLine(indicator=code, line=line, direction=indicator.direction)
        ordered = [lines[a.indicator] for a in DEFAULT_ALARM_LINES]
        return (*ordered, *(lines[c] for c in sorted(lines) if c not in defaults))

    def line_of(self, code: str) -> Fraction | None:
        for alarm in self.lines():
            if alarm.indicator == code:
                return alarm.line
        return None


def decide(command: SetAlarmLine, state: AlarmSettings) -> Sequence[AlarmLineSet]:
    v = Violations()
    indicator = indicators.find(command.indicator)
    if indicator is None:
        v.add("indicator", f"unknown indicator {command.indicator!r}")
    elif indicator.unit != indicators.Unit.RATIO:
        v.add("indicator", "alarm lines are set on ratios")
    if not 0 <= command.line <= 1:
        v.add("line", "must be a share from 0 to 1")
    v.raise_if_any()
    previous = state.line_of(command.indicator)
    if previous == command.line:
        return []
    return [
        AlarmLineSet(
            indicator=command.indicator,
            line=command.line,
            previous_line=previous,
            occurred_at=command.at,
        )
    ]


def evolve(state: AlarmSettings, event: AlarmLineSet) -> AlarmSettings:
    return AlarmSettings(changed={**state.changed, event.indicator: event.line})


alarm_settings: Decider[AlarmSettings, SetAlarmLine, AlarmLineSet] = Decider(
    AlarmSettings, decide, evolve
)
