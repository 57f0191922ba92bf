"""What no retry can fix is dead-lettered, not retried for ever: text a contract needs in ASCII included."""

from __future__ import annotations

import pytest

from shared.identity import person_key
from shared.kafka.failures import is_permanent


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
