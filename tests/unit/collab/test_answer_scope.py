"""A store's answer to a support is for the lending store the access check authorised it
for, even when the saga has moved on to another technician's store before the answer is
decided (the transaction then refuses it, as it refuses a transfer's stale source)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from storemesh.collab.v1 import collab_pb2 as pb

from kernel.auth import Principal, set_principal
from kernel.clock import ManualClock
from services.collab.grpc_api import CollabServicer


class MovingOn:
    """The support's read model as the saga moves from DG01's technician to GZ01's right
    after the access check read it."""

    def __init__(self) -> None:
        self.lender = "DG01"

    async def support_parties(self, support_id: str) -> list[str]:
        parties = [self.lender, "SZ01"]
        self.lender = "GZ01"  # the approval expired meanwhile: GZ01 is asked now
        return parties

    async def support(self, support_id: str) -> Any:
        return SimpleNamespace(lending_store_id=self.lender)


class Answered(Exception):
    def __init__(self, acting_for: str | None) -> None:
        self.acting_for = acting_for


class Supports:
    async def approve(self, command: Any, request_id: str, acting_for: str | None) -> str:
        raise Answered(acting_for)

    async def reject(self, command: Any, request_id: str, acting_for: str | None) -> str:
        raise Answered(acting_for)


def servicer() -> CollabServicer:
    collab: Any = SimpleNamespace(
        queries=None, app=SimpleNamespace(clock=ManualClock()), supports=Supports()
    )
    serving = CollabServicer(collab)
    serving.__dict__["sop_queries"] = MovingOn()
    return serving


@pytest.mark.parametrize("answer", ["ApproveSupport", "RejectSupport"])
async def test_a_lenders_answer_is_for_the_store_the_access_check_authorised(answer: str) -> None:
    request_type = getattr(pb, f"{answer}Request")
    fields = {"reason": "busy"} if answer == "RejectSupport" else {}
    request = request_type(request_id="r-1", support_id="S-1", **fields)
    set_principal(Principal("dms-dg01", "dms", frozenset({"DG01"})))
    try:
        with pytest.raises(Answered) as answered:
            await getattr(servicer(), answer)(request, None)
    finally:
        set_principal(None)
    assert answered.value.acting_for == "DG01"
