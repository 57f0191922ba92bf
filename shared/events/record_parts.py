"""The optional parts of a case record added after the walking skeleton.

Every field here is optional in the record, so a skeleton payload stays
valid and RecordSubmitted keeps version 1. Shapes only (digits, lengths,
allowed values); whether codes exist and dates agree is intake's validation.
No contraception, pregnancy or birth-control field belongs here, ever
(scope decision in DOMAIN.md).
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

StreetCode = Annotated[str, Field(pattern=r"^[0-9]{9}$", description="9-digit street/township code")]
DivisionCode = Annotated[
    str, Field(pattern=r"^([0-9]{6}|[0-9]{9})$", description="6-digit district or 9-digit street code")
]
CommunityCode = Annotated[str, Field(pattern=r"^[0-9]{12}$", description="12-digit community (社区/村) code")]
CreditCode = Annotated[
    str,
    Field(
        pattern=r"^[0-9A-HJ-NP-RT-UW-Y]{2}[0-9]{6}[0-9A-HJ-NP-RT-UW-Y]{10}$",
        description="18-character unified social credit code (GB 32100)",
    ),
]


class Part(BaseModel):
    """Base of every part of a record: frozen, unknown fields rejected, text trimmed."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class Sex(StrEnum):
    MALE = "male"
    FEMALE = "female"


class MaritalStatus(StrEnum):
    UNMARRIED = "unmarried"
    MARRIED = "married"
    DIVORCED = "divorced"
    WIDOWED = "widowed"


class CertificateResult(StrEnum):
    """Outcome of checking the marriage-and-childbearing certificate (婚育证明)."""

    VALID = "valid"
    EXPIRED = "expired"
    MISSING = "missing"
    INVALID = "invalid"


class ChangeKind(StrEnum):
    """What a change record (event 'change', 变更) reports as changed."""

    MARRIAGE = "marriage"  # marital status
    RESIDENCE = "residence"
    CERTIFICATE = "certificate"  # a certificate checked again or renewed: the record carries the new check
    EMPLOYER = "employer"
    OTHER = "other"


class SourceKind(StrEnum):
    CANVASS = "canvass"
    SCHOOL = "school"
    KINDERGARTEN = "kindergarten"
    POLICE_STATION = "police_station"
    ENTERPRISE = "enterprise"
    IMPORT = "import"
    SPOT_CHECK = "spot_check"  # a person a place check found and PopFlow did not hold: entered afterwards (补登)


class KeyAreaKind(StrEnum):
    """Kind of key area a field canvass covers (重点场所)."""

    MARKET = "market"
    ROADSIDE_SHOP = "roadside_shop"
    ENTERPRISE = "enterprise"
    RENTAL_HOUSING = "rental_housing"
    OTHER = "other"


class Certificate(Part):
    """The marriage-and-childbearing certificate as checked; a missing one has only result and date."""

    result: CertificateResult = Field(description="Result of the check: valid, expired, missing or invalid")
    checked_on: date = Field(description="Date the certificate was checked")
    number: str | None = Field(default=None, min_length=1, max_length=40, description="Certificate number")
    issuing_division: DivisionCode | None = Field(default=None, description="District or street that issued it")
    issued_on: date | None = Field(default=None, description="Issue date")
    valid_until: date | None = Field(default=None, description="Last day the certificate is valid")


class Employer(Part):
    name: str = Field(min_length=1, max_length=100, description="Employer (工作单位) name")
    credit_code: CreditCode | None = Field(default=None, description="Unified social credit code")


class NewResidence(Part):
    """Where a person who moved away now lives, when known (outflow)."""

    street: StreetCode | None = Field(default=None, description="New street, when known")
    address: str | None = Field(default=None, max_length=200, description="New address, when known")
