"""Given / when / then for deciders (as capacity's tests; kernel.testing.scenario once merged)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, TypeVar

from kernel.decider import Decider
from kernel.errors import DomainError, InvalidArgument, RuleViolated

S = TypeVar("S")
C = TypeVar("C")
E = TypeVar("E")
Err = TypeVar("Err", bound=DomainError)


class Scenario(Generic[S, C, E]):
    def __init__(self, decider: Decider[S, C, E]) -> None:
        self.decider = decider

    def given(self, *events: E) -> Given[S, C, E]:
        return Given(self.decider, self.decider.fold(events))


class Given(Generic[S, C, E]):
    def __init__(self, decider: Decider[S, C, E], state: S) -> None:
        self.decider = decider
        self.state = state

    def when(self, command: C) -> Outcome[E]:
        try:
            return Outcome(list(self.decider.decide(command, self.state)), None)
        except DomainError as error:
            return Outcome([], error)


class Outcome(Generic[E]):
    def __init__(self, events: list[E], error: DomainError | None) -> None:
        self._events = events
        self._error = error

    @property
    def events(self) -> list[E]:
        assert self._error is None, f"refused: {self._error!r} {self._error.message}"
        return self._events

    def then(self, *expected: E) -> None:
        assert self.events == list(expected)

    def then_nothing_happens(self) -> None:
        self.then()

    def then_refused(self, reason: str) -> RuleViolated:
        refusal = self.then_error(RuleViolated)
        assert refusal.reason == reason, refusal.message
        return refusal

    def then_invalid(self, *fields: str) -> InvalidArgument:
        error = self.then_error(InvalidArgument)
        assert sorted(v.field for v in error.violations) == sorted(fields), error.message
        return error

    def then_error(self, error_type: type[Err]) -> Err:
        assert isinstance(self._error, error_type), (
            f"expected {error_type.__name__}, got events {self._events!r} / error {self._error!r}"
        )
        return self._error


def event_types(events: Sequence[object]) -> list[str]:
    return [type(event).__name__ for event in events]
