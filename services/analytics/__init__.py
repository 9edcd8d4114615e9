"""The analytics service: KPI, warnings, contribution, store comparison, diagnosis, reports."""
