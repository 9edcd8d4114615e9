"""The weekly collaboration report (协同周报) and the store diagnosis (门店诊断), from the
projected collaboration facts, capacity's store profiles and the month's operating report."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from fractions import Fraction

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from kernel.application import Application
from kernel.codec import decimal_fraction
from kernel.errors import NotFound, RuleViolated
from services.analytics import network_model as model
from services.analytics.aggregates import (
    ALARM_LINES,
    ALARM_LINES_STREAM,
    LIFETIME_VALUES,
    LIFETIME_VALUES_STREAM,
)
from services.analytics.domain import reasons
from services.analytics.domain.diagnosis import (
    PEOPLE_COST_ALARM,
    RENT_ALARM,
    Diagnosis,
    StoreMonth,
    diagnose,
    diagnosis_gaps,
)
from services.analytics.domain.operating_figures import Role
from services.analytics.domain.periods import Period
from services.analytics.domain.weekly_report import (
    DiversionOffered,
    SupportDone,
    TransferDone,
    WeeklyReport,
    weekly_report,
)
from services.analytics.queries_kpis import KpiQueries, Window, _report_in_force

# collab's saga and cost kind for the compensation HQ pays a diverted customer (SOP 3).
DIVERSION_SAGA = "diversion"
COMPENSATION = "compensation"


def diversion_of(hold_id: str) -> str:
    """The diversion a capacity slot hold was taken for: collab holds `<diversion_id>:<n>`."""
    return hold_id.rpartition(":")[0] or hold_id


def diversions_offered(
    holds: Sequence[tuple[str, bool]], compensation_by_diversion: Mapping[str, int]
) -> list[DiversionOffered]:
    """The week's offers (capacity's holds for another store's customer, accepted or not),
    each with the compensation collab recorded on HQ's ledger for its diversion."""
    return [
        DiversionOffered(
            diversion_id=hold_id,
            accepted=accepted,
            compensation_fen=compensation_by_diversion.get(diversion_of(hold_id), 0),
        )
        for hold_id, accepted in holds
    ]


async def _compensations(
    conn: AsyncConnection, holds: Sequence[tuple[str, bool]]
) -> dict[str, int]:
    """The compensation recorded for each accepted hold's diversion."""
    ids = sorted({diversion_of(hold_id) for hold_id, accepted in holds if accepted})
    if not ids:
        return {}
    c = model.costs.c
    query = select(c.saga_id, c.amount_fen).where(
        c.saga == DIVERSION_SAGA, c.kind == COMPENSATION, c.saga_id.in_(ids)
    )
    return {saga_id: int(fen) for saga_id, fen in await conn.execute(query)}


