"""Subscriptions: where a recipient wants its notices pushed. The secret is write-only."""

# No `from __future__ import annotations`: FastAPI must see the closure-local `Caller` alias.

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Response
from fastapi.responses import JSONResponse
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, SecretStr

from services.notification.adapters.clock import Clock
from services.notification.adapters.webhooks import Subscription, WebhookStore
from services.notification.domain.access import may_see
from services.notification.entrypoints.http.common import RecipientCode, caller
from shared.auth import Principal
from shared.auth.dependencies import Authenticate


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: AnyHttpUrl = Field(description="http(s) URL that receives each notice as a signed POST")
    secret: SecretStr = Field(min_length=16, max_length=200, description="Shared signing secret; never shown again")


def webhooks_router(*, webhooks: WebhookStore, authenticate: Authenticate, clock: Clock) -> APIRouter:
    router = APIRouter(prefix="/v1/recipients", tags=["webhooks"])
    Caller = Annotated[Principal, caller(authenticate)]

    def check(principal: Principal, code: str) -> None:
        if not may_see(principal, code):
            raise HTTPException(404, "No recipient with this code in your scope.")

    @router.put("/{recipient_code}/webhook")
    async def put_webhook(recipient_code: RecipientCode, body: WebhookIn, principal: Caller) -> JSONResponse:
        check(principal, recipient_code)
        sub, created = await webhooks.put(
            recipient_code, url=str(body.url), secret=body.secret.get_secret_value(), now=clock.now()
        )
        return JSONResponse(_view(sub), status_code=201 if created else 200)

    @router.get("/{recipient_code}/webhook")
    async def get_webhook(recipient_code: RecipientCode, principal: Caller) -> dict[str, Any]:
        check(principal, recipient_code)
        sub = await webhooks.get(recipient_code)
        if sub is None:
            raise HTTPException(404, "This recipient has no webhook.")
        return _view(sub)

    @router.delete("/{recipient_code}/webhook", status_code=204)
    async def delete_webhook(recipient_code: RecipientCode, principal: Caller) -> Response:
        check(principal, recipient_code)
        if not await webhooks.delete(recipient_code):
            raise HTTPException(404, "This recipient has no webhook.")
        return Response(status_code=204)

    return router


def _view(sub: Subscription) -> dict[str, Any]:
    return {
        "recipient_code": sub.recipient_code,
        "url": sub.url,
        "secret": "(write-only: set, never shown)",
        "created_at": sub.created_at.isoformat(),
        "updated_at": sub.updated_at.isoformat(),
    }
