"""The event loop a process runs its main coroutine on (Settings.event_loop).

uvloop is asyncio's loop rebuilt on libuv: the same API (grpc.aio, psycopg, nats-py and
SQLAlchemy's async bridge run on it unchanged), with its ready queue, timers and socket
readiness callbacks in C. A command's gRPC call, its database round trips and the relay's
publishes each pass through the loop several times, so the loop's own cost is paid many
times per call (docs/profiles.md, "uvloop"). Where uvloop is not installed (Windows has no
wheel), asyncio's loop runs instead: the setting is a preference, not a requirement.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import structlog

from kernel.config import event_loop_from_env

log = structlog.get_logger("storemesh.kernel.event_loop")

T = TypeVar("T")


def loop_factory(event_loop: str) -> Callable[[], asyncio.AbstractEventLoop]:
    """How to make a loop of the configured kind ("uvloop" or "asyncio")."""
    if event_loop == "uvloop":
        try:
            import uvloop
        except ImportError:
            log.warning("event_loop.uvloop_missing", fallback="asyncio")
        else:
            return uvloop.new_event_loop
    return asyncio.new_event_loop


def run(main: Coroutine[Any, Any, T], event_loop: str | None = None) -> T:
    """asyncio.run(main) on a new loop of the given kind (Settings.event_loop), or of the
    kind STOREMESH_EVENT_LOOP names (the bench, so it measures what the services run)."""
    try:
        kind = event_loop_from_env() if event_loop is None else event_loop
    except ValueError:
        main.close()  # never to run: no "coroutine was never awaited" beside the error
        raise
    with asyncio.Runner(loop_factory=loop_factory(kind)) as runner:
        return runner.run(main)


def running_loop_name() -> str:
    """ "uvloop" or "asyncio": the loop this coroutine runs on, for the start-up log."""
    module = type(asyncio.get_running_loop()).__module__
    return "uvloop" if module.startswith("uvloop") else "asyncio"
