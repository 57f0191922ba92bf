"""What no retry can fix is dead-lettered, not retried for ever: text a contract needs in ASCII included."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy.exc import IntegrityError

from shared.identity import person_key
from shared.kafka.failures import PermanentFailure, describe, is_permanent


def test_an_identity_number_in_other_digits_is_permanent_where_its_key_is_made() -> None:
    # full-width digits pass a length bound, but a person key is made of the number's ASCII bytes
    with pytest.raises(UnicodeEncodeError) as caught:
        person_key("４３０１０２１９９００３０７０１２７", b"secret")
    assert is_permanent(caught.value)


def test_bytes_that_do_not_decode_are_permanent_and_a_lost_connection_is_not() -> None:
    with pytest.raises(UnicodeDecodeError) as caught:
        b"\xff\xfe".decode()
    assert is_permanent(caught.value)
    assert not is_permanent(ConnectionResetError("peer went away"))


def test_a_dead_letters_error_header_quotes_no_value_of_a_database_error() -> None:
    driver = asyncpg.exceptions.UniqueViolationError.new(
        {"M": 'duplicate key value violates unique constraint "uq_ref"', "D": "Key (ref)=(acme-7731) already exists."}
    )
    why = describe(PermanentFailure(str(IntegrityError("INSERT ...", None, driver))))
    assert "acme-7731" not in why
    assert 'unique constraint "uq_ref"\nDETAIL:  [redacted]' in why
