"""A request's fingerprint: what a command asks for, so a reused request id is caught."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import fields, is_dataclass
from typing import Any

from kernel.codec import to_json


def fingerprint(command: Any, context_fields: Sequence[str] = ()) -> str:
    """A digest of what the command asks for, leaving out when it was asked and the
    `context_fields` the service filled in from its own state (facts it loaded)."""
    if is_dataclass(command) and not isinstance(command, type):
        left_out = {"at", *context_fields}
        body = {
            f.name: to_json(getattr(command, f.name))
            for f in fields(command)
            if f.name not in left_out
        }
    else:
        body = to_json(command)
    raw = json.dumps({"type": type(command).__name__, "body": body}, sort_keys=True, default=str)
    return hashlib.sha256(raw.encode()).hexdigest()
