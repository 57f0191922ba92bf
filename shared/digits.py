"""ASCII digits only: division codes and identity numbers are written in 0-9.

`str.isdigit()` and the regex class `\\d` (in Python and in pydantic's Rust
engine alike) also accept Arabic-Indic, full-width and other Unicode digits,
which then pass a shape check and break whatever does arithmetic or a lookup
on the code further on. Use these, and `[0-9]` in patterns, instead.
"""

from __future__ import annotations


def ascii_digits(value: object, length: int | None = None) -> bool:
    """True when `value` is a non-empty str of 0-9 only (of `length` characters, when given)."""
    if not isinstance(value, str) or not value.isascii() or not value.isdigit():
        return False
    return length is None or len(value) == length
