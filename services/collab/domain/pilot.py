"""Rolling out by pilot (试点), as collab applies it: only participating stores are
recommended as sources, lenders or receivers (domain.md).

HQ decides who takes part in analytics (`SetPilotParticipation`); collab keeps a copy of
each store's latest decision from analytics' `PilotParticipationSet` events. A store takes
part from `joined_on` until the day before `left_on`. While HQ has put no store into a
pilot at all, no rollout is being staged and every store collaborates (the network before
the system knew about pilots, or one that never staged its rollout); from the first
decision on, only the stores taking part on the day are recommended. The store that asks
for help is never refused: the rule is about who is recommended to give it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Participation:
    store_id: str
    joined_on: date
    left_on: date | None = None  # the first day no longer in

    def takes_part(self, on: date) -> bool:
        return self.joined_on <= on and (self.left_on is None or on < self.left_on)


@dataclass(frozen=True, slots=True)
class Pilot:
    """Every store's latest participation HQ decided (none: no pilot is staged)."""

    participations: Mapping[str, Participation]

    def recommendable(self, store_id: str, on: date) -> bool:
        if not self.participations:
            return True
        p = self.participations.get(store_id)
        return p is not None and p.takes_part(on)

    def keep(self, candidates: Iterable[T], store_of: Callable[[T], str], on: date) -> list[T]:
        """The candidates that may be recommended on `on`, in their order."""
        return [c for c in candidates if self.recommendable(store_of(c), on)]


NO_PILOT = Pilot({})
