"""Accepted tokens are remembered until they expire, so a caller's every call does not pay
for an Ed25519 check; refused tokens are never remembered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from kernel import auth
from kernel.auth import Principal, TokenIssuer, TokenVerifier, generate_keys
from kernel.clock import ManualClock
from kernel.errors import Unauthenticated


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every full check of a token (signature and claims) the verifier makes."""
    seen: list[str] = []
    real_decode = jwt.decode

    def counting_decode(token: str, *args: Any, **kwargs: Any) -> Any:
        seen.append(token)
        return real_decode(token, *args, **kwargs)

    monkeypatch.setattr(auth.jwt, "decode", counting_decode)
    return seen


@pytest.fixture
def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _verifier(key_pair: tuple[Path, Path], clock: ManualClock, **kwargs: Any) -> TokenVerifier:
    return TokenVerifier(key_pair[1].read_bytes(), clock=clock, **kwargs)


def test_a_token_is_checked_in_full_once_and_then_remembered(
    key_pair: tuple[Path, Path], issuer: TokenIssuer, now: datetime, checks: list[str]
) -> None:
    verifier = _verifier(key_pair, ManualClock(now))
    token = issuer.mint("dms-sz01", "dms", ["SZ01"], now=now)
    first = verifier.verify(token)
    again = [verifier.verify(token) for _ in range(5)]
    assert first == Principal("dms-sz01", "dms", frozenset({"SZ01"}))
    assert again == [first] * 5
    assert checks == [token]
    assert verifier.remembered == 1


def test_a_remembered_token_is_dropped_at_its_expiry(
    key_pair: tuple[Path, Path], issuer: TokenIssuer, now: datetime, checks: list[str]
) -> None:
    clock = ManualClock(now)
    verifier = _verifier(key_pair, clock)
    # Really valid for an hour from now, so the full check after the drop still passes.
    token = issuer.mint("x", "hq", ttl=timedelta(hours=1), now=now)
    verifier.verify(token)
    clock.set(now + timedelta(hours=1) - timedelta(seconds=1))
    verifier.verify(token)
    assert len(checks) == 1, "still remembered one second before exp"
    clock.set(now + timedelta(hours=1))
    verifier.verify(token)
    assert len(checks) == 2, "at exp the token is checked in full again"


def test_a_badly_signed_token_is_never_remembered(
    key_pair: tuple[Path, Path], now: datetime, tmp_path: Path, checks: list[str]
) -> None:
    verifier = _verifier(key_pair, ManualClock(now))
    stranger = TokenIssuer.from_file(generate_keys(tmp_path)[0]).mint("x", "hq", now=now)
    for _ in range(3):
        with pytest.raises(Unauthenticated):
            verifier.verify(stranger)
    assert checks == [stranger] * 3
    assert verifier.remembered == 0


def test_a_token_with_bad_claims_is_never_remembered(
    key_pair: tuple[Path, Path], now: datetime, checks: list[str]
) -> None:
    verifier = _verifier(key_pair, ManualClock(now))
    key = serialization.load_pem_private_key(key_pair[0].read_bytes(), password=None)
    claims = {
        "iss": auth.ISSUER,
        "aud": auth.AUDIENCE,
        "sub": "x",
        "role": "admin",
        "exp": now + timedelta(hours=1),
    }
    token = jwt.encode(claims, key, algorithm="EdDSA")  # type: ignore[arg-type]
    for _ in range(2):
        with pytest.raises(Unauthenticated, match="unknown role"):
            verifier.verify(token)
    assert verifier.remembered == 0


def test_the_least_recently_used_token_leaves_first_when_memory_is_full(
    key_pair: tuple[Path, Path], issuer: TokenIssuer, now: datetime, checks: list[str]
) -> None:
    verifier = _verifier(key_pair, ManualClock(now), max_remembered=2)
    a, b, c = (issuer.mint(name, "hq", now=now) for name in ("a", "b", "c"))
    verifier.verify(a)
    verifier.verify(b)
    verifier.verify(a)  # a is now the most recently used
    verifier.verify(c)  # b leaves
    assert verifier.remembered == 2
    checks.clear()
    verifier.verify(a)
    verifier.verify(c)
    assert checks == []
    verifier.verify(b)
    assert checks == [b]
