"""Named reasons collab refuses a call with (FAILED_PRECONDITION) or a transfer ends with."""

from __future__ import annotations

# RequestTransfer: no store holds enough available of the part to give.
NO_SOURCE_AVAILABLE = "NO_SOURCE_AVAILABLE"
# RequestTransfer: nobody holds the part and inventory's catalogue does not know it.
PART_UNKNOWN = "PART_UNKNOWN"
# RequestTransfer for revitalisation: the source holds no such stock idle 90 days or more.
NOT_STALE_STOCK = "NOT_STALE_STOCK"
# Approve/Reject/ReportCourierProgress: the transfer is not at a step that takes this answer
# (already answered, expired, or the courier reports out of order).
TRANSFER_NOT_AWAITING = "TRANSFER_NOT_AWAITING"

# Why a transfer ended without a source (NoSourceLeft.reason).
ALL_SOURCES_DROPPED = "ALL_SOURCES_DROPPED"

# Why a source dropped out when it gave no reason of its own.
SOURCE_UNANSWERED = "SOURCE_UNANSWERED"
APPROVAL_EXPIRED = "APPROVAL_EXPIRED"
PICKUP_OVERDUE = "PICKUP_OVERDUE"
SHIPMENT_UNANSWERED = "SHIPMENT_UNANSWERED"
DELIVERY_OVERDUE = "DELIVERY_OVERDUE"

# SOP 2, technician support.
# RequestSupport: workforce matched no technician for the need.
NO_TECHNICIAN_AVAILABLE = "NO_TECHNICIAN_AVAILABLE"
# Approve/Reject/ReportSupportProgress: the support is not at a step that takes this.
SUPPORT_NOT_AWAITING = "SUPPORT_NOT_AWAITING"
# ReportSupportProgress COMPLETED with travel and lodging under 50 km (or distance unknown).
TRAVEL_NOT_COVERED = "TRAVEL_NOT_COVERED"
# ReportSupportProgress CHECKED_IN before 4 h ahead of the start or after the end.
CHECK_IN_OUTSIDE_SUPPORT_WINDOW = "CHECK_IN_OUTSIDE_SUPPORT_WINDOW"
# ReportSupportProgress COMPLETED with more hours worked than passed since the check-in.
HOURS_EXCEED_TIME_ON_SITE = "HOURS_EXCEED_TIME_ON_SITE"
# RateSupport: before completion, by a store not party to it, or twice by one store.
SUPPORT_NOT_COMPLETED = "SUPPORT_NOT_COMPLETED"
RATER_NOT_PARTY = "RATER_NOT_PARTY_TO_SUPPORT"
SUPPORT_ALREADY_RATED = "SUPPORT_ALREADY_RATED"
# Why a technician dropped out when nobody gave a reason.
HOLD_UNANSWERED = "HOLD_UNANSWERED"
CONFIRM_UNANSWERED = "CONFIRM_UNANSWERED"
TECHNICIAN_NO_SHOW = "TECHNICIAN_NO_SHOW"
WORK_UNREPORTED = "WORK_UNREPORTED"

# SOP 3, customer diversion.
# RequestDiversion: no nearby store has capacity left today and a free bay.
NO_RECEIVER_AVAILABLE = "NO_RECEIVER_AVAILABLE"
# RequestDiversion: the appointment is not today's (SOP 3 is same day).
DIVERSION_NOT_TODAY = "DIVERSION_NOT_TODAY"
# RequestDiversion: another diversion of the appointment is under way, done or stuck.
DIVERSION_ALREADY_REQUESTED = "DIVERSION_ALREADY_REQUESTED"
# AnswerDiversion: the diversion is not offering a choice now (answered, expired, ended).
DIVERSION_NOT_AWAITING = "DIVERSION_NOT_AWAITING"
# Why a diversion ended without moving the customer.
CUSTOMER_DECLINED = "CUSTOMER_DECLINED"
OFFER_EXPIRED = "OFFER_EXPIRED"
SLOT_UNANSWERED = "SLOT_UNANSWERED"
BOOKING_UNANSWERED = "BOOKING_UNANSWERED"
# RequestSupport: the window starts before now; planned (not urgent) under 72 h ahead.
SUPPORT_STARTS_IN_PAST = "SUPPORT_STARTS_IN_PAST"
LEAD_TIME_TOO_SHORT = "LEAD_TIME_TOO_SHORT"
