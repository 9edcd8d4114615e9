"""A replica's memory of the store directory follows the table's rules, whatever order the
same facts reach it in (its own follower, the shared durable subscription, table merges)."""

from __future__ import annotations

import itertools

from kernel.directory_memory import DirectoryMemory, StoreChange

REGISTERED = StoreChange("SZ01", closed=False, version=1)
RENAMED = StoreChange("SZ01", closed=False, version=2)
CLOSED = StoreChange("SZ01", closed=True, version=0)


def test_a_store_it_never_heard_of_is_not_answered_from_memory() -> None:
    memory = DirectoryMemory()
    memory.apply(REGISTERED)
    assert memory.closed("GZ01") is None


def test_a_registered_store_is_open_and_a_close_invalidates_it() -> None:
    memory = DirectoryMemory()
    memory.apply(REGISTERED)
    assert memory.closed("SZ01") is False
    memory.apply(CLOSED)
    assert memory.closed("SZ01") is True


def test_a_late_profile_event_never_reopens_a_closed_store() -> None:
    memory = DirectoryMemory()
    memory.apply(REGISTERED)
    memory.apply(CLOSED)
    memory.apply(RENAMED)
    memory.apply(REGISTERED)  # a redelivery
    assert memory.closed("SZ01") is True


def test_a_table_row_older_than_the_events_does_not_roll_the_memory_back() -> None:
    memory = DirectoryMemory()
    memory.apply(CLOSED)  # the follower saw the close; the table still says open
    memory.apply(StoreChange("SZ01", closed=False, version=1))  # the periodic merge
    assert memory.closed("SZ01") is True


def test_every_order_of_the_same_changes_leaves_the_same_memory() -> None:
    answers = set()
    for order in itertools.permutations([REGISTERED, RENAMED, CLOSED]):
        memory = DirectoryMemory()
        for change in order:
            memory.apply(change)
        answers.add((memory.closed("SZ01"), len(memory)))
    assert answers == {(True, 1)}
