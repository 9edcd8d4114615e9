"""Views into replies for analytics: reports, targets, KPI, rankings, warnings, the
dashboard (the requests are parsed in grpc_messages)."""

from __future__ import annotations

from datetime import timedelta
from fractions import Fraction
from typing import Any

from storemesh.analytics.events.v1 import events_pb2 as ev
from storemesh.analytics.v1 import analytics_pb2 as pb

from kernel.codec import timestamp, to_proto
from services.analytics.domain import indicators
from services.analytics.domain.comparison import StoreValue, Structure, Vertical
from services.analytics.domain.contribution import Act
from services.analytics.domain.diagnosis import Diagnosis
from services.analytics.domain.diagnosis import Ratio as DiagnosisRatio
from services.analytics.domain.periods import Period, PeriodKind
from services.analytics.domain.targets import attainment
from services.analytics.domain.warnings import AlarmLine, light
from services.analytics.domain.weekly_report import WeeklyReport
from services.analytics.grpc_messages import period_message
from services.analytics.queries import ReportView, TargetView
from services.analytics.queries_comparison import BenchmarkView, HorizontalView
from services.analytics.queries_contribution import RankingRow
from services.analytics.queries_dashboard import Dashboard
from services.analytics.queries_kpis import Kpis
from services.analytics.queries_warnings import DrillDown


def indicator_value(
    code: str, value: Fraction, target: Fraction | None, judged: bool
) -> pb.IndicatorValue:
    indicator = indicators.BY_CODE[code]
    message = pb.IndicatorValue(indicator=code, value=float(value))
    if target is not None:
        message.target = float(target)
        if target:
            message.attainment = float(attainment(indicator.direction, value, target))
        found = light(indicator.direction, value, target) if judged else None
        if found is not None:
            message.level = int(found)
    return message


def kpis_message(k: Kpis, targets: dict[str, Fraction]) -> pb.Kpis:
    # A running total (revenue so far) is not judged against the whole period's target
    # before the period is over: the dashboard's month-end projection does that.
    over = k.as_of >= k.period.end - timedelta(days=1)
    return pb.Kpis(
        scope=pb.Scope(level=int(k.scope.level), id=k.scope.id),
        period=period_message(k.period),
        as_of=k.as_of.isoformat(),
        values=[
            indicator_value(
                code,
                value,
                targets.get(code),
                over or not indicators.BY_CODE[code].additive,
            )
            for code, value in sorted(k.values.items())
        ],
        transfer_response_minutes_p90=float(k.response_minutes_p90 or 0),
        new_customers=k.new_customers or 0,
        returning_customers=k.returning_customers or 0,
    )


def ranking_row(row: RankingRow) -> pb.RankingRow:
    return pb.RankingRow(
        standing=to_proto(row.standing, ev.Standing),
        transfers=row.acts[Act.PARTS_TRANSFER],
        supports=row.acts[Act.TECHNICIAN_SUPPORT],
        diversions_received=row.acts[Act.DIVERSION_RECEIVED],
        stale_stock_revitalised=row.acts[Act.STALE_STOCK_REVITALISED],
        score=pb.StoreScore(
            own_results=float(row.score.own_results),
            collaboration=float(row.score.collaboration),
            satisfaction=float(row.score.satisfaction),
            total=float(row.score.total),
        ),
    )


def warning_message(row: Any) -> pb.Warning:
    return pb.Warning(
        warning_id=row.warning_id,
        store_id=row.store_id,
        rule=row.rule,
        level=row.level,
        indicator=row.indicator,
        period=period_message(Period(PeriodKind(row.period_kind), row.period_start)),
        actual=float(Fraction(row.actual)),
        reference=float(Fraction(row.reference)),
        deviation=float(Fraction(row.deviation)),
        drill_down=row.drill_down,
        raised_at=timestamp(row.raised_at),
    )


