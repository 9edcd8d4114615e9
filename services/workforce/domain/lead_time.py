"""The lead-time policy of SOP 2: planned support is booked at least 72 hours ahead."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from kernel.errors import RuleViolated
from services.workforce.domain import reasons

PLANNED_LEAD_TIME = timedelta(hours=72)
# A caller's clock may run this far ahead of workforce's: a request time up to it is "now".
CLOCK_SKEW = timedelta(minutes=5)


def _hours(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 3600:g}"


@dataclass(frozen=True)
class LeadTimePolicy:
    """Planned support starts at least `minimum` after it is requested; urgent support may be
    shorter but never starts in the past."""

    minimum: timedelta = PLANNED_LEAD_TIME

    def refusal(
        self,
        *,
        at: datetime,
        starts_at: datetime,
        urgent: bool,
        subject: str,
        requested_at: datetime | None = None,
    ) -> RuleViolated | None:
        """`requested_at`: when the host store asked, if before `at` (a technician held after
        the first lender declined): the lead counts from it. No support starts in the past."""
        if starts_at < at:
            return RuleViolated(
                reason=reasons.SUPPORT_STARTS_IN_PAST,
                message=f"support cannot start at {starts_at.isoformat()}: it is already "
                f"{at.isoformat()}",
                subject=subject,
                metadata={"starts_at": starts_at.isoformat(), "requested_at": at.isoformat()},
            )
        asked = at if requested_at is None else min(requested_at, at)
        lead = starts_at - asked
        if not urgent and lead < self.minimum:
            return RuleViolated(
                reason=reasons.LEAD_TIME_TOO_SHORT,
                message=f"planned support is booked at least {_hours(self.minimum)} h ahead; "
                f"this one starts in {_hours(lead)} h: mark it urgent or start it later",
                subject=subject,
                metadata={
                    "minimum_lead_hours": _hours(self.minimum),
                    "lead_hours": _hours(lead),
                    "earliest_planned_start": (asked + self.minimum).isoformat(),
                },
            )
        return None


# SOP 2 step 3: a support is confirmed one day ahead, so a planned hold lasts until then.
CONFIRM_AHEAD = timedelta(days=1)


def default_hold_expiry(starts_at: datetime, urgent: bool, now: datetime) -> datetime:
    """Planned support is held until one day before it starts; urgent support until it starts.

    A support that could not be planned anyway (too soon, or past) keeps a valid expiry so
    that the lead-time rule, not this default, explains the refusal.
    """
    if not urgent and starts_at - CONFIRM_AHEAD > now:
        return starts_at - CONFIRM_AHEAD
    if starts_at > now:
        return starts_at
    return now + timedelta(minutes=1)
