"""Published rankings (stream per period): the monthly contribution ranking and the
support champions, each published once, as HQ pays rewards on them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from kernel.decider import Decider
from kernel.errors import Violations
from services.analytics.domain.contribution import Champion, Standing
from services.analytics.domain.periods import Period, PeriodKind


@dataclass(frozen=True, slots=True, kw_only=True)
class PublishRanking:
    month: Period
    standings: tuple[Standing, ...]
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class NameSupportChampions:
    period: Period  # a quarter or a year
    champions: tuple[Champion, ...]
    at: datetime


RankingCommand = PublishRanking | NameSupportChampions


@dataclass(frozen=True, slots=True, kw_only=True)
class ContributionRankingPublished:
    month: Period
    standings: tuple[Standing, ...]
    occurred_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class SupportChampionsNamed:
    period: Period
    champions: tuple[Champion, ...]
    occurred_at: datetime


RankingEvent = ContributionRankingPublished | SupportChampionsNamed


@dataclass(frozen=True, slots=True)
class Published:
    done: bool = False


def decide(command: RankingCommand, state: Published) -> Sequence[RankingEvent]:
    v = Violations()
    match command:
        case PublishRanking():
            if command.month.kind != PeriodKind.MONTH or not command.month.is_well_formed():
                v.add("month", "must be a calendar month")
        case NameSupportChampions():
            kinds = (PeriodKind.QUARTER, PeriodKind.YEAR)
            if command.period.kind not in kinds or not command.period.is_well_formed():
                v.add("period", "must be a calendar quarter or year")
    v.raise_if_any()
    if state.done:
        return []  # once published, the timer firing again changes nothing
    match command:
        case PublishRanking():
            return [
                ContributionRankingPublished(
                    month=command.month, standings=command.standings, occurred_at=command.at
                )
            ]
        case NameSupportChampions():
            return [
                SupportChampionsNamed(
                    period=command.period, champions=command.champions, occurred_at=command.at
                )
            ]


def evolve(state: Published, event: RankingEvent) -> Published:
    return Published(done=True)


ranking_publication: Decider[Published, RankingCommand, RankingEvent] = Decider(
    Published, decide, evolve
)
