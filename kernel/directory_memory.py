"""This process's copy of the store directory (see kernel.store_directory), in memory."""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncConnection

from kernel.db import Database


@dataclass(frozen=True)
class StoreChange:
    """What one store event says about the directory."""

    store_id: str
    closed: bool
    version: int  # of the store's stream; 0 for a close (see apply_store_event)
    profile: Any = None  # the StoreProfile of a registration or update


class DirectoryMemory:
    """This process's copy of the directory: store -> (closed, version), by the table's rules."""

    def __init__(self) -> None:
        self._stores: dict[str, tuple[bool, int]] = {}

    def __len__(self) -> int:
        return len(self._stores)

    def closed(self, store_id: str) -> bool | None:
        """Whether a store it holds is closed; None for a store it does not hold."""
        entry = self._stores.get(store_id)
        return None if entry is None else entry[0]

    def apply(self, change: StoreChange) -> None:
        """A close is final; a version only moves forward; so any order of the same
        changes (event, redelivery, table row) leaves the same memory."""
        was_closed, was_version = self._stores.get(change.store_id, (False, 0))
        self._stores[change.store_id] = (
            was_closed or change.closed,
            max(was_version, change.version),
        )


# Which memory serves a connection: keyed by its engine, so that the services' handlers keep
# calling require_open_store(conn, ...) and two service instances in one process (tests,
# benchmarks) each have their own.
_memories: weakref.WeakKeyDictionary[Engine, DirectoryMemory] = weakref.WeakKeyDictionary()


def attach_memory(db: Database) -> DirectoryMemory:
    memory = _memories.get(db.engine.sync_engine)
    if memory is None:
        memory = _memories[db.engine.sync_engine] = DirectoryMemory()
    return memory


def memory_of(conn: AsyncConnection) -> DirectoryMemory | None:
    return _memories.get(conn.sync_engine)
