"""A dead letter's body as the dead-letter topic keeps it: sealed, bound to where it came from.

Apart from the failure policy (shared/kafka/failures.py) so that `popflow dead-letters` opens a dead letter
without importing what the policy judges errors with (SQLAlchemy, Alembic, the metrics).
"""

from __future__ import annotations

from shared.sealing import Keyring


def seal_dead_letter(keyring: Keyring, body: bytes, headers: dict[str, str]) -> bytes:
    """The body as the dead-letter topic keeps it: sealed, bound to where it came from.

    A dead letter may be anything (undecodable bytes, a payload whose personal
    parts travelled in clear), so the whole body is sealed; `popflow
    dead-letters show` opens it for an admin.
    """
    return keyring.seal_bytes(body, context=_dead_letter_context(headers)).encode()


def open_dead_letter(keyring: Keyring, body: bytes, headers: dict[str, str]) -> bytes:
    """What `seal_dead_letter` sealed; bodies from before sealing are returned as they are."""
    if headers.get("sealed") != SEALED_HEADER:
        return body
    return keyring.open_bytes(body.decode(), context=_dead_letter_context(headers))


SEALED_HEADER = "pf1"
TRUNCATED_HEADER = "truncated_from"  # a dead letter that keeps only the start of its body: the body's whole length


def _dead_letter_context(headers: dict[str, str]) -> str:
    return "deadletter/{}/{}/{}".format(
        *(headers.get(h, "") for h in ("source_topic", "source_partition", "source_offset"))
    )
