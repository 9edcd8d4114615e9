"""A close waits for analytics' projections (scheduled.projections_current): it reads what
the subscriptions project, and what it publishes stays. The consumers' state is the
boundary here (JetStream's, through `Application.unconsumed`); the kernel's reading of it
is tested against real NATS in tests/integration/test_kernel_gauges.py."""

from __future__ import annotations

from typing import Any

import pytest

from kernel.errors import Unavailable
from services.analytics.scheduled import projections_current


class Followed:
    """An Application as a close sees it: only what its subscriptions have left."""

    def __init__(self, left: dict[str, int | None]) -> None:
        self.left = left

    async def unconsumed(self) -> dict[str, int | None]:
        return self.left


@pytest.mark.parametrize("left", [{}, {"analytics-inventory": 0, "analytics-collab": 0}])
async def test_a_close_goes_ahead_when_every_event_is_taken(left: dict[str, int | None]) -> None:
    await projections_current(Followed(left))  # type: ignore[arg-type]


async def test_a_close_waits_naming_each_subscription_behind() -> None:
    app: Any = Followed(
        {"analytics-inventory": 0, "analytics-collab": 1_204, "analytics-capacity": None}
    )
    with pytest.raises(Unavailable) as behind:
        await projections_current(app)
    said = str(behind.value)
    assert "analytics-collab: 1204 events" in said
    assert "analytics-capacity: not bound yet" in said
    assert "analytics-inventory" not in said
