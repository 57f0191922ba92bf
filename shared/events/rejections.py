"""Records that intake turned away: a count for the weekly report, nothing personal.

Intake publishes one RecordRejected per rejected submission (after
validation failed), keyed by the reporting street. It carries no field of
the record beyond the street and the source kind: a rejected record may hold
a mistyped identity number or name, which must not travel.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from shared import topics
from shared.events.envelope import Event, register
from shared.events.records import ClockTime


@register
class RecordRejected(Event):
    """Intake rejected a submitted record (it failed validation)."""

    TYPE: ClassVar[str] = "RecordRejected"
    VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = topics.RECORDS_REJECTED

    reporting_street: str = Field(
        max_length=9,
        description="Street that submitted the record (9 digits), or '' when that field itself was unreadable",
    )
    rejected_at: ClockTime = Field(
        description="When intake rejected the record (UTC), with an offset; drives the report week"
    )
    error_count: int = Field(ge=1, le=10_000, description="How many fields were wrong (a record has a few dozen)")
    source_kind: str | None = Field(
        default=None,
        max_length=30,
        description="Where the record came from (field_canvass, school, ...), when readable",
    )
