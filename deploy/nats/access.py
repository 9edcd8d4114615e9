"""Who may read and publish what on StoreMesh's NATS: from partners.yaml to a server config.

Everyone lives in one account, STOREMESH, with JetStream, so partners read the very
streams the services write; what separates them is per-user permissions, all allow-lists:

- a service (one per context found in proto/; an NKey when partners.yaml lists its public
  keys under `services:`, else user/password from an environment variable) publishes
  only `<context>.v1.>` and its own dead letters, and uses the JetStream API it needs to
  keep its stream and run its consumers;
- a partner (an NKey; two during a rotation) may subscribe only to its stores' subjects
  of the contexts and event types it was granted, on its own inbox prefix
  `_INBOX.<partner>`, and may call the JetStream API only for consumers it was granted by
  name: create them with a filter inside its grant (the filter is part of the create
  subject, and the server refuses a body that filters otherwise), read their info, pull
  from them, ack on them, delete them. It may publish nothing else: no event, no stream
  read (STREAM.MSG.GET would reach every store), no `_INBOX.>` (other users' replies).

NATS wildcards match whole tokens, and a consumer name is one token, so a partner's
consumers are a list of names rather than a prefix.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nkeys
import yaml

from kernel.messaging import NatsConnection
from kernel.subscriptions import DEAD_LETTER_STREAM
from kernel.validation import STORE_CODE

ACCOUNT = "STOREMESH"
PARTNER_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
ALL_EVENTS = "all"


class AccessError(ValueError):
    """partners.yaml asks for something that does not exist or is not allowed."""


@dataclass(frozen=True)
class Partner:
    name: str
    nkeys: tuple[str, ...]
    stores: tuple[str, ...]
    # context -> event type names, or None for every event of the context
    reads: dict[str, tuple[str, ...] | None]
    consumers: tuple[str, ...]
    description: str = ""


@dataclass(frozen=True)
class Catalogue:
    """The contexts and their event types, as the events protos declare them."""

    events: dict[str, tuple[str, ...]] = field(default_factory=dict)


def valid_user_nkey(key: str) -> bool:
    """A user public key: prefix U, base32, with a CRC16 that matches."""
    if not re.fullmatch(r"U[A-Z2-7]{55}", key):
        return False
    try:
        raw = base64.b32decode(key + "=" * (-len(key) % 8))
    except binascii.Error:
        return False
    body, crc = raw[:-2], int.from_bytes(raw[-2:], "little")
    return bool(nkeys.crc16(bytearray(body)) == crc)


def new_user_nkey() -> tuple[str, str]:
    """A fresh user key pair: (public key, seed). The seed goes to the partner only."""
    seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
    pair = nkeys.from_seed(bytearray(seed))
    return pair.public_key.decode(), bytes(seed).decode()


def load_partners(path: Path, catalogue: Catalogue) -> list[Partner]:
    raw = yaml.safe_load(path.read_text()) or {}
    partners = [_partner(entry, catalogue) for entry in raw.get("partners") or []]
    names = [p.name for p in partners]
    if len(set(names)) != len(names):
        raise AccessError("partner names must be unique")
    keys = [k for p in partners for k in p.nkeys]
    if len(set(keys)) != len(keys):
        raise AccessError("an NKey may belong to one partner only")
    consumers = [c for p in partners for c in p.consumers]
    if len(set(consumers)) != len(consumers):
        raise AccessError("a consumer name may be granted to one partner only")
    return partners


def load_service_keys(path: Path, catalogue: Catalogue) -> dict[str, tuple[str, ...]]:
    """context -> the public NKeys its service connects with (two while rotating); a
    context not listed keeps its password user."""
    raw = yaml.safe_load(path.read_text()) or {}
    keys: dict[str, tuple[str, ...]] = {}
    for context, entry in (raw.get("services") or {}).items():
        if context not in catalogue.events:
            raise AccessError(f"service {context!r}: no such context in proto/")
        listed = tuple(str(k) for k in (entry or {}).get("nkeys") or [])
        bad = [k for k in listed if not valid_user_nkey(k)]
        if not listed or bad:
            raise AccessError(f"service {context}: needs user NKeys (public, U...); bad: {bad}")
        keys[context] = listed
    every = [k for listed in keys.values() for k in listed]
    if len(set(every)) != len(every):
        raise AccessError("an NKey may belong to one service only")
    return keys


def _partner(entry: dict[str, Any], catalogue: Catalogue) -> Partner:
    name = str(entry.get("name", ""))
    if not PARTNER_NAME.match(name):
        raise AccessError(f"partner name {name!r}: 1-32 lower-case letters, digits or -")
    keys = tuple(str(k) for k in entry.get("nkeys") or [])
    bad = [k for k in keys if not valid_user_nkey(k)]
    if not keys or bad:
        raise AccessError(f"partner {name}: needs user NKeys (public, U...); bad: {bad}")
    stores = tuple(str(s) for s in entry.get("stores") or [])
    if not stores or any(not STORE_CODE.match(s) for s in stores):
        raise AccessError(f"partner {name}: stores must be store codes, got {list(stores)}")
    reads: dict[str, tuple[str, ...] | None] = {}
    for context, events in (entry.get("reads") or {}).items():
        if context not in catalogue.events:
            raise AccessError(f"partner {name}: no context {context!r} in proto/")
        if events == ALL_EVENTS:
            reads[context] = None
            continue
        unknown = sorted(set(events or []) - set(catalogue.events[context]))
        if unknown or not events:
            raise AccessError(f"partner {name}: {context} has no events {unknown or events}")
        reads[context] = tuple(events)
    if not reads:
        raise AccessError(f"partner {name}: reads nothing")
    consumers = tuple(str(c) for c in entry.get("consumers") or [name])
    if any(not PARTNER_NAME.match(c) for c in consumers):
        raise AccessError(f"partner {name}: consumer names are like partner names")
    return Partner(name, keys, stores, reads, consumers, str(entry.get("description", "")))


def _stream(context: str) -> str:
    return NatsConnection("", "").stream(context.upper())


def partner_filters(partner: Partner, context: str) -> list[str]:
    """The subjects of one context this partner may read: its stores x its event types."""
    types = partner.reads[context]
    tails = [">"] if types is None else list(types)
    return [f"{context}.v1.{store}.{tail}" for store in partner.stores for tail in tails]


def partner_permissions(partner: Partner) -> dict[str, Any]:
    publish: list[str] = []
    subscribe = [f"_INBOX.{partner.name}.>"]
    for context in partner.reads:
        stream = _stream(context)
        filters = partner_filters(partner, context)
        subscribe.extend(filters)
        for consumer in partner.consumers:
            publish.extend(f"$JS.API.CONSUMER.CREATE.{stream}.{consumer}.{f}" for f in filters)
            publish.extend(
                f"$JS.API.CONSUMER.{verb}.{stream}.{consumer}"
                for verb in ("INFO", "MSG.NEXT", "DELETE")
            )
            publish.append(f"$JS.ACK.{stream}.{consumer}.>")
    return {"publish": {"allow": publish}, "subscribe": {"allow": subscribe}}


def service_permissions(context: str) -> dict[str, Any]:
    stream, dead = _stream(context), DEAD_LETTER_STREAM.name
    return {
        "publish": {
            "allow": [
                f"{context}.v1.>",
                f"deadletter.v1.{context}.>",
                "$JS.API.INFO",
                "$JS.API.STREAM.INFO.*",
                *(
                    f"$JS.API.STREAM.{verb}.{s}"
                    for s in (stream, dead)
                    for verb in ("CREATE", "UPDATE")
                ),
                # Consumers of any context's stream: sagas and read models follow the others.
                "$JS.API.CONSUMER.CREATE.*.*",
                "$JS.API.CONSUMER.CREATE.*.*.>",
                # Ordered (ephemeral) push consumers: the store directory replays capacity's
                # stores with one; it answers flow control and deletes it when it stops.
                "$JS.API.CONSUMER.CREATE.*",
                "$JS.API.CONSUMER.DELETE.*.*",
                "$JS.FC.>",
                "$JS.API.CONSUMER.DURABLE.CREATE.*.*",
                "$JS.API.CONSUMER.INFO.*.*",
                "$JS.API.CONSUMER.MSG.NEXT.*.*",
                "$JS.ACK.>",
            ]
        },
        "subscribe": {"allow": ["_INBOX.>"]},
    }


def password_variable(context: str) -> str:
    return f"STOREMESH_NATS_{context.upper()}_PASSWORD"


def render(
    partners: list[Partner],
    catalogue: Catalogue,
    source: str,
    service_keys: dict[str, tuple[str, ...]] | None = None,
) -> str:
    """The nats-server include: one account, a user per service (or per service key) and
    per partner key."""
    service_keys = service_keys or {}
    partner_keys = {k for p in partners for k in p.nkeys}
    if shared := partner_keys & {k for keys in service_keys.values() for k in keys}:
        raise AccessError(f"NKeys of both a service and a partner: {sorted(shared)}")
    users: list[str] = []
    for context in sorted(catalogue.events):
        perms = json.dumps(service_permissions(context), indent=2)
        if context in service_keys:
            users.extend(
                f'# service {context}\n{{ nkey: "{key}",\n  permissions: {_indent(perms)} }}'
                for key in service_keys[context]
            )
            continue
        users.append(
            f"# service {context}\n"
            f'{{ user: "{context}", password: ${password_variable(context)},\n'
            f"  permissions: {_indent(perms)} }}"
        )
    for partner in partners:
        perms = json.dumps(partner_permissions(partner), indent=2)
        for key in partner.nkeys:
            users.append(
                f"# partner {partner.name}: {partner.description}".rstrip(": ")
                + f'\n{{ nkey: "{key}",\n  permissions: {_indent(perms)} }}'
            )
    body = "\n".join(" " * 6 + _indent(user, 6) for user in users)
    return (
        f"# Generated by `make nats-config` (python -m deploy.nats) from {source}; do not edit.\n"
        "# Services listed under `services:` and partners authenticate with NKeys; other\n"
        "# services' passwords come from the environment of nats-server (unquoted $VARIABLES).\n"
        "# Apply a change with `nats-server --signal reload`.\n"
        f"accounts {{\n  {ACCOUNT} {{\n    jetstream: enabled\n    users: [\n"
        f"{body}\n    ]\n  }}\n}}\n"
    )


def _indent(text: str, spaces: int = 2) -> str:
    pad = " " * spaces
    return text.replace("\n", "\n" + pad)
