"""The final scan's eyes: a value the tests made up is found however it was written down."""

from __future__ import annotations

import json

from tests.support import personal_data
from tests.support.records import record


def test_the_builders_register_what_they_make_and_it_is_found_in_utf8_or_json_escaped() -> None:
    body = record(sequence=777, name="欧阳娜娜")
    number = body["person"]["id_number"]
    assert {number, "欧阳娜娜"} <= personal_data.VALUES
    clear = json.dumps(body, ensure_ascii=False).encode()
    escaped = json.dumps(body).encode()
    assert set(personal_data.found_in(clear, [number, "欧阳娜娜"])) == {number, "欧阳娜娜"}
    assert set(personal_data.found_in(escaped, [number, "欧阳娜娜"])) == {number, "欧阳娜娜"}
    assert personal_data.found_in(b"pf1.test1.sealed", [number, "欧阳娜娜"]) == []
    assert personal_data.describe(number) == "an identity number"
