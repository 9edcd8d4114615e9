"""The peer row of section 2: the PyPI eventsourcing library saving a one-event aggregate.

Its Application is synchronous (psycopg 3 with its own pool), so each writer is a thread
of an executor of our own, as many threads as writers; the clients' loop is the same
closed loop as every other row. Each call creates a new aggregate (its one event is the
creation) and saves it: one event row in one transaction, the library's own unit of
work, with neither idempotency nor read model. Installed by `pip install '.[bench]'`.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlparse

from bench.config import Sizes
from bench.load import LoadResult, closed_loop

ROW_LABEL = "PyPI eventsourcing: Application.save of a one-event aggregate"


def available() -> bool:
    try:
        import eventsourcing  # noqa: F401
    except ImportError:
        return False
    return True


def _application(url: str, writers: int) -> Any:
    # Imported here: the library is an extra, and its aggregate classes register their
    # topics once per process.
    from bench.sections.eventsourcing_model import PeerInventory

    parsed = urlparse(url)
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": parsed.path.lstrip("/"),
        "POSTGRES_HOST": parsed.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(parsed.port or 5432),
        "POSTGRES_USER": parsed.username or "postgres",
        "POSTGRES_PASSWORD": parsed.password or "",
        # One connection per writer, like the raw baseline and the kernel's pool.
        "POSTGRES_POOL_SIZE": str(max(writers, 1)),
        "POSTGRES_MAX_OVERFLOW": "0",
        "CREATE_TABLE": "y",
    }
    return PeerInventory(env=env)


async def through_eventsourcing(url: str, writers: int, sizes: Sizes) -> LoadResult:
    app = await asyncio.to_thread(_application, url, writers)
    executor = ThreadPoolExecutor(max_workers=writers, thread_name_prefix="eventsourcing")
    loop = asyncio.get_running_loop()

    async def call(writer: int, seq: int) -> None:
        await loop.run_in_executor(executor, app.receive, f"C{writers}-S{writer}", "P-1", 1000)

    try:
        return await closed_loop(
            "eventsourcing",
            writers,
            call,
            max_calls=sizes.append_step_max_commands,
            max_seconds=sizes.append_step_seconds,
            warmup_calls=3,
        )
    finally:
        executor.shutdown(wait=True)
        await asyncio.to_thread(app.close)
