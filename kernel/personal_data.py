"""Crypto-shredding of customers' personal data: events are immutable, keys are not.

A customer's name and phone never enter an event in the clear. They are sealed with
AES-GCM under a key of that customer's own (`customer_keys`), bound to the customer and the
field (the associated data), and stored in the event as an opaque text. Reading unseals
them with the customer's key. Forgetting the customer (a GDPR / PIPL erasure) destroys the
key: every past event, in the store, on JetStream and in every backup, then reads as
"[forgotten]", while the rest of the history (the transfer, its stock moves, its points)
stays intact. Partners only ever see the customer's reference and ciphertext they hold no
key for.

The keys live in the service's database: whoever can read that table can read the data,
so the database is the trust boundary (a KMS-wrapped key would move it; not done here).
A customer seen again after being forgotten gets a fresh key: what was forgotten stays so.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import (
    Column,
    Connection,
    LargeBinary,
    MetaData,
    String,
    Table,
    bindparam,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from kernel.db import Migration, UtcDateTime

COMPONENT = "personal_data"
FORGOTTEN = "[forgotten]"
# Sealed values start with this, so a reader tells them from legacy clear text.
PREFIX = "sealed.v1."
NONCE_BYTES = 12

metadata = MetaData()

customer_keys = Table(
    "customer_keys",
    metadata,
    Column("customer_ref", String(128), primary_key=True),
    # NULL once forgotten: the only copy of the key is gone.
    Column("key", LargeBinary, nullable=True),
    Column("created_at", UtcDateTime(timezone=True), nullable=False),
    Column("forgotten_at", UtcDateTime(timezone=True), nullable=True),
)


def _create(conn: Connection) -> None:
    metadata.create_all(conn)


MIGRATIONS = (Migration(1, "per-customer keys for personal data", _create),)


# The cipher: pure, no I/O.


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def seal(key: bytes, customer_ref: str, field: str, plaintext: str) -> str:
    """`plaintext` encrypted for this customer and field; "" stays "" (nothing to hide)."""
    if not plaintext:
        return ""
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(key).encrypt(nonce, plaintext.encode(), _bound(customer_ref, field))
    return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()


def unseal(key: bytes | None, customer_ref: str, field: str, sealed: str) -> str:
    """The clear text, or FORGOTTEN when the key is gone (or is not the one it was sealed
    with: a customer forgotten and seen again)."""
    if not sealed:
        return ""
    if not sealed.startswith(PREFIX):
        raise ValueError(f"{field} is not a sealed value")
    if key is None:
        return FORGOTTEN
    raw = base64.urlsafe_b64decode(sealed[len(PREFIX) :].encode())
    try:
        clear = AESGCM(key).decrypt(
            raw[:NONCE_BYTES], raw[NONCE_BYTES:], _bound(customer_ref, field)
        )
    except InvalidTag:
        return FORGOTTEN
    return clear.decode()


def _bound(customer_ref: str, field: str) -> bytes:
    # A sealed name cannot be passed off as another customer's, or as a phone.
    return f"{customer_ref}\x1f{field}".encode()


# The keys, in the service's database (in the caller's transaction).


class PersonalData:
    async def seal(
        self, conn: AsyncConnection, customer_ref: str, fields: Mapping[str, str], at: datetime
    ) -> dict[str, str]:
        """Each field sealed under the customer's key, made on first sight."""
        key = await self._key_for_writing(conn, customer_ref, at)
        return {name: seal(key, customer_ref, name, value) for name, value in fields.items()}

    async def unseal(
        self, conn: AsyncConnection, customer_ref: str, fields: Mapping[str, str]
    ) -> dict[str, str]:
        key = await self.key(conn, customer_ref)
        return {name: unseal(key, customer_ref, name, value) for name, value in fields.items()}

    async def key(self, conn: AsyncConnection, customer_ref: str) -> bytes | None:
        row = (
            await conn.execute(
                select(customer_keys.c.key).where(customer_keys.c.customer_ref == customer_ref)
            )
        ).first()
        return None if row is None else row.key

    async def forget(self, conn: AsyncConnection, customer_ref: str, at: datetime) -> datetime:
        """Destroy the customer's key; returns when it was (first) forgotten. Idempotent,
        and a customer never seen is recorded as forgotten too."""
        row = await self._locked(conn, customer_ref, None, at)
        if row.key is None and row.forgotten_at is not None:
            forgotten: datetime = row.forgotten_at
            return forgotten
        await conn.execute(_FORGET, {"ref": customer_ref, "at": at})
        return at

    async def _key_for_writing(
        self, conn: AsyncConnection, customer_ref: str, at: datetime
    ) -> bytes:
        fresh = new_key()
        row = await self._locked(conn, customer_ref, fresh, at)
        if row.key is not None:
            key: bytes = row.key
            return key
        # Forgotten, and seen again: a new key; what was sealed before stays forgotten.
        await conn.execute(_REKEY, {"ref": customer_ref, "key": fresh, "at": at})
        return fresh

    async def _locked(
        self, conn: AsyncConnection, customer_ref: str, key: bytes | None, at: datetime
    ) -> Any:
        """The customer's row, made if missing, locked for this transaction (two first
        sightings at once make one key)."""
        await conn.execute(_ENSURE, {"ref": customer_ref, "key": key, "at": at})
        return (await conn.execute(_LOCK, {"ref": customer_ref})).one()


_ENSURE = text(
    "INSERT INTO customer_keys (customer_ref, key, created_at, forgotten_at) "
    "VALUES (:ref, :key, :at, NULL) ON CONFLICT (customer_ref) DO NOTHING"
).bindparams(
    bindparam("key", type_=LargeBinary()),
    bindparam("at", type_=customer_keys.c.created_at.type),
)
_LOCK = (
    select(customer_keys).where(customer_keys.c.customer_ref == bindparam("ref")).with_for_update()
)
_FORGET = (
    update(customer_keys)
    .where(customer_keys.c.customer_ref == bindparam("ref"))
    .values(key=None, forgotten_at=bindparam("at"))
)
_REKEY = (
    update(customer_keys)
    .where(customer_keys.c.customer_ref == bindparam("ref"))
    .values(key=bindparam("key"), created_at=bindparam("at"), forgotten_at=None)
)
