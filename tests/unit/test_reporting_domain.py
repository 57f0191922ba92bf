"""Reporting's pure decisions: facts, figures, target population, spot checks, sign-off, sheets."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.reporting.domain.campaign import Campaign, Phase, TargetPopulation, week_of_day
from services.reporting.domain.facts import record_fact
from services.reporting.domain.figures import delay_summary, entry_delay, percentile, unanswered_age
from services.reporting.domain.quality import missing_fields
from services.reporting.domain.signoff import Decision, Signoff, SignoffRefused, as_it_stood, on_time, review, submit
from services.reporting.domain.spotchecks import discrepancies, draw_sample
from services.reporting.domain.weeks import WeekCalendar, in_report_years
from services.reporting.entrypoints.dashboard.chart import trend_svg
from shared.events import RecordSubmitted
from tests.support import scripted_week as week

SHANGHAI = ZoneInfo("Asia/Shanghai")
CALENDAR = WeekCalendar(SHANGHAI)


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [([], 50, None), ([5], 90, 5), ([1, 2, 3, 4], 50, 2), ([1, 2, 3, 4, 5], 50, 3), (list(range(1, 11)), 90, 9)],
)
def test_nearest_rank_percentile(values: list[float], q: float, expected: float | None) -> None:
    assert percentile(values, q) == expected


def test_entry_delay_in_hours() -> None:
    summary = delay_summary([30, 3600, 7200, 7200, 21600])
    assert entry_delay(summary) == {"count": 5, "median_hours": 2.0, "p90_hours": 6.0}
    assert entry_delay(delay_summary([])) == {"count": 0, "median_hours": None, "p90_hours": None}


@pytest.mark.parametrize(
    ("issued", "age"),
    [
        ("2027-02-25T10:00:01", "under_3_days"),
        ("2027-02-23T10:00:00", "3_to_7_days"),
        ("2027-02-19T10:00:00", "over_7_days"),
    ],
)
def test_unanswered_age(issued: str, age: str) -> None:
    as_of = datetime.fromisoformat("2027-02-26T10:00:00+08:00")
    assert unanswered_age(datetime.fromisoformat(issued + "+08:00"), as_of) == age


def test_record_fact_keeps_no_personal_data_and_reads_optional_fields() -> None:
    fact = record_fact(RecordSubmitted.model_validate(week.RECORDS[0]), CALENDAR, b"secret")
    assert fact.week == "2027-W08"
    assert fact.received_at.tzinfo is UTC
    assert fact.sex == "female"
    assert fact.birth_date == date(1990, 3, 7)
    assert (fact.cert_result, fact.cert_valid_until) == ("valid", date(2027, 3, 10))
    assert fact.arrival_date == date(2027, 1, 15)
    assert fact.missing_mask == 0
    assert fact.person_key is not None
    assert week.RECORDS[0]["record"]["person"]["id_number"] not in repr(fact)
    assert "测试" not in repr(fact)


def test_record_fact_without_optional_fields() -> None:
    fact = record_fact(RecordSubmitted.model_validate(week.RECORDS[3]), CALENDAR, b"secret")
    assert fact.cert_result is None
    assert missing_fields(fact.missing_mask) == [
        "phone",
        "community",
        "arrival_date",
        "marital_status",
        "certificate",
        "employer",
    ]


@pytest.mark.parametrize("name", ["0001-W01", "1899-W52", "9999-W52", "2026-W54", "2026-W00", "2026-8"])
def test_a_week_outside_the_calendar_or_the_census_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="week"):
        CALENDAR.bounds(name)


def test_a_day_is_in_the_report_years_or_refused() -> None:
    assert in_report_years(date(1900, 1, 1)) == date(1900, 1, 1)
    assert in_report_years(date(9998, 12, 31)) == date(9998, 12, 31)
    for day in (date(1899, 12, 31), date(9999, 1, 1), date(1, 1, 1)):
        with pytest.raises(ValueError, match="outside the years"):
            in_report_years(day)


def test_the_first_and_last_report_years_have_their_trends() -> None:
    assert CALENDAR.weeks_up_to("1900-W10", 8)[-1] == "1900-W10"
    # the first weeks have fewer before them (the dashboard's page of 1900-W01 was a 422)
    assert CALENDAR.weeks_up_to("1900-W02", 8) == ["1900-W01", "1900-W02"]
    assert CALENDAR.bounds("9998-W52").ends_at.year == 9998


def test_cut_off_is_a_setting() -> None:
    monday_noon = WeekCalendar(SHANGHAI, weekday=0, cut_off=time(12))
    assert monday_noon.week_of(datetime.fromisoformat("2027-02-22T11:59:00+08:00")) == "2027-W08"
    assert monday_noon.week_of(datetime.fromisoformat("2027-02-22T12:00:00+08:00")) == "2027-W09"
    assert monday_noon.bounds("2027-W08").ends_at == datetime(2027, 2, 22, 12, tzinfo=SHANGHAI)
    assert CALENDAR.next_cut_off(datetime.fromisoformat("2027-02-26T10:00:00+08:00")) == datetime(
        2027, 3, 5, 10, tzinfo=SHANGHAI
    )
    assert CALENDAR.weeks_up_to("2027-W02", 3) == ["2026-W53", "2027-W01", "2027-W02"]
    assert week_of_day(date(2027, 2, 19), CALENDAR) == "2027-W08"  # Friday noon: after the cut-off
    assert week_of_day(date(2027, 2, 25), CALENDAR) == "2027-W08"


@pytest.mark.parametrize(
    ("zone", "sunday", "cut_off"),
    [
        ("Europe/London", date(2027, 3, 28), time(1, 30)),  # 01:00 GMT: the clocks skip to 02:00 BST
        ("Europe/London", date(2027, 10, 31), time(1, 30)),  # 02:00 BST: back to 01:00 GMT (01:30 comes twice)
        ("America/New_York", date(2027, 3, 14), time(2, 30)),  # 02:00 EST: skipped to 03:00 EDT
    ],
)
def test_every_moment_lies_in_the_week_it_is_named_for_on_a_day_the_clocks_change(
    zone: str, sunday: date, cut_off: time
) -> None:
    """The zone is a setting: outside China the clocks change, and a cut-off in the small hours may fall in the hour
    skipped or repeated. The name was decided on the wall clock and the bounds on the instant, so half an hour was
    named for a week that had ended (its next cut-off already past: the export wrote that week again and again)."""
    calendar = WeekCalendar(ZoneInfo(zone), weekday=6, cut_off=cut_off)
    moment = datetime.combine(sunday, time(0), tzinfo=ZoneInfo(zone)).astimezone(UTC)
    while moment.astimezone(ZoneInfo(zone)).date() == sunday:
        week = calendar.bounds(calendar.week_of(moment))
        assert week.starts_at <= moment < week.ends_at, moment
        assert calendar.next_cut_off(moment) > moment, moment
        moment += timedelta(minutes=10)


MARRIED_WOMEN_15_49 = TargetPopulation(
    sexes=frozenset({"female"}),
    min_age=15,
    max_age=49,
    marital_statuses=frozenset({"married"}),
    arrived_from=date(2027, 1, 1),
)


@pytest.mark.parametrize(
    ("born", "sex", "status", "arrived", "expected"),
    [
        (date(1990, 3, 7), "female", "married", date(2027, 1, 15), True),
        (date(1990, 3, 7), "male", "married", date(2027, 1, 15), False),
        (date(1990, 3, 7), "female", "unmarried", date(2027, 1, 15), False),
        (date(1990, 3, 7), "female", "married", date(2026, 12, 31), False),
        (date(1990, 3, 7), "female", "married", None, False),  # unknown never matches a criterion
        (date(2012, 2, 1), "female", "married", date(2027, 1, 15), True),  # 15 on the day
        (date(2012, 2, 2), "female", "married", date(2027, 1, 15), False),  # 14
        (date(1977, 2, 2), "female", "married", date(2027, 1, 15), True),  # 49
        (date(1977, 2, 1), "female", "married", date(2027, 1, 15), False),  # 50 on the day
    ],
)
def test_target_population(born: date, sex: str, status: str, arrived: date | None, expected: bool) -> None:
    on = date(2027, 2, 1)
    assert (
        MARRIED_WOMEN_15_49.matches(sex=sex, birth_date=born, marital_status=status, arrival_date=arrived, on=on)
        is expected
    )
    assert TargetPopulation().matches(sex=None, birth_date=None, marital_status=None, arrival_date=None, on=on)


def test_sample_is_reproducible_stratified_and_order_free() -> None:
    candidates = {"440111005": [f"a{i:02d}" for i in range(30)], "440111008": ["b1", "b2"]}
    first = draw_sample(candidates, seed="s", size_per_street=5)
    shuffled = {street: list(reversed(ids)) for street, ids in reversed(candidates.items())}
    assert draw_sample(shuffled, seed="s", size_per_street=5) == first
    assert len(first["440111005"]) == 5
    assert first["440111008"] == ["b1", "b2"]
    assert draw_sample(candidates, seed="other", size_per_street=5) != first


def test_discrepancy_rates_and_flags() -> None:
    rows = discrepancies(
        {"440111005": ["wrong", "correct", None], "440111008": ["correct"], "440111002": [None]}, threshold=0.2
    )
    assert [(r.street, r.checked, r.rate, r.flagged) for r in rows] == [
        ("440111005", 2, 0.5, True),
        ("440111008", 1, 0.0, False),
        ("440111002", 0, None, False),
    ]


def test_signoff_rules() -> None:
    at, opens_at = datetime(2027, 2, 26, 1, tzinfo=UTC), CALENDAR.bounds("2027-W08").starts_at
    with pytest.raises(SignoffRefused, match="not begun"):  # it would hold nothing, and count as on time
        submit(None, street="440111005", week="2027-W08", at=opens_at - timedelta(microseconds=1), opens_at=opens_at)
    assert submit(None, street="440111005", week="2027-W08", at=opens_at, opens_at=opens_at).submitted_at == opens_at
    submitted = submit(None, street="440111005", week="2027-W08", at=at, opens_at=opens_at)
    with pytest.raises(SignoffRefused):
        submit(submitted, street="440111005", week="2027-W08", at=at, opens_at=opens_at)
    with pytest.raises(SignoffRefused):
        review(submitted, decision=Decision.RETURN, comment=" ", at=at)
    returned = review(submitted, decision=Decision.RETURN, comment="核实数不符", at=at)
    later = datetime(2027, 2, 27, tzinfo=UTC)
    again = submit(returned, street="440111005", week="2027-W08", at=later, opens_at=opens_at)
    assert again.first_submitted_at == at  # on time is judged by the first submission
    assert on_time(again, CALENDAR.bounds("2027-W08").ends_at)
    accepted = review(again, decision=Decision.ACCEPT, comment="", at=at)
    with pytest.raises(SignoffRefused):
        review(accepted, decision=Decision.ACCEPT, comment="", at=at)


def test_a_signoff_as_it_stood_at_the_cut_off() -> None:
    """The scheduled export writes the state of the cut-off, however late it runs (scheduled.py)."""
    opens_at, cut_off = CALENDAR.bounds("2027-W08").starts_at, CALENDAR.bounds("2027-W08").ends_at
    before, after = cut_off - timedelta(hours=1), cut_off + timedelta(minutes=30)

    def submitted(at: datetime) -> Signoff:
        return submit(None, street="440111005", week="2027-W08", at=at, opens_at=opens_at)

    assert as_it_stood(None, cut_off) is None
    assert as_it_stood(submitted(after), cut_off) is None  # late: not submitted at the cut-off
    assert as_it_stood(submitted(cut_off), cut_off) == submitted(cut_off)  # on time, as on_time() says
    accepted_before = review(submitted(before), decision=Decision.ACCEPT, comment="", at=before)
    assert as_it_stood(accepted_before, cut_off) == accepted_before
    accepted_after = review(submitted(before), decision=Decision.ACCEPT, comment="", at=after)
    assert as_it_stood(accepted_after, cut_off) == submitted(before)
    returned = review(submitted(before), decision=Decision.RETURN, comment="核实数不符", at=before)
    assert as_it_stood(returned, cut_off) == returned
    again = submit(returned, street="440111005", week="2027-W08", at=after, opens_at=opens_at)
    assert as_it_stood(again, cut_off) == submitted(before)  # the return's time is not kept: shown as submitted


def test_trend_chart_is_plain_svg() -> None:
    svg = trend_svg([("2027-W07", 0), ("2027-W08", 3)], title="新流入 <trend>")
    assert svg.startswith("<svg")
    assert "<script" not in svg
    assert "&lt;trend&gt;" in svg
    assert ">W08</text>" in svg


@pytest.mark.parametrize(
    ("cut_off", "starts_on", "in_week"),
    [
        (time(10), date(2027, 2, 26), True),  # Friday 00:00-10:00 lies in W08
        (time(10), date(2027, 2, 27), False),
        (time(0), date(2027, 2, 26), False),  # W08 ends as Friday begins: a Friday start runs in W09
        (time(0), date(2027, 2, 25), True),
        (time(0), date(2027, 2, 19), True),  # the Friday before: the week's first day
        (time(0), date(2027, 2, 18), False),
    ],
)
def test_a_campaign_runs_in_a_week_one_of_its_days_lies_in(cut_off: time, starts_on: date, in_week: bool) -> None:
    calendar = WeekCalendar(ZoneInfo("Asia/Shanghai"), cut_off=cut_off)
    campaign = Campaign("c", "春季清查", "440111", (Phase("canvass", starts_on, starts_on),), TargetPopulation())
    week = calendar.bounds("2027-W08")
    assert campaign.runs_during(week.starts_at, week.ends_at) is in_week
    after = calendar.bounds("2027-W09")
    assert campaign.runs_during(after.starts_at, after.ends_at) is (starts_on >= date(2027, 2, 26))
