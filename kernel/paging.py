"""Page tokens for list queries: opaque to callers, typed and checked against the query they page.

A token's digest is no secret (anyone can compute it), so the resume key inside is checked
value by value against the query's cursor shape before it reaches a database or a sort:
a forged, foreign or edited token is INVALID_ARGUMENT on page_token, never INTERNAL.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from kernel.edge import TEXT_CONTROL
from kernel.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
MAX_KEY_TEXT = 256

T = TypeVar("T")

# Turns one decoded JSON value into the value the query resumes after; raises ValueError
# when the value is not of that kind.
Kind = Callable[[Any], Any]


def page_size(requested: int, default: int = DEFAULT_PAGE_SIZE) -> int:
    if requested < 0:
        raise InvalidArgument.of("page_size", "must not be negative")
    if requested == 0:
        return default
    return min(requested, MAX_PAGE_SIZE)


def text(value: Any) -> str:
    """A text key as the edge lets text in: no NUL (which PostgreSQL refuses) or other
    control characters but tab and line breaks."""
    if type(value) is not str or len(value) > MAX_KEY_TEXT or TEXT_CONTROL.search(value):
        raise ValueError("not a text key")
    return value


def integer(value: Any) -> int:
    if type(value) is not int or not -(2**63) <= value < 2**63:  # a BIGINT column
        raise ValueError("not an integer key")
    return value


def int32(value: Any) -> int:
    """An integer key kept in an INTEGER column (e.g. an enum's number)."""
    if type(value) is not int or not -(2**31) <= value < 2**31:
        raise ValueError("not a 32-bit integer key")
    return value


def position(value: Any) -> int:
    """A place in a list computed whole per request (0 is its start): never negative, which
    would read the list from its end."""
    if integer(value) < 0:
        raise ValueError("not a position")
    return int(value)


def number(value: Any) -> float:
    if type(value) not in (int, float) or not math.isfinite(value):
        raise ValueError("not a number key")
    return float(value)


def moment(value: Any) -> datetime:
    """An aware moment, in UTC: one a forger put off the calendar there (0001-01-01 east of
    Greenwich, 9999-12-31 west of it) is refused here, not by the database's converter."""
    parsed = datetime.fromisoformat(text(value))
    if parsed.tzinfo is None:
        raise ValueError("not an aware moment")
    return parsed.astimezone(UTC)


def optional(kind: Kind) -> Kind:
    def parse(value: Any) -> Any:
        return None if value is None else kind(value)

    return parse


def _wire(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


@dataclass(frozen=True)
class PageQuery:
    """One paged query: what it filters on (`query`) and the kinds of its resume key."""

    query: Mapping[str, Any]
    cursor: tuple[Kind, ...]

    @classmethod
    def of(cls, query: Mapping[str, Any], *cursor: Kind) -> PageQuery:
        return cls(query, cursor)

    def after(self, token: str) -> tuple[Any, ...] | None:
        """The key to continue after; None for the first page."""
        raw = decode_token(token, self.query)
        if raw is None:
            return None
        if len(raw) != len(self.cursor):
            raise InvalidArgument.of("page_token", "is not a token this query issued")
        try:
            return tuple(kind(value) for kind, value in zip(self.cursor, raw, strict=True))
        except (ValueError, TypeError, OverflowError) as exc:
            raise InvalidArgument.of("page_token", "is not a token this query issued") from exc

    def token(self, *key: Any) -> str:
        return encode_token([_wire(k) for k in key], self.query)

    async def page(
        self,
        token: str,
        limit: int,
        fetch: Callable[[tuple[Any, ...] | None, int], Awaitable[Sequence[T]]],
        key: Callable[[T], Sequence[Any]],
    ) -> tuple[list[T], str]:
        """Fetch up to `limit` rows after the token's key (one more, to know if a next page
        exists) and cut them into the page and the next token."""
        return self.cut(await fetch(self.after(token), limit + 1), limit, key)

    def cut(
        self, rows: Sequence[T], limit: int, key: Callable[[T], Sequence[Any]]
    ) -> tuple[list[T], str]:
        """The page of `rows` (fetched with one row more than `limit`) and the next token."""
        if len(rows) <= limit:
            return list(rows), ""
        return list(rows[:limit]), self.token(*key(rows[limit - 1]))


def _digest(query: Any) -> str:
    return hashlib.sha256(json.dumps(query, sort_keys=True, default=str).encode()).hexdigest()[:16]


def encode_token(after: list[Any], query: Any) -> str:
    raw = json.dumps({"a": after, "q": _digest(query)}, separators=(",", ":"), default=str)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_token(token: str, query: Any) -> list[Any] | None:
    """The raw key a token carries, untyped; None for the first page. Foreign tokens are
    refused. Services use PageQuery.after, which also checks the key's kinds."""
    if not token:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        body = json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
        after = body["a"]
        digest = body["q"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise InvalidArgument.of("page_token", "is not a token this query issued") from exc
    if digest != _digest(query) or not isinstance(after, list):
        raise InvalidArgument.of("page_token", "belongs to a different query")
    return after
