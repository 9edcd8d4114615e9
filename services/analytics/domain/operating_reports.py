"""The operating report aggregate: one stream per store and period, the latest report in force.

A DMS reports a day or a month. A correction names the report it corrects; the earlier
one is then superseded, and an event says so, so that projections drop its figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from kernel.decider import Decider
from kernel.errors import RuleViolated, Violations
from kernel.validation import identifier, store_code
from services.analytics.domain import reasons
from services.analytics.domain.operating_figures import OperatingFigures, check_figures
from services.analytics.domain.periods import Period, PeriodKind

REPORTED_KINDS = frozenset({PeriodKind.DAY, PeriodKind.MONTH})


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordOperatingReport:
    store_id: str
    report_id: str
    period: Period
    figures: OperatingFigures
    # The report in force this one corrects; required once the period has a report.
    supersedes_report_id: str | None
    # Whether the store directory knows the store (filled in by the application).
    store_known: bool
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class OperatingReportRecorded:
    store_id: str
    report_id: str
    period: Period
    figures: OperatingFigures
    supersedes_report_id: str | None
    occurred_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class OperatingReportSuperseded:
    store_id: str
    report_id: str
    period: Period
    superseded_by_report_id: str
    occurred_at: datetime


OperatingReportEvent = OperatingReportRecorded | OperatingReportSuperseded


@dataclass(frozen=True, slots=True)
class OperatingReports:
    in_force: str | None = None
    figures: OperatingFigures | None = None
    # Every report id ever recorded for the period, so a late retry is recognised.
    recorded: dict[str, OperatingFigures] = field(default_factory=dict)


def decide(
    command: RecordOperatingReport, state: OperatingReports
) -> Sequence[OperatingReportEvent]:
    v = Violations()
    store_code(v, "store_id", command.store_id)
    identifier(v, "report_id", command.report_id)
    if command.supersedes_report_id is not None:
        identifier(v, "supersedes_report_id", command.supersedes_report_id)
    if command.period.kind not in REPORTED_KINDS:
        v.add("period.kind", "a report covers a day or a month")
    elif not command.period.is_well_formed():
        v.add("period.start", "must be the first day of the period")
    check_figures(v, command.figures)
    v.raise_if_any()
    subject = f"report/{command.store_id}/{command.period.key}"
    if not command.store_known:
        raise RuleViolated(
            reasons.UNKNOWN_STORE, f"store {command.store_id} is not in the directory", subject
        )
    if not command.period.has_begun(command.at):
        raise RuleViolated(
            reasons.PERIOD_IN_THE_FUTURE,
            f"period {command.period.key} has not begun",
            subject,
            {"period": command.period.key},
        )
    earlier = state.recorded.get(command.report_id)
    if earlier is not None:
        if earlier == command.figures:
            return []  # a retry of a report already recorded
        raise RuleViolated(
            reasons.REPORT_ID_REUSED,
            f"report {command.report_id} was recorded with other figures",
            subject,
        )
    if state.in_force is not None and command.supersedes_report_id is None:
        raise RuleViolated(
            reasons.REPORT_ALREADY_RECORDED,
            f"{command.period.key} already has report {state.in_force}: name it to correct it",
            subject,
            {"in_force": state.in_force},
        )
    if command.supersedes_report_id is not None and command.supersedes_report_id != state.in_force:
        raise RuleViolated(
            reasons.REPORT_NOT_IN_FORCE,
            f"report {command.supersedes_report_id} is not the one in force",
            subject,
            {"in_force": state.in_force or ""},
        )
    recorded = OperatingReportRecorded(
        store_id=command.store_id,
        report_id=command.report_id,
        period=command.period,
        figures=command.figures,
        supersedes_report_id=command.supersedes_report_id,
        occurred_at=command.at,
    )
    if state.in_force is None:
        return [recorded]
    return [
        recorded,
        OperatingReportSuperseded(
            store_id=command.store_id,
            report_id=state.in_force,
            period=command.period,
            superseded_by_report_id=command.report_id,
            occurred_at=command.at,
        ),
    ]


def evolve(state: OperatingReports, event: OperatingReportEvent) -> OperatingReports:
    match event:
        case OperatingReportRecorded():
            return OperatingReports(
                in_force=event.report_id,
                figures=event.figures,
                recorded={**state.recorded, event.report_id: event.figures},
            )
        case OperatingReportSuperseded():
            return state


operating_report: Decider[OperatingReports, RecordOperatingReport, OperatingReportEvent] = Decider(
    OperatingReports, decide, evolve
)
