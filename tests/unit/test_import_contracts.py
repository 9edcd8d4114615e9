"""The import contract names every outer module of every service: a module added beside a
domain without being named there would let that domain import it unseen by make lint."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _domain_contract() -> dict[str, object]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts = config["tool"]["importlinter"]["contracts"]
    (found,) = [c for c in contracts if c.get("source_modules") == ["services.*.domain"]]
    return found  # type: ignore[no-any-return]


def _matches(pattern: str, module: str) -> bool:
    # import-linter's `*` stands for one whole module name.
    return re.fullmatch(re.escape(pattern).replace(r"\*", r"[^.]+"), module) is not None


def outer_modules() -> list[str]:
    found = []
    for path in sorted((ROOT / "services").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if "domain" in parts or parts[-1] == "__init__":
            continue
        if len(parts) > 3:  # a package beside the domain (read_model/): its name covers it
            parts = parts[:3]
        found.append(".".join(parts))
    return sorted(set(found))


def test_every_outer_module_of_a_service_is_forbidden_to_its_domain() -> None:
    forbidden = _domain_contract()["forbidden_modules"]
    assert isinstance(forbidden, list)
    unnamed = [m for m in outer_modules() if not any(_matches(p, m) for p in forbidden)]
    assert unnamed == [], f"add these to the domain contract in pyproject.toml: {unnamed}"


def test_the_check_sees_every_service_and_a_module_it_does_not_name() -> None:
    modules = outer_modules()
    for service in ("inventory", "workforce", "capacity", "collab", "analytics"):
        assert f"services.{service}.grpc_api" in modules
    assert not _matches("services.*.queries", "services.analytics.queries_kpis")
    assert _matches("services.*.queries_kpis", "services.analytics.queries_kpis")
