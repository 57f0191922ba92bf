"""The exchange's trust rules: who signed, how old, sealed for whom; a forward becomes the street's transfer."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from services.notification.domain import exchange_crypto as crypto
from services.notification.domain.exchange_batch import SetAside, build_batch, read_manifest
from services.notification.domain.exchange_messages import (
    AnswerPart,
    ExchangeMessage,
    NoticePart,
    SealedNotice,
    SealedPerson,
    arriving_notice,
    body_of,
    local_transfer_id,
    sealed_text,
)
from services.notification.service_layer.exchange_door import ExchangeDoor
from services.notification.service_layer.exchange_outbound import OwnKeys, signing_headers
from shared.clock import FixedClock
from shared.directory import load_directory
from shared.events import NoticeIssued, NoticeKind, NoticePerson, Route
from shared.events.notices import REASON_MAX_LENGTH
from shared.exchange.partners import Partner, PartnerKeys, PartnerTable, Transport
from shared.http.problems import ProblemError
from tests.support.records import id_number

NOW = datetime(2027, 3, 1, 2, 0, tzinfo=UTC)
BAIYUN, TIANHE = crypto.new_key_pairs(), crypto.new_key_pairs()
PERSON = NoticePerson(
    name="张三", id_number=id_number(sequence=3), residence_address="五山路 1 号", residence_street="440106001"
)
FORWARD = NoticePart(
    notice_id="n-1",
    record_id="r-1",
    recipient_code="440106",
    route=Route.INTER_DISTRICT,
    kind=NoticeKind.FORWARD,
    reason="please verify",
    issued_at=NOW,
)


def _partner(name: str, pair: dict[str, str], **changes: Any) -> Partner:
    fields: dict[str, Any] = {
        "name": name,
        "transport": Transport.HTTPS,
        "url": "http://x",
        "keys": PartnerKeys(verify_key=pair["verify_key"], seal_key=pair["seal_key"]),
    }
    return Partner(**(fields | changes))


def _door(table: PartnerTable, *, now: datetime = NOW, keys: OwnKeys | None = None) -> ExchangeDoor:
    return ExchangeDoor(
        partners=lambda: table,
        store=None,  # type: ignore[arg-type]  # authenticate touches no store
        inbox=None,  # type: ignore[arg-type]
        keys=keys or OwnKeys(TIANHE["signing_key"], TIANHE["sealing_key"]),
        served_districts=["440106"],
        clock=FixedClock(now),
        directory=load_directory(),
        on_scheduled=lambda: None,
    )


def _signed(
    *, at: datetime = NOW, tamper: bool = False, signer: dict[str, str] = BAIYUN
) -> tuple[dict[str, str], bytes]:
    sealed = crypto.seal(sealed_text(SealedNotice(person=SealedPerson(**PERSON.model_dump()))), TIANHE["seal_key"])
    message = ExchangeMessage(message_id="n-1", type="notice", sender="440111", notice=FORWARD, sealed=sealed)
    body = body_of(message)
    sender = _partner("baiyun", signer)
    headers = signing_headers(sender, OwnKeys(signer["signing_key"], None), "n-1", str(int(at.timestamp())), body)
    headers["PopFlow-Exchange-Sender"] = "440111"
    return headers, body.replace(b"please", b"PLEASE") if tamper else body


TABLE = PartnerTable(by_prefix={"440111": _partner("baiyun", BAIYUN)})
DIRECTORY = load_directory()


def test_a_message_signed_by_the_partner_is_taken_and_opens_with_our_key() -> None:
    headers, body = _signed()
    partner, message = _door(TABLE).authenticate(headers, body)
    assert partner.name == "baiyun"
    opened = SealedNotice.model_validate_json(crypto.open_sealed(message.sealed, TIANHE["sealing_key"]))
    assert opened.person.model_dump() == PERSON.model_dump()


@pytest.mark.parametrize(
    ("table", "signed"),
    [
        (TABLE, _signed(tamper=True)),  # the body changed on the way
        (TABLE, _signed(at=datetime(2027, 3, 1, 1, 0, tzinfo=UTC))),  # an hour old: a replay
        (PartnerTable(by_prefix={}), _signed()),  # nobody we exchange with
        (PartnerTable(by_prefix={"440111": _partner("baiyun", TIANHE)}), _signed()),  # another key
        (PartnerTable(by_prefix={"440111": _partner("baiyun", BAIYUN, keys=PartnerKeys())}), _signed()),  # no keys
    ],
)
def test_anything_else_is_refused(table: PartnerTable, signed: tuple[dict[str, str], bytes]) -> None:
    with pytest.raises(ProblemError) as refused:
        _door(table).authenticate(*signed)
    assert refused.value.status == 401


@pytest.mark.parametrize("timestamp", ["1" + "0" * 400, "-" + "9" * 400, "1e9", "", " 1"])
def test_a_timestamp_that_is_no_moment_is_refused_not_a_server_error(timestamp: str) -> None:
    """A timestamp of hundreds of digits reads as an integer too large to compare with the clock: the door
    answered 500 to anyone, and an FTP manifest with it was left in the folder for every poll."""
    headers, body = _signed()
    with pytest.raises(ProblemError) as refused:
        _door(TABLE).authenticate(headers | {"webhook-timestamp": timestamp}, body)
    assert refused.value.status == 401


def test_a_shared_secret_signs_and_verifies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BAIYUN_TIANHE_SECRET", "a-shared-secret-0123456789")
    sender = _partner("baiyun", BAIYUN, keys=PartnerKeys(secret_env="BAIYUN_TIANHE_SECRET", seal_key="x"))
    headers = signing_headers(sender, OwnKeys(None, None), "m", "100", b"{}")
    assert headers["webhook-signature"].startswith("v1,")
    assert crypto.verify_signature(
        verify_key=None,
        secret="a-shared-secret-0123456789",
        msg_id="m",
        timestamp="100",
        body=b"{}",
        received=headers["webhook-signature"],
        now_s=100,
    )


def test_a_seal_opens_only_for_its_recipient_and_not_once_changed() -> None:
    token = crypto.seal(b"personal", TIANHE["seal_key"])
    assert crypto.open_sealed(token, TIANHE["sealing_key"]) == b"personal"
    with pytest.raises(crypto.BadSeal):
        crypto.open_sealed(token, BAIYUN["sealing_key"])
    flipped = crypto.b64(bytes([crypto.unb64(token)[0] ^ 1]) + crypto.unb64(token)[1:])
    with pytest.raises(crypto.BadSeal):
        crypto.open_sealed(flipped, TIANHE["sealing_key"])


def test_a_forward_to_our_bureau_becomes_the_residence_streets_transfer() -> None:
    fields = arriving_notice(FORWARD, PERSON, frozenset({"440106"}), DIRECTORY)
    assert fields["recipient_code"] == "440106001"
    assert fields["kind"] is NoticeKind.TRANSFER
    assert fields["notice_id"] == local_transfer_id("n-1", "440106001")
    assert NoticeIssued(**fields, exchange_endpoint=None).recipient_code == "440106001"  # a complete notice
    registration = FORWARD.model_copy(update={"kind": NoticeKind.REGISTRATION})
    assert arriving_notice(registration, PERSON, frozenset({"440106"}), DIRECTORY)["recipient_code"] == "440106"


def test_a_forward_to_a_street_the_directory_does_not_know_stays_with_the_bureau() -> None:
    """A transfer to a street no office has would wait in an inbox nobody reads, and the partner never hear
    back: the forward lands with our bureau as sent, to be routed by hand."""
    unknown = PERSON.model_copy(update={"residence_street": "440106999"})
    assert not DIRECTORY.exists("440106999")
    fields = arriving_notice(FORWARD, unknown, frozenset({"440106"}), DIRECTORY)
    assert fields["recipient_code"] == "440106"
    assert fields["kind"] is NoticeKind.FORWARD
    assert fields["notice_id"] == "n-1"
    assert NoticeIssued(**fields, exchange_endpoint=None).recipient_code == "440106"


@pytest.mark.parametrize("kind", [NoticeKind.REGISTRATION, NoticeKind.TRANSFER, NoticeKind.FORWARD])
def test_a_notice_of_any_kind_to_a_street_the_directory_does_not_know_lands_with_its_bureau(kind: NoticeKind) -> None:
    """Addressed to a street no office has, it would wait in an inbox nobody reads: it lands with the street's
    bureau, as sent but for its addressee, and its reason says where the partner sent it."""
    sent = FORWARD.model_copy(update={"kind": kind, "recipient_code": "440106999", "reason": "x" * REASON_MAX_LENGTH})
    assert not DIRECTORY.exists("440106999")
    fields = arriving_notice(sent, PERSON, frozenset({"440106"}), DIRECTORY)
    assert fields["recipient_code"] == "440106"
    assert fields["kind"] is kind
    assert fields["notice_id"] == "n-1"
    assert fields["reason"].endswith("[sent to 440106999, a street the directory does not know]")
    assert NoticeIssued(**fields, exchange_endpoint=None).recipient_code == "440106"  # within the reason's bound
    known = sent.model_copy(update={"recipient_code": "440106001"})
    assert arriving_notice(known, PERSON, frozenset({"440106"}), DIRECTORY)["recipient_code"] == "440106001"


@pytest.mark.parametrize("street", ["4401060", "440106abc", "440106 01"])
async def test_a_forward_whose_residence_street_is_no_street_code_is_refused_not_a_server_error(street: str) -> None:
    """The residence street of a forward to our bureau becomes the transfer's recipient. One that began with our
    district but was no 9-digit code passed the exchange format and failed the notice's own (a ValidationError):
    the door answered 500, and an FTP line with it was refused without saying why."""
    person = PERSON.model_dump() | {"residence_street": street}
    sealed = crypto.seal(json.dumps({"person": person}).encode(), TIANHE["seal_key"])
    message = ExchangeMessage(message_id="n-1", type="notice", sender="440111", notice=FORWARD, sealed=sealed)
    with pytest.raises(ProblemError) as refused:
        await _door(TABLE).receive_notice(_partner("baiyun", BAIYUN), message)
    assert refused.value.status == 422
    assert "/person/residence_street" in str(refused.value.detail)


@pytest.mark.parametrize("notice_id", ["a/b", "..", "n 1", "n\x01", "x" * 37, "通知1", ""])
def test_a_partners_notice_id_no_route_could_name_is_refused_at_the_door(notice_id: str) -> None:
    """The partner's id of a notice (or of the notice it answers) is the id our routes name it by. One with a
    `/` (or `..`, a space, a control character) was stored and pushed, but no route could name it, so the
    answer owed could never be given: refused at the door (422) instead, the notice's part and the answer's."""
    message = json.loads(_signed()[1])
    message["notice"]["notice_id"] = notice_id
    body = json.dumps(message, ensure_ascii=False).encode()
    headers = signing_headers(
        _partner("baiyun", BAIYUN), OwnKeys(BAIYUN["signing_key"], None), "n-1", str(int(NOW.timestamp())), body
    )
    headers["PopFlow-Exchange-Sender"] = "440111"
    with pytest.raises(ProblemError) as refused:
        _door(TABLE).authenticate(headers, body)
    assert refused.value.status == 422
    answer = {"notice_id": notice_id, "record_id": "r-1", "result": "confirmed", "answered_by": "440106001"}
    with pytest.raises(ValidationError):
        AnswerPart.model_validate(answer | {"answered_at": NOW})
    assert AnswerPart.model_validate(answer | {"notice_id": "0f8e-Ab-9", "answered_at": NOW}).notice_id == "0f8e-Ab-9"


# --- switching keys -----------------------------------------------------------------------------------

BAIYUN_OLD, TIANHE_OLD = crypto.new_key_pairs(), crypto.new_key_pairs()
SWITCH_ENDS = NOW + timedelta(days=7)
ROTATING = PartnerTable(
    by_prefix={
        "440111": _partner(
            "baiyun",
            BAIYUN,
            keys=PartnerKeys(
                verify_key=BAIYUN["verify_key"],
                seal_key=BAIYUN["seal_key"],
                previous_verify_key=BAIYUN_OLD["verify_key"],
                previous_until=SWITCH_ENDS,
            ),
        )
    }
)


def test_during_a_switch_over_the_partners_previous_key_is_accepted_until_its_end() -> None:
    assert _door(ROTATING).authenticate(*_signed(signer=BAIYUN))[0].name == "baiyun"
    assert _door(ROTATING).authenticate(*_signed(signer=BAIYUN_OLD))[0].name == "baiyun"
    later = SWITCH_ENDS + timedelta(seconds=1)
    assert _door(ROTATING, now=later).authenticate(*_signed(at=later, signer=BAIYUN))[0].name == "baiyun"
    with pytest.raises(ProblemError) as refused:
        _door(ROTATING, now=later).authenticate(*_signed(at=later, signer=BAIYUN_OLD))
    assert refused.value.status == 401


def test_what_a_partner_still_seals_to_our_previous_key_opens_during_the_switch_over() -> None:
    batch = build_batch(
        batch_id="440111-440106-1",
        sender="440111",
        recipient="440106",
        lines=[body_of(ExchangeMessage(message_id="m", type="notice", sender="440111", notice=FORWARD, sealed="x"))],
        seal_key=TIANHE_OLD["seal_key"],  # the partner has not taken our new public key yet
        timestamp=str(int(NOW.timestamp())),
        sign=lambda *_: "v1a,unused",
    )
    manifest = read_manifest(batch.manifest)
    switching = OwnKeys(TIANHE["signing_key"], TIANHE["sealing_key"], previous_sealing_key=TIANHE_OLD["sealing_key"])
    opened = _door(ROTATING, keys=switching).open_batch(manifest, batch.file)
    assert [m.message_id for _, m in opened.messages] == ["m"]
    with pytest.raises(SetAside):
        _door(ROTATING).open_batch(manifest, batch.file)
