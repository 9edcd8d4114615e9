"""Aggregates kept in memory between commands, guarded by the append's expected version.

An entry is a (version, state) pair that was committed at that version: it may be stale
(another replica wrote the stream since), never false. A command that decides on it appends
with expected version = the entry's version, so a stale entry ends in ConcurrencyConflict,
which drops it, and the application's retry reloads from the store. What no append guards
(a refusal, a read of a stream the command does not write) is re-checked by the unit of
work and the application before anything is answered; see `UnitOfWork` and
`Application.handle`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Entry:
    version: int
    state: Any


class AggregateCache:
    """A bounded LRU map from stream id to its last known committed (version, state).

    States are immutable (frozen dataclasses folded by pure deciders), so one entry can be
    handed to several commands at once: each decides on its own copy of the reference.
    `max_entries` 0 turns the cache off.
    """

    def __init__(self, max_entries: int = 10_000) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, stream_id: object) -> bool:
        return stream_id in self._entries

    def get(self, stream_id: str) -> Entry | None:
        entry = self._entries.get(stream_id)
        if entry is None:
            self.misses += 1
            return None
        self.hits += 1
        self._entries.move_to_end(stream_id)
        return entry

    def keep(self, committed: Mapping[str, Entry]) -> None:
        """Remember states a transaction has committed (call only after its commit)."""
        if not self.max_entries:
            return
        for stream_id, entry in committed.items():
            held = self._entries.get(stream_id)
            # Two commands of this process may commit one stream in either order: keep the
            # newer state (both were true, the older one would only cost a conflict).
            if held is None or held.version <= entry.version:
                self._entries[stream_id] = entry
                self._entries.move_to_end(stream_id)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def drop(self, stream_ids: Iterable[str]) -> None:
        for stream_id in stream_ids:
            self._entries.pop(stream_id, None)

    def clear(self) -> None:
        self._entries.clear()
