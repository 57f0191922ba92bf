"""Why reporting's fold set a message aside, as its dead letter's header says it: our field names only, never one
the sender made up (a broken producer's may be a name or an identity number; the headers are not sealed)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from services.reporting.adapters.decoding import Decoder
from services.reporting.domain.weeks import WeekCalendar
from tests.support import kafka
from tests.support.infra import TEST_KEYRING
from tests.support.records import record


@dataclass(frozen=True)
class Message:
    value: bytes


def test_a_field_named_by_a_value_is_not_repeated_in_the_reason() -> None:
    envelope = json.loads(kafka.submitted(record()).model_dump_json())
    number = record()["person"]["id_number"]
    envelope["payload"]["record"][number] = "张三"
    envelope["payload"]["张三"] = 1
    decoded = Decoder(WeekCalendar(ZoneInfo("Asia/Shanghai")), b"secret", TEST_KEYRING).decode(
        [Message(json.dumps(envelope, ensure_ascii=False).encode())]
    )
    [(_, why)] = decoded.unreadable
    assert number not in why
    assert "张三" not in why
    assert "(a field it does not have)" in why
    assert why.startswith("ValidationError: ")
