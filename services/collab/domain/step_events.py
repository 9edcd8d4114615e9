"""Events SOP 2 and SOP 3's sagas build from their data when a step is reached.

A field takes, in order: what `extra` gives, `store_id` from the store the event is
addressed to, `occurred_at` from the reply, `reason` from the reply or the data, and
otherwise the data's attribute of the same name. So an event lists what partners see and
the saga's data says where each value comes from, once.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from kernel.saga.steps import Reply


class Built:
    # The attribute of the saga's data naming the store the event is addressed to.
    addressed: ClassVar[str] = ""

    @classmethod
    def of(cls, data: Any, reply: Reply) -> Any:
        given = cls.extra(data, reply)
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            if f.name in given:
                values[f.name] = given[f.name]
            elif f.name == "store_id":
                values[f.name] = getattr(data, cls.addressed)
            elif f.name == "occurred_at":
                values[f.name] = reply.at
            elif f.name == "reason":
                values[f.name] = reply.reason or data.reason
            else:
                values[f.name] = getattr(data, f.name)
        return cls(**values)

    @classmethod
    def extra(cls, data: Any, reply: Reply) -> dict[str, Any]:
        return {}


class ResolvedByOperator:
    """An operator's resolve (kernel/saga/admin.py): who resolved it, besides the reason
    ("resolved by WHO: WHY") every operator event carries."""

    @classmethod
    def extra(cls, data: Any, reply: Reply) -> dict[str, Any]:
        return {"operator": reply.response["operator"]}
