"""FTP batch files: a batch opens only whole, untouched, signed by its sender and sealed for its recipient.

A line of it that is not a message is refused alone, by its number."""

from __future__ import annotations

import functools
import json

import pytest

from services.notification.domain import exchange_crypto as crypto
from services.notification.domain.exchange_batch import (
    MAX_FILE_BYTES,
    MAX_LINES,
    SetAside,
    build_batch,
    check_size,
    lines_counted,
    lines_in,
    open_batch,
    read_manifest,
    refusals_said,
    refused_lines,
    refused_runs,
    said_whole,
    signed_part,
)

BAIYUN, TIANHE = crypto.new_key_pairs(), crypto.new_key_pairs()
LINE = b'{"message_id":"m-1","type":"notice","sender":"440111","sealed":"x"}'


def _batch(lines: list[bytes] | None = None) -> tuple[bytes, bytes]:
    batch = build_batch(
        batch_id="440111-440106-1",
        sender="440111",
        recipient="440106",
        lines=lines or [LINE, LINE.replace(b"m-1", b"m-2")],
        seal_key=TIANHE["seal_key"],
        timestamp="1800000000",
        sign=functools.partial(crypto.sign_ed25519, BAIYUN["signing_key"]),
    )
    return batch.manifest, batch.file


def test_a_whole_batch_opens_for_its_recipient_and_its_manifest_signature_verifies() -> None:
    raw, file = _batch()
    manifest = read_manifest(raw)
    assert manifest["count"] == 2
    assert crypto.verify_signature(
        verify_key=BAIYUN["verify_key"],
        secret=None,
        msg_id="440111-440106-1",
        timestamp="1800000000",
        body=signed_part(manifest),
        received=str(manifest["signature"]),
        now_s=1800000000,
    )
    opened = open_batch(manifest, file, TIANHE["sealing_key"])
    assert [(n, m.message_id) for n, m in opened.messages] == [(1, "m-1"), (2, "m-2")]
    assert opened.malformed == []
    assert b"m-1" not in file  # the platform sees no ids either


def test_a_truncated_or_altered_file_is_set_aside() -> None:
    raw, file = _batch()
    manifest = read_manifest(raw)
    with pytest.raises(SetAside, match="checksum"):
        open_batch(manifest, file[:-10], TIANHE["sealing_key"])
    other = b"B" if file[5:6] == b"A" else b"A"  # the file is random: its sixth byte may already be an A
    with pytest.raises(SetAside, match="checksum"):
        open_batch(manifest, file[:5] + other + file[6:], TIANHE["sealing_key"])


