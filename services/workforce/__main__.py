"""Run the workforce service: `python -m services.workforce` (configured by environment)."""

import asyncio

from services.workforce.bootstrap import build


async def main() -> None:
    service = await build()
    await service.host.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
