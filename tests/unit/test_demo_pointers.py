"""After `popflow demo`, where to look: the street office's inbox page, not notification's API document.

A newcomer was sent to http://127.0.0.1:8003/docs for the inboxes; the page a street office reads is /office,
and it takes an office key, which the demo's own (revoked at its end) no longer are.
"""

from __future__ import annotations

from services.cli.demo import where_to_watch


def test_the_demo_points_at_the_dashboard_and_the_office_page_and_the_key_each_takes() -> None:
    said = where_to_watch("http://127.0.0.1:8003", "http://127.0.0.1:8004", "440111")
    assert "http://127.0.0.1:8004/dashboard?district=440111" in said
    assert "http://127.0.0.1:8003/office" in said
    assert "/docs" not in said
    assert "popflow keys create --scope street:" in said
