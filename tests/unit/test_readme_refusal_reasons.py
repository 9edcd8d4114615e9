"""Every refusal reason a service's code raises is in that service's README, and so is the
kernel's REQUEST_ID_REUSED: a caller switches on ErrorInfo.reason, so it must be able to
learn every value from the docs."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("inventory", "workforce", "capacity", "collab", "analytics")
RAISED = re.compile(r"RuleViolated\(\s*(?:reason=)?reasons\.([A-Z_]+)")

# Raised only where no caller is: the service's own timers.
NOT_FOR_CALLERS = {
    "capacity": {"HOLD_NOT_YET_DUE"},  # ExpireSlotHold comes from the hold's timer only
}


def raised_reasons(service: str) -> set[str]:
    reasons = importlib.import_module(f"services.{service}.domain.reasons")
    found = set()
    for source in (ROOT / "services" / service).rglob("*.py"):
        if "tests" in source.parts:
            continue
        for match in RAISED.finditer(source.read_text()):
            found.add(getattr(reasons, match.group(1)))
    return found


@pytest.mark.parametrize("service", SERVICES)
def test_every_refusal_reason_a_caller_can_get_is_in_the_readme(service: str) -> None:
    readme = (ROOT / "services" / service / "README.md").read_text()
    raised = raised_reasons(service)
    assert raised, "the scan found the service's refusals"
    expected = (raised - NOT_FOR_CALLERS.get(service, set())) | {"REQUEST_ID_REUSED"}
    missing = sorted(r for r in expected if f"`{r}`" not in readme)
    assert missing == [], f"services/{service}/README.md does not name {missing}"
