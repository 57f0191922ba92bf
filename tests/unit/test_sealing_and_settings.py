"""Sealed personal data opens only with its key and on its row; the data key is checked at start-up."""

from __future__ import annotations

import base64

import pytest
from cryptography.exceptions import InvalidTag
from pydantic import ValidationError
from services.intake.adapters.sealing import Sealer

from services.intake.settings import IntakeSettings
from tests.support.infra import DATA_KEY, PERSON_KEY_SECRET

PERSON = {"id_number": "11010519491231002X", "name": "张三"}


def test_sealed_person_opens_on_its_own_row_only() -> None:
    sealer = Sealer(base64.b64decode(DATA_KEY))
    token = sealer.seal(PERSON, bound_to="record-1")
    assert PERSON["id_number"] not in token
    assert sealer.open(token, bound_to="record-1") == PERSON
    with pytest.raises(InvalidTag):
        sealer.open(token, bound_to="record-2")
    with pytest.raises(InvalidTag):
        Sealer(bytes(32)).open(token, bound_to="record-1")
    assert sealer.seal(PERSON, bound_to="record-1") != token  # a fresh nonce each time


def settings(**env: str) -> IntakeSettings:
    return IntakeSettings.model_validate({"POPFLOW_PERSON_KEY_SECRET": PERSON_KEY_SECRET, **env})


def test_data_key_is_required_and_checked() -> None:
    assert len(settings(data_key=DATA_KEY).data_key_bytes()) == 32
    with pytest.raises(ValidationError):
        settings()
    with pytest.raises(ValidationError, match="base64"):
        settings(data_key="not base64!")
    with pytest.raises(ValidationError, match="16, 24 or 32"):
        settings(data_key=base64.b64encode(b"short").decode())


def test_placeholder_data_key_is_refused_in_production() -> None:
    placeholder = base64.b64encode(bytes(32)).decode()
    assert settings(data_key=placeholder).data_key_bytes() == bytes(32)  # development: allowed
    with pytest.raises(ValidationError, match="placeholder"):
        settings(data_key=placeholder, POPFLOW_ENV="production")
    assert settings(data_key=DATA_KEY, POPFLOW_ENV="production")
