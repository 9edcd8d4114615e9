"""Analytics' own facts as they stood at the end of an as-of day: the operating report and
the targets in force then. A `cutoff` (`KpiQueries.cutoff`: the start of the business day
after `as_of`, None for today or later) picks, of what was recorded before it, the latest
by position; None reads what is in force now (the `in_force` flag, the `analytics_targets`
rows), the fast path every query for today takes."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Date,
    FromClause,
    Integer,
    Select,
    and_,
    bindparam,
    exists,
    select,
    union_all,
)

from kernel.db import UtcDateTime
from services.analytics.domain.periods import Period
from services.analytics.read_model import reports, target_history, targets

MONTH_KIND = bindparam("month_kind", type_=Integer)
MONTH_START = bindparam("month_start", type_=Date)
CUTOFF = bindparam("cutoff", type_=UtcDateTime(timezone=True))

# `month_reports(True)`'s condition on `analytics_reports AS a` for text SQL (:cutoff).
REPORTS_BEFORE_CUTOFF = """recorded_at < :cutoff AND NOT EXISTS (
    SELECT 1 FROM analytics_reports AS later
    WHERE later.store_id = a.store_id AND later.period_kind = a.period_kind
      AND later.period_start = a.period_start AND later.recorded_at < :cutoff
      AND later.position > a.position)"""


@functools.lru_cache(maxsize=2)
def month_reports(past: bool) -> Select[Any]:
    """(store, figures, report id) of the reports in force for the period (bind parameters
    month_kind, month_start). `past`: as they stood before `cutoff`: of the period's
    reports recorded by then, the latest recorded (by position); otherwise `in_force`."""
    r = reports.c
    query = select(r.store_id, r.figures, r.report_id).where(
        r.period_kind == MONTH_KIND, r.period_start == MONTH_START
    )
    if not past:
        return query.where(r.in_force.is_(True))
    n = reports.alias("later").c
    newer = exists().where(
        n.store_id == r.store_id,
        n.period_kind == r.period_kind,
        n.period_start == r.period_start,
        n.recorded_at < CUTOFF,
        n.position > r.position,
    )
    return query.where(r.recorded_at < CUTOFF, ~newer)


def month_params(month: Period, cutoff: datetime | None) -> dict[str, Any]:
    """The bind parameters of `month_reports`."""
    params: dict[str, Any] = {"month_kind": int(month.kind), "month_start": month.start}
    if cutoff is not None:
        params["cutoff"] = cutoff
    return params


@functools.lru_cache(maxsize=2)
def targets_in_force(past: bool) -> FromClause:
    """The targets (store_id, indicator, period_kind, period_start, exact): those in force
    now, or (`past`) each one's last value set before `cutoff`. A target last set before
    `cutoff` had then the value it has now; only those set again since are looked up in
    the history (an anti-join over the whole history cost three times the read of the
    targets in force, for 2,000 stores)."""
    if not past:
        return targets
    t, h = targets.c, target_history.c
    keys = ("store_id", "indicator", "period_kind", "period_start")
    unchanged = select(*(t[k] for k in keys), t.exact).where(t.set_at < CUTOFF)
    changed = targets.alias("changed").c
    n = target_history.alias("later").c
    newer = exists().where(
        *(n[k] == h[k] for k in keys), n.set_at < CUTOFF, n.position > h.position
    )
    before = (
        select(*(h[k] for k in keys), h.exact)
        .join_from(
            target_history, changed.store_id.table, and_(*(changed[k] == h[k] for k in keys))
        )
        .where(changed.set_at >= CUTOFF, h.set_at < CUTOFF, ~newer)
    )
    return union_all(unchanged, before).subquery("targets_then")
