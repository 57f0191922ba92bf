"""The exchange door (partner-signed, no API key) and the bureau's view of the exchange."""

# No `from __future__ import annotations`: FastAPI must see the closure-local `Caller` alias.

from typing import Annotated, Any

from fastapi import APIRouter, Request

from services.notification.entrypoints.http.common import caller
from services.notification.service_layer.exchange_door import ExchangeDoor
from services.notification.service_layer.exchange_overview import ExchangeOverview
from shared.auth import Principal
from shared.auth.dependencies import Authenticate


def exchange_router(*, door: ExchangeDoor, overview: ExchangeOverview, authenticate: Authenticate) -> APIRouter:
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

    return router
