"""The analytics servicer: thin. Each RPC declares who may call it (kernel.access), then
parses, acts, replies."""

from __future__ import annotations

from typing import Any

from storemesh.analytics.events.v1 import events_pb2 as ev
from storemesh.analytics.v1 import analytics_pb2 as pb
from storemesh.analytics.v1 import analytics_pb2_grpc as pb_grpc

from kernel import access, paging
from kernel.codec import decimal_fraction, to_proto
from kernel.errors import NotFound
from services.analytics import grpc_lifetime_value as lifetime_value
from services.analytics import grpc_messages as messages
from services.analytics import grpc_pilot as pilot
from services.analytics import grpc_replies as replies
from services.analytics.access import drill_down_store, scope_store
from services.analytics.application import Analytics
from services.analytics.domain import indicators
from services.analytics.domain.periods import Period
from services.analytics.queries import TARGET_CURSOR, TargetView
from services.analytics.queries_kpis import Level


class AnalyticsServicer(pb_grpc.AnalyticsServiceServicer):
    def __init__(self, analytics: Analytics) -> None:
        self.analytics = analytics
        self.queries = analytics.queries

    def _now(self) -> Any:
        return self.analytics.app.clock.now()

    # Operating reports: a store's DMS reports its own figures; HQ may too.

    @access.store_in("store_id", "report the operating figures of")
    async def RecordOperatingReport(
        self, request: pb.RecordOperatingReportRequest, context: Any
    ) -> pb.OperatingReport:
        command = messages.record_report(request, self._now())
        report_id = await self.analytics.record_report(command, request.request_id)
        view = await self.queries.report(command.store_id, command.period, report_id)
        return replies.report_message(view)

    @access.store_in("store_id", "see the operating figures of")
    async def GetOperatingReport(
        self, request: pb.GetOperatingReportRequest, context: Any
    ) -> pb.OperatingReport:
        store_id, period, as_of = messages.report_lookup(request, self._today())
        cutoff = self.analytics.kpis.cutoff(as_of)
        return replies.report_message(await self.queries.report(store_id, period, cutoff=cutoff))

    # Targets and alarm lines: HQ sets them; a store reads its own targets.

    @access.roles("hq", action="set targets")
    async def SetTarget(self, request: pb.SetTargetRequest, context: Any) -> pb.Target:
        command = messages.set_target(request, self._now())
        await self.analytics.set_target(command, request.request_id)
        return await self._target(command.store_id, command.indicator, command.period)

    @access.roles("hq", action="set targets")
    async def SetYearlyTarget(
        self, request: pb.SetYearlyTargetRequest, context: Any
    ) -> pb.SetYearlyTargetResponse:
        command = messages.set_yearly_target(request, self._now())
        await self.analytics.set_yearly_target(command, request.request_id)
        year = Period.year(command.year)
        return pb.SetYearlyTargetResponse(
            year=await self._target(command.store_id, command.indicator, year),
            months=[
                await self._target(command.store_id, command.indicator, month)
                for month in year.months()
            ],
        )

    async def _target(self, store_id: str, indicator: str, period: Period) -> pb.Target:
        found = await self.queries.target(store_id, indicator, period)
        if found is None:
            raise NotFound("target", f"{store_id}/{indicator}/{period.key}")
        return replies.target_message(found)

    @access.store_in("store_id", "see the targets of", empty_is_network=True)
    async def ListTargets(
        self, request: pb.ListTargetsRequest, context: Any
    ) -> pb.ListTargetsResponse:
        messages.list_targets(request)
        size = paging.page_size(request.page_size)
        pages = paging.PageQuery.of(
            {
                "list": "targets",
                "store_id": request.store_id,
                "indicator": request.indicator,
                "year": request.year,
            },
            *TARGET_CURSOR,
        )
        page = await self.queries.targets(
            request.store_id, request.indicator, request.year, pages, request.page_token, size
        )
        rows: list[TargetView] = page.rows
        return pb.ListTargetsResponse(
            targets=[replies.target_message(t) for t in rows],
            next_page_token=page.next_page_token,
        )

    @access.anyone_signed_in
    async def ListIndicators(
        self, request: pb.ListIndicatorsRequest, context: Any
    ) -> pb.ListIndicatorsResponse:
        wanted = messages.category(request)
        return pb.ListIndicatorsResponse(
            indicators=[
                replies.indicator_message(i)
                for i in indicators.LIBRARY
                if wanted is None or i.category == wanted
            ]
        )

    @access.anyone_signed_in
    async def ListAlarmLines(
        self, request: pb.ListAlarmLinesRequest, context: Any
    ) -> pb.ListAlarmLinesResponse:
        lines = await self.queries.alarm_lines()
        return pb.ListAlarmLinesResponse(alarm_lines=[replies.alarm_line_message(a) for a in lines])

    @access.roles("hq", action="set alarm lines")
    async def SetAlarmLine(self, request: pb.SetAlarmLineRequest, context: Any) -> pb.AlarmLine:
        command = messages.set_alarm_line(request, self._now())
        await self.analytics.set_alarm_line(command, request.request_id)
        for line in await self.queries.alarm_lines():
            if line.indicator == command.indicator:
                return replies.alarm_line_message(line)
        raise NotFound("alarm line", command.indicator)

    # The customer lifetime value of the weekly report: HQ sets it from a day on.

    @access.roles("hq", action="set the customer lifetime value")
    async def SetCustomerLifetimeValue(
        self, request: pb.SetCustomerLifetimeValueRequest, context: Any
    ) -> pb.CustomerLifetimeValue:
        command = lifetime_value.set_value(request, self._today(), self._now())
        effective = await self.analytics.set_customer_lifetime_value(command, request.request_id)
        return lifetime_value.value_message(await self.queries.lifetime_values(), effective)

    @access.roles("hq", "service", action="see the customer lifetime value")
    async def GetCustomerLifetimeValue(
        self, request: pb.GetCustomerLifetimeValueRequest, context: Any
    ) -> pb.CustomerLifetimeValue:
        on = lifetime_value.day_asked(request, self._today())
        return lifetime_value.value_message(await self.queries.lifetime_values(), on)

    # Not built yet: the read models they need (README.md, "Not built yet").

    @access.stores_of(scope_store, "see the figures of")
    async def GetKpis(self, request: pb.GetKpisRequest, context: Any) -> pb.Kpis:
        today = self.analytics.app.clock.business_day(self._now())
        scope, period, as_of = messages.kpis_request(request, today)
        found = await self.analytics.kpis.kpis(scope, period, as_of)
        targets = (
            await self.queries.targets_of(scope.id, period) if scope.level == Level.STORE else {}
        )
        return replies.kpis_message(found, targets)

    @access.stores_of(scope_store, "see the dashboard of")
    async def GetDashboard(self, request: pb.GetDashboardRequest, context: Any) -> pb.Dashboard:
        scope, as_of, limit = messages.dashboard_request(request, self._today())
        found = await self.analytics.dashboard.dashboard(scope, as_of, limit)
        return replies.dashboard_message(found)

    @access.stores_of(scope_store, "see the warnings of")
    async def ListWarnings(
        self, request: pb.ListWarningsRequest, context: Any
    ) -> pb.ListWarningsResponse:
        scope, level, as_of = messages.warnings_request(request, self._today())
        size = paging.page_size(request.page_size)
        pages = paging.PageQuery.of(
            {
                "list": "warnings",
                "scope": [int(scope.level), scope.id],
                "level": int(level),
                "indicator": request.indicator,
                "as_of": as_of.isoformat(),
            },
            paging.position,
        )
        after = pages.after(request.page_token)
        rows = await self.analytics.warnings.standing(scope, level, request.indicator, as_of)
        numbered = list(
            enumerate(rows[(after[0] if after else 0) :], start=after[0] if after else 0)
        )
        page, following = pages.cut(numbered, size, lambda nr: [nr[0] + 1])
        return pb.ListWarningsResponse(
            warnings=[replies.warning_message(r) for _, r in page],
            next_page_token=following,
        )

    @access.stores_of(drill_down_store, "see the figures of")
    async def GetDrillDown(self, request: pb.GetDrillDownRequest, context: Any) -> pb.DrillDown:
        found = await self.analytics.warnings.drill_down(request.drill_down, self._today())
        return replies.drill_down_message(found)

    def _today(self) -> Any:
        return self.analytics.app.clock.business_day(self._now())

    # Contribution: every store sees the ranking (it is the point of the incentive).

    @access.anyone_signed_in
    async def GetContributionRanking(
        self, request: pb.GetContributionRankingRequest, context: Any
    ) -> pb.ContributionRanking:
        month, as_of = messages.ranking_month(request, self._today())
        size = paging.page_size(request.page_size)
        pages = paging.PageQuery.of(
            {
                "list": "ranking",
                "month": month.key if month else "",
                "region": request.region,
                "as_of": as_of.isoformat(),
            },
            paging.position,
        )
        after = pages.after(request.page_token)
        if month is None:
            month = await self.analytics.contribution.last_published_month(as_of)
            if month is None:
                raise NotFound(
                    "published ranking",
                    "latest",
                    f"no month's ranking was published by {as_of.isoformat()} (each is "
                    "published an hour after its month ends): name a month for its ranking "
                    "so far",
                )
        ranked = await self.analytics.contribution.ranking(month, request.region, as_of)
        start = 0 if after is None else after[0]
        rows, following = pages.cut(
            [r for r in ranked.rows if r.standing.position > start],
            size,
            lambda r: [r.standing.position],
        )
        return pb.ContributionRanking(
            month=messages.period_message(month),
            published=ranked.published,
            rows=[replies.ranking_row(r) for r in rows],
            next_page_token=following,
        )

    @access.anyone_signed_in
    async def GetSupportChampions(
        self, request: pb.GetSupportChampionsRequest, context: Any
    ) -> pb.SupportChampions:
        period, as_of = messages.champions_period(request, self._today())
        done, champions = await self.analytics.contribution.champions(period, as_of)
        return pb.SupportChampions(
            period=messages.period_message(period),
            published=done,
            champions=[to_proto(c, ev.Champion) for c in champions],
        )

    # Comparison, diagnosis and reports

    @access.store_in("store_id", "compare")
    async def GetHorizontalComparison(
        self, request: pb.GetHorizontalComparisonRequest, context: Any
    ) -> pb.HorizontalComparison:
        store_id, code, period, as_of, facets = messages.comparison_request(request, self._today())
        view = await self.analytics.comparison.horizontal(store_id, code, period, as_of, facets)
        return replies.horizontal_message(code, period, view)

    @access.store_in("store_id", "compare")
    async def GetVerticalComparison(
        self, request: pb.GetVerticalComparisonRequest, context: Any
    ) -> pb.VerticalComparison:
        store_id, code, through, months, as_of = messages.vertical_request(request, self._today())
        found = await self.analytics.comparison.vertical(store_id, code, through, months, as_of)
        return replies.vertical_message(store_id, code, found)

    @access.store_in("store_id", "compare")
    async def GetBenchmarkComparison(
        self, request: pb.GetBenchmarkComparisonRequest, context: Any
    ) -> pb.BenchmarkComparison:
        store_id, code, period, as_of, facets = messages.comparison_request(request, self._today())
        given = decimal_fraction(request.benchmark) if request.HasField("benchmark") else None
        view = await self.analytics.comparison.benchmark(
            store_id, code, period, given, as_of, facets
        )
        return replies.benchmark_message(store_id, code, period, view)

    @access.store_in("store_id", "compare")
    async def GetStructureComparison(
        self, request: pb.GetStructureComparisonRequest, context: Any
    ) -> pb.StructureComparison:
        store_id, period, as_of = messages.structure_request(request, self._today())
        found = await self.analytics.comparison.structure(store_id, period, as_of)
        return replies.structure_message(store_id, period, found)

    @access.store_in("store_id", "diagnose")
    async def GetDiagnosis(self, request: pb.GetDiagnosisRequest, context: Any) -> pb.Diagnosis:
        store_id, month, as_of = messages.diagnosis_request(request, self._today())
        found = await self.analytics.reports.diagnosis(store_id, month, as_of)
        return replies.diagnosis_message(store_id, month, found)

    @access.roles("hq", "service", action="see the weekly collaboration report")
    async def GetWeeklyCollaborationReport(
        self, request: pb.GetWeeklyCollaborationReportRequest, context: Any
    ) -> pb.WeeklyCollaborationReport:
        week, value, as_of = messages.weekly_request(request, self._today())
        found = await self.analytics.reports.weekly(week, request.region, value, as_of)
        return replies.weekly_message(request.region, found)

    # Pilot (试点): HQ decides who takes part; HQ and services compare.

    @access.roles("hq", action="set pilot participation")
    async def SetPilotParticipation(
        self, request: pb.SetPilotParticipationRequest, context: Any
    ) -> pb.PilotParticipation:
        command = pilot.set_participation(request, self._today(), self._now())
        await self.analytics.set_pilot_participation(command, request.request_id)
        found = await self.analytics.pilot.participation(command.store_id)
        if found is None:
            raise NotFound("pilot participation", command.store_id)
        return pilot.participation_message(found)

    @access.roles("hq", "service", action="see the pilot comparison")
    async def GetPilotComparison(
        self, request: pb.GetPilotComparisonRequest, context: Any
    ) -> pb.PilotComparison:
        code, asked, window_days, as_of = pilot.comparison_request(request, self._today())
        view = await self.analytics.pilot.pilot(code, asked, request.region, window_days, as_of)
        return pilot.comparison_message(code, asked, view)
