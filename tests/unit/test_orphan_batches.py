"""Batch files whose manifest never came: which they are, when one is abandoned, whose it says it is, and the time
an FTP platform gives a file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.notification.adapters.ftp_drop import mdtm_time
from services.notification.domain.orphan_batches import abandoned, batch_key, orphans, reason, sender_of

T0 = datetime(2027, 3, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def test_a_batch_file_is_an_orphan_when_its_manifest_is_not_listed() -> None:
    names = ["a.batch", "a.manifest.json", "b.batch", "c.manifest.json", "d.ack.json", "e.xls", "done"]
    assert orphans(names) == {"b.batch"}


def test_an_orphan_is_abandoned_once_older_than_the_setting() -> None:
    assert not abandoned(T0, T0 + DAY, DAY)
    assert abandoned(T0, T0 + DAY + timedelta(seconds=1), DAY)
    assert not abandoned(T0 + timedelta(hours=1), T0, DAY)  # a platform's clock ahead of ours


def test_the_reason_says_how_long_it_waited() -> None:
    assert reason(DAY).startswith("batch file without its manifest for more than 24 h")
    assert "more than 90 s" in reason(timedelta(seconds=90))


@pytest.mark.parametrize(
    ("name", "sender"),
    [
        ("440111-440106-20270301T020000-0123456789ab.batch", "440111"),
        ("110101199003070127-x.batch", None),  # no district code: never quoted
        ("export.batch", None),
    ],
)
def test_the_sender_is_the_district_its_name_begins_with(name: str, sender: str | None) -> None:
    assert sender_of(name) == sender


@pytest.mark.parametrize(
    ("answer", "time"),
    [
        ("213 20270301020304", datetime(2027, 3, 1, 2, 3, 4, tzinfo=UTC)),
        ("213 20270301020304.125", datetime(2027, 3, 1, 2, 3, 4, tzinfo=UTC)),
        ("213 yesterday", None),
        ("550 no such file", None),
    ],
)
def test_the_time_an_mdtm_answer_gives(answer: str, time: datetime | None) -> None:
    assert mdtm_time(answer) == time


def test_a_batch_is_recorded_by_a_keyed_digest_of_its_id_never_as_it_was() -> None:
    """A batch's id is its file's name, the sender's choice: it may hold an identity number."""
    person = "440111199003070127"
    said = batch_key(f"440111-{person}", b"k" * 32)
    assert said == batch_key(f"440111-{person}", b"k" * 32)  # the same batch, the same record
    assert said != batch_key(f"440111-{person}", b"j" * 32)  # keyed: not reversed by trying every id number
    assert said != batch_key("440111-440106-20270301T020000-9f2c", b"k" * 32)
    assert person not in said
    assert len(said) == 64
