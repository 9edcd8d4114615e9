"""Collab's command side for SOP 2: request a technician, the lending store's answer, the
day's progress and the ratings, each one transaction on the support saga.

Matching is workforce's (MatchSupport over gRPC at request time: skill, level, published
availability, leave, bookings, distance and fairness), so collab keeps no copy of the
capability map; the saga keeps the ranked candidates it was given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from kernel.application import Application, UnitOfWork
from kernel.errors import NotFound, RuleViolated
from kernel.saga import SagaState, Status
from kernel.saga.definition import NOT_AWAITING
from services.collab.domain import reasons
from services.collab.domain.commands import (
    ApproveSupport,
    RateSupport,
    RejectSupport,
    ReportSupportProgress,
    RequestSupport,
)
from services.collab.domain.resolved import technician_lent
from services.collab.domain.support import (
    DEFAULT_DEADLINES,
    LEAD_TIME,
    Deadlines,
    Support,
    support_saga,
)
from services.collab.domain.support_decisions import (
    approved,
    check_need,
    progress_reported,
    rated,
    rejected,
    requested,
    settled,
)
from services.collab.pilot import PilotCopy
from services.collab.read_model_sops import support_stage
from services.collab.settling import SettlingRuntime

# Every match is kept, so a refusal or silence still has a next technician to ask.
MAX_CANDIDATES = 20


@dataclass(frozen=True)
class Match:
    technician_id: str
    store_id: str


class TechnicianMatching(Protocol):
    """Who could help, best first (workforce's MatchSupport)."""

    async def match(
        self,
        store_id: str,
        specialty: str,
        minimum_level: str,
        starts_at: datetime,
        ends_at: datetime,
        limit: int,
    ) -> Sequence[Match]: ...


def build_support_runtime(deadlines: Deadlines) -> SettlingRuntime[Support]:
    return SettlingRuntime(support_saga(deadlines), settled, technician_lent)


class Supports:
    def __init__(
        self,
        app: Application,
        runtime: SettlingRuntime[Support],
        matching: TechnicianMatching,
        deadlines: Deadlines = DEFAULT_DEADLINES,
        lead_time: timedelta = LEAD_TIME,
    ) -> None:
        self.app = app
        self.runtime = runtime
        self.matching = matching
        self.deadlines = deadlines
        self.lead_time = lead_time
        self.pilot = PilotCopy(app)

    async def request(self, command: RequestSupport, request_id: str) -> str:
        check_need(command, self.lead_time)
        matches = await self.matching.match(
            command.store_id,
            command.specialty,
            command.minimum_level,
            command.starts_at,
            command.ends_at,
            MAX_CANDIDATES,
        )
        # Only stores taking part in the pilot on the support's day lend (domain/pilot.py).
        day = self.app.clock.business_day(command.starts_at)
        lenders = (await self.pilot.now()).keep(matches, lambda m: m.store_id, day)
        candidates = tuple((m.technician_id, m.store_id) for m in lenders)

        async def handler(uow: UnitOfWork) -> str:
            if not candidates:
                raise RuleViolated(
                    reasons.NO_TECHNICIAN_AVAILABLE,
                    f"no {command.minimum_level} {command.specialty} technician of another "
                    "store is available for the whole window",
                    subject=f"store/{command.store_id}",
                )
            await self.runtime.start(
                uow, command.support_id, requested(command, candidates, self.deadlines)
            )
            return command.support_id

        return await self.app.handle(command, handler, request_id=request_id, result_type=str)

    async def approve(
        self, command: ApproveSupport, request_id: str, acting_for: str | None
    ) -> str:
        return await self._answer(
            command, request_id, lambda s, step: approved(s, command), acting_for
        )

    async def reject(self, command: RejectSupport, request_id: str, acting_for: str | None) -> str:
        return await self._answer(
            command, request_id, lambda s, step: rejected(s, command), acting_for
        )

    async def report(self, command: ReportSupportProgress, request_id: str) -> str:
        return await self._answer(
            command, request_id, lambda s, step: progress_reported(s, step, command)
        )

    async def rate(self, command: RateSupport, request_id: str) -> str:
        async def handler(uow: UnitOfWork) -> str:
            state = await self._state(uow, command.support_id)
            assert state.data is not None
            event = rated(state.data, command, state.status is Status.COMPLETED)
            await self.runtime.append(uow, command.support_id, [event])
            return command.support_id

        return await self.app.handle(command, handler, request_id=request_id, result_type=str)

    async def _state(self, uow: UnitOfWork, support_id: str) -> SagaState[Support]:
        state = await self.runtime.state(uow, support_id)
        if state.data is None:
            raise NotFound("support", support_id)
        return state

    async def _answer(
        self, command: Any, request_id: str, event_of: Any, acting_for: str | None = None
    ) -> str:
        """Signal the saga; `acting_for` is the lending store the caller answers for (None:
        HQ or either party), refused once another technician's store is being asked."""

        async def handler(uow: UnitOfWork) -> str:
            state = await self._state(uow, command.support_id)
            assert state.data is not None
            steps = self.runtime.saga.steps
            step = steps[min(state.step, len(steps) - 1)]
            if acting_for is not None and acting_for != state.data.lending_store_id:
                raise not_awaiting(command, state)
            try:
                await self.runtime.signal(uow, command.support_id, event_of(state.data, step.name))
            except RuleViolated as refused:
                if refused.reason != NOT_AWAITING:
                    raise
                raise not_awaiting(command, state) from refused
            return str(command.support_id)

        return await self.app.handle(command, handler, request_id=request_id, result_type=str)


def not_awaiting(command: Any, state: SagaState[Support]) -> RuleViolated:
    stage = support_stage(state)
    return RuleViolated(
        reasons.SUPPORT_NOT_AWAITING,
        f"support {command.support_id} is not waiting for {type(command).__name__} "
        f"(it is at {stage})",
        subject=f"support/{command.support_id}",
        metadata={"stage": stage},
    )
