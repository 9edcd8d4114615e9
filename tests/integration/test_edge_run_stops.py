"""`make run` stops every process it started (NATS and each service) when it is told to,
by SIGINT or SIGTERM, sent to the python runner or to make itself."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from services.__main__ import available_services

REPO = Path(__file__).resolve().parents[2]
START_SECONDS = 90.0
STOP_SECONDS = 45.0
# NATS goes on the port just below the first service's, shifted with them.
NATS_BESIDE = 50050


def children_of() -> dict[int, list[int]]:
    """Every process's children, from /proc (Linux)."""
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(parent, []).append(int(entry.name))
    return tree


def descendants(pid: int) -> set[int]:
    tree, found, todo = children_of(), set(), [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_offset() -> int:
    """A shift of the services' ports onto free ones below the kernel's ephemeral range
    (32768 on), where no outgoing connection can hold them, so a developer's own `make run`
    and other tests are left alone."""
    ports = [NATS_BESIDE, *available_services().values()]
    rng = random.Random()
    for _ in range(50):
        offset = -rng.randrange(18_000, 40_000)
        if all(bindable(port + offset) for port in ports):
            return offset
    raise AssertionError("no free ports for the services")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.timeout(240)
@pytest.mark.parametrize(
    ("via_make", "signum"),
    [
        (False, signal.SIGTERM),
        (False, -signal.SIGINT),
        (True, signal.SIGTERM),
        (True, signal.SIGINT),
    ],
    # A negative signal goes to the runner's whole process group, as Ctrl-C in a terminal.
    ids=["SIGTERM-python", "Ctrl-C-python", "SIGTERM-make", "SIGINT-make"],
)
def test_stopping_make_run_stops_nats_and_every_service(
    via_make: bool, signum: int, tmp_path: Path
) -> None:
    offset = free_offset()
    nats_port = NATS_BESIDE + offset
    env = {
        **os.environ,
        "PYTHONPATH": f"{REPO}:{REPO / 'gen'}",
        "STOREMESH_VAR": str(tmp_path / "var"),
        "STOREMESH_RUN_NATS_PORT": str(nats_port),
        "STOREMESH_RUN_PORT_OFFSET": str(offset),
    }
    command = ["make", "-s", "run"] if via_make else [sys.executable, "-m", "services"]
    runner = subprocess.Popen(
        command,
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # a process group of its own, as a terminal's job
    )
    started: set[int] = set()
    try:
        ports = [nats_port, *(port + offset for port in available_services().values())]
        deadline = time.monotonic() + START_SECONDS
        while not all(listening(port) for port in ports):
            assert runner.poll() is None, runner.stderr.read().decode() if runner.stderr else ""
            assert time.monotonic() < deadline, "make run did not start in time"
            time.sleep(0.2)
        started = descendants(runner.pid)
        # nats-server and one process per service, plus the python runner under make.
        assert len(started) >= len(ports) + (1 if via_make else 0)

        if signum < 0:
            os.killpg(runner.pid, -signum)
        else:
            runner.send_signal(signum)
        runner.wait(STOP_SECONDS)
        deadline = time.monotonic() + STOP_SECONDS
        while any(running(pid) for pid in started) and time.monotonic() < deadline:
            time.sleep(0.2)

        assert [pid for pid in started if running(pid)] == []
        assert not any(listening(port) for port in ports)
        # The services stopped before NATS did: none of them saw it go away.
        logs = (tmp_path / "var" / "logs").glob("*.log")
        lost = [
            line
            for log in logs
            for line in log.read_text().splitlines()
            if '"nats.disconnected"' in line and '"warning"' in line
        ]
        assert lost == []
    finally:
        for pid in [runner.pid, *started]:
            if running(pid):
                os.kill(pid, signal.SIGKILL)
        runner.wait(10)
