"""FTP acknowledgements: signed by the recipient, free of personal data, settling a batch we sent once."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable

import pytest

from services.notification.domain import exchange_crypto as crypto
from services.notification.domain.exchange_ack import (
    ACK_SUFFIX,
    Outcome,
    SentBatch,
    build_ack,
    judge,
    read_ack,
)
from services.notification.domain.exchange_batch import MANIFEST_SUFFIX, SetAside, build_batch, read_manifest

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


def _ack(outcome: Outcome = Outcome.TAKEN, reason: str | None = None) -> tuple[str, bytes]:
    return build_ack(
        manifest=MANIFEST,
        sender="440106",
        outcome=outcome,
        taken=1 if outcome is Outcome.TAKEN else 0,
        refused=0 if outcome is Outcome.TAKEN else 1,
        reason=reason,
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
        (lambda raw: json.dumps({**json.loads(raw), "person": "x"}).encode(), "malformed \\(person\\)"),
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