def drill_down_message(d: DrillDown) -> pb.DrillDown:
    message = pb.DrillDown(
        store_id=d.store_id,
        indicator=d.indicator,
        period=period_message(d.period),
        report_id=d.report_id,
    )
    if d.value is not None:
        message.value.CopyFrom(indicator_value(d.indicator, d.value, d.target, True))
    for part, value, target in d.breakdown:
        row = message.breakdown.add(period=period_message(part), value=float(value or 0))
        if target is not None:
            row.target = float(target)
    return message


def dashboard_message(d: Dashboard) -> pb.Dashboard:
    message = pb.Dashboard(
        scope=pb.Scope(level=int(d.scope.level), id=d.scope.id),
        as_of=d.as_of.isoformat(),
        month=period_message(d.month),
        revenue=to_proto(d.revenue, ev.RevenueByLine),
        vehicles_in=d.vehicles_in,
        returning_customers=d.returning_customers or 0,
        new_customers=d.new_customers or 0,
        risks=[warning_message(r) for r in d.risks],
    )
    for p in d.projections:
        message.projections.add(
            indicator=p.indicator,
            actual_to_date=float(p.projection.actual_to_date),
            target=float(p.projection.target),
            elapsed=float(p.projection.elapsed),
            attained_so_far=float(p.projection.attained_so_far),
            projected=float(p.projection.projected),
            projected_attainment=float(p.projection.projected_attainment),
            level=int(p.level) if p.level is not None else 0,
        )
    if d.csi is not None:
        message.csi = float(d.csi)
    if d.technician_productivity is not None:
        message.technician_productivity = float(d.technician_productivity)
    if d.csi_highest is not None:
        message.csi_highest.CopyFrom(
            pb.StoreFigure(store_id=d.csi_highest[0], value=float(d.csi_highest[1]))
        )
    if d.csi_lowest is not None:
        message.csi_lowest.CopyFrom(
            pb.StoreFigure(store_id=d.csi_lowest[0], value=float(d.csi_lowest[1]))
        )
    return message


def report_message(view: ReportView) -> pb.OperatingReport:
    return pb.OperatingReport(
        store_id=view.store_id,
        report_id=view.report_id,
        period=period_message(view.period),
        figures=to_proto(view.figures, ev.OperatingFigures),
        superseded_report_ids=view.superseded_report_ids,
        recorded_at=timestamp(view.recorded_at),
    )


def target_message(view: TargetView) -> pb.Target:
    return pb.Target(
        store_id=view.store_id,
        indicator=view.indicator,
        period=period_message(view.period),
        value=float(view.value),
    )


def indicator_message(i: indicators.Indicator) -> pb.Indicator:
    return pb.Indicator(
        code=i.code,
        name=i.name,
        definition=i.definition,
        unit=int(i.unit),
        category=int(i.category),
        direction=int(i.direction),
        additive=i.additive,
        comparable=i.comparable,
    )


def alarm_line_message(line: AlarmLine) -> pb.AlarmLine:
    return pb.AlarmLine(
        indicator=line.indicator, line=float(line.line), direction=int(line.direction)
    )


def _row(v: StoreValue) -> pb.StoreComparisonRow:
    return pb.StoreComparisonRow(
        store_id=v.store_id, value=float(v.value), gap_to_average=float(v.gap_to_average)
    )


def horizontal_message(code: str, period: Period, view: HorizontalView) -> pb.HorizontalComparison:
    message = pb.HorizontalComparison(
        peer_store_ids=view.peer_store_ids, indicator=code, period=period_message(period)
    )
    h = view.comparison
    if h is not None:
        message.average = float(h.average)
        message.best.CopyFrom(_row(h.best))
        message.worst.CopyFrom(_row(h.worst))
        message.stores.extend(_row(s) for s in h.stores)
    return message


def vertical_message(store_id: str, code: str, found: Vertical) -> pb.VerticalComparison:
    message = pb.VerticalComparison(store_id=store_id, indicator=code, trend=int(found.trend))
    for step in found.steps:
        row = message.steps.add(
            period=period_message(step.period),
            value=float(step.value),
            trend=int(step.trend) if step.trend is not None else 0,
        )
        if step.change is not None:
            row.change = float(step.change)
    return message


