"""Named reasons collab refuses a call with (FAILED_PRECONDITION) or a transfer ends with."""

from __future__ import annotations

# RequestTransfer: no store holds enough available of the part to give.
NO_SOURCE_AVAILABLE = "NO_SOURCE_AVAILABLE"
# RequestTransfer: the part is unknown to inventory.
PART_UNKNOWN = "PART_UNKNOWN"
# RequestTransfer for revitalisation: the source holds no such stock idle 90 days or more.
NOT_STALE_STOCK = "NOT_STALE_STOCK"
# Approve/Reject/ReportCourierProgress: the transfer is not at a step that takes this answer
# (already answered, expired, or the courier reports out of order).
TRANSFER_NOT_AWAITING = "TRANSFER_NOT_AWAITING"
# RequestTransfer: the same transfer id was requested already.
TRANSFER_ALREADY_REQUESTED = "TRANSFER_ALREADY_REQUESTED"

# Why a transfer ended without a source (NoSourceLeft.reason).
ALL_SOURCES_DROPPED = "ALL_SOURCES_DROPPED"

# Why a source dropped out when it gave no reason of its own.
SOURCE_UNANSWERED = "SOURCE_UNANSWERED"
APPROVAL_EXPIRED = "APPROVAL_EXPIRED"
PICKUP_OVERDUE = "PICKUP_OVERDUE"
SHIPMENT_UNANSWERED = "SHIPMENT_UNANSWERED"
DELIVERY_OVERDUE = "DELIVERY_OVERDUE"
