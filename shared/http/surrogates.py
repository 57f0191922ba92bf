"""A JSON body holding half of a character (shared/surrogates.py) is a 422 at its field, at every door.

Checked by `BodyLimits` on the bodies it reads whole, before any route parses
them, so no route of the four services can store, publish or echo such a
text. The answer names the field as a JSON pointer and never the text: it may
be a name or an identity number. A field name holding one cannot be shown
either, so the object holding it is named.
"""

from __future__ import annotations

import json

from shared.http.problems import FieldError, ValidationProblem
from shared.surrogates import IN_TEXT, LoneHalf, lone_halves

IN_NAME = "has a field name containing half of a character that cannot be stored; type the name again"
# Only a body holding one of these can decode to a lone half: the JSON escape of one (\uD800-\uDFFF), its
# bytes in UTF-8 (ED A0-BF, which json.loads takes with surrogatepass), or a UTF-16/32 body (NUL bytes).
# Each is one fast bytes search; a body with Hangul (U+D000-D7FF) is parsed for nothing, and no more.
_MARKS = (b"\\ud", b"\\uD", b"\xed", b"\x00")


def lone_half_problem(body: bytes) -> ValidationProblem | None:
    """The 422 for a JSON body holding half of a character, or None (for malformed JSON too: the route's)."""
    if not any(mark in body for mark in _MARKS):
        return None
    try:
        found = lone_halves(json.loads(body))
    except (ValueError, RecursionError):  # not JSON (UnicodeDecodeError is a ValueError): the route answers it
        return None
    return ValidationProblem([_field_error(half) for half in found]) if found else None


def _field_error(half: LoneHalf) -> FieldError:
    return FieldError.at(tuple(half.location), IN_NAME if half.in_name else IN_TEXT)
