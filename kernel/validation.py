"""Edge validation shared by every service: ids, store codes, quantities, text sizes."""

from __future__ import annotations

import re
import uuid

from kernel.errors import Violations

STORE_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$")
MAX_TEXT = 200
MAX_QUANTITY = 1_000_000


def store_code(v: Violations, field_name: str, value: str) -> None:
    if not value:
        v.add(field_name, "is required")
    elif not STORE_CODE.match(value):
        v.add(
            field_name,
            "must be 1-32 letters, digits, - or _, starting with a letter or digit",
        )


def identifier(v: Violations, field_name: str, value: str) -> None:
    if not value:
        v.add(field_name, "is required")
    elif not IDENTIFIER.match(value):
        v.add(field_name, "must be 1-128 characters: letters, digits and . _ : / -")


def request_id(v: Violations, field_name: str, value: str) -> None:
    if not value:
        v.add(field_name, "is required for an idempotent retry")
        return
    try:
        uuid.UUID(value)
    except ValueError:
        identifier(v, field_name, value)


def text(
    v: Violations, field_name: str, value: str, *, required: bool = True, max_len: int = MAX_TEXT
) -> None:
    if required and not value.strip():
        v.add(field_name, "is required")
    elif len(value) > max_len:
        v.add(field_name, f"must be at most {max_len} characters")


def positive_quantity(
    v: Violations, field_name: str, value: int, maximum: int = MAX_QUANTITY
) -> None:
    if value <= 0:
        v.add(field_name, "must be greater than zero")
    elif value > maximum:
        v.add(field_name, f"must be at most {maximum}")


def non_negative(v: Violations, field_name: str, value: int, maximum: int = MAX_QUANTITY) -> None:
    if value < 0:
        v.add(field_name, "must not be negative")
    elif value > maximum:
        v.add(field_name, f"must be at most {maximum}")
