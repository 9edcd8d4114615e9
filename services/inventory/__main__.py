"""Run the inventory service: `python -m services.inventory` (configured by environment)."""

import asyncio

from services.inventory.bootstrap import build


async def main() -> None:
    service = await build()
    await service.host.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
