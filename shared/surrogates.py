"""Half of a character: a lone half of a UTF-16 surrogate pair, which no text encoding can store.

JSON may escape one ("\\ud83d", an emoji's first half with its second lost),
and Python's json module (over bytes, with surrogatepass) turns it into a str
that pydantic accepts as text. It breaks only later: UTF-8 cannot encode it,
so orjson, asyncpg and the HTTP answer refuse it, and the caller got a 500 or
a dropped connection. Find it where the text arrives instead.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

LONE_HALF = re.compile("[\ud800-\udfff]")  # a whole pair is decoded as one character: any left is alone
# what a clerk is told, for a text holding one: the field is named beside it, never the text
IN_TEXT = "contains half of a character (of an emoji, say) that cannot be stored; type the text again"

Location = tuple[str | int, ...]


class LoneHalf(NamedTuple):
    """Where a lone half was found: in the text at `location`, or in a field name of the object there."""

    location: Location
    in_name: bool


def has_lone_half(text: str) -> bool:
    return LONE_HALF.search(text) is not None


def lone_halves(value: Any) -> list[LoneHalf]:
    """Every text of a parsed JSON value (field names too) holding a lone half, in document order.

    Iterative, as `shared.http.limits.value_depth` is: no recursion limit to hit.
    """
    found: list[LoneHalf] = []
    pending: list[tuple[Any, Location]] = [(value, ())]
    while pending:
        current, location = pending.pop()
        if isinstance(current, str):
            if has_lone_half(current):
                found.append(LoneHalf(location, in_name=False))
        elif isinstance(current, dict):
            if any(has_lone_half(name) for name in current):
                found.append(LoneHalf(location, in_name=True))  # the name itself cannot be shown
            pending += reversed([(v, (*location, k)) for k, v in current.items() if not has_lone_half(k)])
        elif isinstance(current, list):
            pending += reversed([(item, (*location, i)) for i, item in enumerate(current)])
    return found
