"""Webhook subscriptions: one per recipient; the secret goes in sealed and only comes out to sign."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cryptography.fernet import InvalidToken
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.notification.adapters.secrets import SecretBox
from services.notification.adapters.tables import WebhookSubscription, WebhookValues, utc
from services.notification.domain.backoff import CannotPush
from shared.db.engine import reading_sessions

KEY_CHANGED_REASON = (
    "the webhook secret cannot be decrypted with this deployment's key (the key changed); "
    "register the webhook again (PUT .../webhook) and redeliver"
)
MAX_OPENED = 4096  # opened secrets kept at most (one per recipient with a webhook, in practice)


@dataclass(frozen=True, slots=True)
class Subscription:
    """What the API may show: never the secret."""

    recipient_code: str
    url: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Target:
    """What the worker needs to push: the URL and the plain secret."""

    url: str
    secret: str


class WebhookStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], box: SecretBox) -> None:
        self._sessions = sessions
        self._reads = reading_sessions(sessions)  # a recipient's webhook shown: no writer held back on SQLite
        self._box = box
        # secrets opened for pushes, by ciphertext: decrypting one per push was a fiftieth of a burst's CPU.
        # A new secret is a new ciphertext (a fresh IV each time), so a changed secret is never served stale.
        self._opened: dict[str, str] = {}

    async def put(self, recipient_code: str, *, url: str, secret: str, now: datetime) -> tuple[Subscription, bool]:
        """(the subscription, True when it is new)."""
        async with self._sessions.begin() as session:
            row = await session.get(WebhookSubscription, recipient_code)
            created = row is None
            if row is None:
                row = WebhookSubscription(recipient_code=recipient_code, url=url, secret_ciphertext="", created_at=now)
            row.url, row.secret_ciphertext, row.updated_at = url, self._box.seal(secret), now
            session.add(row)
        return _public(row), created

    async def get(self, recipient_code: str) -> Subscription | None:
        async with self._reads() as session:
            row = await session.get(WebhookSubscription, recipient_code)
        return _public(row) if row else None

    async def delete(self, recipient_code: str) -> bool:
        async with self._sessions.begin() as session:
            result = await session.execute(
                delete(WebhookSubscription).where(WebhookSubscription.recipient_code == recipient_code)  # type: ignore[arg-type]
            )
        return bool(getattr(result, "rowcount", 0))

    def target_of(self, row: WebhookSubscription | WebhookValues) -> Target:
        """The URL and plain secret; CannotPush when the secret was sealed with another key."""
        secret = self._opened.get(row.secret_ciphertext)
        if secret is None:
            try:
                secret = self._box.open(row.secret_ciphertext)
            except InvalidToken as error:
                raise CannotPush(KEY_CHANGED_REASON) from error
            if len(self._opened) >= MAX_OPENED:
                self._opened.clear()
            self._opened[row.secret_ciphertext] = secret
        return Target(row.url, secret)


def _public(row: WebhookSubscription) -> Subscription:
    return Subscription(row.recipient_code, row.url, utc(row.created_at), utc(row.updated_at))
