"""workforce's operator command line: its subscriptions' dead letters (kernel/saga/admin.py)."""

import sys

from kernel.saga import admin
from services.workforce.bootstrap import DEFINITION

if __name__ == "__main__":
    sys.exit(admin.main(DEFINITION))
