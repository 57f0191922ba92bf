"""A notice's grant opens its own record for its own recipient office, and nothing else."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

import pytest

from shared.notice_grants import GRANT, MAX_LENGTH, grant_for, granted_to
from shared.sealing import Keyring

NOTICE, RECORD, STREET = "6b0c8f1e-0000-5000-8000-000000000001", "0f3e4d2c-1111-4222-8333-444455556666", "440111008"


def keyring(*key_ids: str, current: str | None = None) -> Keyring:
    return Keyring({k: os.urandom(32) for k in key_ids}, current or key_ids[0])


def test_a_grant_names_its_recipient_for_its_own_notice_and_record_only() -> None:
    keys = keyring("k1")
    grant = grant_for(keys, notice_id=NOTICE, record_id=RECORD, recipient_code=STREET)
    assert GRANT.match(grant)
    assert len(grant) <= MAX_LENGTH
    assert grant_for(keys, notice_id=NOTICE, record_id=RECORD, recipient_code=STREET) == grant  # one link per notice

    assert granted_to(keys, grant, notice_id=NOTICE, record_id=RECORD) == STREET
    assert granted_to(keys, grant, notice_id=NOTICE, record_id=RECORD.replace("0f3e", "0f3f")) is None
    assert granted_to(keys, grant, notice_id=NOTICE.replace("6b0c", "6b0d"), record_id=RECORD) is None


def test_a_grant_whose_recipient_is_changed_or_tag_tampered_with_opens_nothing() -> None:
    keys = keyring("k1")
    grant = grant_for(keys, notice_id=NOTICE, record_id=RECORD, recipient_code=STREET)
    code, key_id, tag = grant.split(".")
    for forged in (
        f"440111001.{key_id}.{tag}",  # another street of the district
        f"440111.{key_id}.{tag}",  # the district bureau
        f"{code}.{key_id}.{tag[:-1]}{'A' if tag[-1] != 'A' else 'B'}",
        f"{code}.{key_id}.{base64.urlsafe_b64encode(bytes(32)).rstrip(b'=').decode()}",
    ):
        assert granted_to(keys, forged, notice_id=NOTICE, record_id=RECORD) is None, forged


def test_only_the_deployments_keys_make_grants_and_a_rotated_key_still_checks_its_own() -> None:
    old = keyring("k1")
    elsewhere = keyring("k1")  # another deployment's key under the same id
    grant = grant_for(old, notice_id=NOTICE, record_id=RECORD, recipient_code=STREET)
    assert granted_to(elsewhere, grant, notice_id=NOTICE, record_id=RECORD) is None

    rotated = Keyring({"k1": old.keys["k1"], "k2": os.urandom(32)}, "k2")
    assert granted_to(rotated, grant, notice_id=NOTICE, record_id=RECORD) == STREET
    assert grant_for(rotated, notice_id=NOTICE, record_id=RECORD, recipient_code=STREET).split(".")[1] == "k2"
    retired = Keyring({"k2": rotated.keys["k2"]}, "k2")
    assert granted_to(retired, grant, notice_id=NOTICE, record_id=RECORD) is None


def test_the_signing_key_is_not_the_data_key() -> None:
    keys = keyring("k1")
    message = b"anything"
    assert keys.tag(message, key_id="k1") != hmac.new(keys.keys["k1"], message, hashlib.sha256).digest()


@pytest.mark.parametrize(
    "grant",
    ["", ".", "440111008", "440111008.k1", "440111008.k1.", "4401110080.k1." + "A" * 43, "x" * MAX_LENGTH, "\ud800"],
)
def test_what_is_not_a_grant_opens_nothing(grant: str) -> None:
    assert granted_to(keyring("k1"), grant, notice_id=NOTICE, record_id=RECORD) is None


def test_ids_no_notice_has_open_nothing_and_raise_nothing() -> None:
    keys = keyring("k1")
    grant = grant_for(keys, notice_id=NOTICE, record_id=RECORD, recipient_code=STREET)
    assert granted_to(keys, grant, notice_id="\ud800", record_id=RECORD) is None
    assert granted_to(keys, grant, notice_id=NOTICE, record_id="a\x00b") is None
