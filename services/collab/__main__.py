"""Run the collab service: `python -m services.collab` (configured by environment)."""

import sys

from kernel.config import Settings
from kernel.workers import serve
from services.collab.bootstrap import PORT, build


async def main() -> None:
    service = await build()
    await service.host.serve_forever()


if __name__ == "__main__":
    # STOREMESH_GRPC_WORKERS > 1: that many processes of this service on one port.
    sys.exit(serve("services.collab", Settings.from_env("collab", PORT), main))
