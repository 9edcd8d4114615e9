"""Run the collab service: `python -m services.collab` (configured by environment)."""

import asyncio

from services.collab.bootstrap import build


async def main() -> None:
    service = await build()
    await service.host.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
