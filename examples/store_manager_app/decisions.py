"""What the manager answers to an approval request: always yes, or asked on a terminal."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from storemesh.collab.events.v1.events_pb2 import ApprovalRequested


@dataclass(frozen=True)
class Decision:
    """approve, reject (with the reason the requesting store is shown) or leave unanswered."""

    verdict: str
    reason: str = ""


APPROVE = Decision("approve")
LEAVE = Decision("leave")


class Policy(Protocol):
    async def decide(self, request: ApprovalRequested) -> Decision: ...


def describe(request: ApprovalRequested) -> str:
    waiting = "customer waiting" if request.customer_waiting else "no customer waiting"
    due = request.due_at.ToDatetime().strftime("%H:%M UTC") if request.due_at.seconds else "?"
    return (
        f"transfer {request.transfer_id}: {request.requesting_store_id} asks "
        f"{request.quantity} x {request.part_number} ({request.urgency or 'normal'}, {waiting}); "
        f"answer by {due}"
    )


class AutoApprove:
    """Say yes to every request: the store decided to give whenever it has the stock
    (collab reserved it already, so the stock is there)."""

    async def decide(self, request: ApprovalRequested) -> Decision:
        return APPROVE


class AskOnTerminal:
    """Print the request and read the manager's answer: a(pprove), r(eject) <reason>, or
    s(kip) to leave it to the deadline (collab then asks the next source)."""

    def __init__(
        self,
        read: Callable[[str], str] = input,
        write: Callable[[str], None] = print,
    ) -> None:
        self.read = read
        self.write = write

    async def decide(self, request: ApprovalRequested) -> Decision:
        self.write(describe(request))
        while True:
            answer = await asyncio.to_thread(self.read, "[a]pprove, [r]eject <reason>, [s]kip? ")
            word, _, rest = answer.strip().partition(" ")
            if word in ("a", "approve"):
                return APPROVE
            if word in ("r", "reject"):
                return Decision("reject", rest.strip() or "rejected by the store manager")
            if word in ("s", "skip"):
                return LEAVE
            self.write(f"not understood: {answer!r}")


POLICIES: dict[str, Callable[[], Policy]] = {"auto-approve": AutoApprove, "ask": AskOnTerminal}
