"""Published rankings: once per period, whatever the timer does."""

from __future__ import annotations

from datetime import UTC, datetime

from kernel.testing.scenario import Scenario
from services.analytics.domain.contribution import Champion, Standing
from services.analytics.domain.periods import Period
from services.analytics.domain.rankings import (
    ContributionRankingPublished,
    NameSupportChampions,
    Published,
    PublishRanking,
    RankingCommand,
    RankingEvent,
    SupportChampionsNamed,
    ranking_publication,
)

rankings: Scenario[Published, RankingCommand, RankingEvent] = Scenario(ranking_publication)
NOW = datetime(2026, 12, 1, 0, 5, tzinfo=UTC)
STANDINGS = (Standing(position=1, store_id="SZ01", points=12, reward_fen=10_000_00),)
PUBLISHED = ContributionRankingPublished(
    month=Period.month(2026, 11), standings=STANDINGS, occurred_at=NOW
)


def test_the_monthly_ranking_is_published_once() -> None:
    command = PublishRanking(month=Period.month(2026, 11), standings=STANDINGS, at=NOW)
    rankings.given().when(command).then(PUBLISHED)
    rankings.given(PUBLISHED).when(command).then_nothing_happens()


def test_only_a_calendar_month_is_ranked() -> None:
    rankings.given().when(
        PublishRanking(month=Period.year(2026), standings=(), at=NOW)
    ).then_invalid("month")


def test_support_champions_are_named_for_a_quarter_or_a_year() -> None:
    champions = (Champion(technician_id="T-LI", home_store_id="SZ01", supports=4),)
    q4 = Period.quarter(2026, 4)
    rankings.given().when(NameSupportChampions(period=q4, champions=champions, at=NOW)).then(
        SupportChampionsNamed(period=q4, champions=champions, occurred_at=NOW)
    )
    rankings.given().when(
        NameSupportChampions(period=Period.month(2026, 11), champions=champions, at=NOW)
    ).then_invalid("period")
