"""What the numbers were measured on."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from typing import Any

import nats
import psycopg

from bench.context import libpq
from kernel.event_loop import running_loop_name


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def nproc() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 0


def load_average() -> str:
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def memory_total() -> str:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal"):
                    kib = int(line.split()[1])
                    return f"{kib / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


async def postgres_facts(admin_url: str) -> dict[str, str]:
    async with await psycopg.AsyncConnection.connect(libpq(admin_url), autocommit=True) as conn:
        facts: dict[str, str] = {}
        row = await (await conn.execute("SELECT version()")).fetchone()
        facts["version"] = str(row[0]) if row else "unknown"
        for setting in ("fsync", "synchronous_commit", "shared_buffers", "max_connections"):
            row = await (await conn.execute(f"SHOW {setting}")).fetchone()
            facts[setting] = str(row[0]) if row else "?"
        return facts


async def nats_version(nats_url: str) -> str:
    nc = await nats.connect(nats_url, connect_timeout=2, allow_reconnect=False)
    try:
        info: dict[str, Any] = getattr(nc, "_server_info", {}) or {}
        version = str(info.get("version", "unknown"))
        return f"{version} (JetStream {'on' if info.get('jetstream') else 'off'})"
    finally:
        await nc.close()


def git_revision() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        )
        rev = out.stdout.strip() or "unknown"
        return f"{rev}{' + uncommitted changes' if dirty.stdout.strip() else ''}"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


async def describe(admin_url: str, nats_url: str) -> list[tuple[str, str]]:
    pg = await postgres_facts(admin_url)
    return [
        ("Date (UTC)", datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")),
        ("CPUs (nproc)", str(nproc())),
        ("CPU model", cpu_model()),
        ("Memory", memory_total()),
        ("Kernel", platform.release()),
        ("Python", platform.python_version()),
        ("Event loop", event_loop_version()),
        ("PostgreSQL", pg["version"]),
        (
            "PostgreSQL settings",
            f"fsync={pg['fsync']}, synchronous_commit={pg['synchronous_commit']}, "
            f"shared_buffers={pg['shared_buffers']}, max_connections={pg['max_connections']}",
        ),
        ("nats-server", await nats_version(nats_url)),
        ("psycopg / nats-py", f"{psycopg.__version__} / {nats_client_version()}"),
        ("Git revision", git_revision()),
        ("Load average at start (1/5/15 min)", load_average()),
    ]


def event_loop_version() -> str:
    """The loop the bench and its in-process services run on (STOREMESH_EVENT_LOOP)."""
    name = running_loop_name()
    if name == "uvloop":
        import uvloop

        return f"uvloop {uvloop.__version__}"
    return "asyncio"


def nats_client_version() -> str:
    try:
        from nats.aio.client import __version__

        return str(__version__)
    except ImportError:
        return "unknown"
