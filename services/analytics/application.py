"""Analytics' command side: the facts it owns (DMS operating reports, HQ targets, alarm
lines, the customer lifetime value and pilot participation), each load-decide-record in one
transaction; the store is checked against the local copy of capacity's directory inside it."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

from kernel.application import Application, UnitOfWork
from kernel.store_directory import store_status
from services.analytics.aggregates import (
    ALARM_LINES,
    ALARM_LINES_STREAM,
    LIFETIME_VALUES,
    LIFETIME_VALUES_STREAM,
    PILOT,
    REPORTS,
    TARGETS,
    pilot_stream,
    report_stream,
    target_stream,
)
from services.analytics.domain.alarm_settings import SetAlarmLine
from services.analytics.domain.lifetime_value import SetCustomerLifetimeValue
from services.analytics.domain.operating_reports import RecordOperatingReport
from services.analytics.domain.pilot import SetPilotParticipation
from services.analytics.domain.targets import SetTarget, SetYearlyTarget, stream_year
from services.analytics.projections import Projections
from services.analytics.queries import AnalyticsQueries
from services.analytics.queries_comparison import ComparisonQueries, PeerGroups
from services.analytics.queries_contribution import ContributionQueries
from services.analytics.queries_dashboard import DashboardQueries
from services.analytics.queries_kpis import KpiQueries
from services.analytics.queries_pilot import PilotQueries
from services.analytics.queries_reports import ReportQueries
from services.analytics.queries_warnings import WarningQueries
from services.analytics.scheduled import ArmTimers, PressureForecasts, Scheduled


class Analytics:
    def __init__(
        self,
        app: Application,
        peer_groups: PeerGroups | None = None,
        forecasts: PressureForecasts | None = None,
    ) -> None:
        self.app = app
        self.peer_groups = peer_groups
        self.queries = AnalyticsQueries(app)
        self.kpis = KpiQueries(app)
        self.contribution = ContributionQueries(app, self.kpis)
        self.warnings = WarningQueries(app, self.kpis)
        self.dashboard = DashboardQueries(app, self.kpis, self.warnings)
        self.comparison = ComparisonQueries(app, self.kpis, peer_groups)
        self.reports = ReportQueries(app, self.kpis)
        self.pilot = PilotQueries(app, self.comparison)
        self.projections = Projections(app.clock)
        self.scheduled = Scheduled(app, self.contribution, self.kpis, self.reports, forecasts)
        self.arming = ArmTimers(self.scheduled)

    async def record_report(self, command: RecordOperatingReport, request_id: str) -> str:
        async def handler(uow: UnitOfWork) -> str:
            known = await _store_known(uow, command.store_id)
            await uow.execute(
                REPORTS,
                report_stream(command.store_id, command.period),
                replace(command, store_known=known),
            )
            await self.scheduled.assess_late(uow, command.store_id, command.period)
            return command.report_id

        return str(await self._handle(command, handler, request_id, str))

    # Each handler answers the stream it wrote: the command log replays a request by its
    # stored result, and a result of None reads as "no such request".

    async def set_target(self, command: SetTarget, request_id: str) -> str:
        async def handler(uow: UnitOfWork) -> str:
            known = await _store_known(uow, command.store_id)
            stream = target_stream(command.store_id, command.indicator, stream_year(command.period))
            await uow.execute(TARGETS, stream, replace(command, store_known=known))
            return stream

        return str(await self._handle(command, handler, request_id, str))

    async def set_yearly_target(self, command: SetYearlyTarget, request_id: str) -> str:
        async def handler(uow: UnitOfWork) -> str:
            known = await _store_known(uow, command.store_id)
            stream = target_stream(command.store_id, command.indicator, command.year)
            await uow.execute(TARGETS, stream, replace(command, store_known=known))
            return stream

        return str(await self._handle(command, handler, request_id, str))

    async def set_alarm_line(self, command: SetAlarmLine, request_id: str) -> str:
        async def handler(uow: UnitOfWork) -> str:
            await uow.execute(ALARM_LINES, ALARM_LINES_STREAM, command)
            return ALARM_LINES_STREAM

        return str(await self._handle(command, handler, request_id, str))

    async def set_customer_lifetime_value(
        self, command: SetCustomerLifetimeValue, request_id: str
    ) -> date:
        """The day the value takes effect, as first decided (a retry on a later day with
        no effective_from still answers the day it was recorded for)."""

        async def handler(uow: UnitOfWork) -> str:
            await uow.execute(LIFETIME_VALUES, LIFETIME_VALUES_STREAM, command)
            return command.effective_day.isoformat()

        return date.fromisoformat(str(await self._handle(command, handler, request_id, str)))

    async def set_pilot_participation(self, command: SetPilotParticipation, request_id: str) -> str:
        async def handler(uow: UnitOfWork) -> str:
            known = await _store_known(uow, command.store_id)
            stream = pilot_stream(command.store_id)
            await uow.execute(PILOT, stream, replace(command, store_known=known))
            return stream

        return str(await self._handle(command, handler, request_id, str))

    async def _handle(
        self, command: Any, handler: Any, request_id: str, result_type: Any = None
    ) -> Any:
        # store_known is the directory's answer and today the clock's, not the caller's: a
        # retry after the store arrived in the directory, or on the next day, is still the
        # same request.
        return await self.app.handle(
            command,
            handler,
            request_id=request_id,
            result_type=result_type,
            context_fields=("store_known", "today"),
        )


async def _store_known(uow: UnitOfWork, store_id: str) -> bool:
    known, _closed = await store_status(uow.conn, store_id)
    return known