class ReportQueries:
    def __init__(self, app: Application, kpis: KpiQueries) -> None:
        self.app = app
        self.kpis = kpis

    async def weekly(
        self, week: Period, region: str, lifetime_value_fen: int | None, as_of: date | None = None
    ) -> WeeklyReport:
        return await self.app.query(
            lambda conn: self.weekly_in(conn, week, region, lifetime_value_fen, as_of)
        )

    async def regions(self, conn: AsyncConnection) -> list[str]:
        """The regions of the open stores, by name: each has its weekly report."""
        s = model.stores.c
        query = (
            select(s.region)
            .where(s.closed.is_(False), s.region != "")
            .distinct()
            .order_by(s.region)
        )
        return list((await conn.execute(query)).scalars())

    async def weekly_in(
        self,
        conn: AsyncConnection,
        week: Period,
        region: str,
        lifetime_value_fen: int | None,
        as_of: date | None = None,
    ) -> WeeklyReport:
        """The week's report of a region (empty: the network), inside a transaction; of
        its days up to `as_of` (inclusive) when given. A kept customer is worth
        `lifetime_value_fen`, else (None) HQ's value for the week as set by then."""
        if lifetime_value_fen is None:
            values = await self.app.unit_of_work(conn).load(LIFETIME_VALUES, LIFETIME_VALUES_STREAM)
            cutoff = None if as_of is None else self.kpis.cutoff(as_of)
            lifetime_value_fen = values.state.for_week(week, known_before=cutoff)
        end = week.end if as_of is None else min(week.end, as_of + timedelta(days=1))
        members = None
        if region:
            s = model.stores.c
            query = select(s.store_id).where(s.region == region)
            members = list((await conn.execute(query)).scalars())
        t, u, d = model.transfers.c, model.supports.c, model.diversions.c
        transfers = select(model.transfers).where(
            t.completed_day >= week.start, t.completed_day < end
        )
        supports = select(model.supports).where(u.day >= week.start, u.day < end)
        diversions = select(model.diversions).where(d.day >= week.start, d.day < end)
        if members is not None:
            transfers = transfers.where(t.requesting_store_id.in_(members))
            supports = supports.where(u.host_store_id.in_(members))
            diversions = diversions.where(d.from_store_id.in_(members))
        holds = [(r.hold_id, bool(r.accepted)) for r in await conn.execute(diversions)]
        return weekly_report(
            week,
            [
                TransferDone(
                    transfer_id=r.transfer_id,
                    response_minutes=Fraction(int(r.response_seconds or 0), 60),
                    customer_retained=bool(r.customer_waiting),
                )
                for r in await conn.execute(transfers)
            ],
            [
                SupportDone(
                    support_id=r.support_id,
                    complex_fault_solved=bool(r.fault_solved),
                    satisfaction=Fraction(r.rating_sum, r.rating_count) if r.rating_count else None,
                )
                for r in await conn.execute(supports)
            ],
            diversions_offered(holds, await _compensations(conn, holds)),
            lifetime_value_fen,
        )

    async def diagnosis(self, store_id: str, month: Period, as_of: date) -> Diagnosis:
        """The month's days up to `as_of` and its report as it stood at the end of it."""
        cutoff = self.kpis.cutoff(as_of)

        async def fetch(conn: AsyncConnection) -> StoreMonth:
            report = await _report_in_force(conn, store_id, month, cutoff)
            if report is None:
                raise NotFound("operating report", f"{store_id}/{month.key}")
            s = model.stores.c
            shape = (await conn.execute(select(model.stores).where(s.store_id == store_id))).first()
            if shape is None:
                raise NotFound("store", store_id)
            facts = await self.kpis.facts(conn, [store_id], Window.of(month, as_of))
            hours = [decimal_fraction(h) for h in shape.open_hours if h > 0]
            per_day = sum(hours, Fraction(0)) / len(hours) if hours else Fraction(0)
            uow = self.app.unit_of_work(conn)
            lines = (await uow.load(ALARM_LINES, ALARM_LINES_STREAM)).state
            return StoreMonth(
                bays=shape.bays,
                technicians=report.headcount_of(Role.TECHNICIAN),
                employees=report.headcount,
                open_hours_per_day=per_day,
                availability_factor=decimal_fraction(shape.availability_factor),
                days=month.days,
                vehicles=facts.vehicles_in,
                hours_per_vehicle=facts.labour_hours / facts.visits_completed
                if facts.visits_completed
                else Fraction(0),
                revenue=report.revenue,
                costs=report.costs,
                quotes=facts.visits_completed + facts.quotes_abandoned,
                quotes_abandoned=facts.quotes_abandoned,
                people_cost_alarm=lines.line_of("people_cost_ratio") or PEOPLE_COST_ALARM,
                rent_alarm=lines.line_of("rent_ratio") or RENT_ALARM,
            )

        store_month = await self.app.query(fetch)
        found = diagnose(store_month)
        if found is None:
            gaps = "; ".join(diagnosis_gaps(store_month))
            raise RuleViolated(
                reasons.NOTHING_TO_DIAGNOSE,
                f"{store_id} in {month.key} cannot be diagnosed: {gaps}",
                subject=f"diagnosis/{store_id}/{month.key}",
                metadata={"missing": gaps},
            )
        return found
