"""A private nats-server running the generated accounts.conf, and the partners it knows.

Like kernel.testing.servers.NatsServerProcess (loopback, a free port, bounded waits), but
started from a config file so permissions apply, and reloadable the way operators do it.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats
import pytest
import yaml
from nats.aio.client import Client as NATS

from deploy.nats.__main__ import catalogue, generate
from deploy.nats.access import new_user_nkey, password_variable
from kernel.application import Application
from kernel.messaging import NatsConnection
from kernel.relay import Relay
from kernel.testing.servers import free_port, nats_server_binary
from tests.integration.kernel_fixtures import REGISTRY, eventually

# Every context the protos declare gets a service user (and so a password variable).
CONTEXTS = tuple(sorted(catalogue().events))


@dataclass
class PartnerKey:
    name: str
    public: str
    seed: str


@dataclass
class ConfiguredNats:
    """nats-server -c main.conf, main.conf including the generated accounts.conf."""

    directory: Path
    partners: list[dict[str, Any]]
    port: int = field(default_factory=free_port)
    passwords: dict[str, str] = field(
        # A letter first: nats-server reads an unquoted $VARIABLE's value as a number when
        # it looks like one ("1234...", "12e4...": hex digits can), and then refuses it.
        default_factory=lambda: {c: "p" + secrets.token_hex(8) for c in CONTEXTS}
    )
    process: subprocess.Popen[bytes] | None = None
    # context -> public NKeys: those services connect with a seed instead of a password.
    service_keys: dict[str, list[str]] = field(default_factory=dict)

    def url(self, user: str | None = None) -> str:
        if user is None:
            return f"nats://127.0.0.1:{self.port}"
        return f"nats://{user}:{self.passwords[user]}@127.0.0.1:{self.port}"

    def write_config(self) -> None:
        partners_file = self.directory / "partners.yaml"
        services = {c: {"nkeys": keys} for c, keys in self.service_keys.items()}
        partners_file.write_text(yaml.safe_dump({"partners": self.partners, "services": services}))
        (self.directory / "accounts.conf").write_text(generate(partners_file))
        (self.directory / "main.conf").write_text(
            f"listen: 127.0.0.1:{self.port}\n"
            f'jetstream {{ store_dir: "{self.directory / "js"}" }}\n'
            'include "accounts.conf"\n'
        )

    def start(self, timeout: float = 30.0) -> ConfiguredNats:
        """Bounded wait for the port; a server that exits (a bad config, a port taken
        between choosing and binding it) fails at once with its own log."""
        self.write_config()
        env = {**os.environ, **{password_variable(c): p for c, p in self.passwords.items()}}
        log_path = self.directory / "nats-server.log"
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [nats_server_binary(), "-c", str(self.directory / "main.conf")],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        tail = log_path.read_text(errors="replace")[-2000:]
        raise RuntimeError(
            f"nats-server with {self.directory}/main.conf did not start "
            f"(exit code {self.process.poll()}):\n{tail}"
        )

    def reload(
        self,
        partners: list[dict[str, Any]] | None = None,
        service_keys: dict[str, list[str]] | None = None,
    ) -> None:
        """Regenerate from new partners or service keys and signal the server, as operators
        do."""
        assert self.process is not None
        self.partners = self.partners if partners is None else partners
        self.service_keys = self.service_keys if service_keys is None else service_keys
        self.write_config()
        subprocess.run(
            [nats_server_binary(), "--signal", f"reload={self.process.pid}"],
            check=True,
            timeout=10,
            capture_output=True,
        )

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        shutil.rmtree(self.directory, ignore_errors=True)


def partner_entry(key: PartnerKey, stores: list[str], reads: dict[str, Any]) -> dict[str, Any]:
    return {"name": key.name, "nkeys": [key.public], "stores": stores, "reads": reads}


@pytest.fixture
def sz01_courier() -> PartnerKey:
    public, seed = new_user_nkey()
    return PartnerKey("sz01-courier", public, seed)


@pytest.fixture
def gz01_app() -> PartnerKey:
    public, seed = new_user_nkey()
    return PartnerKey("gz01-app", public, seed)


@pytest.fixture
def secured_nats(
    tmp_path: Path, sz01_courier: PartnerKey, gz01_app: PartnerKey
) -> Iterator[ConfiguredNats]:
    server = ConfiguredNats(
        tmp_path / "nats",
        [
            partner_entry(sz01_courier, ["SZ01"], {"inventory": "all"}),
            partner_entry(gz01_app, ["GZ01"], {"inventory": "all", "workforce": "all"}),
        ],
    )
    server.directory.mkdir()
    yield server.start()
    server.stop()


class ErrorLog:
    """What the server told a client asynchronously (permission violations arrive so)."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    async def record(self, exc: Exception) -> None:
        self.errors.append(str(exc))

    async def wait_for(self, text: str, within: float = 5.0) -> str:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            for error in self.errors:
                if text.lower() in error.lower():  # nats-py lower-cases the server's text
                    return error
            await asyncio.sleep(0.02)
        raise AssertionError(f"no error containing {text!r} within {within}s: {self.errors}")


async def connect_partner(
    server: ConfiguredNats, key: PartnerKey, errors: ErrorLog, **options: Any
) -> NATS:
    return await nats.connect(
        server.url(),
        nkeys_seed_str=key.seed,
        inbox_prefix=f"_INBOX.{key.name}",
        error_cb=errors.record,
        connect_timeout=2,
        **options,
    )


@pytest.fixture
async def service_client(secured_nats: ConfiguredNats) -> AsyncIterator[NATS]:
    client = await nats.connect(secured_nats.url("inventory"), connect_timeout=2)
    yield client
    await client.close()


async def relay_events(app: Application, server: ConfiguredNats, count: int) -> None:
    """Publish `count` recorded events the way production does: the kernel's relay,
    connected as the inventory service user under the generated permissions."""
    connection = NatsConnection(server.url("inventory"), name="inventory-relay")
    relay = Relay(app.db, connection, REGISTRY)
    await relay.ensure_checkpoint()
    published = 0

    async def all_published() -> bool:
        nonlocal published
        published += await relay.relay_once()
        return published >= count

    try:
        await eventually(all_published)
    finally:
        await relay.release()  # as a stopping relay does: the next one need not wait
        await connection.close()
