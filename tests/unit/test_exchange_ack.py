"""FTP acknowledgements: signed by the recipient, free of personal data, settling a batch we sent once."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable

import pytest

from services.notification.adapters.ftp_drop import FileTooLarge
from services.notification.domain import exchange_crypto as crypto
from services.notification.domain.exchange_ack import (
    ACK_SUFFIX,
    Outcome,
    SentBatch,
    build_ack,
    judge,
    read_ack,
    unnameable,
)
from services.notification.domain.exchange_batch import (
    MANIFEST_SUFFIX,
    SetAside,
    build_batch,
    read_manifest,
    said_whole,
)
from tests.support.records import id_number

BAIYUN, TIANHE = crypto.new_key_pairs(), crypto.new_key_pairs()
BATCH_ID = "440111-440106-20270301T020000-0123456789ab"
NOW = 1800000000
LINE = b'{"message_id":"m-1","type":"notice","sender":"440111","sealed":"x"}'


def _manifest() -> dict[str, object]:
    """A batch's manifest (sealing is randomised: each call is another batch file, another checksum)."""
    batch = build_batch(
        batch_id=BATCH_ID,
        sender="440111",
        recipient="440106",
        lines=[LINE],
        seal_key=TIANHE["seal_key"],
        timestamp=str(NOW),
        sign=functools.partial(crypto.sign_ed25519, BAIYUN["signing_key"]),
    )
    return read_manifest(batch.manifest)


MANIFEST = _manifest()


def _ack(
    outcome: Outcome = Outcome.TAKEN,
    reason: str | None = None,
    *,
    refused: int | None = None,
    refused_lines: dict[str, str] | None = None,
) -> tuple[str, bytes]:
    return build_ack(
        manifest=MANIFEST,
        sender="440106",
        outcome=outcome,
        taken=1 if outcome is Outcome.TAKEN else 0,
        refused=refused if refused is not None else 0 if outcome is Outcome.TAKEN else 1,
        reason=reason,
        refused_lines=refused_lines,
        timestamp=str(NOW),
        sign=functools.partial(crypto.sign_ed25519, TIANHE["signing_key"]),
    )


def _verifies(raw: bytes, verify_key: str) -> bool:
    ack = read_ack(raw)
    return crypto.verify_signature(
        verify_key=verify_key,
        secret=None,
        msg_id=ack.fields.batch_id,
        timestamp=ack.fields.timestamp,
        body=ack.signed,
        received=ack.fields.signature,
        now_s=NOW,
    )


def test_an_ack_names_the_batch_and_its_checksum_and_verifies_with_the_recipients_key() -> None:
    name, raw = _ack()
    ack = read_ack(raw)
    assert name == BATCH_ID + ACK_SUFFIX == ack.name
    assert not name.endswith(MANIFEST_SUFFIX)  # the batch poller never takes it for a manifest
    assert (ack.fields.sender, ack.fields.recipient) == ("440106", "440111")
    assert ack.fields.sha256 == MANIFEST["sha256"]
    assert (ack.fields.outcome, ack.fields.taken, ack.fields.refused) == (Outcome.TAKEN, 1, 0)
    assert _verifies(raw, TIANHE["verify_key"])
    assert not _verifies(raw, BAIYUN["verify_key"])  # signed by the recipient, not by anyone else


def test_an_ack_carries_codes_counts_and_the_reason_only() -> None:
    _, raw = _ack(Outcome.SET_ASIDE, "batch file differs from its manifest's checksum (tampered or truncated)")
    fields = json.loads(raw)
    assert set(fields) == {
        "format",
        "batch_id",
        "sender",
        "recipient",
        "sha256",
        "taken",
        "refused",
        "outcome",
        "reason",
        "timestamp",
        "signature",
    }
    assert fields["outcome"] == "set_aside"
    assert "checksum" in fields["reason"]


def test_an_altered_ack_no_longer_verifies() -> None:
    _, raw = _ack(Outcome.SET_ASIDE, "tampered")
    fields = json.loads(raw)
    fields["outcome"], fields["reason"] = "taken", None
    assert not _verifies(json.dumps(fields).encode(), TIANHE["verify_key"])


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda raw: raw[: len(raw) // 2], "not JSON"),
        (lambda raw: json.dumps({**json.loads(raw), "signature": ""}).encode(), "unsigned"),
        (lambda raw: json.dumps({**json.loads(raw), "format": "popflow-exchange-batch/1"}).encode(), "not a"),
        (lambda raw: json.dumps({**json.loads(raw), "taken": -1}).encode(), "malformed \\(taken\\)"),
        (lambda raw: json.dumps({**json.loads(raw), "outcome": "lost"}).encode(), "malformed \\(outcome\\)"),
        (lambda raw: json.dumps({**json.loads(raw), "person": "x"}).encode(), "malformed \\(an unknown field\\)"),
    ],
)
def test_what_is_not_an_ack_is_set_aside(change: Callable[[bytes], bytes], reason: str) -> None:
    _, raw = _ack()
    with pytest.raises(SetAside, match=reason):
        read_ack(change(raw))


SENT = SentBatch(BATCH_ID, "tianhe", str(MANIFEST["sha256"]), acknowledged=False)


