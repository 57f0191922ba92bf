"""Stored records keep their addresses and employer sealed in place (`records.record`).

Each clear address (residence, registration, new residence), the employer's
name and an individual business's credit code (`92...`) is sealed where it
stands, bound to "<record id>/<path>", as services/intake/adapters/sealed.py
seals new records. A part already sealed is left alone, so a row stored
after this revision, or a second run, changes nothing. The person stays in
`person_sealed` as before; rows of the walking skeleton (before 0002) keep
theirs in `record`, as docs/intake.md says.

Revision ID: 0007
"""

from typing import Any

from shared.db.sealing_migration import seal_json_rows
from shared.events.envelope import changed_parts
from shared.sealing import Keyring, is_sealed

revision = "0007"
down_revision = "0006"

# paths and contexts as services/intake/adapters/sealed.py seals them
PATHS = (
    "residence.address",
    "registration.address",
    "new_residence.address",
    "employer.name",
    "employer.credit_code",
)
CREDIT_CODE = "employer.credit_code"
INDIVIDUAL_BUSINESS = "92"


def upgrade() -> None:
    seal_json_rows("records", key="record_id", column="record", seal=_sealed)


def downgrade() -> None:
    raise NotImplementedError("sealed addresses and employers are not put back in clear")


def _sealed(record: Any, record_id: str, keyring: Keyring) -> dict[str, Any] | None:
    """The record with its clear parts sealed, or None when it holds none."""
    if not isinstance(record, dict):
        return None
    sealed: list[str] = []

    def seal(value: Any, path: str) -> Any:
        if is_sealed(value) or (path == CREDIT_CODE and not str(value).startswith(INDIVIDUAL_BUSINESS)):
            return value
        sealed.append(path)
        return keyring.seal(value, context=f"{record_id}/{path}")

    changed = changed_parts(record, PATHS, seal)
    return changed if sealed else None
