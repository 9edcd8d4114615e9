"""The analytics domain: reports, targets, warnings, contribution, comparison, diagnosis."""

from __future__ import annotations

from services.analytics.domain.alarm_settings import AlarmLineSet
from services.analytics.domain.lifetime_value import CustomerLifetimeValueSet
from services.analytics.domain.operating_reports import (
    OperatingReportRecorded,
    OperatingReportSuperseded,
)
from services.analytics.domain.pilot import PilotParticipationSet
from services.analytics.domain.rankings import ContributionRankingPublished, SupportChampionsNamed
from services.analytics.domain.targets import TargetSet
from services.analytics.domain.warning_board import WarningCleared, WarningRaised
from services.analytics.domain.weekly_report import WeeklyCollaborationReportPublished

NETWORK = "_network"  # the subject token of events that belong to no store

# Every event the analytics context records, as `analytics.v1.<store_id>.<ClassName>`
# (`analytics.v1._network.<ClassName>` for rankings, champions, alarm lines, the customer
# lifetime value and weekly reports).
EVENT_TYPES: tuple[type, ...] = (
    OperatingReportRecorded,
    OperatingReportSuperseded,
    TargetSet,
    WarningRaised,
    WarningCleared,
    ContributionRankingPublished,
    SupportChampionsNamed,
    AlarmLineSet,
    PilotParticipationSet,
    WeeklyCollaborationReportPublished,
    CustomerLifetimeValueSet,
)
