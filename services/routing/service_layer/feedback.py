"""Feedback given at routing's HTTP edge, published as `NoticeAnswered`.

The notification service publishes the same event for answers given there,
so one consumer (answers.py) applies both. What can be checked at once (the
notice exists and is unanswered, the answer is complete, corrected codes are
current) is refused here; the consumer checks again when it applies the
answer. The event is keyed like notification's (shared.events.feedback.
notice_answered_key): by the person key of the notice's case.
"""

from __future__ import annotations

from services.routing.adapters import store
from services.routing.adapters.emitter import Outgoing
from services.routing.domain.workflow import check_corrections
from services.routing.service_layer.context import RoutingContext
from shared.events import Envelope, FeedbackResult, NoticeAnswered, RejectionReason, new_envelope
from shared.events.feedback import notice_answered_key


class UnknownNotice(LookupError):
    """No notice has this id."""


class AnsweredAlready(RuntimeError):
    """The notice has its answer; later ones are refused."""

    def __init__(self, result: str | None) -> None:
        super().__init__(f"This notice was answered already ({result}).")


async def give_feedback(
    context: RoutingContext,
    notice_id: str,
    *,
    result: FeedbackResult,
    corrections: dict[str, str],
    reason: RejectionReason | None,
    note: str | None,
) -> Envelope:
    """Check the answer and publish it; raises UnknownNotice, AnsweredAlready,
    pydantic's ValidationError (an incomplete answer) or InvalidAnswer (corrected codes)."""
    async with context.sessions() as session:
        found = await store.load_notice(session, notice_id)
        if found is None:
            raise UnknownNotice(notice_id)
        _, notice = found
        if notice.answered_at is not None:
            raise AnsweredAlready(notice.result)
        person_key, _ = await store.case_keys(session, notice.record_id)
    answered = NoticeAnswered(
        notice_id=notice_id,
        record_id=notice.record_id,
        result=result,
        corrections=corrections,
        reason=reason,
        note=note,
        answered_by=notice.recipient_code,
        answered_at=context.clock.now(),
    )
    check_corrections(answered.corrections, context.directory)
    envelope = new_envelope(answered, producer="routing", correlation_id=notice.record_id, keyring=context.keyring)
    key = notice_answered_key(person_key=person_key, notice_id=answered.notice_id)
    await context.emitter.emit([Outgoing(envelope=envelope, topic=NoticeAnswered.TOPIC, key=key)])
    return envelope
