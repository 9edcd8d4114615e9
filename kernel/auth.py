"""Who is calling: signed bearer tokens (EdDSA JWT) naming a role and the stores it acts for.

Run `python -m kernel.auth keygen [DIR]` for a key pair and
`python -m kernel.auth mint --role dms --store SZ01 --subject dms-sz01` for a token (from
any directory: keys default to $STOREMESH_VAR/keys, else the checkout's var/keys).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import OrderedDict
from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kernel.clock import Clock, SystemClock
from kernel.errors import PermissionDenied, Unauthenticated

ISSUER = "storemesh"
AUDIENCE = "storemesh"
ROLES = ("dms", "manager", "hq", "partner", "service")
NETWORK_ROLES = ("hq", "service")


@dataclass(frozen=True)
class Principal:
    subject: str
    role: str
    stores: frozenset[str]

    @property
    def network_wide(self) -> bool:
        return self.role in NETWORK_ROLES

    def may_act_for(self, store_id: str) -> bool:
        return self.network_wide or store_id in self.stores


_principal: ContextVar[Principal | None] = ContextVar("storemesh_principal", default=None)


def current_principal() -> Principal:
    principal = _principal.get()
    if principal is None:
        raise Unauthenticated("no authenticated caller")
    return principal


def set_principal(principal: Principal | None) -> None:
    _principal.set(principal)


def authorize_store(store_id: str, action: str = "act") -> Principal:
    """The caller may change this store's data: its own store, or any store for HQ/services."""
    principal = current_principal()
    # "reserve stock on store GZ01", but "request a transfer for store GZ01".
    where = f"store {store_id}" if action.endswith((" for", " of")) else f"on store {store_id}"
    if principal.role == "partner":
        raise PermissionDenied(f"a partner token cannot {action} {where}")
    if not principal.may_act_for(store_id):
        raise PermissionDenied(f"{principal.subject} ({principal.role}) may not {action} {where}")
    return principal


def authorize_any_store(store_ids: Iterable[str], action: str = "act") -> Principal:
    """The caller may act for at least one of these stores, e.g. either party of a support."""
    principal = current_principal()
    stores = sorted(set(store_ids))
    if principal.role == "partner":
        raise PermissionDenied(f"a partner token cannot {action}")
    if not any(principal.may_act_for(store_id) for store_id in stores):
        raise PermissionDenied(
            f"{principal.subject} ({principal.role}) may not {action}: "
            f"it acts for none of {', '.join(stores)}"
        )
    return principal


def authorize_role(*roles: str) -> Principal:
    principal = current_principal()
    if principal.role not in roles:
        raise PermissionDenied(f"role {principal.role} may not do this (needs {'/'.join(roles)})")
    return principal


class TokenVerifier:
    """Checks a bearer token's signature and claims; remembers the tokens it accepted.

    A caller sends the same token with every call for hours, and an Ed25519 check costs
    more CPU than a stock command's own logic, so an accepted token is kept (bounded, least
    recently used out first) until its `exp` by the injected clock, after which it is
    checked in full again. A token is only kept once accepted: a refused one is checked
    every time it comes back, and nothing a token could later turn into is cached, since
    once valid it stays valid until it expires.
    """

    def __init__(
        self,
        public_key_pem: bytes,
        leeway: timedelta = timedelta(seconds=30),
        *,
        clock: Clock | None = None,
        max_remembered: int = 10_000,
    ) -> None:
        self._key = serialization.load_pem_public_key(public_key_pem)
        self._leeway = leeway
        self._clock = clock or SystemClock()
        self._max_remembered = max_remembered
        # raw token -> (who, expiry as a POSIX timestamp)
        self._accepted: OrderedDict[str, tuple[Principal, float]] = OrderedDict()

    @classmethod
    def from_file(cls, path: str | Path) -> TokenVerifier:
        return cls(Path(path).read_bytes())

    @property
    def remembered(self) -> int:
        return len(self._accepted)

    def verify(self, token: str) -> Principal:
        remembered = self._accepted.get(token)
        if remembered is not None:
            principal, expires = remembered
            if self._clock.now().timestamp() < expires:
                self._accepted.move_to_end(token)
                return principal
            del self._accepted[token]
        principal, expires = self._verify_in_full(token)
        self._accepted[token] = (principal, expires)
        if len(self._accepted) > self._max_remembered:
            self._accepted.popitem(last=False)
        return principal

    def _verify_in_full(self, token: str) -> tuple[Principal, float]:
        try:
            claims = jwt.decode(
                token,
                self._key,  # type: ignore[arg-type]
                algorithms=["EdDSA"],
                audience=AUDIENCE,
                issuer=ISSUER,
                leeway=self._leeway,
                options={"require": ["exp", "sub", "role"]},
            )
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"invalid token: {exc}") from exc
        role = claims.get("role")
        if role not in ROLES:
            raise Unauthenticated(f"invalid token: unknown role {role!r}")
        stores = claims.get("stores", [])
        if not isinstance(stores, list) or not all(isinstance(s, str) for s in stores):
            raise Unauthenticated("invalid token: stores must be a list of store codes")
        principal = Principal(subject=str(claims["sub"]), role=role, stores=frozenset(stores))
        # PyJWT has checked that exp is a number.
        return principal, float(claims["exp"])


