"""Why analytics refuses a command (ErrorInfo.reason): one name each, for clients to switch on.

Malformed values (negative money, an indicator code not in the library, a period that is
not a calendar period) are INVALID_ARGUMENT naming the field; these are FAILED_PRECONDITION.
"""

from __future__ import annotations

PERIOD_IN_THE_FUTURE = "PERIOD_IN_THE_FUTURE"
UNKNOWN_STORE = "UNKNOWN_STORE"
REPORT_ALREADY_RECORDED = "REPORT_ALREADY_RECORDED"
REPORT_NOT_IN_FORCE = "REPORT_NOT_IN_FORCE"
REPORT_ID_REUSED = "REPORT_ID_REUSED"
INDICATOR_NOT_ADDITIVE = "INDICATOR_NOT_ADDITIVE"
DATE_IN_THE_FUTURE = "DATE_IN_THE_FUTURE"
NOTHING_TO_DIAGNOSE = "NOTHING_TO_DIAGNOSE"
DATE_IN_THE_PAST = "DATE_IN_THE_PAST"
