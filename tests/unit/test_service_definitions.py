"""Every service's bootstrap is its ServiceDefinition only: the kernel's assemble builds
each process, so no bootstrap wires plumbing of its own."""

from __future__ import annotations

import ast
import dataclasses
import importlib
from pathlib import Path

import pytest

from kernel.service import ServiceDefinition

SERVICES = ("inventory", "workforce", "capacity", "collab", "analytics")
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", SERVICES)
def test_a_bootstrap_builds_through_its_definition(name: str) -> None:
    bootstrap = importlib.import_module(f"services.{name}.bootstrap")
    assert isinstance(bootstrap.DEFINITION, ServiceDefinition)
    assert bootstrap.DEFINITION.name == name
    assert bootstrap.build == bootstrap.DEFINITION.build


@pytest.mark.parametrize("name", SERVICES)
def test_a_bootstrap_starts_nothing_itself(name: str) -> None:
    """No coroutine in a bootstrap: databases, NATS, relay and host are assemble's."""
    tree = ast.parse((ROOT / "services" / name / "bootstrap.py").read_text())
    assert [n.name for n in ast.walk(tree) if isinstance(n, ast.AsyncFunctionDef)] == []


@pytest.mark.parametrize("name", SERVICES)
def test_every_event_names_its_business_time_occurred_at(name: str) -> None:
    """One name in every public event proto, as in the code (never `at`)."""
    registry = importlib.import_module(f"services.{name}.bootstrap").DEFINITION.registry
    events = list(registry._by_domain)
    assert events
    unnamed = [
        e.__name__ for e in events if "occurred_at" not in {f.name for f in dataclasses.fields(e)}
    ]
    assert unnamed == []
