"""The weekly collaboration report (协同周报): transfers, supports, diversions, value created.

Value is counted where a customer is kept: a transfer that kept a waiting customer and an
accepted diversion each keep one customer, worth the customer lifetime value (80,000 CNY
in the field; HQ sets it, `lifetime_value.py`). Total value created = transfers' value +
diversions' value retained; the diversion compensation HQ paid is reported beside it, not
netted off.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction

from kernel.decider import Decider
from kernel.errors import InvalidArgument
from services.analytics.domain.periods import Period, PeriodKind

CUSTOMER_LIFETIME_VALUE_FEN = 80_000_00


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferDone:
    transfer_id: str
    response_minutes: Fraction  # request to receipt (collab's TransferCompleted)
    customer_retained: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class SupportDone:
    support_id: str
    complex_fault_solved: bool
    satisfaction: Fraction | None  # the managers' mutual rating, when given


@dataclass(frozen=True, slots=True, kw_only=True)
class DiversionOffered:
    diversion_id: str
    accepted: bool
    compensation_fen: int


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferSection:
    count: int
    average_response_minutes: Fraction | None
    customers_retained: int
    value_fen: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SupportSection:
    count: int
    complex_faults_solved: int
    average_satisfaction: Fraction | None


@dataclass(frozen=True, slots=True, kw_only=True)
class DiversionSection:
    offered: int
    accepted: int
    acceptance_rate: Fraction | None
    compensation_fen: int
    value_retained_fen: int


@dataclass(frozen=True, slots=True, kw_only=True)
class WeeklyReport:
    week: Period
    customer_lifetime_value_fen: int
    transfers: TransferSection
    supports: SupportSection
    diversions: DiversionSection

    @property
    def value_created_fen(self) -> int:
        return self.transfers.value_fen + self.diversions.value_retained_fen


def weekly_report(
    week: Period,
    transfers: Sequence[TransferDone],
    supports: Sequence[SupportDone],
    diversions: Sequence[DiversionOffered],
    customer_lifetime_value_fen: int = CUSTOMER_LIFETIME_VALUE_FEN,
) -> WeeklyReport:
    """Each fact counted once by its id."""
    t = list({x.transfer_id: x for x in transfers}.values())
    s = list({x.support_id: x for x in supports}.values())
    d = list({x.diversion_id: x for x in diversions}.values())
    retained = sum(1 for x in t if x.customer_retained)
    rated = [x.satisfaction for x in s if x.satisfaction is not None]
    accepted = sum(1 for x in d if x.accepted)
    return WeeklyReport(
        week=week,
        customer_lifetime_value_fen=customer_lifetime_value_fen,
        transfers=TransferSection(
            count=len(t),
            average_response_minutes=_mean([x.response_minutes for x in t]),
            customers_retained=retained,
            value_fen=retained * customer_lifetime_value_fen,
        ),
        supports=SupportSection(
            count=len(s),
            complex_faults_solved=sum(1 for x in s if x.complex_fault_solved),
            average_satisfaction=_mean(rated),
        ),
        diversions=DiversionSection(
            offered=len(d),
            accepted=accepted,
            acceptance_rate=Fraction(accepted, len(d)) if d else None,
            compensation_fen=sum(x.compensation_fen for x in d if x.accepted),
            value_retained_fen=accepted * customer_lifetime_value_fen,
        ),
    )


def _mean(values: Sequence[Fraction]) -> Fraction | None:
    return sum(values, Fraction(0)) / len(values) if values else None


# The week's report of the network, published once after the week ended (stream per week).


@dataclass(frozen=True, slots=True, kw_only=True)
class PublishWeeklyReport:
    report: WeeklyReport
    at: datetime
    region: str = ""  # empty: the network


@dataclass(frozen=True, slots=True, kw_only=True)
class WeeklyCollaborationReportPublished:
    week: Period
    customer_lifetime_value_fen: int
    transfers: int
    average_response_minutes: Fraction | None
    customers_retained: int
    supports: int
    complex_faults_solved: int
    average_satisfaction: Fraction | None
    diversions_offered: int
    diversions_accepted: int
    compensation_fen: int
    value_created_fen: int
    occurred_at: datetime
    region: str = ""  # empty: the network


@dataclass(frozen=True, slots=True)
class WeekPublished:
    done: bool = False


def decide(
    command: PublishWeeklyReport, state: WeekPublished
) -> Sequence[WeeklyCollaborationReportPublished]:
    week = command.report.week
    if week.kind != PeriodKind.WEEK or not week.is_well_formed():
        raise InvalidArgument.of("week", "must be a calendar week (Monday to Sunday)")
    if state.done:
        return []  # once published, the timer firing again changes nothing
    r = command.report
    return [
        WeeklyCollaborationReportPublished(
            week=week,
            customer_lifetime_value_fen=r.customer_lifetime_value_fen,
            transfers=r.transfers.count,
            average_response_minutes=r.transfers.average_response_minutes,
            customers_retained=r.transfers.customers_retained,
            supports=r.supports.count,
            complex_faults_solved=r.supports.complex_faults_solved,
            average_satisfaction=r.supports.average_satisfaction,
            diversions_offered=r.diversions.offered,
            diversions_accepted=r.diversions.accepted,
            compensation_fen=r.diversions.compensation_fen,
            value_created_fen=r.value_created_fen,
            occurred_at=command.at,
            region=command.region,
        )
    ]


def evolve(state: WeekPublished, event: WeeklyCollaborationReportPublished) -> WeekPublished:
    return WeekPublished(done=True)


weekly_publication: Decider[
    WeekPublished, PublishWeeklyReport, WeeklyCollaborationReportPublished
] = Decider(WeekPublished, decide, evolve)
