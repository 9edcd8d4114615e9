"""Page tokens are opaque, round-trip the resume key, and only work for their own query."""

from __future__ import annotations

import base64

import pytest

from kernel.errors import InvalidArgument
from kernel.paging import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, decode_token, encode_token, page_size

QUERY = {"list": "stock", "store": "SZ01", "category": "brakes"}


def test_a_token_round_trips_its_resume_key() -> None:
    token = encode_token(["P-100", 42], QUERY)
    assert decode_token(token, dict(reversed(list(QUERY.items())))) == ["P-100", 42]
    assert "=" not in token and "P-100" not in token


def test_no_token_means_the_first_page() -> None:
    assert decode_token("", QUERY) is None


def _field(err: InvalidArgument) -> list[str]:
    return [v.field for v in err.violations]


@pytest.mark.parametrize(
    "token",
    [
        "garbage!!",
        "e30",  # {} : no resume key
        base64.urlsafe_b64encode(b"not json").decode(),
        base64.urlsafe_b64encode(b'{"a": "x", "q": "y"}').decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
def test_a_token_from_nowhere_is_invalid_page_token(token: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        decode_token(token, QUERY)
    assert _field(refused.value) == ["page_token"]


def test_a_token_of_another_query_is_refused() -> None:
    token = encode_token(["P-100"], QUERY)
    with pytest.raises(InvalidArgument) as refused:
        decode_token(token, {**QUERY, "store": "SZ02"})
    assert _field(refused.value) == ["page_token"]
    assert "different query" in refused.value.violations[0].description


def test_a_token_with_its_key_edited_is_refused() -> None:
    with pytest.raises(InvalidArgument):
        decode_token(encode_token("P-100", QUERY), QUERY)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("requested", "granted"),
    [(0, DEFAULT_PAGE_SIZE), (1, 1), (MAX_PAGE_SIZE, MAX_PAGE_SIZE), (10**6, MAX_PAGE_SIZE)],
)
def test_page_size_defaults_and_clamps(requested: int, granted: int) -> None:
    assert page_size(requested) == granted


def test_a_negative_page_size_is_invalid() -> None:
    with pytest.raises(InvalidArgument) as refused:
        page_size(-1)
    assert _field(refused.value) == ["page_size"]


def test_a_page_query_types_its_resume_key() -> None:
    from datetime import UTC, datetime

    from kernel.paging import PageQuery, moment, number, optional, text

    pages = PageQuery.of(QUERY, moment, optional(number), text)
    at = datetime(2026, 11, 2, 8, tzinfo=UTC)
    assert pages.after(pages.token(at, None, "T-1")) == (at, None, "T-1")
    assert pages.after(pages.token(at, 3, "T-1")) == (at, 3.0, "T-1")


@pytest.mark.parametrize(
    "key",
    [
        [],
        ["2026-11-02T08:00:00+00:00", 1.0],
        ["2026-11-02T08:00:00", 1.0, "T"],
        [1, 1.0, "T"],
        # Aware and well formed, but off the calendar once in UTC (the database's time).
        ["0001-01-01T00:00:00+14:00", 1.0, "T"],
        ["9999-12-31T23:59:59-14:00", 1.0, "T"],
        # Text PostgreSQL refuses to compare with.
        ["2026-11-02T08:00:00+00:00", 1.0, "T\x00"],
    ],
)
def test_a_resume_key_of_another_shape_is_invalid_page_token(key: list[object]) -> None:
    from kernel.paging import PageQuery, moment, number, optional, text

    pages = PageQuery.of(QUERY, moment, optional(number), text)
    with pytest.raises(InvalidArgument) as refused:
        pages.after(encode_token(key, QUERY))
    assert _field(refused.value) == ["page_token"]
