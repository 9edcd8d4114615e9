"""STOREMESH_EVENT_LOOP: parsed and checked at start-up, and the loop a coroutine then
runs on is of that kind (uvloop's, or asyncio's own when asked or when uvloop is missing)."""

from __future__ import annotations

import asyncio
import sys

import pytest
import uvloop

from kernel import event_loop
from kernel.config import Settings


async def _loop_type() -> tuple[type, str]:
    return type(asyncio.get_running_loop()), event_loop.running_loop_name()


def test_the_default_is_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STOREMESH_EVENT_LOOP", raising=False)
    assert Settings.from_env("inventory", 50051).event_loop == "uvloop"
    assert Settings(service="inventory", database_url="sqlite://").event_loop == "uvloop"


@pytest.mark.parametrize(("value", "parsed"), [("asyncio", "asyncio"), (" UVLOOP ", "uvloop")])
def test_the_setting_is_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, value: str, parsed: str
) -> None:
    monkeypatch.setenv("STOREMESH_EVENT_LOOP", value)
    assert Settings.from_env("inventory", 50051).event_loop == parsed


def test_an_unknown_loop_fails_at_start_up_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STOREMESH_EVENT_LOOP", "trio")
    with pytest.raises(ValueError, match="STOREMESH_EVENT_LOOP='trio': must be one of uvloop"):
        Settings.from_env("inventory", 50051)
    with pytest.raises(ValueError, match="STOREMESH_EVENT_LOOP='tokio'"):
        Settings(service="inventory", database_url="sqlite://", event_loop="tokio")
    with pytest.raises(ValueError, match="STOREMESH_EVENT_LOOP='trio'"):
        event_loop.run(_loop_type())


def test_run_uses_uvloop_when_configured() -> None:
    loop_type, name = event_loop.run(_loop_type(), "uvloop")
    assert issubclass(loop_type, uvloop.Loop)
    assert name == "uvloop"


def test_run_uses_asyncio_when_configured() -> None:
    loop_type, name = event_loop.run(_loop_type(), "asyncio")
    assert not issubclass(loop_type, uvloop.Loop)
    assert loop_type.__module__.startswith("asyncio.")
    assert name == "asyncio"


@pytest.mark.parametrize(("value", "uses_uvloop"), [("asyncio", False), ("uvloop", True)])
def test_run_without_a_kind_follows_the_environment(
    monkeypatch: pytest.MonkeyPatch, value: str, uses_uvloop: bool
) -> None:
    monkeypatch.setenv("STOREMESH_EVENT_LOOP", value)
    loop_type, name = event_loop.run(_loop_type())
    assert issubclass(loop_type, uvloop.Loop) is uses_uvloop
    assert name == value


def test_without_uvloop_installed_asyncio_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    # None in sys.modules makes `import uvloop` raise ImportError, as on Windows.
    monkeypatch.setitem(sys.modules, "uvloop", None)
    loop_type, name = event_loop.run(_loop_type(), "uvloop")
    assert loop_type.__module__.startswith("asyncio.")
    assert name == "asyncio"


def test_run_returns_the_coroutine_result_and_closes_its_loop() -> None:
    loops: list[asyncio.AbstractEventLoop] = []

    async def answer() -> int:
        loops.append(asyncio.get_running_loop())
        return 42

    assert event_loop.run(answer(), "uvloop") == 42
    assert loops[0].is_closed()
