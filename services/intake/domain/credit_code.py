"""Unified social credit codes (GB 32100-2015): 18 characters, the last a mod-31 check."""

from __future__ import annotations

from typing import Any

from services.intake.domain.fields import FieldProblem, text_at

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # no I, O, S, V, Z
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
CREDIT_CODE = ("employer", "credit_code")


def check_character(first17: str) -> str:
    """The check character for the first 17 characters of a code."""
    total = sum(ALPHABET.index(char) * weight for char, weight in zip(first17, WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def is_valid_credit_code(code: str) -> bool:
    """True for 18 characters of the code alphabet whose last one is the right check."""
    if len(code) != 18 or any(char not in ALPHABET for char in code):
        return False
    return check_character(code[:17]) == code[17]


def credit_code_problems(raw: Any) -> list[FieldProblem]:
    code = text_at(raw, CREDIT_CODE)
    if code is None or len(code) != 18 or any(char not in ALPHABET for char in code):
        return []  # absent, or a shape problem the model reports
    if not is_valid_credit_code(code):
        return [(CREDIT_CODE, "the check character (last) does not match; re-read the business licence")]
    return []
