"""Webhook subscriptions: where a recipient wants its notices pushed. The secret comes out once, when set."""

from __future__ import annotations

import secrets

from services.notification.adapters.destinations import DestinationGuard
from services.notification.adapters.webhooks import Subscription, WebhookStore
from services.notification.domain.signing import secret_of
from services.notification.service_layer.visibility import require_in_scope
from shared.auth import Action, Principal
from shared.clock import Clock
from shared.http.problems import FieldError, ProblemError, ValidationProblem

NO_WEBHOOK = "This recipient has no webhook."


class Subscriptions:
    def __init__(self, store: WebhookStore, clock: Clock, guard: DestinationGuard) -> None:
        self._store, self._clock, self._guard = store, clock, guard

    async def put(
        self, principal: Principal, recipient_code: str, *, url: str, secret: str | None
    ) -> tuple[Subscription, str, bool]:
        """(the subscription, its `whsec_` secret, True when it is new); a new secret unless one is given."""
        require_in_scope(principal, recipient_code, what="recipient", action=Action.ANSWER)
        # checked again before every push, after resolving the name anew (adapters/sender.py)
        refusal = (await self._guard.check(url)).refusal
        if refusal is not None:
            raise ValidationProblem([FieldError.at(("url",), refusal)])
        secret = secret or secret_of(secrets.token_bytes(32))
        subscription, created = await self._store.put(recipient_code, url=url, secret=secret, now=self._clock.now())
        return subscription, secret, created

    async def get(self, principal: Principal, recipient_code: str) -> Subscription:
        require_in_scope(principal, recipient_code, what="recipient", action=Action.ANSWER)
        subscription = await self._store.get(recipient_code)
        if subscription is None:
            raise ProblemError(404, "Not Found", NO_WEBHOOK)
        return subscription

    async def remove(self, principal: Principal, recipient_code: str) -> None:
        require_in_scope(principal, recipient_code, what="recipient", action=Action.ANSWER)
        if not await self._store.delete(recipient_code):
            raise ProblemError(404, "Not Found", NO_WEBHOOK)
