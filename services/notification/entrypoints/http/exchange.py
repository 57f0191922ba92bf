"""The exchange door (partner-signed, no API key) and the bureau's view and redelivery of the exchange."""

# No `from __future__ import annotations`: FastAPI must see the closure-local `Caller` alias.

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request

from services.notification.domain.exchange_messages import EXCHANGE_ID
from services.notification.entrypoints.http.common import caller
from services.notification.service_layer.exchange_door import ExchangeDoor
from services.notification.service_layer.exchange_overview import ExchangeOverview
from services.notification.service_layer.exchange_redelivery import ExchangeRedelivery
from shared.auth import Principal
from shared.auth.dependencies import Authenticate

PartnerName = Annotated[str, Path(min_length=1, max_length=100, description="A partner's name in the partners file")]
MessageId = Annotated[
    str, Path(pattern=EXCHANGE_ID, description="A notice's id, or the id of an answer owed to a partner")
]


def exchange_router(
    *, door: ExchangeDoor, overview: ExchangeOverview, redelivery: ExchangeRedelivery, authenticate: Authenticate
) -> APIRouter:
    router = APIRouter(prefix="/v1/exchange", tags=["exchange"])
    Caller = Annotated[Principal, caller(authenticate)]

    @router.post("/notices")
    async def receive_notice(request: Request) -> dict[str, object]:
        """A partner's notice: signed with its key (webhook-* headers), sealed for us; idempotent by message id."""
        partner, message = door.authenticate(request.headers, await request.body())
        return (await door.receive_notice(partner, message)).view()

    @router.post("/answers")
    async def receive_answer(request: Request) -> dict[str, object]:
        """A partner's answer to a notice we sent it; applied like a local answer; idempotent by message id."""
        partner, message = door.authenticate(request.headers, await request.body())
        return (await door.receive_answer(partner, message)).view()

    @router.get("/partners")
    async def partners(principal: Caller) -> dict[str, Any]:
        """Per partner: ready or what is missing, deliveries by state, messages received; failed deliveries."""
        return await overview.partners(principal)

    @router.post("/partners/{partner}/redeliver", status_code=202)
    async def redeliver_to_partner(partner: PartnerName, principal: Caller) -> dict[str, object]:
        """A new round for every failed message to the partner (notices, answers we owe it); `more`: call again."""
        return (await redelivery.partner(principal, partner)).view(partner)

    @router.post("/messages/{message_id}/redeliver", status_code=202)
    async def redeliver_message(message_id: MessageId, principal: Caller) -> dict[str, object]:
        """A new round for one message to a partner, whatever its state; the partner takes a repeat as a duplicate."""
        await redelivery.message(principal, message_id)
        return {"message_id": message_id, "state": "pending"}

    return router
