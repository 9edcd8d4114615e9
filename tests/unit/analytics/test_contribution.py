"""Contribution: points per act, the monthly ranking with its ties and rewards, support
champions and the 50/30/20 store score."""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction

from services.analytics.domain.contribution import (
    POINTS,
    Act,
    Champion,
    Contribution,
    Standing,
    Support,
    collaboration_score,
    is_own_result,
    own_results_score,
    ranking,
    store_score,
    support_champions,
)
from services.analytics.domain.periods import Period

NOVEMBER = Period.month(2026, 11)


def at(day: int, month: int = 11) -> datetime:
    return datetime(2026, month, day, 10, 0, tzinfo=UTC)


def act(act_id: str, kind: Act, store_id: str, day: int, month: int = 11) -> Contribution:
    return Contribution(act_id=act_id, act=kind, store_id=store_id, occurred_at=at(day, month))


def test_points_per_act_are_the_field_table() -> None:
    assert POINTS == {
        Act.PARTS_TRANSFER: 1,
        Act.TECHNICIAN_SUPPORT: 5,
        Act.DIVERSION_RECEIVED: 2,
        Act.STALE_STOCK_REVITALISED: 10,
    }


def test_the_monthly_ranking_rewards_the_top_three_10000_5000_3000() -> None:
    acts = [
        act("a1", Act.STALE_STOCK_REVITALISED, "DG01", 3),  # 10
        act("a2", Act.TECHNICIAN_SUPPORT, "GZ01", 4),  # 5
        act("a3", Act.TECHNICIAN_SUPPORT, "GZ01", 5),  # 10
        act("a4", Act.DIVERSION_RECEIVED, "SZ01", 6),  # 2
        act("a5", Act.PARTS_TRANSFER, "SZ01", 6),  # 3
        act("a6", Act.PARTS_TRANSFER, "FS01", 7),  # 1
        act("a7", Act.TECHNICIAN_SUPPORT, "HZ01", 2, month=10),  # October: not counted
    ]
    assert ranking(acts, NOVEMBER) == (
        Standing(position=1, store_id="DG01", points=10, reward_fen=10_000_00),
        Standing(position=2, store_id="GZ01", points=10, reward_fen=5_000_00),
        Standing(position=3, store_id="SZ01", points=3, reward_fen=3_000_00),
        Standing(position=4, store_id="FS01", points=1, reward_fen=0),
    )


def test_a_tie_goes_to_the_store_that_reached_its_total_first_then_to_the_lower_id() -> None:
    acts = [
        act("a1", Act.TECHNICIAN_SUPPORT, "ZZ01", 2),
        act("a2", Act.TECHNICIAN_SUPPORT, "AA01", 9),
        act("a3", Act.TECHNICIAN_SUPPORT, "MM01", 9),
    ]
    assert [s.store_id for s in ranking(acts, NOVEMBER)] == ["ZZ01", "AA01", "MM01"]
    assert ranking(list(reversed(acts)), NOVEMBER) == ranking(acts, NOVEMBER)


def test_an_act_delivered_twice_counts_once() -> None:
    twice = [act("a1", Act.PARTS_TRANSFER, "SZ01", 3)] * 2
    assert ranking(twice, NOVEMBER)[0].points == 1


def test_support_champions_are_the_technicians_with_most_supports_ties_sharing_the_title() -> None:
    def support(n: int, technician: str, month: int) -> Support:
        return Support(
            support_id=f"s{n}",
            technician_id=technician,
            home_store_id="SZ01",
            occurred_at=at(1, month),
        )

    supports = [
        support(1, "T-LI", 10),
        support(2, "T-LI", 11),
        support(3, "T-WANG", 11),
        support(4, "T-WANG", 12),
        support(5, "T-ZHAO", 12),
        support(6, "T-ZHAO", 3),
    ]
    q4 = Period.quarter(2026, 4)
    assert support_champions(supports, q4) == (
        Champion(technician_id="T-LI", home_store_id="SZ01", supports=2),
        Champion(technician_id="T-WANG", home_store_id="SZ01", supports=2),
    )
    assert support_champions(supports, Period.year(2026)) == (
        Champion(technician_id="T-LI", home_store_id="SZ01", supports=2),
        Champion(technician_id="T-WANG", home_store_id="SZ01", supports=2),
        Champion(technician_id="T-ZHAO", home_store_id="SZ01", supports=2),
    )
    assert support_champions(supports, Period.quarter(2026, 2)) == ()


def test_the_store_score_weighs_own_results_50_collaboration_30_satisfaction_20() -> None:
    score = store_score(
        attainments=[Fraction(88, 100), Fraction(120, 100)],  # capped at 100%: mean 94%
        points=15,
        best_points=30,
        csi=Fraction(90),
    )
    assert (score.own_results, score.collaboration, score.satisfaction) == (94, 50, 90)
    assert score.total == Fraction(50, 100) * 94 + Fraction(30, 100) * 50 + Fraction(20, 100) * 90
    assert score.total == 80


def test_each_part_of_the_score_is_0_to_100() -> None:
    assert own_results_score([]) == 0
    assert own_results_score([Fraction(3)]) == 100
    assert collaboration_score(5, 0) == 0
    assert collaboration_score(30, 30) == 100
    assert store_score([], 0, 0, None).total == 0


def test_own_results_leave_out_what_the_other_two_parts_already_count() -> None:
    assert not is_own_result("csi")  # the satisfaction part
    assert not any(is_own_result(c) for c in ("transfers", "supports", "diversions"))
    assert all(is_own_result(c) for c in ("revenue", "vehicles_in", "complaint_rate"))
