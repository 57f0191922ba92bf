"""Bodies that leave the system, as models: their JSON Schemas go into docs/catalogue/.

The webhook notice is what notification POSTs to a recipient's URL (and
shows at GET /v1/notices/{id}); `services/notification/domain/payload.py`
builds it field by field, and a unit test holds the two together.
"""

from __future__ import annotations

from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.events.notices import NoticeKind
from shared.events.routing import Route


class WebhookPerson(BaseModel):
    """Only what the recipient needs to find the person."""

    # NoticePerson without its residence street code: that travels between deployments, not to offices

    model_config = ConfigDict(frozen=True, extra="forbid", title="NoticePerson")

    name: str = Field(max_length=50, description="Full name")
    id_number: str = Field(max_length=18, description="Resident identity number")
    residence_address: str = Field(max_length=200, description="Where the person lives now")


class WebhookNotice(BaseModel):
    """A notice as its recipient receives it: only what is needed to find the person."""

    model_config = ConfigDict(frozen=True, extra="forbid", title="WebhookNotice")

    notice_id: str = Field(description="Unique, stable id of the notice: the same on every retry, deduplicate on it")
    kind: NoticeKind = Field(description="Why the notice exists: transfer, forward, registration, recheck, ...")
    recipient_code: str = Field(description="9-digit street or 6-digit district bureau code the notice is for")
    route: Route = Field(description="Route of the case that caused the notice")
    reason: str = Field(description="Why the recipient is notified, in words")
    person: WebhookPerson = Field(description="The person, with the least detail needed to find them")
    record_id: str = Field(description="The case record the notice is about")
    record_link: str | None = Field(
        description="Where the case record can be read: its URL with ?notice=<notice id>&grant=<grant>, which "
        "opens it to the recipient's key even when another office reported it (audited), from the moment it "
        "arrives. Null for a notice another district's deployment sent through the exchange: that district keeps "
        "the record, and the notice carries what is needed to find the person"
    )
    # with its offset, as every time of every event: a receiver could only guess the zone of one without, and the
    # tests that hold our documents to this model refuse one
    issued_at: AwareDatetime = Field(description="When routing issued the notice (ISO 8601 in UTC, with its offset)")
    answer_expected: bool = Field(
        description="Whether the recipient is asked to answer (confirmed, corrected, not found or rejected); "
        "an expected answer that does not come is reminded, then escalated to the bureau"
    )
    answer_due: AwareDatetime | None = Field(
        description="When an expected answer is overdue and reminded (ISO 8601 in UTC, with its offset); null when"
        " none is expected"
    )


def json_schema_document(model: type[BaseModel], name: str) -> dict[str, Any]:
    """A model's JSON Schema as a standalone document, named as it is committed and served."""
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": name, **model.model_json_schema()}


# served by every service at /catalogue/{name} and committed under docs/catalogue/
SHARED_SCHEMAS: dict[str, type[BaseModel]] = {"webhook-notice.schema.json": WebhookNotice}
