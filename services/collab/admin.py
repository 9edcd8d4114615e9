"""collab's operator command line: its sagas and dead letters (kernel/saga/admin.py)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from kernel.saga import admin
from services.collab.bootstrap import DEFINITION


def main(argv: Sequence[str] | None = None, **options: Any) -> int:
    return admin.main(DEFINITION, argv, **options)


if __name__ == "__main__":
    sys.exit(main())
