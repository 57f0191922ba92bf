"""The odd values tests/e2e/test_odd_values.py sends into every field: fixed lists, nothing random.

Each kind once broke a service or is the kind schemathesis never draws: half of
a UTF-16 pair, a NUL, a day at the calendar's ends or just past what exists, an
offset no clock shows, a number Python will not read, full-width digits in a
code, JSON nested ten thousand deep, spreadsheet cells of every type.
"""

from __future__ import annotations

import re
from datetime import date, datetime

from tests.support.notification_client import SECRET
from tests.support.records import BAIYUN, XINSHI, credit_code, id_number

# Text of every kind, for every field: a JSON string in bodies, percent-encoded (UTF-8, a surrogate
# passed through as ED A0 80) in paths and queries, raw bytes in headers. (label, text)
TEXTS: list[tuple[str, str]] = [
    *(("empty", ""), ("spaces only", "   "), ("ideographic space and tab", "\u3000\t")),
    *(("10,000 characters", "x" * 10_000), ("NUL", "\x00"), ("NUL inside", "a\x00b")),
    *(("control characters", "\x01\x1b[0m\x7f\x85"), ("CR LF inside", "a\r\nb"), ("RTL marks", "\u202e\u200fabc")),
    *(
        ("combining marks", "e\u0301\u0308"),
        ("full-width digits", "４４０１１１"),
        ("Arabic-Indic digits", "٤٤٠١١١٠٠٨"),
    ),
    *(("emoji", "😀👨\u200d👩\u200d👧"), ("lone high surrogate", "\ud800"), ("lone low surrogate", "x\udfff")),
    *(("BOM and noncharacters", "\ufeff\uffff\U0010ffff"), ("percent-encoded surrogate", "%ED%A0%80")),
    ("quotes", "'\"\\;--"),
]
# Numbers as text, for the fields and parameters that hold a number
NUMBER_TEXTS: list[tuple[str, str]] = [
    *((text, text) for text in ("-1", "0", "1.5", "1e308", "NaN", "-Infinity", "１", "٣")),
    *(("10**30", str(10**30)), ("4,400 digits", "1" + "0" * 4_400)),
]
# Days, times and weeks at the calendar's ends and just past what exists, for the fields that hold one
DAYS: list[str] = [
    *("0001-01-01", "9999-12-31", "1899-12-31", "1900-01-01", "9998-12-31", "0000-01-01"),
    *("2024-02-29", "2023-02-29", "2100-02-29", "2026-02-30"),
    *("9999-12-31T23:59:59+14:00", "0001-01-01T00:00:00-12:00", "0001-01-01T00:00:00+14:00"),
    *("9999-12-31T23:59:59-14:00", "9999-12-31T23:59:59.999999999999Z", "1899-12-31T23:59:59Z"),
    *("9998-12-31T23:59:59-12:00", "1900-01-01T00:00:00+08:05:43", "2024-02-29T23:59:59.9999995+14:00"),
    *("2026-02-25T10:30:00.123456789012345678+08:00", "2026-02-25T10:30:00+24:00", "2026-02-25T10:30:00-23:59"),
    *("2026-02-25T24:00:00+08:00", "2026-02-25T10:30:60+08:00", "2026-02-25T10:30:00", "2026-02-25 10:30+08"),
    *("9999-W52", "9999-W53", "0001-W01", "0000-W01", "2026-W53", "2020-W53", "2026-W00", "1899-W52"),
    *("1900-W01", "9998-W52", "2026-W09-5", "2026W09"),
]
# Raw JSON: STRUCTURES for every place in a body, NUMBERS for those that hold a number, DOCUMENT for the
# body and its members (where they sit inside the body makes no difference to a parser)
STRUCTURES: list[tuple[str, str]] = [
    *((text, text) for text in ("null", "true", "[]", "{}", "[null]", "1.5", "NaN")),
    *(("10**30", str(10**30)), ("duplicate keys", '{"a": 1, "a": 2}'), ("a string", '"x"')),
]
NUMBERS: list[tuple[str, str]] = [
    *((text, text) for text in ("-1", "0", "-0.0", "1e308", "-1e308", "1e400", "Infinity", "-Infinity")),
    *(("-(2**63)", str(-(2**63))), ("2**64", str(2**64))),
]
DOCUMENT: list[tuple[str, str]] = [
    ("4,400 digits", "1" + "0" * 4_400),
    ("nested 30 deep", "[" * 30 + "]" * 30),
    ("nested 10,000 deep", "[" * 10_000 + "]" * 10_000),
    ("surrogate as UTF-8 bytes", '"\ud800"'),  # written with surrogatepass: the bytes ED A0 80, not an escape
]
UNWRITABLE = re.compile("[\ud800-\udfff\ufffe\uffff]")
WHOLE = frozenset({"4,400 digits", "nested 10,000 deep", "surrogate as UTF-8 bytes"})  # no row of a file is read
# Typed cells of a workbook: what a clerk's spreadsheet holds besides text
CELLS: list[tuple[str, object]] = [
    *(("number 10**30", 10**30), ("number -1", -1), ("number 1e308", 1e308), ("number 1.5", 1.5)),
    *(("date 0001-01-01", datetime(1, 1, 1)), ("date 9999-12-31 23:59:59", datetime(9999, 12, 31, 23, 59, 59))),
    *(("day 1899-12-30", date(1899, 12, 30)), ("boolean", True)),
]
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
DEVANAGARI = str.maketrans("0123456789", "०१२३४५६७८९")
# Good values for a field the matrix's bodies leave out, the first matching its pattern
GOOD_TEXTS = ("测试", XINSHI, BAIYUN, f"{XINSHI}001", "2026-W09", id_number(), "13800138000", credit_code(), "M01")
GOOD_FORMATS = {
    "date": "2026-02-25",
    "date-time": "2026-02-25T10:30:00+08:00",
    "uuid": "0b6f7d2e-55b1-4c3e-9a40-2f1c7e8d9a10",
    "uri": "http://127.0.0.1:9/odd",
    "password": SECRET,
}
