"""The streams of analytics' own facts: reports, targets, alarm lines, the customer lifetime
value, pilot participation and publications, and their names."""

from __future__ import annotations

from kernel.application import Aggregate
from services.analytics.domain import NETWORK
from services.analytics.domain.alarm_settings import AlarmSettings, alarm_settings
from services.analytics.domain.lifetime_value import LifetimeValues, lifetime_values
from services.analytics.domain.operating_reports import OperatingReports, operating_report
from services.analytics.domain.periods import Period
from services.analytics.domain.pilot import PilotMembership, pilot_membership
from services.analytics.domain.rankings import Published, ranking_publication
from services.analytics.domain.targets import Targets, target
from services.analytics.domain.warning_board import WarningBoard, warning_board
from services.analytics.domain.weekly_report import WeekPublished, weekly_publication

REPORTS: Aggregate[OperatingReports] = Aggregate(
    "operating-report", operating_report, OperatingReports, store_of=lambda e: e.store_id
)
# A target stream holds one store's indicator for one year: tens of events, a few hundred
# at most; its state is keyed by Period, which JSON snapshots do not carry, so none is taken.
TARGETS: Aggregate[Targets] = Aggregate(
    "target", target, Targets, store_of=lambda e: e.store_id, snapshot_every=1_000_000
)
ALARM_LINES: Aggregate[AlarmSettings] = Aggregate(
    "alarm-lines", alarm_settings, AlarmSettings, store_of=lambda e: NETWORK
)
ALARM_LINES_STREAM = ALARM_LINES.stream_id(NETWORK)
# HQ's customer lifetime value for the network: a handful of events a year, ever; its state
# holds dates, which JSON snapshots do not carry, so none is taken.
LIFETIME_VALUES: Aggregate[LifetimeValues] = Aggregate(
    "customer-lifetime-value",
    lifetime_values,
    LifetimeValues,
    store_of=lambda e: NETWORK,
    snapshot_every=1_000_000,
)
LIFETIME_VALUES_STREAM = LIFETIME_VALUES.stream_id(NETWORK)
WARNINGS: Aggregate[WarningBoard] = Aggregate(
    "warning-board", warning_board, WarningBoard, store_of=lambda e: e.store_id
)
# One stream per published period: the month's ranking, the quarter's or year's champions.
RANKINGS: Aggregate[Published] = Aggregate(
    "ranking", ranking_publication, Published, store_of=lambda e: NETWORK
)

# One stream per store: HQ's latest decision on its pilot participation holds. A handful
# of events a store, ever: no snapshot (its state holds dates, which JSON does not carry).
PILOT: Aggregate[PilotMembership] = Aggregate(
    "pilot",
    pilot_membership,
    PilotMembership,
    store_of=lambda e: e.store_id,
    snapshot_every=1_000_000,
)
# One stream per week and scope: the network's (`weekly-report/<week>`) or a region's
# (`weekly-report/<week>/<region>`) weekly collaboration report, published once.
WEEKLY_REPORTS: Aggregate[WeekPublished] = Aggregate(
    "weekly-report", weekly_publication, WeekPublished, store_of=lambda e: NETWORK
)


def report_stream(store_id: str, period: Period) -> str:
    return REPORTS.stream_id(store_id, period.key)


def target_stream(store_id: str, indicator: str, year: int) -> str:
    return TARGETS.stream_id(store_id, indicator, str(year))


def ranking_stream(period: Period) -> str:
    return RANKINGS.stream_id(period.key)


def pilot_stream(store_id: str) -> str:
    return PILOT.stream_id(store_id)


def weekly_stream(week: Period, region: str = "") -> str:
    keys = (week.key, region) if region else (week.key,)
    return WEEKLY_REPORTS.stream_id(*keys)
