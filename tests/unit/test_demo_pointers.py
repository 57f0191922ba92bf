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


def test_a_demo_given_a_key_store_of_its_own_says_to_make_the_office_key_there() -> None:
    # `make run-two`'s districts each keep their own store: a key made where `popflow keys` looks by itself
    # (this checkout's) was refused by the district the demo ran against
    said = where_to_watch("http://127.0.0.1:8103", "http://127.0.0.1:8104", "440106", own_store=True)
    assert "popflow keys create --scope street:<code> with this demo's POPFLOW_KEYS_DATABASE_URL" in said
    assert "POPFLOW_KEYS_DATABASE_URL" not in where_to_watch("http://a", "http://b", "440111")
