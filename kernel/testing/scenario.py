"""Given / when / then for deciders: past events in, one command, new events or a refusal out.

    outcome = Scenario(stock).given(received(10)).when(reserve("R-1", 4))
    outcome.then(StockReserved(...))            # or: assert outcome == [StockReserved(...)]
    outcome.then_refused("INSUFFICIENT_AVAILABLE_STOCK")
    outcome.then_invalid("quantity")

Every service's domain tests use this one helper (and collab's and analytics' will).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Generic, TypeVar

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
        """The new events, or the error the decider refused the command with."""
        try:
            return Outcome(list(self.decider.decide(command, self.state)), None)
        except DomainError as error:
            return Outcome([], error)

    def decide(self, command: C) -> list[E]:
        """The new events; a refusal is raised (for `pytest.raises`)."""
        return list(self.decider.decide(command, self.state))

    def then_state(self, command: C) -> S:
        """The state once the command's events are applied (the command must succeed)."""
        return self.decider.fold(self.when(command).events, self.state)


class Outcome(Generic[E]):
    def __init__(self, events: list[E], error: DomainError | None) -> None:
        self._events = events
        self.error = error

    def __eq__(self, other: object) -> bool:
        """An accepted outcome equals the list of its events."""
        if isinstance(other, Outcome):
            return (self._events, self.error) == (other._events, other.error)
        return self.error is None and self._events == other

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Outcome(refused: {self.error!r})" if self.error else f"Outcome({self._events!r})"

    @property
    def events(self) -> list[E]:
        assert self.error is None, f"refused: {self.error!r} {self.error.message}"
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
        assert isinstance(self.error, error_type), (
            f"expected {error_type.__name__}, got events {self._events!r} / error {self.error!r}"
        )
        return self.error


def accepted(outcome: Outcome[E]) -> list[E]:
    return outcome.events


def refused(outcome: Outcome[Any], error_type: type[Err]) -> Err:
    return outcome.then_error(error_type)


def refused_by_rule(outcome: Outcome[Any], reason: str) -> RuleViolated:
    return outcome.then_refused(reason)


def invalid_fields(outcome: Outcome[Any]) -> list[str]:
    return sorted(v.field for v in outcome.then_error(InvalidArgument).violations)


def event_types(events: Sequence[object]) -> list[str]:
    return [type(event).__name__ for event in events]
