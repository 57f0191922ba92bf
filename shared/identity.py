"""Resident identity numbers (GB 11643-1999): check digit, birth date, sex."""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
from datetime import date
from operator import mul

from shared.digits import ascii_digits

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"
_ZEROS = ord("0") * sum(WEIGHTS)  # what the digits' character codes add beyond their values


def check_character(first17: str) -> str:
    """The mod-11 check character for the first 17 digits."""
    if not ascii_digits(first17, len(WEIGHTS)):
        raise ValueError("the check character is computed from exactly 17 digits")
    # the character codes times the weights, less the zeros' share: a third of int() per digit, and
    # every consumed record's number is checked once more on decoding (routing's profile: 5 % of a decision)
    total = sum(map(mul, first17.encode(), WEIGHTS)) - _ZEROS
    return CHECK_CHARS[total % 11]


def has_valid_check_digit(id_number: str) -> bool:
    """True for 17 digits followed by their correct check character (digit or X)."""
    if len(id_number) != 18 or not ascii_digits(id_number[:17]):
        return False
    return check_character(id_number[:17]) == id_number[17].upper()


_DIGIT_RUN = re.compile(r"[0-9]{17,}[0-9Xx]?")


def holds_identity_number(text: str) -> bool:
    """True when an identity number could be read in `text`: 18 characters of a run of digits (its last an X or
    a digit) whose digits 7-14 are a birth date of the years 1900-2099, wherever they lie in the run. The check
    character is not asked for (a number with a slip in it still names its person). Narrower than the logs'
    mask (any 18 digits alone, shared.logging): a time and a serial (`20270301153000` `0001`) holds no birth date
    there; broader where a run is longer than 18 (an identity number followed by a serial)."""
    for run in _DIGIT_RUN.finditer(text):
        digits = run[0]
        for start in range(len(digits) - 17):
            window = digits[start : start + 18]
            if (born := birth_date_of(window)) is not None and 1900 <= born.year <= 2099:  # the run's digits
                return True
    return False


def birth_date_of(id_number: str) -> date | None:
    """The birth date in digits 7-14, or None when it is not a real date."""
    digits = id_number[6:14]
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return None


def sex_of(id_number: str) -> str:
    """'male' when digit 17 is odd, 'female' when even."""
    return "male" if int(id_number[16]) % 2 else "female"


def person_key(id_number: str, secret: bytes) -> str:
    """A keyed HMAC-SHA256 of the identity number: a stable key that reveals nothing.

    Used as the Kafka message key (so every event of one person stays in one
    partition, in order) and as the look-up key in stores.
    """
    keyed = _keyed(secret).copy()  # the key's pads hashed once per secret, not once per number
    keyed.update(id_number.strip().upper().encode("ascii"))
    return keyed.hexdigest()


@functools.lru_cache(maxsize=8)
def _keyed(secret: bytes) -> hmac.HMAC:
    return hmac.new(secret, digestmod=hashlib.sha256)
