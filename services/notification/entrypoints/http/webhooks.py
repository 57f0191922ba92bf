"""Subscriptions: where a recipient wants its notices pushed. The secret is write-only."""

# No `from __future__ import annotations`: FastAPI must see the closure-local `Caller` alias.

from typing import Annotated, Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, SecretStr

from services.notification.adapters.webhooks import Subscription
from services.notification.entrypoints.http.common import RecipientCode, caller
from services.notification.service_layer.subscriptions import Subscriptions
from shared.auth import Principal
from shared.auth.dependencies import Authenticate


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: AnyHttpUrl = Field(description="http(s) URL that receives each notice as a signed POST")
    secret: SecretStr = Field(min_length=16, max_length=200, description="Shared signing secret; never shown again")


def webhooks_router(*, subscriptions: Subscriptions, authenticate: Authenticate) -> APIRouter:
    router = APIRouter(prefix="/v1/recipients", tags=["webhooks"])
    Caller = Annotated[Principal, caller(authenticate)]

    @router.put("/{recipient_code}/webhook")
    async def put_webhook(recipient_code: RecipientCode, body: WebhookIn, principal: Caller) -> JSONResponse:
        secret = body.secret.get_secret_value()
        sub, created = await subscriptions.put(principal, recipient_code, url=str(body.url), secret=secret)
        return JSONResponse(_view(sub), status_code=201 if created else 200)

    @router.get("/{recipient_code}/webhook")
    async def get_webhook(recipient_code: RecipientCode, principal: Caller) -> dict[str, Any]:
        return _view(await subscriptions.get(principal, recipient_code))

    @router.delete("/{recipient_code}/webhook", status_code=204)
    async def delete_webhook(recipient_code: RecipientCode, principal: Caller) -> Response:
        await subscriptions.remove(principal, recipient_code)
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