def test_the_first_ack_of_a_batch_we_sent_that_partner_settles_it() -> None:
    judge(read_ack(_ack()[1]).fields, SENT, signed_by="tianhe")


@pytest.mark.parametrize(
    ("sent", "signed_by", "reason"),
    [
        (None, "tianhe", "did not send"),
        (SENT, "furong", "went to tianhe"),
        (SentBatch(BATCH_ID, "tianhe", "0" * 64, acknowledged=False), "tianhe", "checksum"),
        (SentBatch(BATCH_ID, "tianhe", SENT.sha256, acknowledged=True), "tianhe", "already acknowledged"),
    ],
)
def test_any_other_ack_changes_nothing(sent: SentBatch | None, signed_by: str, reason: str) -> None:
    with pytest.raises(SetAside, match=reason):
        judge(read_ack(_ack()[1]).fields, sent, signed_by=signed_by)


def test_an_ack_whose_words_name_every_refused_line_is_a_version_1_ack() -> None:
    said, whole = said_whole([(1, "malformed")])
    fields = json.loads(_ack(reason=said, refused=1, refused_lines=whole)[1])
    assert (fields["format"], fields["reason"]) == ("popflow-exchange-ack/1", "line 1: malformed")
    assert "refused_lines" not in fields  # what every earlier version reads


def test_an_ack_whose_words_cannot_name_every_refused_line_names_them_all_in_version_2() -> None:
    scattered = [(n, "malformed" if n % 3 else "refused (409)") for n in range(2, 2001, 2)]
    said, whole = said_whole(scattered)
    _, raw = _ack(reason=said, refused=len(scattered), refused_lines=whole)
    ack = read_ack(raw)
    assert ack.fields.format == "popflow-exchange-ack/2"
    assert ack.fields.refused_lines == whole
    assert ack.fields.reason == said
    assert _verifies(raw, TIANHE["verify_key"])  # the lines are inside the signature
    fields = json.loads(raw)
    fields["refused_lines"]["malformed"] = fields["refused_lines"]["malformed"].replace("2, 4, ", "2, 3, ")
    assert not _verifies(json.dumps(fields).encode(), TIANHE["verify_key"])


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"refused": 3}, "another number of lines than refused says"),  # names 2 lines, says 3
        ({"refused_lines": None}, "names the refused lines of a taken batch"),
        ({"refused_lines": {}}, "names the refused lines of a taken batch"),
        ({"outcome": "set_aside"}, "names the refused lines of a taken batch"),
        ({"refused_lines": {"malformed": "2, x"}}, "malformed \\(refused_lines\\)$"),
        ({"refused_lines": {"": "2"}}, "malformed \\(refused_lines\\)$"),
        ({"refused_lines": {"malformed": "1-4"}}, "another number of lines"),
        ({"refused_lines": {"malformed": "2", "refused (409)": "2"}}, "named twice"),  # counts 2, names 1
        ({"refused_lines": {"malformed": "0, 4"}}, "not rising"),
        ({"refused_lines": {"x" * 200: "2"}}, "malformed \\(refused_lines\\)$"),  # the key is not said
        ({"format": "popflow-exchange-ack/1"}, "refused_lines is a popflow-exchange-ack/2 field"),
        ({"format": "popflow-exchange-ack/3"}, "not a popflow-exchange-ack/1 or /2 file"),
    ],
)
def test_a_version_2_ack_must_name_as_many_lines_as_it_refused(change: dict[str, object], reason: str) -> None:
    _, raw = _ack(reason="2 lines refused", refused=2, refused_lines={"malformed": "2, 4"})
    assert read_ack(raw).fields.refused == 2
    with pytest.raises(SetAside, match=reason):
        read_ack(json.dumps({**json.loads(raw), **change}).encode())


@pytest.mark.parametrize(
    ("batch_id", "why"),
    [
        (BATCH_ID, None),
        (f"440111-440106-{id_number(sequence=3)}", "holds an identity number"),  # the sender's choice: a person
        (f"440111-{id_number(sequence=3)[:17]}x-1", "holds an identity number"),  # a lower-case check character
        (f"{id_number(sequence=4)}.0001", "holds an identity number"),
        ("440111-20270301T020000-" + "1" * 17, None),  # no identity number's shape: a serial
        ("440111-20270301153000" + "0001", None),  # a time and a sequence, 18 digits: no birth date, no check
        (f"440111-{id_number(sequence=6)}0001", "holds an identity number"),  # one, a serial after it
        ("440111-" + "1" * 40, None),  # a long serial whose windows hold no birth date
        ("440111-" + "3" * 40, None),
        ("440111 440106", "no file name"),
        ("440111-张三", "no file name"),
        ("x" * 201, "no file name"),
    ],
)
def test_no_acknowledgement_is_named_after_a_batch_id_holding_an_identity_number(
    batch_id: str, why: str | None
) -> None:
    said = unnameable(batch_id)
    assert said is None if why is None else why in (said or "")


def test_a_file_too_large_is_said_without_the_identity_number_its_name_holds() -> None:
    person = id_number(sequence=5)
    assert str(FileTooLarge(f"440111-{person}.batch", 10)) == "440111-[id-redacted].batch is larger than 10 bytes"
