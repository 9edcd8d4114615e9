"""The rebuild's progress bar (issue 12: a rebuild from the command line with a progress bar)."""

from __future__ import annotations

from services.analytics.rebuild import progress_bar


def test_the_bar_fills_with_the_share_of_the_stream_replayed() -> None:
    assert progress_bar(0, 200) == "[--------------------]   0%"
    assert progress_bar(70, 200) == "[#######-------------]  35%"
    assert progress_bar(200, 200) == "[####################] 100%"


def test_an_empty_stream_or_one_that_moved_on_is_done() -> None:
    assert progress_bar(0, 0) == "[####################] 100%"
    assert progress_bar(250, 200) == "[####################] 100%"
