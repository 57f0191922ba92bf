"""No identity number or name reaches a log line, even by mistake."""

from __future__ import annotations

import json
import logging

import pytest
import structlog

from shared.logging import configure_logging


def test_personal_data_is_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(service="test", fmt="json")
    log = structlog.get_logger("t")
    log.info("careless", name="王五", id_number="11010519491231002X", note="id 11010519491231002X here")
    logging.getLogger("foreign").warning("stdlib says 11010519491231002X")
    out = capsys.readouterr().err
    assert "11010519491231002X" not in out
    assert "王五" not in out
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines[0]["service"] == "test"
    assert lines[0]["name"] == "[redacted]"
    assert "[id-redacted]" in lines[0]["note"]
    assert "[id-redacted]" in lines[1]["event"]
