"""Routing's decision about a record."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import Field

from shared import topics
from shared.events.envelope import Event, register
from shared.events.records import ClockTime


class Route(StrEnum):
    SAME_DISTRICT = "same-district"
    CROSS_STREET = "cross-street"
    INTER_DISTRICT = "inter-district"


@register
class RecordRouted(Event):
    """Routing decided where a record goes."""

    TYPE: ClassVar[str] = "RecordRouted"
    VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = topics.RECORDS_ROUTED

    record_id: str = Field(max_length=36, description="The routed record")
    route: Route = Field(description="same-district, cross-street or inter-district")
    reporting_street: str = Field(max_length=9, description="Street that reported the record")
    residence_street: str = Field(max_length=9, description="Street where the person lives")
    observed_at: ClockTime = Field(description="When the person was seen (drives the report week), with an offset")
    decided_at: ClockTime = Field(description="When routing decided (UTC), with an offset")
