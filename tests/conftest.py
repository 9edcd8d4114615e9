"""Fixtures shared by unit and integration tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kernel.auth import TokenIssuer, TokenVerifier, generate_keys
from kernel.clock import ManualClock


@pytest.fixture(scope="session")
def key_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return generate_keys(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="session")
def issuer(key_pair: tuple[Path, Path]) -> TokenIssuer:
    return TokenIssuer.from_file(key_pair[0])


@pytest.fixture(scope="session")
def verifier(key_pair: tuple[Path, Path]) -> TokenVerifier:
    return TokenVerifier.from_file(key_pair[1])


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 11, 2, 8, 0, tzinfo=UTC))


@pytest.fixture
def mint(issuer: TokenIssuer) -> Callable[..., str]:
    def _mint(role: str = "hq", *stores: str, subject: str = "test") -> str:
        return issuer.mint(subject, role, list(stores), ttl=timedelta(hours=1))

    return _mint


@pytest.fixture(autouse=True)
def _no_leaked_principal() -> Iterator[None]:
    from kernel.auth import set_principal

    yield
    set_principal(None)
