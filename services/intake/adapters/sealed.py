"""The personal parts of a stored record kept sealed (shared.sealing) in `records.record`, each bound to
its record id and path.

The person lives apart, in `records.person_sealed` (bound to the record id).
Inside `record` the addresses RecordSubmitted seals on the wire and the
employer's name are sealed in place, a `pf1.` string where the text was, with
`<record id>/<path>` as context: a value copied to another row or path does
not open. The employer's unified social credit code stays in clear for an
enterprise or other organisation (a public registration number that says
nothing of a person) and is sealed for an individual business (个体工商户,
codes `92...`), which is registered to one natural person, often the person
of the record. Whoever shows a stored record opens it here; migration 0007
sealed the rows stored before.
"""

from __future__ import annotations

from typing import Any

from shared.events.envelope import changed_parts
from shared.sealing import Keyring, is_sealed

# RecordSubmitted's SEALED addresses as the row holds them (tested to cover them), and the employer
SEALED_PATHS = (
    "residence.address",
    "registration.address",
    "new_residence.address",
    "employer.name",
    "employer.credit_code",
)
CREDIT_CODE = "employer.credit_code"
INDIVIDUAL_BUSINESS = "92"  # GB 32100: registered by market regulation (9), an individual business (2)


def seal_record(body: dict[str, Any], record_id: str, keyring: Keyring) -> dict[str, Any]:
    """`body` (a record's JSON without its person) with its personal parts sealed for the row `record_id`."""

    def seal(value: Any, path: str) -> Any:
        if path == CREDIT_CODE and not _of_a_person(value):
            return value
        return keyring.seal(value, context=f"{record_id}/{path}")

    return changed_parts(body, SEALED_PATHS, seal)


def open_record(body: dict[str, Any], record_id: str, keyring: Keyring) -> dict[str, Any]:
    """What `seal_record` sealed, opened; SealError when a part does not open here."""

    def open_part(token: Any, path: str) -> Any:
        if path == CREDIT_CODE and not is_sealed(token):  # an enterprise's code (a code holds no ".")
            return token
        return keyring.open(str(token), context=f"{record_id}/{path}")

    return changed_parts(body, SEALED_PATHS, open_part)


def _of_a_person(credit_code: Any) -> bool:
    return isinstance(credit_code, str) and credit_code.startswith(INDIVIDUAL_BUSINESS)
