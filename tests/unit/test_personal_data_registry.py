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


def test_every_value_the_suite_made_is_found_among_binary_bytes_and_a_value_made_later_too() -> None:
    body = record(sequence=778, name="司马相如")
    number = body["person"]["id_number"]
    binary = b"\xff\x00\xc3" + number.encode() + b"\x80\xfe" + "司马相如".encode() + b"\xc3"
    assert set(personal_data.found_in(binary)) >= {number, "司马相如"}
    assert personal_data.found_in(b"\xff\x00" + number[:17].encode() + b"\xfe") == []  # a part is not the value
    later = record(sequence=779, name="诸葛孔明")
    assert set(personal_data.found_in(json.dumps(later).encode())) >= {later["person"]["id_number"], "诸葛孔明"}
    assert personal_data.found_in(b"", []) == []
