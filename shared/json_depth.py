"""How deeply JSON nests, and the limit every door holds it to (shared/http/limits.py).

Apart from the HTTP middleware so that what reads JSON outside a request (`popflow import` counting a file's
rows, intake's bulk reader) does not import FastAPI and SQLAlchemy with it.
"""

from __future__ import annotations

import re
import sys
from typing import Any

MAX_JSON_DEPTH = 32
# valid JSON that json.loads refuses with a plain ValueError: an integer longer than Python converts
LONG_NUMBER = f"holds a number of more than {sys.get_int_max_str_digits():,} digits"
_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def json_depth(body: bytes) -> int:
    """How deeply the arrays and objects of a JSON text nest (strings skipped); cheap for ordinary bodies."""
    brackets = _STRINGS.sub(b"", body).translate(None, _NOT_BRACKETS)
    if brackets.count(b"[") + brackets.count(b"{") <= MAX_JSON_DEPTH:
        return min(brackets.count(b"[") + brackets.count(b"{"), MAX_JSON_DEPTH)
    depth = deepest = 0
    for byte in brackets:
        depth += 1 if byte in b"[{" else -1
        deepest = max(deepest, depth)
    return deepest


def value_depth(value: Any) -> int:
    """How deeply a parsed JSON value nests (iterative: no recursion limit to hit)."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        current, depth = pending.pop()
        if isinstance(current, dict | list):
            deepest = max(deepest, depth)
            pending += [(item, depth + 1) for item in (current.values() if isinstance(current, dict) else current)]
    return deepest
