"""GB 11643 identity numbers: check digit, birth date, person keys."""

from __future__ import annotations

import hashlib
import hmac
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.identity import (
    birth_date_of,
    check_character,
    has_valid_check_digit,
    holds_identity_number,
    person_key,
    sex_of,
)
from tests.support.records import id_number

KNOWN_VALID = "11010519491231002X"  # the standard's own worked example


def test_standard_example_is_valid() -> None:
    assert has_valid_check_digit(KNOWN_VALID)
    assert has_valid_check_digit(KNOWN_VALID.lower())
    assert birth_date_of(KNOWN_VALID) == date(1949, 12, 31)
    assert sex_of(KNOWN_VALID) == "female"


def test_malformed_numbers_are_invalid() -> None:
    assert not has_valid_check_digit("11010519491231002")
    assert not has_valid_check_digit("1101051949123100XX")
    assert not has_valid_check_digit("110105194912310021")


valid_numbers = st.builds(
    id_number,
    region=st.sampled_from(["110105", "440111", "430102", "310115"]),
    born=st.dates(min_value=date(1930, 1, 1), max_value=date(2020, 12, 31)),
    sequence=st.integers(min_value=0, max_value=999),
)


@given(valid_numbers)
def test_generated_numbers_pass(number: str) -> None:
    assert has_valid_check_digit(number)


@given(valid_numbers, st.integers(min_value=0, max_value=17), st.sampled_from("0123456789X"))
def test_every_single_character_corruption_fails(number: str, position: int, char: str) -> None:
    corrupted = number[:position] + char + number[position + 1 :]
    if corrupted != number:
        assert not has_valid_check_digit(corrupted)


def test_person_key_is_keyed_and_stable() -> None:
    assert person_key(KNOWN_VALID, b"k1") == person_key(KNOWN_VALID.lower(), b"k1")
    assert person_key(KNOWN_VALID, b"k1") != person_key(KNOWN_VALID, b"k2")
    assert KNOWN_VALID not in person_key(KNOWN_VALID, b"k1")


@pytest.mark.parametrize("secret", [b"", b"k1", b"s" * 32, b"s" * 64, b"s" * 65, b"s" * 200])
def test_person_key_is_hmac_sha256_of_the_number(secret: bytes) -> None:
    """Stored keys and Kafka's partitions hang on it: it stays HMAC-SHA256 of the trimmed, upper-cased number,
    for keys shorter and longer than SHA-256's block, and alternating secrets do not mix."""
    for number in (KNOWN_VALID, f" {KNOWN_VALID.lower()} "):
        expected = hmac.new(secret, KNOWN_VALID.encode("ascii"), hashlib.sha256).hexdigest()
        assert person_key(number, secret) == expected
        assert person_key(number, secret + b"!") != expected


def test_the_check_character_needs_exactly_17_digits() -> None:
    assert check_character(KNOWN_VALID[:17]) == "X"
    for wrong in (KNOWN_VALID[:16], KNOWN_VALID[:17] + "0", KNOWN_VALID[:16] + "a", KNOWN_VALID[:16] + "\uff11"):
        with pytest.raises(ValueError, match="17 digits"):
            check_character(wrong)


@given(st.text(alphabet="0123456789", min_size=17, max_size=17))
def test_the_check_character_is_the_standards_weighted_sum_mod_11(first17: str) -> None:
    # GB 11643: weights 2^(i-1) mod 11 from the right; the check maps (12 - sum mod 11) mod 11, 10 written as X
    weights = [pow(2, 17 - i, 11) for i in range(17)]
    remainder = (12 - sum(int(d) * w for d, w in zip(first17, weights, strict=True)) % 11) % 11
    assert check_character(first17) == ("X" if remainder == 10 else str(remainder))


@pytest.mark.parametrize(
    ("text", "holds"),
    [
        (KNOWN_VALID, True),
        (KNOWN_VALID.lower(), True),
        (f"batch-{KNOWN_VALID}-2", True),
        (f"{KNOWN_VALID}0001", True),  # followed by a serial: the logs' 18-digits-alone mask misses it
        (f"77{KNOWN_VALID}", True),
        (KNOWN_VALID[:17] + "3", True),  # a slip in the check character still names the person
        ("202703011530000001", False),  # a time and a serial: 7th-14th digits no birth date
        ("1" * 18, False),
        ("11010519491231002", False),  # 17 digits
        ("110105-19491231-002X", False),
    ],
)
def test_an_identity_number_is_found_wherever_it_lies_in_a_run_of_digits(text: str, holds: bool) -> None:
    assert holds_identity_number(text) is holds


@given(st.text(alphabet="0123456789X-", max_size=60))
def test_what_holds_one_has_a_birth_date_in_18_of_its_digits(text: str) -> None:
    if holds_identity_number(text):
        assert any(
            (born := birth_date_of(text[i : i + 18])) is not None and 1900 <= born.year <= 2099
            for i in range(len(text) - 17)
        )
