"""Page tokens for list queries: opaque to callers, checked against the query they page."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from kernel.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


def page_size(requested: int, default: int = DEFAULT_PAGE_SIZE) -> int:
    if requested < 0:
        raise InvalidArgument.of("page_size", "must not be negative")
    if requested == 0:
        return default
    return min(requested, MAX_PAGE_SIZE)


def _digest(query: Any) -> str:
    return hashlib.sha256(json.dumps(query, sort_keys=True, default=str).encode()).hexdigest()[:16]


def encode_token(after: list[Any], query: Any) -> str:
    raw = json.dumps({"a": after, "q": _digest(query)}, separators=(",", ":"), default=str)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_token(token: str, query: Any) -> list[Any] | None:
    """The key to continue after; None for the first page. Foreign tokens are refused."""
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
