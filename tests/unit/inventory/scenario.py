"""Given / when for the inventory deciders: past events fold into a state, one command decides."""

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

    def when(self, command: C) -> list[E] | DomainError:
        """The new events, or the error the decider raised to refuse the command."""
        try:
            return list(self.decider.decide(command, self.state))
        except DomainError as error:
            return error

    def then_state(self, command: C) -> S:
        """The state once the command's events are applied (the command must succeed)."""
        return self.decider.fold(accepted(self.when(command)), self.state)


def accepted(outcome: list[Any] | DomainError) -> list[Any]:
    assert not isinstance(outcome, DomainError), f"refused: {outcome!r}"
    return outcome


def refused(outcome: object, error_type: type[Err]) -> Err:
    assert isinstance(outcome, error_type), f"expected {error_type.__name__}, got {outcome!r}"
    return outcome


def refused_by_rule(outcome: object, reason: str) -> RuleViolated:
    refusal = refused(outcome, RuleViolated)
    assert refusal.reason == reason, refusal.message
    return refusal


def invalid_fields(outcome: object) -> list[str]:
    return sorted(v.field for v in refused(outcome, InvalidArgument).violations)


def types_of(events: Sequence[object]) -> list[str]:
    return [type(e).__name__ for e in events]
