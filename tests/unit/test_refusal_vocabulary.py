"""The vocabulary a caller needs is written where a caller reads: every refusal reason a
service names in its domain/reasons.py is in its README, and REQUEST_ID_REUSED (the
kernel's, every service's) in every README and proto. A new reason or service that is not
written down fails here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
SERVICES = sorted(p.parent.name for p in (ROOT / "services").glob("*/bootstrap.py"))
# Reasons that never reach a caller as a refusal: a timer's own check, a metadata status.
INTERNAL = {"HOLD_NOT_YET_DUE", "PAST_EXPIRY"}


def reasons_of(service: str) -> set[str]:
    tree = ast.parse((ROOT / "services" / service / "domain" / "reasons.py").read_text())
    return {
        node.value.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    }


@pytest.mark.parametrize("service", SERVICES)
def test_every_refusal_reason_is_in_the_services_readme(service: str) -> None:
    readme = (ROOT / "services" / service / "README.md").read_text()
    missing = sorted(r for r in reasons_of(service) - INTERNAL if r not in readme)
    assert missing == []


@pytest.mark.parametrize("service", SERVICES)
def test_request_id_reused_is_named_in_every_readme_and_proto(service: str) -> None:
    proto = ROOT / "proto" / "storemesh" / service / "v1" / f"{service}.proto"
    for document in (ROOT / "services" / service / "README.md", proto):
        assert "REQUEST_ID_REUSED" in document.read_text(), document
