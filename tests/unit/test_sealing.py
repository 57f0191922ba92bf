"""The keyring: sealed values open only with their key and in their context; keys rotate; settings are checked."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from services.intake.settings import IntakeSettings
from shared.events import NoticeIssued, NoticePerson, Route, new_envelope, parse_event
from shared.sealing import BrokenSeal, Keyring, SealError, UnknownKeyId, parse_keyring
from tests.support.infra import DATA_KEY, PERSON_KEY_SECRET, TEST_KEYRING
from tests.support.notices import issued_notice
from tests.support.records import id_number

PERSON = {"id_number": id_number(sequence=1), "name": "张三"}
OTHER_KEY = base64.b64encode(bytes(range(32))).decode()


def test_a_sealed_value_opens_in_its_own_context_only() -> None:
    token = TEST_KEYRING.seal(PERSON, context="record-1")
    assert token.startswith("pf1.test1.")
    assert PERSON["id_number"] not in token
    assert PERSON["name"] not in token
    assert TEST_KEYRING.open(token, context="record-1") == PERSON
    with pytest.raises(BrokenSeal):
        TEST_KEYRING.open(token, context="record-2")
    assert TEST_KEYRING.seal(PERSON, context="record-1") != token  # a fresh nonce each time


def test_after_rotation_old_data_opens_with_the_old_key_and_new_data_is_sealed_with_the_new() -> None:
    old = TEST_KEYRING.seal(PERSON, context="r")
    rotated = parse_keyring(f"test2:{OTHER_KEY},test1:{DATA_KEY}", "test2")
    assert rotated.open(old, context="r") == PERSON
    new = rotated.seal(PERSON, context="r")
    assert new.startswith("pf1.test2.")
    with pytest.raises(UnknownKeyId, match="test2"):
        TEST_KEYRING.open(new, context="r")


def test_an_unknown_key_id_fails_clearly_without_the_key_or_the_value() -> None:
    token = parse_keyring(f"gone:{OTHER_KEY}", None).seal(PERSON, context="r")
    with pytest.raises(UnknownKeyId) as raised:
        TEST_KEYRING.open(token, context="r")
    message = str(raised.value)
    assert "'gone'" in message
    assert "POPFLOW_DATA_KEYS" in message
    assert OTHER_KEY not in message
    assert PERSON["name"] not in message


def test_tampering_and_a_different_key_under_the_same_id_fail() -> None:
    token = TEST_KEYRING.seal(PERSON, context="r")
    head, blob = token.rsplit(".", 1)
    flipped = blob[:20] + ("A" if blob[20] != "A" else "B") + blob[21:]
    with pytest.raises(BrokenSeal):
        TEST_KEYRING.open(f"{head}.{flipped}", context="r")
    with pytest.raises(BrokenSeal):
        Keyring({"test1": bytes(range(32))}, "test1").open(token, context="r")
    with pytest.raises(SealError):
        TEST_KEYRING.open("not a sealed value", context="r")


@pytest.mark.parametrize(
    "data", ["abc", "ab\u00e4cd", "\uff21\uff22\uff23\uff24"], ids=["padding", "not-ascii", "full-width"]
)
def test_data_that_is_not_base64url_fails_as_a_seal_error(data: str) -> None:
    head = TEST_KEYRING.seal(PERSON, context="r").rsplit(".", 1)[0]
    with pytest.raises(SealError, match="not base64"):
        TEST_KEYRING.open(f"{head}.{data}", context="r")


def test_intakes_tokens_from_before_the_keyring_open_with_the_key_named_intake() -> None:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = bytes(12)
    legacy = (
        "v1." + base64.b64encode(nonce + AESGCM(base64.b64decode(DATA_KEY)).encrypt(nonce, b'{"a":1}', b"r1")).decode()
    )
    assert parse_keyring(f"intake:{DATA_KEY}", None).open(legacy, context="r1") == {"a": 1}
    with pytest.raises(UnknownKeyId):
        TEST_KEYRING.open(legacy, context="r1")


def test_an_events_personal_parts_travel_sealed_bound_to_the_event() -> None:
    notice = issued_notice(
        notice_id="n-1",
        record_id="r-1",
        recipient_code="440111008",
        route=Route.CROSS_STREET,
        reason="lives there",
        person=NoticePerson(name="张三", id_number=PERSON["id_number"], residence_address="同德路 8 号"),
        issued_at=datetime(2027, 2, 22, 5, tzinfo=UTC),
    )
    envelope = new_envelope(notice, producer="test", correlation_id="r", keyring=TEST_KEYRING)
    wire = envelope.model_dump_json()
    assert notice.person.id_number not in wire
    assert notice.person.name not in wire
    assert parse_event(envelope, TEST_KEYRING) == notice
    moved = envelope.model_copy(
        update={"event_id": new_envelope(notice, producer="t", correlation_id="r", keyring=TEST_KEYRING).event_id}
    )
    with pytest.raises(SealError):
        parse_event(moved, TEST_KEYRING)
    with pytest.raises(TypeError):
        new_envelope(notice, producer="test", correlation_id="r")
    assert NoticeIssued.SEALED == ("person",)


def settings(**env: str) -> IntakeSettings:
    return IntakeSettings.model_validate({"POPFLOW_PERSON_KEY_SECRET": PERSON_KEY_SECRET, **env})


def test_data_keys_are_required_and_checked_naming_the_setting_never_the_key() -> None:
    assert settings(POPFLOW_DATA_KEYS=f"test1:{DATA_KEY}").keyring().current == "test1"
    with pytest.raises(ValidationError):
        settings()
    with pytest.raises(ValidationError, match=r"POPFLOW_DATA_KEYS.*base64"):
        settings(POPFLOW_DATA_KEYS="k:not base64!")
    with pytest.raises(ValidationError, match="16, 24 or 32"):
        settings(POPFLOW_DATA_KEYS=f"k:{base64.b64encode(b'short').decode()}")
    with pytest.raises(ValidationError, match="POPFLOW_DATA_KEY_ID must name"):
        settings(POPFLOW_DATA_KEYS=f"a:{DATA_KEY},b:{OTHER_KEY}")
    with pytest.raises(ValidationError, match="names key id 'c'") as raised:
        settings(POPFLOW_DATA_KEYS=f"a:{DATA_KEY},b:{OTHER_KEY}", POPFLOW_DATA_KEY_ID="c")
    assert DATA_KEY not in str(raised.value)


def test_a_placeholder_data_key_is_refused_in_production() -> None:
    placeholder = f"k:{base64.b64encode(bytes(32)).decode()}"
    assert settings(POPFLOW_DATA_KEYS=placeholder).keyring()  # development: allowed
    with pytest.raises(ValidationError, match="placeholder"):
        settings(POPFLOW_DATA_KEYS=placeholder, POPFLOW_ENV="production")
    assert settings(POPFLOW_DATA_KEYS=f"test1:{DATA_KEY}", POPFLOW_ENV="production")
