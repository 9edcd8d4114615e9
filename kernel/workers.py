"""Several worker processes of one service on one port, started and stopped together.

One Python process runs its event loop on one core; a command costs milliseconds of CPU,
so a pod with two cores serves about twice as much with two workers. Each worker is a
full replica (its own database pool, NATS connection, relay, timers and consumers), which
replicas already are safe to be; the kernel shares out incoming connections among the
workers' listening sockets, all bound to the same address with SO_REUSEPORT (gRPC core
sets it on Linux by default: `grpc.so_reuseport`).

Workers are separate interpreters started with `python -m <module>`, not forks: gRPC's
core does not survive a fork. The launcher stays small: on SIGTERM or SIGINT it passes
SIGTERM on (each worker stops gracefully), and when one worker dies on its own it stops
the others and exits non-zero, so the orchestrator restarts the pod as a whole.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from types import FrameType
from typing import Any

import structlog

from kernel import event_loop
from kernel.config import Settings
from kernel.telemetry import configure_logging

log = structlog.get_logger("storemesh.kernel.workers")

# Set in each worker's environment: its number, and a sign that it must not launch again.
WORKER_INDEX = "STOREMESH_WORKER_INDEX"
POLL_SECONDS = 0.2


def serve(
    module: str,
    settings: Settings,
    main: Callable[[], Coroutine[Any, Any, None]],
) -> int:
    """The entry point of `python -m <module>`: one process on the configured event loop
    (Settings.event_loop), or a launcher of N workers, each of which comes back here."""
    if settings.grpc_workers <= 1 or WORKER_INDEX in os.environ:
        event_loop.run(main(), settings.event_loop)
        return 0
    configure_logging(f"{settings.service}-workers", settings.log_level)
    port = settings.grpc_address.rpartition(":")[2]
    if port in ("", "0"):
        raise ValueError("several workers need a fixed port in STOREMESH_GRPC_ADDRESS")
    return WorkerGroup(module, settings.grpc_workers, settings.shutdown_grace_seconds).run()


class WorkerGroup:
    def __init__(self, module: str, workers: int, grace_seconds: float) -> None:
        self.module = module
        self.workers = workers
        # Each worker lets in-flight calls finish within its grace, then stops its loops.
        self.stop_timeout = grace_seconds + 15.0
        self.processes: list[subprocess.Popen[bytes]] = []
        self._stopping = False

    def start(self) -> None:
        for index in range(self.workers):
            env = {**os.environ, WORKER_INDEX: str(index)}
            self.processes.append(subprocess.Popen([sys.executable, "-m", self.module], env=env))
        log.info("workers.started", module=self.module, pids=[p.pid for p in self.processes])

    def run(self) -> int:
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)
        }
        try:
            self.start()
            died = None
            while not self._stopping and died is None:
                died = next((p for p in self.processes if p.poll() is not None), None)
                if died is None:
                    time.sleep(POLL_SECONDS)
            if died is not None:
                log.error("workers.worker_died", pid=died.pid, returncode=died.returncode)
            codes = self.stop()
            return 1 if died is not None or any(codes) else 0
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._stopping = True

    def stop(self) -> list[int]:
        """SIGTERM to every worker still running; SIGKILL to any that outstays the timeout."""
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        for process in self.processes:
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                log.error("workers.killed", pid=process.pid)
                process.kill()
                process.wait()
        codes = [process.returncode for process in self.processes]
        log.info("workers.stopped", module=self.module, returncodes=codes)
        return codes
