"""The shape of an event-sourced aggregate: decide(command, state) -> events; evolve."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

S = TypeVar("S")
C = TypeVar("C")
E = TypeVar("E")


@dataclass(frozen=True)
class Decider(Generic[S, C, E]):
    """Pure aggregate behaviour. `decide` raises a DomainError to refuse a command."""

    initial_state: Callable[[], S]
    decide: Callable[[C, S], Sequence[E]]
    evolve: Callable[[S, E], S]

    def fold(self, events: Iterable[E], state: S | None = None) -> S:
        current = self.initial_state() if state is None else state
        for event in events:
            current = self.evolve(current, event)
        return current
