"""Services on NATS with an NKey seed file instead of a password, on a real nats-server
running the generated configuration: the relay publishes with it, the password user is
gone, and a key rotated by operators (both keys, new seed file, old key removed) is picked
up by the running connection without a restart."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.nats.access import new_user_nkey
from kernel.application import Application
from kernel.errors import Unavailable
from kernel.messaging import NatsConnection
from kernel.relay import Relay
from tests.integration.kernel_fixtures import REGISTRY, app, db, eventually, receive
from tests.integration.nats_access_fixtures import ConfiguredNats, PartnerKey


def write_seed(path: Path, seed: str) -> None:
    """Replace the file in one step, as a Kubernetes Secret volume swaps its files."""
    staged = path.with_suffix(".new")
    staged.write_text(seed + "\n")
    os.replace(staged, path)


@pytest.fixture
def first_key() -> PartnerKey:
    public, seed = new_user_nkey()
    return PartnerKey("inventory", public, seed)


@pytest.fixture
def seed_file(tmp_path: Path, first_key: PartnerKey) -> Path:
    path = tmp_path / "inventory.nk"
    write_seed(path, first_key.seed)
    return path


@pytest.fixture
def keyed_nats(tmp_path: Path, first_key: PartnerKey) -> Iterator[ConfiguredNats]:
    server = ConfiguredNats(tmp_path / "nats", [], service_keys={"inventory": [first_key.public]})
    server.directory.mkdir()
    yield server.start()
    server.stop()


async def relay_all(relay: Relay, count: int) -> None:
    published = 0

    async def done() -> bool:
        nonlocal published
        # Unavailable: between the old connection and the new one.
        with contextlib.suppress(Unavailable):
            published += await relay.relay_once()
        return published >= count

    await eventually(done, within=20)


async def stream_size(connection: NatsConnection) -> int:
    js = await connection.jetstream()
    return int((await js.stream_info("INVENTORY")).state.messages)


async def test_service_relays_its_events_with_an_nkey_seed_file_and_no_password(
    app: Application, keyed_nats: ConfiguredNats, seed_file: Path
) -> None:
    connection = NatsConnection(keyed_nats.url(), "inventory", nkey_seed_file=str(seed_file))
    relay = Relay(app.db, connection, REGISTRY)
    await relay.ensure_checkpoint()
    try:
        await receive(app, "SZ01", "P-1", 3)
        await receive(app, "GZ01", "P-2", 4)
        await relay_all(relay, 2)
        assert await stream_size(connection) == 2
    finally:
        await connection.close()
    # Its password user is gone with the keys (tests/unit/test_nats_access.py).
    assert 'user: "inventory"' not in (keyed_nats.directory / "accounts.conf").read_text()


async def test_rotated_service_key_is_picked_up_by_the_running_connection(
    app: Application, keyed_nats: ConfiguredNats, seed_file: Path, first_key: PartnerKey
) -> None:
    connection = NatsConnection(keyed_nats.url(), "inventory", nkey_seed_file=str(seed_file))
    relay = Relay(app.db, connection, REGISTRY)
    await relay.ensure_checkpoint()
    try:
        await receive(app, "SZ01", "P-1", 1)
        await relay_all(relay, 1)
        old_client = await connection.client()

        # The operators' rotation: both keys, the new seed in place, the old key removed.
        new_public, new_seed = new_user_nkey()
        keyed_nats.reload(service_keys={"inventory": [first_key.public, new_public]})
        write_seed(seed_file, new_seed)
        keyed_nats.reload(service_keys={"inventory": [new_public]})

        await receive(app, "SZ01", "P-1", 2)
        await relay_all(relay, 1)

        assert await connection.client() is not old_client
        assert not connection.key_rotated()
        assert await stream_size(connection) == 2
    finally:
        await connection.close()
