"""The rows a new notice becomes: its inbox row and, when a push is due, its delivery.

Apart from the inbox's transactions, so that what a batch writes (which notices are
duplicates, which pushes the worker takes at once) is decided before any statement runs,
the same way on PostgreSQL and on other stores.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.notification.adapters.delivery_claims import Claim, Handoff
from services.notification.adapters.tables import NoticeValues, WebhookValues, utc
from shared.events import NoticeIssued

# (notice, its person) -> the notice's inbox row, its person sealed (Inbox._values)
RowOf = Callable[[NoticeIssued, dict[str, Any]], dict[str, Any]]


@dataclass(slots=True)
class Stored:
    """What `store_many` did: per notice (stored, push scheduled), the pushes handed to the worker as
    claims, and how many scheduled pushes were left due for its next claim."""

    outcomes: list[tuple[bool, bool]] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    due: int = 0


@dataclass(slots=True)
class Plan:
    """A batch's rows and pushes before they are written; outcomes name the notice that would be stored
    (None: a duplicate known before writing)."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    due: list[str] = field(default_factory=list)
    outcomes: list[tuple[str | None, bool]] = field(default_factory=list)

    def stored(self, inserted: set[str] | None) -> Stored:
        """What was stored: all the planned rows (`inserted` None), or those whose ids went in."""

        def kept(notice_id: str | None) -> bool:
            return notice_id is not None and (inserted is None or notice_id in inserted)

        return Stored(
            outcomes=[(kept(i), kept(i) and scheduled) for i, scheduled in self.outcomes],
            claims=[claim for claim in self.claims if kept(claim.notice_id)],
            due=sum(kept(notice_id) for notice_id in self.due),
        )


def plan_batch(
    notices: Sequence[NoticeIssued],
    known: set[str],
    webhooks: Mapping[str, WebhookValues],
    *,
    now: datetime,
    handoff: Handoff | None,
    row_of: RowOf,
    is_partners: Callable[[str], bool],
) -> Plan:
    """The rows to write for the notices not `known` (nor earlier in the batch), their deliveries,
    and the pushes `handoff` takes."""
    plan = Plan()
    known = set(known)
    for notice in notices:
        if notice.notice_id in known:
            plan.outcomes.append((None, False))
            continue
        known.add(notice.notice_id)
        person = person_of(notice)
        row = row_of(notice, person)
        plan.rows.append(row)
        exchange = is_partners(notice.recipient_code)
        webhook = webhooks.get(notice.recipient_code)
        scheduled = exchange or webhook is not None
        if scheduled:
            delivery = delivery_values(notice, now=now, exchange=exchange)
            if webhook is not None and not exchange and handoff and handoff.take(notice.recipient_code):
                delivery["next_attempt_at"] = delivery["leased_until"] = handoff.lease_until
                claim = Claim(
                    notice.notice_id, notice.recipient_code, 0, 0, NoticeValues.of(row), webhook, person=person
                )
                plan.claims.append(claim)
            else:
                plan.due.append(notice.notice_id)
            plan.deliveries.append(delivery)
        plan.outcomes.append((notice.notice_id, scheduled))
    return plan


def person_of(notice: NoticeIssued) -> dict[str, Any]:
    return notice.person.model_dump(mode="json")


def delivery_values(notice: NoticeIssued, *, now: datetime, exchange: bool) -> dict[str, Any]:
    return {
        "notice_id": notice.notice_id,
        "recipient_code": notice.recipient_code,
        "state": "pending",
        "round_attempts": 0,
        "round_number": 0,
        "total_attempts": 0,
        "next_attempt_at": now,
        "leased_until": None,
        "last_error": None,
        "updated_at": now,
        "exchange_code": notice.recipient_code if exchange else None,
    }


def notice_values(
    notice: NoticeIssued, *, now: datetime, person_sealed: str, person_key: str, from_partner: bool
) -> dict[str, Any]:
    return {
        "notice_id": notice.notice_id,
        "recipient_code": notice.recipient_code,
        "record_id": notice.record_id,
        "route": notice.route.value,
        "kind": notice.kind.value,
        "reason": notice.reason,
        "person_sealed": person_sealed,
        "person_key": person_key,
        # in UTC: SQLite keeps a time's wall clock without its offset, and routing's are local
        "issued_at": utc(notice.issued_at),
        "received_at": now,
        "status": "issued",
        "delivered_at": None,
        "acknowledged_at": None,
        "answered_at": None,
        "answer_sealed": None,
        "answer_expected": notice.answer_expected,
        "answer_due": utc(notice.answer_due) if notice.answer_due else None,
        "from_partner": from_partner,
    }
