"""Collaboration contribution (协同贡献): points per act, the monthly ranking and its rewards,
support champions, and the store score weighted 50% own results / 30% collaboration / 20%
satisfaction.

Ties: the ranking orders by points (more first), then by who reached the total first (the
earlier last scoring act: the store that got there without needing the last days), then by
store id. Every store gets its own position, so rewards are never split or doubled.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from fractions import Fraction

from services.analytics.domain.periods import Period


class Act(IntEnum):
    PARTS_TRANSFER = 1  # 调拨支援: to the source store
    TECHNICIAN_SUPPORT = 2  # 技师支援: to the technician's home store
    DIVERSION_RECEIVED = 3  # 客户分流接收: to the receiving store
    STALE_STOCK_REVITALISED = 4  # 呆滞盘活: to the store that gave the stale stock


POINTS: Mapping[Act, int] = {
    Act.PARTS_TRANSFER: 1,
    Act.TECHNICIAN_SUPPORT: 5,
    Act.DIVERSION_RECEIVED: 2,
    Act.STALE_STOCK_REVITALISED: 10,
}

# Fen, by position in the monthly ranking.
REWARDS_FEN: tuple[int, ...] = (10_000_00, 5_000_00, 3_000_00)

OWN_RESULTS_WEIGHT = Fraction(50, 100)
COLLABORATION_WEIGHT = Fraction(30, 100)
SATISFACTION_WEIGHT = Fraction(20, 100)


@dataclass(frozen=True, slots=True, kw_only=True)
class Contribution:
    """One act credited to a store (from collab's contribution events)."""

    act_id: str
    act: Act
    store_id: str
    occurred_at: datetime

    @property
    def points(self) -> int:
        return POINTS[self.act]


@dataclass(frozen=True, slots=True, kw_only=True)
class Standing:
    position: int
    store_id: str
    points: int
    reward_fen: int


def ranking(contributions: Iterable[Contribution], month: Period) -> tuple[Standing, ...]:
    """The month's ranking of the stores that scored; an act counted once by its id."""
    unique = {c.act_id: c for c in contributions if month.contains(c.occurred_at.date())}
    points: dict[str, int] = {}
    reached: dict[str, datetime] = {}
    for c in unique.values():
        points[c.store_id] = points.get(c.store_id, 0) + c.points
        reached[c.store_id] = max(reached.get(c.store_id, c.occurred_at), c.occurred_at)
    order = sorted(points, key=lambda s: (-points[s], reached[s], s))
    return tuple(
        Standing(
            position=n,
            store_id=store_id,
            points=points[store_id],
            reward_fen=REWARDS_FEN[n - 1] if n <= len(REWARDS_FEN) else 0,
        )
        for n, store_id in enumerate(order, start=1)
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Support:
    """A completed technician support (SOP 2), for the champion titles."""

    support_id: str
    technician_id: str
    home_store_id: str
    occurred_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Champion:
    technician_id: str
    home_store_id: str
    supports: int


def support_champions(supports: Iterable[Support], period: Period) -> tuple[Champion, ...]:
    """Every technician with the most supports in the quarter or year (a title: ties share it),
    listed by technician id; nobody without a support."""
    unique = {s.support_id: s for s in supports if period.contains(s.occurred_at.date())}
    counts: dict[str, int] = {}
    home: dict[str, str] = {}
    for s in sorted(unique.values(), key=lambda s: s.occurred_at):
        counts[s.technician_id] = counts.get(s.technician_id, 0) + 1
        home[s.technician_id] = s.home_store_id  # the latest home store
    if not counts:
        return ()
    best = max(counts.values())
    return tuple(
        Champion(technician_id=t, home_store_id=home[t], supports=n)
        for t, n in sorted(counts.items())
        if n == best
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreScore:
    """Each part 0-100; total = 50% own results + 30% collaboration + 20% satisfaction."""

    own_results: Fraction
    collaboration: Fraction
    satisfaction: Fraction

    @property
    def total(self) -> Fraction:
        return (
            OWN_RESULTS_WEIGHT * self.own_results
            + COLLABORATION_WEIGHT * self.collaboration
            + SATISFACTION_WEIGHT * self.satisfaction
        )


# Targets whose attainment is not the store's own result: CSI is the score's satisfaction
# part, and the acts its points count (transfers given, supports lent, diversions taken)
# are its collaboration part; counting them again under own results would weigh them twice.
OUTSIDE_OWN_RESULTS = frozenset({"csi", "transfers", "supports", "diversions"})


def is_own_result(code: str) -> bool:
    return code not in OUTSIDE_OWN_RESULTS


def own_results_score(attainments: Sequence[Fraction]) -> Fraction:
    """Mean target attainment of the store's result indicators, each capped at 100%, x 100.

    The cap keeps one runaway indicator from hiding a missed one. Attainment is
    actual / target for higher-is-better indicators, target / actual for lower-is-better
    ones (see `targets.attainment`). No targets: 0.
    """
    if not attainments:
        return Fraction(0)
    capped = [min(max(a, Fraction(0)), Fraction(1)) for a in attainments]
    return 100 * sum(capped, Fraction(0)) / len(capped)


def collaboration_score(points: int, best_points_in_network: int) -> Fraction:
    """The store's points as a share of the month's best store, x 100 (0 when nobody scored)."""
    if best_points_in_network <= 0:
        return Fraction(0)
    return 100 * Fraction(min(points, best_points_in_network), best_points_in_network)


def satisfaction_score(csi: Fraction | None) -> Fraction:
    """CSI is already 0-100; a store without a CSI scores 0 rather than a guessed middle."""
    if csi is None:
        return Fraction(0)
    return min(max(csi, Fraction(0)), Fraction(100))


def store_score(
    attainments: Sequence[Fraction], points: int, best_points: int, csi: Fraction | None
) -> StoreScore:
    return StoreScore(
        own_results=own_results_score(attainments),
        collaboration=collaboration_score(points, best_points),
        satisfaction=satisfaction_score(csi),
    )
