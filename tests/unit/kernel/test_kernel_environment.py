"""A service process reads its environment once, in kernel.config.Settings: no service
module and no kernel module a service runs reads os.environ or getenv.

The exceptions are tools, each named with why: they are not a service process's settings.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
READS = re.compile(r"\bos\.environ\b|\bgetenv\(")
TOOLS = {
    # Settings itself.
    "kernel/config.py",
    # `python -m kernel.call`: the developer's token and make run's port offset.
    "kernel/call.py",
    # `python -m kernel.auth` and make run: where development keys and tokens are kept.
    "kernel/auth.py",
    # A worker process learns its index from the launcher that started it.
    "kernel/workers.py",
    # Tests find their PostgreSQL and NATS.
    "kernel/testing/servers.py",
    # `make run`: the launcher hands each service its environment.
    "services/__main__.py",
}


def readers() -> list[str]:
    found = []
    for top in ("kernel", "services"):
        for path in sorted((ROOT / top).rglob("*.py")):
            name = path.relative_to(ROOT).as_posix()
            if name not in TOOLS and READS.search(path.read_text()):
                found.append(name)
    return found


def test_only_settings_and_the_named_tools_read_the_environment() -> None:
    assert readers() == []


def test_the_check_sees_a_read() -> None:
    assert READS.search('x = os.environ.get("STOREMESH_X")')
    assert READS.search('x = getenv("STOREMESH_X")')
    assert all((ROOT / tool).exists() for tool in TOOLS)
