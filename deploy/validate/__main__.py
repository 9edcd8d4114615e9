"""`python -m deploy.validate [OVERLAY ...]`: render and check every overlay, offline."""

import sys

from deploy.validate import main

sys.exit(main())
