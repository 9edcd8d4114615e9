"""Run the capacity service: `python -m services.capacity` (configured by environment)."""

import asyncio

from services.capacity.bootstrap import build


async def main() -> None:
    service = await build()
    await service.host.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
