"""Forged page tokens: a real token's digest kept, its resume key edited by an attacker."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any


def _open(token: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    return body


def _seal(body: dict[str, Any]) -> str:
    raw = json.dumps(body, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _wrong_values(value: Any) -> list[Any]:
    """Values of another kind than `value` (the key a real token carried at that place)."""
    shapes: list[Any] = [True, [1], {"k": 1}]
    if isinstance(value, str):
        # Text of the right kind that no database takes (PostgreSQL refuses NUL).
        wrong = [*shapes, 1, None, "x" * 300, "a\x00b"]
        try:
            datetime.fromisoformat(value)
        except ValueError:
            return wrong
        # Moments off the calendar once in UTC, where the database keeps time.
        return [
            *wrong,
            "yesterday",
            "2026-11-02T08:00:00",
            "0001-01-01T00:00:00+14:00",
            "9999-12-31T23:59:59-14:00",
        ]
    if isinstance(value, bool):
        return ["1", None, [1]]
    if isinstance(value, int):
        return [*shapes, "1", None, 1.5, 10**30]
    if isinstance(value, float):
        return [*shapes, "1", float("nan"), float("inf")]
    return [*shapes, "1"]  # None: an optional value that was absent


def forgeries(token: str) -> list[str]:
    """Tokens with `token`'s valid digest and a key of the wrong arity or value kinds."""
    body = _open(token)
    key: list[Any] = body["a"]
    edited: list[Any] = ["x", {"k": 1}, [], [*key, key[-1]]]
    if len(key) > 1:
        edited.append(key[:-1])
    for place, value in enumerate(key):
        edited += [[*key[:place], wrong, *key[place + 1 :]] for wrong in _wrong_values(value)]
    return [_seal({**body, "a": a}) for a in edited]


def with_key(token: str, *key: Any) -> str:
    """`token` resuming after `key` instead: what a caller who edits a real token sends."""
    return _seal({**_open(token), "a": list(key)})