def benchmark_message(
    store_id: str, code: str, period: Period, view: BenchmarkView
) -> pb.BenchmarkComparison:
    b = view.found
    message = pb.BenchmarkComparison(
        store_id=store_id,
        indicator=code,
        period=period_message(period),
        value=float(b.value),
        benchmark=float(b.benchmark),
        source=int(view.source),
        gap=float(b.gap),
        volume=float(view.volume),
        opportunity=float(b.opportunity),
    )
    if b.gap_share is not None:
        message.gap_share = float(b.gap_share)
    return message


def _ratio(r: DiagnosisRatio) -> pb.Ratio:
    return pb.Ratio(value=float(r.value), verdict=int(r.verdict))


def diagnosis_message(store_id: str, month: Period, d: Diagnosis) -> pb.Diagnosis:
    message = pb.Diagnosis(
        store_id=store_id,
        month=period_message(month),
        vehicles_per_day=float(d.vehicles_per_day),
        revenue_per_vehicle_fen=float(d.revenue_per_vehicle_fen),
        parts_cost_per_vehicle_fen=float(d.parts_cost_per_vehicle_fen),
        gross_profit_per_vehicle_fen=float(d.gross_profit_per_vehicle_fen),
        full_cost_per_vehicle_fen=float(d.full_cost_per_vehicle_fen),
        loss_per_vehicle_fen=float(d.loss_per_vehicle_fen),
        net_result_per_vehicle_fen=float(d.net_result_per_vehicle_fen),
        bay_utilisation=_ratio(d.bay_utilisation),
        technician_productivity=_ratio(d.technician_productivity),
        people_cost_ratio=_ratio(d.people_cost_ratio),
        rent_ratio=_ratio(d.rent_ratio),
        revenue_per_employee=_ratio(d.revenue_per_employee_fen),
        findings=[pb.Finding(code=int(f.code), text=f.text) for f in d.findings],
    )
    if d.quote_abandonment is not None:
        message.quote_abandonment.CopyFrom(_ratio(d.quote_abandonment))
    return message


def weekly_message(region: str, report: WeeklyReport) -> pb.WeeklyCollaborationReport:
    t, s, d = report.transfers, report.supports, report.diversions
    message = pb.WeeklyCollaborationReport(
        week=period_message(report.week),
        region=region,
        customer_lifetime_value_fen=report.customer_lifetime_value_fen,
        transfers=pb.TransferSection(
            count=t.count, customers_retained=t.customers_retained, value_fen=t.value_fen
        ),
        supports=pb.SupportSection(count=s.count, complex_faults_solved=s.complex_faults_solved),
        diversions=pb.DiversionSection(
            offered=d.offered,
            accepted=d.accepted,
            compensation_fen=d.compensation_fen,
            value_retained_fen=d.value_retained_fen,
        ),
        value_created_fen=report.value_created_fen,
    )
    if t.average_response_minutes is not None:
        message.transfers.average_response_minutes = float(t.average_response_minutes)
    if s.average_satisfaction is not None:
        message.supports.average_satisfaction = float(s.average_satisfaction)
    if d.acceptance_rate is not None:
        message.diversions.acceptance_rate = float(d.acceptance_rate)
    return message


def structure_message(store_id: str, period: Period, found: Structure) -> pb.StructureComparison:
    message = pb.StructureComparison(store_id=store_id, period=period_message(period))
    if found.average_ticket_fen is not None:
        message.average_ticket_fen = float(found.average_ticket_fen)
    for part in found.parts:
        row = message.parts.add(
            service_type=part.service_type,
            vehicles=part.vehicles,
            revenue_fen=part.revenue_fen,
            vehicle_share=float(part.vehicle_share),
            revenue_share=float(part.revenue_share),
        )
        if part.average_ticket_fen is not None:
            row.average_ticket_fen = float(part.average_ticket_fen)
    return message
