"""Signed bearer tokens: who is calling, in which role, for which stores; and the rules
that keep a store's staff to their own store."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from kernel.auth import (
    AUDIENCE,
    ISSUER,
    Principal,
    TokenIssuer,
    TokenVerifier,
    authorize_role,
    authorize_store,
    current_principal,
    generate_keys,
    main,
    set_principal,
)
from kernel.errors import PermissionDenied, Unauthenticated


@pytest.fixture
def private_key(key_pair: tuple[Path, Path]) -> Any:
    return serialization.load_pem_private_key(key_pair[0].read_bytes(), password=None)


def _claims(**changes: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "dms-sz01",
        "role": "dms",
        "stores": ["SZ01"],
        "iat": now,
        "exp": now + timedelta(hours=1),
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def test_a_minted_token_names_the_caller_role_and_stores(
    issuer: TokenIssuer, verifier: TokenVerifier
) -> None:
    principal = verifier.verify(issuer.mint("dms-sz01", "dms", ["SZ01", "SZ02"]))
    assert principal == Principal("dms-sz01", "dms", frozenset({"SZ01", "SZ02"}))


def test_an_expired_token_is_refused_beyond_the_leeway(
    issuer: TokenIssuer, verifier: TokenVerifier
) -> None:
    now = datetime.now(UTC)
    long_ago = issuer.mint("x", "hq", ttl=timedelta(minutes=1), now=now - timedelta(minutes=2))
    with pytest.raises(Unauthenticated, match="expired"):
        verifier.verify(long_ago)
    just_now = issuer.mint("x", "hq", ttl=timedelta(minutes=1), now=now - timedelta(seconds=70))
    assert verifier.verify(just_now).role == "hq", "30 s of clock skew is tolerated"


def test_a_token_signed_by_another_key_is_refused(verifier: TokenVerifier, tmp_path: Path) -> None:
    other = TokenIssuer.from_file(generate_keys(tmp_path)[0])
    with pytest.raises(Unauthenticated):
        verifier.verify(other.mint("x", "hq"))


def test_a_token_with_edited_claims_is_refused(
    issuer: TokenIssuer, verifier: TokenVerifier
) -> None:
    header, claims, signature = issuer.mint("dms-sz01", "dms", ["SZ01"]).split(".")
    body = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    body["stores"] = ["SZ01", "SZ02"]
    forged = base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")
    with pytest.raises(Unauthenticated):
        verifier.verify(f"{header}.{forged}.{signature}")


@pytest.mark.parametrize(
    "changes",
    [
        {"aud": "someone-else"},
        {"iss": "someone-else"},
        {"exp": None},
        {"sub": None},
        {"role": None},
        {"role": "admin"},
        {"stores": "SZ01"},
        {"stores": [1, 2]},
    ],
    ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()),
)
def test_a_signed_token_with_bad_claims_is_refused(
    private_key: Any, verifier: TokenVerifier, changes: dict[str, Any]
) -> None:
    token = jwt.encode(_claims(**changes), private_key, algorithm="EdDSA")
    with pytest.raises(Unauthenticated):
        verifier.verify(token)


def test_unsigned_and_symmetric_tokens_are_refused(
    verifier: TokenVerifier, key_pair: tuple[Path, Path]
) -> None:
    unsigned = jwt.encode(_claims(role="hq"), None, algorithm="none")
    with pytest.raises(Unauthenticated):
        verifier.verify(unsigned)
    # The public key used as an HMAC secret (the classic algorithm confusion).
    header = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').decode().rstrip("=")
    with pytest.raises(Unauthenticated):
        verifier.verify(f"{header}.e30.c2ln")
    with pytest.raises(Unauthenticated):
        verifier.verify("")


def test_minting_an_unknown_role_fails(issuer: TokenIssuer) -> None:
    with pytest.raises(ValueError):
        issuer.mint("x", "admin")


@pytest.fixture
def as_principal() -> Iterator[Any]:
    def set_as(role: str, *stores: str) -> None:
        set_principal(Principal(f"{role}-user", role, frozenset(stores)))

    yield set_as
    set_principal(None)


@pytest.mark.parametrize("role", ["dms", "manager"])
def test_store_staff_act_for_their_own_stores_only(as_principal: Any, role: str) -> None:
    as_principal(role, "SZ01", "SZ03")
    assert authorize_store("SZ01").role == role
    assert authorize_store("SZ03").role == role
    with pytest.raises(PermissionDenied, match="SZ02"):
        authorize_store("SZ02", "reserve stock")


@pytest.mark.parametrize("role", ["hq", "service"])
def test_network_roles_act_for_every_store(as_principal: Any, role: str) -> None:
    as_principal(role)
    assert authorize_store("SZ01").role == role
    assert authorize_store("GZ99").role == role


@pytest.mark.parametrize(
    ("action", "said"),
    [
        ("reserve stock", "may not reserve stock on store SZ02"),
        ("request a transfer for", "may not request a transfer for store SZ02"),
        ("see the operating figures of", "may not see the operating figures of store SZ02"),
    ],
)
def test_a_refusal_reads_as_a_sentence(as_principal: Any, action: str, said: str) -> None:
    as_principal("dms", "SZ01")
    with pytest.raises(PermissionDenied) as refused:
        authorize_store("SZ02", action)
    assert said in str(refused.value)


def test_a_partner_may_change_no_store(as_principal: Any) -> None:
    as_principal("partner", "SZ01")
    with pytest.raises(PermissionDenied):
        authorize_store("SZ01")


def test_roles_are_checked(as_principal: Any) -> None:
    as_principal("dms", "SZ01")
    with pytest.raises(PermissionDenied):
        authorize_role("hq", "service")
    as_principal("hq")
    assert authorize_role("hq", "service").role == "hq"


def test_no_caller_is_unauthenticated() -> None:
    set_principal(None)
    with pytest.raises(Unauthenticated):
        current_principal()
    with pytest.raises(Unauthenticated):
        authorize_store("SZ01")


def test_keys_are_made_once_and_kept(tmp_path: Path) -> None:
    private_path, public_path = generate_keys(tmp_path / "keys")
    first = private_path.read_bytes(), public_path.read_bytes()
    assert generate_keys(tmp_path / "keys") == (private_path, public_path)
    assert (private_path.read_bytes(), public_path.read_bytes()) == first
    assert private_path.stat().st_mode & 0o777 == 0o600


def test_the_cli_mints_a_token_the_verifier_accepts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = tmp_path / "keys"
    assert main(["keygen", str(keys)]) == 0
    capsys.readouterr()
    assert (
        main(
            [
                "mint",
                "--key",
                str(keys / "jwt-private.pem"),
                "--subject",
                "dms-sz01",
                "--role",
                "dms",
                "--store",
                "SZ01",
                "--store",
                "SZ02",
            ]
        )
        == 0
    )
    token = capsys.readouterr().out.strip()
    principal = TokenVerifier.from_file(keys / "jwt-public.pem").verify(token)
    assert principal == Principal("dms-sz01", "dms", frozenset({"SZ01", "SZ02"}))
