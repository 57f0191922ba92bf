"""Subscriptions: where a recipient wants its notices pushed. The `whsec_` secret is shown once, when set."""

# No `from __future__ import annotations`: FastAPI must see the closure-local `Caller` alias.

from typing import Annotated, Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, SecretStr, UrlConstraints, field_validator

from services.notification.adapters.tables import WEBHOOK_URL_MAX
from services.notification.adapters.webhooks import Subscription
from services.notification.domain.signing import key_of
from services.notification.entrypoints.http.common import RecipientCode, caller
from services.notification.service_layer.subscriptions import Subscriptions
from shared.auth import Principal
from shared.auth.dependencies import Authenticate


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # the stored column's bound: URLs take up to 2,083 characters, which the store refused past 2,000
    url: Annotated[AnyHttpUrl, UrlConstraints(max_length=WEBHOOK_URL_MAX)] = Field(
        description=f"http(s) URL that receives each notice as a signed POST (at most {WEBHOOK_URL_MAX} characters)"
    )
    secret: SecretStr | None = Field(
        default=None,
        description="Standard Webhooks signing secret `whsec_<base64 of 24-64 bytes>`; "
        "omit it and the service generates one. Returned in this answer only.",
    )

    @field_validator("secret")
    @classmethod
    def _standard_secret(cls, secret: SecretStr | None) -> SecretStr | None:
        if secret is not None:
            key_of(secret.get_secret_value())  # ValueError names what is wrong, never the value
        return secret


def webhooks_router(*, subscriptions: Subscriptions, authenticate: Authenticate) -> APIRouter:
    router = APIRouter(prefix="/v1/recipients", tags=["webhooks"])
    Caller = Annotated[Principal, caller(authenticate)]

    @router.put("/{recipient_code}/webhook")
    async def put_webhook(recipient_code: RecipientCode, body: WebhookIn, principal: Caller) -> JSONResponse:
        chosen = body.secret.get_secret_value() if body.secret else None
        sub, secret, created = await subscriptions.put(principal, recipient_code, url=str(body.url), secret=chosen)
        return JSONResponse({**_view(sub), "secret": secret}, status_code=201 if created else 200)

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
        "secret": "(shown once, when set)",
        "created_at": sub.created_at.isoformat(),
        "updated_at": sub.updated_at.isoformat(),
    }