class TokenIssuer:
    def __init__(self, private_key_pem: bytes) -> None:
        self._key = serialization.load_pem_private_key(private_key_pem, password=None)

    @classmethod
    def from_file(cls, path: str | Path) -> TokenIssuer:
        return cls(Path(path).read_bytes())

    def mint(
        self,
        subject: str,
        role: str,
        stores: list[str] | tuple[str, ...] = (),
        ttl: timedelta = timedelta(hours=12),
        now: datetime | None = None,
    ) -> str:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; one of {ROLES}")
        issued = now or datetime.now(UTC)
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": subject,
            "role": role,
            "stores": list(stores),
            "iat": issued,
            "exp": issued + ttl,
        }
        return jwt.encode(claims, self._key, algorithm="EdDSA")  # type: ignore[arg-type]


def generate_keys(directory: str | Path) -> tuple[Path, Path]:
    """Write an Ed25519 key pair once; an existing pair is kept."""
    folder = Path(directory)
    private_path, public_path = folder / "jwt-private.pem", folder / "jwt-public.pem"
    if private_path.exists() and public_path.exists():
        return private_path, public_path
    folder.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    private_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    private_path.chmod(0o600)
    public_path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private_path, public_path


def var_dir() -> Path:
    """Where `make run` keeps keys, tokens, data and logs: $STOREMESH_VAR, else the
    checkout's var/ (not the working directory's, so the CLIs work from anywhere)."""
    configured = os.environ.get("STOREMESH_VAR")
    return Path(configured).resolve() if configured else Path(__file__).resolve().parents[1] / "var"


def main(argv: list[str] | None = None) -> int:
    keys = var_dir() / "keys"
    parser = argparse.ArgumentParser(
        prog="python -m kernel.auth",
        description="Key pairs and bearer tokens for StoreMesh (development and tests).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    keygen = sub.add_parser(
        "keygen",
        help="create an Ed25519 key pair (kept if present)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    keygen.add_argument("directory", nargs="?", default=str(keys), help="where to write it")
    mint = sub.add_parser(
        "mint",
        help="mint a bearer token",
        description="Mint a bearer token signed with the private key `make run` created.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    mint.add_argument("--key", default=str(keys / "jwt-private.pem"), help="private key (PEM)")
    mint.add_argument("--subject", default="dev", help="who the token names (sub)")
    mint.add_argument("--role", default="hq", choices=ROLES, help="what the caller may do")
    mint.add_argument(
        "--store", action="append", default=[], help="a store it acts for; repeat for several"
    )
    mint.add_argument("--hours", type=float, default=12.0, help="lifetime")
    args = parser.parse_args(argv)
    if args.cmd == "keygen":
        private_path, public_path = generate_keys(args.directory)
        print(f"private key: {private_path}\npublic key:  {public_path}")
        return 0
    if not Path(args.key).exists():
        print(
            f"no private key at {args.key}: start `make run` once, or run "
            "`python -m kernel.auth keygen`, or pass --key",
            file=sys.stderr,
        )
        return 2
    issuer = TokenIssuer.from_file(args.key)
    print(issuer.mint(args.subject, args.role, args.store, timedelta(hours=args.hours)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
