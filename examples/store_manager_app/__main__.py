"""`python -m examples.store_manager_app --store SZ02 ...`: run the app until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from pathlib import Path

from examples.store_manager_app.app import Credentials, StoreManagerApp
from examples.store_manager_app.decisions import POLICIES


def parser() -> argparse.ArgumentParser:
    env = os.environ.get
    p = argparse.ArgumentParser(
        prog="python -m examples.store_manager_app",
        description="Follow one store's approval requests and warnings; answer approvals.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--store", required=True, help="the store code, e.g. SZ02")
    p.add_argument(
        "--partner",
        default=env("STOREMESH_PARTNER", "sz02-manager-app"),
        help="partner name of the grant in partners.yaml (also the inbox prefix)",
    )
    p.add_argument(
        "--seed-file",
        default=env("STOREMESH_NKEY_SEED_FILE", str(Path.home() / ".storemesh" / "seed.nk")),
        help="the partner's NKey seed (SU...), never sent anywhere",
    )
    p.add_argument(
        "--token-file",
        default=env("STOREMESH_TOKEN_FILE", ""),
        help="the manager's bearer token (python -m kernel.auth mint --role manager ...); "
        "or set STOREMESH_TOKEN",
    )
    p.add_argument("--nats-url", default=env("STOREMESH_NATS_URL", "nats://127.0.0.1:4222"))
    p.add_argument("--collab-address", default=env("STOREMESH_COLLAB_ADDRESS", "127.0.0.1:50054"))
    p.add_argument("--collab-ca-file", default="", help="CA certificate (PEM) for TLS to collab")
    p.add_argument("--policy", choices=sorted(POLICIES), default="ask")
    p.add_argument("--approvals-consumer", default="", help="default: <partner>-approvals")
    p.add_argument("--warnings-consumer", default="", help="default: <partner>-warnings")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    token = (
        Path(args.token_file).read_text().strip()
        if args.token_file
        else os.environ.get("STOREMESH_TOKEN", "")
    )
    if not token:
        print("a manager token is needed: --token-file or STOREMESH_TOKEN", file=sys.stderr)
        return 2
    app = StoreManagerApp(
        Credentials(
            nats_url=args.nats_url,
            nkey_seed=Path(args.seed_file).expanduser().read_text().strip(),
            partner=args.partner,
            collab_address=args.collab_address,
            token=token,
            collab_ca=Path(args.collab_ca_file).read_bytes() if args.collab_ca_file else b"",
        ),
        args.store,
        POLICIES[args.policy](),
        approvals_consumer=args.approvals_consumer,
        warnings_consumer=args.warnings_consumer,
    )
    asyncio.run(_run_until_signalled(app))
    return 0


async def _run_until_signalled(app: StoreManagerApp) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await app.run(stop)


if __name__ == "__main__":
    sys.exit(main())
