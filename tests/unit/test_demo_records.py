"""Demo records are valid case records, reproducible from their seed, and cover every route."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.cli.demo_records import demo_records
from services.intake.domain.validation import validate_record
from services.routing.domain.routes import decide_route
from shared.directory import load_directory

NOW = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


def test_every_demo_record_passes_intake_validation() -> None:
    directory = load_directory()
    for body in demo_records(300, directory, now=NOW):
        record, problems = validate_record(body, directory, now=NOW)
        assert problems == [], problems
        assert record is not None


def test_same_seed_same_records_and_all_routes() -> None:
    directory = load_directory()
    first, again = demo_records(100, directory, now=NOW), demo_records(100, directory, now=NOW)
    assert first == again
    assert demo_records(100, directory, seed=8, now=NOW) != first
    routes = {
        decide_route(reporting_street=r["reporting_street"], residence_street=r["residence"]["street"]).value
        for r in first
    }
    assert routes == {"same-district", "cross-street", "inter-district"}


def test_residences_in_the_district_mostly_name_a_community_of_their_street() -> None:
    records = demo_records(200, load_directory(), now=NOW)
    named = [r["residence"] for r in records if "community" in r["residence"]]
    assert len(named) > 100
    assert all(r["community"][:9] == r["street"] and r["street"].startswith("440111") for r in named)


def test_the_week_has_every_event_kind_and_every_certificate_result() -> None:
    records = demo_records(200, load_directory(), now=NOW)
    assert {r["event"] for r in records} == {"new_inflow", "verification", "change", "outflow"}
    assert {r["certificate"]["result"] for r in records if "certificate" in r} == {
        "valid",
        "expired",
        "missing",
        "invalid",
    }
    assert all(r["change"] == "certificate" for r in records if r["event"] == "change")


def test_department_lists_are_xlsx_with_one_mistyped_row_each() -> None:
    import io

    from openpyxl import load_workbook

    from services.cli.demo_week import department_lists
    from services.intake.domain.columns import BY_HEADER

    lists = list(department_lists(load_directory(), "440111", 7, None))
    assert [label for label, _, _ in lists] == ["学校", "幼儿园", "派出所"]
    rows = list(load_workbook(io.BytesIO(lists[0][1])).active.iter_rows(values_only=True))
    assert all(header in BY_HEADER for header in rows[0])
    assert len(rows) == 9


def test_records_of_a_week_begun_minutes_ago_fall_in_it() -> None:
    """Run just after the Friday cut-off, `popflow demo` fills the week that has begun, not the one before."""
    since = NOW - timedelta(minutes=2)
    records = demo_records(50, load_directory(), now=NOW, since=since)
    observed = [datetime.fromisoformat(r["observed_at"]) for r in records]
    assert all(since <= moment <= NOW for moment in observed), (min(observed), max(observed))
    earlier = demo_records(50, load_directory(), now=NOW, since=NOW - timedelta(days=2))
    assert all(datetime.fromisoformat(r["observed_at"]) <= NOW - timedelta(minutes=5) for r in earlier)
