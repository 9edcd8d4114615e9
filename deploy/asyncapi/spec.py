"""Validates documents offline against the official AsyncAPI 3 JSON Schema (@asyncapi/specs)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator

SPECS = Path(__file__).resolve().parents[2] / "tools" / "node_modules" / "@asyncapi" / "specs"


@cache
def _validator(version: str) -> Draft7Validator:
    path = SPECS / "schemas" / f"{version}-without-$id.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} missing: run `make tools`")
    # The bundled schema carries every definition it refers to; no network is touched.
    return Draft7Validator(json.loads(path.read_text()))


def problems(document: dict[str, Any]) -> list[str]:
    """What the official schema finds wrong with the document; empty when it is valid."""
    validator = _validator(str(document.get("asyncapi", "")))
    found = [
        f"{'/'.join(str(p) for p in error.absolute_path) or '<root>'}: {error.message[:300]}"
        for error in sorted(validator.iter_errors(document), key=lambda e: list(e.path))
    ]
    # The schema checks each object's shape, not that a $ref points at something.
    found.extend(f"dangling $ref {ref}" for ref in _refs(document) if not _resolves(document, ref))
    return found


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def _resolves(document: dict[str, Any], ref: str) -> bool:
    if not ref.startswith("#/"):
        return False  # the documents are self-contained
    node: Any = document
    for token in ref[2:].split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or token not in node:
            return False
        node = node[token]
    return True
