"""Rolling out by pilot (试点): which stores take part in collaboration and since when, the
participants against the stores not yet in, and each store before and after it joined."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from fractions import Fraction

from kernel.decider import Decider
from kernel.errors import RuleViolated, Violations
from kernel.validation import EARLIEST_DAY, store_code
from services.analytics.domain import reasons


@dataclass(frozen=True, slots=True, kw_only=True)
class Participation:
    store_id: str
    joined_on: date
    left_on: date | None = None  # the first day no longer in

    def takes_part(self, on: date) -> bool:
        return self.joined_on <= on and (self.left_on is None or on < self.left_on)


@dataclass(frozen=True, slots=True, kw_only=True)
class PilotSplit:
    participants: tuple[str, ...]
    not_yet: tuple[str, ...]


def split(
    stores: Iterable[str], participations: Mapping[str, Participation], on: date
) -> PilotSplit:
    """The stores taking part on `on` and the others, each by store id."""
    inside: list[str] = []
    outside: list[str] = []
    for store_id in sorted(set(stores)):
        p = participations.get(store_id)
        (inside if p is not None and p.takes_part(on) else outside).append(store_id)
    return PilotSplit(participants=tuple(inside), not_yet=tuple(outside))


@dataclass(frozen=True, slots=True, kw_only=True)
class BeforeAfter:
    joined_on: date
    before: Fraction | None  # mean over the window's days before joining
    after: Fraction | None  # mean from the day of joining on
    change: Fraction | None


def window_start(joined_on: date, window_days: int) -> date:
    """The first day of the window before joining, not before the calendar's first day a
    request may name (no day before it holds a figure)."""
    room = max(0, (joined_on - EARLIEST_DAY).days)
    return joined_on - timedelta(days=min(window_days, room))


def before_after(
    joined_on: date, daily: Mapping[date, Fraction], window_days: int = 30
) -> BeforeAfter:
    """Equal windows either side of joining, so a season does not pass for an effect."""
    first = window_start(joined_on, window_days)
    before = [v for d, v in daily.items() if first <= d < joined_on]
    after = [
        v for d, v in daily.items() if joined_on <= d < joined_on + timedelta(days=window_days)
    ]
    mean_before = sum(before, Fraction(0)) / len(before) if before else None
    mean_after = sum(after, Fraction(0)) / len(after) if after else None
    change = (
        mean_after - mean_before if mean_before is not None and mean_after is not None else None
    )
    return BeforeAfter(joined_on=joined_on, before=mean_before, after=mean_after, change=change)


def compare_groups(
    values: Mapping[str, Fraction], split_on: PilotSplit
) -> tuple[Fraction | None, Fraction | None]:
    """Mean of an indicator over the participants, and over the stores not yet in."""

    def mean(stores: tuple[str, ...]) -> Fraction | None:
        known = [values[s] for s in stores if s in values]
        return sum(known, Fraction(0)) / len(known) if known else None

    return mean(split_on.participants), mean(split_on.not_yet)


# HQ's decision: which stores take part and since when (one stream per store).


@dataclass(frozen=True, slots=True, kw_only=True)
class SetPilotParticipation:
    store_id: str
    joined_on: date
    left_on: date | None  # the first day no longer in; None: still in
    today: date  # the business day the decision is recorded on
    store_known: bool
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class PilotParticipationSet:
    store_id: str
    joined_on: date
    left_on: date | None
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class PilotMembership:
    current: Participation | None = None


def decide(
    command: SetPilotParticipation, state: PilotMembership
) -> Sequence[PilotParticipationSet]:
    v = Violations()
    store_code(v, "store_id", command.store_id)
    if command.left_on is not None and command.left_on <= command.joined_on:
        v.add("left_on", "must be after joined_on")
    v.raise_if_any()
    subject = f"pilot/{command.store_id}"
    for name, day in (("joined_on", command.joined_on), ("left_on", command.left_on)):
        if day is not None and day > command.today:
            raise RuleViolated(
                reasons.DATE_IN_THE_FUTURE, f"{name} {day} is after today {command.today}", subject
            )
    if not command.store_known:
        raise RuleViolated(
            reasons.UNKNOWN_STORE, f"store {command.store_id} is not in the directory", subject
        )
    wanted = Participation(
        store_id=command.store_id, joined_on=command.joined_on, left_on=command.left_on
    )
    if state.current == wanted:
        return []
    return [
        PilotParticipationSet(
            store_id=command.store_id,
            joined_on=command.joined_on,
            left_on=command.left_on,
            occurred_at=command.at,
        )
    ]


def evolve(state: PilotMembership, event: PilotParticipationSet) -> PilotMembership:
    return PilotMembership(
        current=Participation(
            store_id=event.store_id, joined_on=event.joined_on, left_on=event.left_on
        )
    )


pilot_membership: Decider[PilotMembership, SetPilotParticipation, PilotParticipationSet] = Decider(
    PilotMembership, decide, evolve
)