def test_a_batch_for_someone_else_or_an_unsigned_manifest_is_set_aside() -> None:
    raw, file = _batch()
    with pytest.raises(SetAside, match="sealing key"):
        open_batch(read_manifest(raw), file, BAIYUN["sealing_key"])
    unsigned = json.loads(raw)
    del unsigned["signature"]
    with pytest.raises(SetAside, match="unsigned"):
        read_manifest(json.dumps(unsigned).encode())
    with pytest.raises(SetAside, match="not JSON"):
        read_manifest(raw[: len(raw) // 2])


def test_a_manifest_whose_count_was_changed_no_longer_verifies() -> None:
    raw, _ = _batch()
    manifest = read_manifest(raw)
    manifest["count"] = 1
    assert not crypto.verify_signature(
        verify_key=BAIYUN["verify_key"],
        secret=None,
        msg_id="440111-440106-1",
        timestamp="1800000000",
        body=signed_part(manifest),
        received=str(manifest["signature"]),
        now_s=1800000000,
    )


def test_a_line_that_is_no_message_is_refused_alone_by_its_number_and_the_others_open() -> None:
    newer = LINE.replace(b'"type":"notice"', b'"type":"census-v2"')  # a kind this deployment does not know
    lines = [LINE, b'{"message_id":"m-2"', newer, LINE.replace(b"m-1", b"m-4")]
    raw, file = _batch(lines)
    opened = open_batch(read_manifest(raw), file, TIANHE["sealing_key"])
    assert [(n, m.message_id) for n, m in opened.messages] == [(1, "m-1"), (4, "m-4")]
    assert [n for n, _ in opened.malformed] == [2, 3]
    assert all(why == "malformed" for _, why in opened.malformed)


def test_a_batch_none_of_whose_lines_reads_or_with_another_senders_message_is_set_aside_whole() -> None:
    raw, file = _batch([b"not json", b'{"message_id":"m-2"}'])
    with pytest.raises(SetAside, match="no message of the batch reads"):
        open_batch(read_manifest(raw), file, TIANHE["sealing_key"])
    raw, file = _batch([LINE, LINE.replace(b'"sender":"440111"', b'"sender":"440104"'), b"not json"])
    with pytest.raises(SetAside, match="another sender"):
        open_batch(read_manifest(raw), file, TIANHE["sealing_key"])


def test_refused_lines_are_said_by_reason_in_ranges_as_many_as_fit_then_how_many_more() -> None:
    refused = [(17, "malformed"), (3, "refused (409)"), (4, "malformed"), (5, "malformed"), (6, "malformed")]
    assert refusals_said(refused) == "line 3: refused (409); lines 4-6, 17: malformed"
    whole_tail = [(n, "malformed") for n in range(2, 501)]  # a newer format from line 2 on: one range
    assert refusals_said(whole_tail) == "lines 2-500: malformed"
    varied = [(n, f"refused ({400 + n})") for n in range(1, 101)]  # a reason for each line: not all fit
    said = refusals_said(varied)
    assert len(said) <= 300
    assert said.startswith("line 1: refused (401); line 2: refused (402); ")
    assert said.endswith(f"; and {100 - said.count('line ')} more lines")
    assert refusals_said(varied, limit=20) == "100 lines refused"


def test_the_sender_reads_back_which_lines_were_refused_and_nothing_from_other_words() -> None:
    refused = [(3, "refused (409)"), (4, "malformed"), (5, "malformed"), (17, "malformed")]
    assert refused_lines(refusals_said(refused), lines=20) == dict(refused)
    tail = refusals_said([(n, "malformed") for n in range(2, 501)])
    assert refused_lines(tail, lines=500) == dict.fromkeys(range(2, 501), "malformed")
    varied = [(n, f"refused ({400 + n})") for n in range(1, 101)]
    named = refused_lines(refusals_said(varied), lines=100)
    assert list(named) == list(range(1, len(named) + 1))  # the lines said; not those cut off as "and N more"
    assert 0 < len(named) < 100
    # only lines the batch has: a range past its end, or a line 0, names nothing more
    assert refused_lines("lines 0-3, 9-99999999: malformed", lines=10) == dict.fromkeys((1, 2, 3, 9, 10), "malformed")
    assert refused_lines("the partner's own words; line x: no; lines 4-: no", lines=10) == {}
    assert refused_lines(None, lines=10) == {}


def test_every_refused_line_is_kept_by_reason_however_many_the_words_cut_off() -> None:
    scattered = [(n, "malformed" if n % 3 else "refused (409)") for n in range(2, 2001, 2)]
    runs = refused_runs(scattered)
    assert runs["refused (409)"].startswith("6, 12, 18, ")
    assert runs["malformed"].startswith("2, 4, 8, 10, ")
    assert lines_counted(runs) == len(scattered) == 1000
    assert lines_in(runs.items(), lines=2000) == dict(scattered)
    assert refused_runs([(4, "malformed"), (5, "malformed"), (6, "malformed"), (9, "malformed")]) == {
        "malformed": "4-6, 9"
    }


def test_the_words_go_alone_when_they_name_every_line_and_with_every_line_when_they_cannot() -> None:
    few = [(3, "refused (409)"), (4, "malformed"), (5, "malformed")]
    assert said_whole(few) == ("line 3: refused (409); lines 4-5: malformed", None)
    scattered = [(n, "malformed") for n in range(2, 401, 2)]  # 200 lines, none beside another: too long for 300
    said, whole = said_whole(scattered)
    assert len(said) <= 300
    assert len(refused_lines(said, lines=400)) < 200
    assert whole == {"malformed": ", ".join(str(n) for n in range(2, 401, 2))}
    varied = [(n, f"refused ({400 + n})") for n in range(1, 101)]  # words cut off as "and N more lines"
    said, whole = said_whole(varied)
    assert "more lines" in said
    assert whole is not None
    assert lines_in(whole.items(), lines=100) == dict(varied)


@pytest.mark.parametrize(
    "runs",
    [
        {"malformed": "1-5", "refused (409)": "3-7"},  # line 3 twice
        {"malformed": "2, 2"},
        {"malformed": "0"},
        {"malformed": "9-3"},
        {"malformed": f"{MAX_LINES + 1}"},
    ],
)
def test_runs_that_name_a_line_twice_or_none_a_batch_has_are_refused(runs: dict[str, str]) -> None:
    with pytest.raises(ValueError, match=r"named twice|not rising"):
        lines_counted(runs)


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("count", 0, "count is not a number of messages"),
        ("count", -1, "count is not a number of messages"),
        ("count", MAX_LINES + 1, "count is not a number of messages"),
        ("count", "2", "count is not a number of messages"),
        ("count", True, "count is not a number of messages"),
        ("count", 1.5, "count is not a number of messages"),
        ("bytes", MAX_FILE_BYTES + 1, "bytes is not a size"),
        ("bytes", "12", "bytes is not a size"),
    ],
)
def test_a_batch_larger_than_a_reader_takes_is_set_aside_by_its_manifest(
    field: str, value: object, reason: str
) -> None:
    raw, _ = _batch()
    check_size(read_manifest(raw))
    with pytest.raises(SetAside, match=reason):
        check_size(read_manifest(json.dumps({**json.loads(raw), field: value}).encode()))
