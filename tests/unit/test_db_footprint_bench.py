"""bench/db_footprint.py: the WAL summed by database from pg_waldump's lines, and the census it runs."""

from __future__ import annotations

from collections import Counter

import pytest

from bench.db_footprint import WalTotals, answer, census, lsn, office_scope, settled, wal_read
from services.notification.entrypoints.http.notices import Feedback
from shared.auth import parse_scope
from shared.identity import has_valid_check_digit

# pg_waldump --bkp-details: each block reference on a line of its own, after its record's
WALDUMP = """\
first record is after 1D/6535F508, at 1D/6535F520, skipping over 24 bytes
rmgr: Btree       len (rec/tot):    128/   128, tx:     249139, lsn: 1D/6535F520, prev 1D/6535F4D0, desc: \
INSERT_LEAF off 49
\tblkref #0: rel 1663/308620/308814 fork main blk 21
rmgr: Heap        len (rec/tot):     59/  8123, tx:     249139, lsn: 1D/6535F5A0, prev 1D/6535F520, desc: \
INSERT off 3 flags 0x00
\tblkref #0: rel 1663/308620/308800 fork main blk 7 (FPW); hole: offset: 48, length: 128
rmgr: Heap        len (rec/tot):     75/  3941, tx:    1779197, lsn: 1D/65361408, prev 1D/6535F5A0, desc: \
UPDATE off 1 xmax 1779197 flags 0x00 ; new off 81 xmax 0
\tblkref #0: rel 1663/401/402 fork main blk 16 (FPW); hole: offset: 348, length: 2692, \
compression saved: 1634, method: lz4
\tblkref #1: rel 1663/308620/9 fork main blk 1
rmgr: Heap        len (rec/tot):     76/    76, tx:     249140, lsn: 1D/65361560, prev 1D/65361408, desc: \
HOT_UPDATE off 2 xmax 249140
\tblkref #0: rel 1663/401/402 fork main blk 0
rmgr: Transaction len (rec/tot):     34/    34, tx:     249137, lsn: 1D/65363B58, prev 1D/65363AF8, desc: \
COMMIT 2026-12-07 12:57:48.095440 UTC
pg_waldump: error: error in WAL record at 1D/65363B58: invalid record length
"""


def test_each_wal_record_counts_whole_for_the_database_of_its_first_block() -> None:
    read = wal_read(WALDUMP.splitlines())
    assert read.totals == {308620: 128 + 8123, 401: 3941 + 76, None: 34}


def test_full_page_images_as_written_and_as_they_would_be_uncompressed() -> None:
    read = wal_read(WALDUMP.splitlines())
    assert read.images_raw == (8192 - 128) + (8192 - 2692)  # each page less its hole
    assert read.images == (8192 - 128) + (8192 - 2692 - 1634)  # the second compressed
    assert read.image_count == 2


def test_records_from_the_end_on_are_left_out() -> None:
    read = wal_read(WALDUMP.splitlines(), end="1D/65361560")  # the HOT update's own LSN
    assert read.totals == {308620: 128 + 8123, 401: 3941}
    assert read.images_raw == (8192 - 128) + (8192 - 2692)
    assert lsn("1D/65361560") == 0x1D_65361560


def test_a_record_read_before_the_end_was_known_is_left_out_once_it_is() -> None:
    """The follower reads on while the phase's end is taken: a record past it, read before the end was set,
    is not counted when its block comes (nor in the no-relation bucket)."""
    lines = WALDUMP.splitlines()
    hot_update = next(i for i, line in enumerate(lines) if "HOT_UPDATE" in line)
    read = WalTotals()
    for line in lines[: hot_update + 1]:  # up to the HOT update's record line, its block not yet read
        read.add(line)
    read.end = lsn("1D/65361560")  # the HOT update's own LSN, known only now
    for line in lines[hot_update + 1 :]:
        read.add(line)
    read.close()
    assert read.totals == {308620: 128 + 8123, 401: 3941}


def test_nothing_read_is_nothing_counted() -> None:
    read = wal_read(["pg_waldump: error: could not find file", ""])
    assert (read.totals, read.images, read.images_raw) == ({}, 0, 0)


def test_the_two_phases_census_distinct_people_on_every_route() -> None:
    posts, listed = list(census(2500, first_day=0)), list(census(2500, first_day=3))
    numbers = [body["person"]["id_number"] for body in posts + listed]
    assert len(set(numbers)) == 5000
    assert all(has_valid_check_digit(number) for number in numbers)
    stayed = sum(body["residence"]["street"] == body["reporting_street"] for body in posts)
    elsewhere = sum(not body["residence"]["street"].startswith("440111") for body in posts)
    assert abs(stayed - 2500 / 3) < 125  # about a third stay on their street (a few by chance of the spread)
    assert elsewhere == 250  # a tenth live in Tianhe: inter-district


def test_the_offices_answer_as_a_census_would_each_answer_one_the_route_takes() -> None:
    answers = [answer(i) for i in range(1000)]
    results = Counter(a["result"] for a in answers)
    assert results == {"confirmed": 800, "corrected": 100, "not_found": 50, "rejected": 50}
    for body in answers:
        Feedback.model_validate(body)  # what the answer route takes, or it would answer 422


@pytest.mark.parametrize(("recipient", "scope"), [("440111005", "street:440111005"), ("440106", "district:440106")])
def test_each_office_answers_with_a_key_of_its_own_scope(recipient: str, scope: str) -> None:
    assert office_scope(recipient) == scope
    assert parse_scope(office_scope(recipient)).code == recipient  # a scope the key store takes


FULL = {"routing answered": 10, "reporting answered": 10, "routing issued": 30, "inbox": 30, "reporting issued": 30}


@pytest.mark.parametrize(
    ("short", "is_settled"),
    [
        ({}, True),
        ({"routing answered": 9}, False),  # an answer routing has not applied yet
        ({"reporting answered": 9}, False),
        ({"inbox": 29}, False),  # a notice an answer made, not yet in the inbox
        ({"reporting issued": 29}, False),
        ({"routing issued": 31}, False),
    ],
)
def test_the_answers_phase_ends_once_every_answer_is_applied_and_every_notice_arrived(
    short: dict[str, int], is_settled: bool
) -> None:
    assert settled(FULL | short, answered=10) is is_settled
