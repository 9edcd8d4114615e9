"""How often the backlog gauges are sampled (kernel.gauges): the metrics' export interval
(OTEL_METRIC_EXPORT_INTERVAL, ms), at most 15 s; anything that is not a positive number of
ms counts as the OpenTelemetry SDK's default of 60 s."""

from __future__ import annotations

import pytest

from kernel.config import Settings, sampling_interval


@pytest.mark.parametrize(
    ("exported", "seconds"),
    [("", 15.0), ("300", 0.3), ("5000", 5.0), ("60000", 15.0), ("10", 0.1)]
    + [(bad, 15.0) for bad in ("nan", "inf", "-1", "0", "soon")],
)
def test_the_sampling_interval_follows_the_export_interval(exported: str, seconds: float) -> None:
    assert sampling_interval(exported) == seconds


def test_settings_take_it_from_the_sdks_own_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_METRIC_EXPORT_INTERVAL", "2500")
    assert Settings.from_env("inventory", 50051).gauge_interval_seconds == 2.5
    monkeypatch.delenv("OTEL_METRIC_EXPORT_INTERVAL")
    assert Settings.from_env("inventory", 50051).gauge_interval_seconds == 15.0
