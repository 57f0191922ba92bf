"""The exchange workflow: which notices a new case, or an answer to a notice, causes.

Pure: a case and the facts in, the next case and the planned notices out.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from services.routing.domain.cases import (
    FIRST_VERSION,
    Case,
    CaseStatus,
    InvalidAnswer,
    Outflow,
    refuse_uncorrectable,
)
from services.routing.domain.notices import PlannedNotice, plan
from services.routing.domain.recipients import Recipient, Recipients
from services.routing.domain.routes import decide_route
from shared.directory.divisions import DivisionDirectory, DivisionLevel, district_of
from shared.events import EventKind, NoticeAnswered, NoticeKind, Route
from shared.events import FeedbackResult as Result

# the occasion (notices.notice_id) of the registration notice an outflow case's verification causes
VERIFIED = "verified"
# the occasion of a second rejection to one sender at one version: the rejecting office's code follows
REJECTED_BY = "rejected:"  # with a code of 9 digits at most: 18 of the column's 20 characters
# the occasion of a second feedback notice at one version: the answer to the notice of a version that a relayed
# correction made (the correction's relay, at the version it made, holds the plain id)
ANSWERED = "answered"


@dataclass(frozen=True, slots=True)
class Step:
    """A case after an event, the notices it causes, and whether its route was (re)decided."""

    case: Case
    notices: list[PlannedNotice]
    routed: bool = False


def open_case(case: Case, recipients: Recipients, outflow: Outflow | None = None) -> Step:
    """A freshly routed case: transfer notices, change notices, or an outflow (`outflow`: what its record says
    of it, cases.outflow_of; required for an outflow: the street left need not be the reporting street)."""
    if case.event is EventKind.CHANGE:
        return Step(case.with_status(CaseStatus.FILED), change_notices(case, recipients), routed=True)
    if case.event is not EventKind.OUTFLOW:
        return route_notices(case, recipients)
    if outflow is None:
        raise ValueError("an outflow case is opened with what its record says of the outflow (cases.outflow_of)")
    # the case lives at the new residence when its street is known (Case.from_record): that street hears of its
    # newcomer like of a new record. Else it stays at the street left, and nobody is asked to verify anyone
    notices = route_notices(case, recipients).notices if outflow.new_street is not None else []
    if outflow.left_street not in (case.reporting_street, outflow.new_street):
        notices.append(left_notice(case, outflow, recipients))
    notices.append(outflow_notice(case, outflow, recipients))
    return Step(case.with_status(CaseStatus.INFLOW_THEN_OUTFLOW), notices, routed=True)


def outflow_notice(case: Case, outflow: Outflow, recipients: Recipients) -> PlannedNotice:
    """The household-registration place learns that the person left the street they lived in."""
    moved = f"to {outflow.new_street}" if outflow.new_street is not None else "to an unknown place"
    reason = f"a person registered in your area moved away from {outflow.left_street} {moved}"
    registration = recipients.for_code(case.registration_division)
    return _notice(case, NoticeKind.REGISTRATION, registration, case.reporting_street, reason)


def left_notice(case: Case, outflow: Outflow, recipients: Recipients) -> PlannedNotice:
    """The street left, when another street reported the outflow, is told, as of a change: the person is gone
    (DOMAIN: changes and outflows are notified the same way); it is not asked to verify a residence."""
    gone_to = outflow.new_street or "an unknown place"
    reason = f"a person living in your street was reported by {case.reporting_street} to have left for {gone_to}"
    left = recipients.for_code(outflow.left_street)
    return _notice(case, NoticeKind.CHANGE, left, case.reporting_street, reason)


def route_notices(case: Case, recipients: Recipients) -> Step:
    """cross-street: the residence street verifies; inter-district: the reporting
    bureau is told and forwards to the residence district's bureau."""
    notices: list[PlannedNotice] = []
    if case.route is Route.CROSS_STREET:
        residence = recipients.for_code(case.residence_street)
        reason = "person lives in your street; please verify"
        notices.append(_notice(case, NoticeKind.TRANSFER, residence, case.reporting_street, reason, awaits=True))
    elif case.route is Route.INTER_DISTRICT and recipients.serves(case.residence_street):
        # both districts are this deployment's (it serves several, or a city): no exchange, no bureau hop;
        # the residence street verifies directly, as after a partner's forward, and the reporting bureau is told
        reporting_bureau = district_of(case.reporting_street)
        reason = "case for another district served here; sent to the residence street directly"
        notices.append(
            _notice(case, NoticeKind.TRANSFER, recipients.for_code(reporting_bureau), case.reporting_street, reason)
        )
        reason = "person lives in your street (a case from another district); please verify"
        residence = recipients.for_code(case.residence_street)
        notices.append(_notice(case, NoticeKind.TRANSFER, residence, case.reporting_street, reason, awaits=True))
    elif case.route is Route.INTER_DISTRICT:
        reporting_bureau = district_of(case.reporting_street)
        reason = "case for another district; forwarded to the residence district's bureau"
        notices.append(
            _notice(case, NoticeKind.TRANSFER, recipients.for_code(reporting_bureau), case.reporting_street, reason)
        )
        reason = "person lives in your district; please pass to the street and verify"
        notices.append(
            _notice(
                case,
                NoticeKind.FORWARD,
                recipients.bureau_of(case.residence_street),
                reporting_bureau,
                reason,
                awaits=True,
            )
        )
    status = CaseStatus.OPEN if any(n.awaits_answer for n in notices) else CaseStatus.FILED
    return Step(case.with_status(status), notices, routed=True)


def change_notices(case: Case, recipients: Recipients) -> list[PlannedNotice]:
    """A change of circumstances: the registration place, and the residence street
    when it is not the reporting street."""
    reason = "circumstances of a person registered or living in your area changed"
    codes = [case.registration_division]
    if case.residence_street != case.reporting_street:
        codes.append(case.residence_street)
    return [_notice(case, NoticeKind.CHANGE, recipients.for_code(c), case.reporting_street, reason) for c in codes]


def answer(
    case: Case,
    answered: PlannedNotice,
    feedback: NoticeAnswered,
    recipients: Recipients,
    directory: DivisionDirectory,
    *,
    issued: frozenset[str] = frozenset(),
) -> Step:
    """The next step of a case once `answered` (a notice of it) got `feedback`. `issued`: the ids of the notices
    the case holds, which a rejection and a relay need (`_rejection`, `_relay`; see `needs_issued`)."""
    if not answered.awaits_answer:
        # answers to informational notices only matter when they refuse them
        rejected = feedback.result is Result.REJECTED
        return Step(case, [_rejection(case, answered, feedback, recipients, issued)] if rejected else [])
    step = _still_gone(case, _verification_answered(case, answered, feedback, recipients, directory, issued))
    if _verified_elsewhere(case, answered) and feedback.result is not Result.REJECTED:
        relay = _relay(step.case, answered, feedback, recipients, issued)
        return Step(step.case, [relay, *step.notices], step.routed)
    return step


def needs_issued(case: Case, answered: PlannedNotice, feedback: NoticeAnswered) -> bool:
    """Whether `answer` needs the ids of the notices the case holds (`issued`): for a rejection or a relay."""
    return feedback.result is Result.REJECTED or (answered.awaits_answer and _verified_elsewhere(case, answered))


def _relay(
    case: Case, answered: PlannedNotice, feedback: NoticeAnswered, recipients: Recipients, issued: frozenset[str]
) -> PlannedNotice:
    """The reporting bureau hears the residence district's answer, at `case`'s version after the answer (a
    correction's relay at the version the correction made, as it always was). When that version's own notice is
    answered in turn, its relay is a second feedback notice at one version: the plain id is held already (it was
    once dropped as a repeat, and the bureau never heard the final answer), so it names its occasion (ANSWERED).
    Every relay issued before keeps its id; a rebuild, replaying one person's answers in order, derives the same."""
    bureau = recipients.for_code(district_of(case.reporting_street))
    reason = f"the residence district answered: {feedback.result.value}"
    relay = _notice(case, NoticeKind.FEEDBACK, bureau, answered.recipient.code, reason)
    if relay.notice_id in issued:
        return _notice(case, NoticeKind.FEEDBACK, bureau, answered.recipient.code, reason, occasion=ANSWERED)
    return relay


def _still_gone(case: Case, step: Step) -> Step:
    """A case marked gone (its own outflow, or a later one of the person: case_store.mark_outflow) stays so.

    Records and answers are read by two consumer groups, whose lags differ: an answer is thus applied
    before or after the outflow that marks its case, and the status must not depend on which. The
    answer's notices still go out either way (docs/routing.md, the workflow).
    """
    if case.status is not CaseStatus.INFLOW_THEN_OUTFLOW:
        return step
    return dataclasses.replace(step, case=step.case.with_status(CaseStatus.INFLOW_THEN_OUTFLOW))


def _verified_elsewhere(case: Case, answered: PlannedNotice) -> bool:
    """The answer came from another district: a forward's, or a served residence street's transfer (told to the
    reporting bureau, which was told of the case)."""
    if answered.kind is NoticeKind.FORWARD:
        return True
    return case.route is Route.INTER_DISTRICT and district_of(answered.recipient.code) != district_of(
        case.reporting_street
    )


def _verification_answered(
    case: Case,
    answered: PlannedNotice,
    feedback: NoticeAnswered,
    recipients: Recipients,
    directory: DivisionDirectory,
    issued: frozenset[str],
) -> Step:
    match feedback.result:
        case Result.CONFIRMED:
            confirmed = case.with_status(CaseStatus.CONFIRMED)
            if lives_in_registration_place(case):
                return Step(confirmed, [])
            registration = _notice(
                confirmed,
                NoticeKind.REGISTRATION,
                recipients.for_code(case.registration_division),
                district_of(case.reporting_street),
                "a person registered in your area was verified living elsewhere",
                occasion=_told_of_the_move(case),
            )
            return Step(confirmed, [registration])
        case Result.CORRECTED:
            return _corrected(case, feedback.corrections, recipients, directory)
        case Result.NOT_FOUND:
            recheck = _notice(
                case,
                NoticeKind.RECHECK,
                recipients.for_code(case.reporting_street),
                answered.recipient.code,
                "the person was not found at the residence; please check the record again",
            )
            return Step(case.with_status(CaseStatus.NOT_FOUND), [recheck])
        case Result.REJECTED:
            rejection = _rejection(case, answered, feedback, recipients, issued)
            return Step(case.with_status(CaseStatus.REJECTED), [rejection])


def lives_in_registration_place(case: Case) -> bool:
    """True when the verified residence lies within the registration place (its street, or the district when the
    place is given as one): nobody else is there to tell. A place that is another street of the same district is
    told, as DOMAIN.md has it ("wherever it is"); before, any place of the residence district was skipped, so a
    person registered in one street and living in the next was never reported to their registration street."""
    return case.residence_street.startswith(case.registration_division)


def _told_of_the_move(case: Case) -> str:
    """VERIFIED when the registration place had a notice of this case version already (open_case's
    outflow_notice, at the first version): the verification is a second notice of the same version,
    recipient and kind, and needs an id of its own. Else "", and the id every other notice has."""
    return VERIFIED if case.event is EventKind.OUTFLOW and case.version == FIRST_VERSION else ""


def _corrected(case: Case, corrections: dict[str, str], recipients: Recipients, directory: DivisionDirectory) -> Step:
    check_corrections(corrections, directory)
    next_version = case.corrected(corrections)
    if next_version.residence_street == case.residence_street:
        return Step(next_version, [])
    route = decide_route(reporting_street=case.reporting_street, residence_street=next_version.residence_street)
    return route_notices(dataclasses.replace(next_version, route=route), recipients)


def check_corrections(corrections: dict[str, str], directory: DivisionDirectory) -> None:
    """Raise InvalidAnswer for a field that cannot be corrected or a code that is not current."""
    refuse_uncorrectable(corrections)
    street = corrections.get("residence_street")
    if street is not None and not directory.exists(street, DivisionLevel.STREET):
        raise InvalidAnswer("residence_street is not a current street code of the national directory")
    division = corrections.get("registration_division")
    if division is not None and not (
        directory.exists(division, DivisionLevel.DISTRICT) or directory.exists(division, DivisionLevel.STREET)
    ):
        raise InvalidAnswer("registration_division is not a current district or street code of the directory")


def _rejection(
    case: Case, answered: PlannedNotice, feedback: NoticeAnswered, recipients: Recipients, issued: frozenset[str]
) -> PlannedNotice:
    """The sender of `answered` is told it was rejected. Two notices of one sender at one version (an outflow's
    transfer and its registration notice, a change's two) may both be rejected: the second rejection to that
    sender names the rejecting office as its occasion, so its id differs from the first's (`issued` holds it),
    and a third from the same office numbers it (`rejected:<code>/2`); the first keeps the id every rejection
    had, so a rebuild, replaying one person's answers in order, derives the same ids."""
    reason = feedback.reason.value if feedback.reason else "unspecified"
    sender, why = recipients.for_code(answered.sender), f"your {answered.kind.value} notice was rejected: {reason}"
    by = f"{REJECTED_BY}{answered.recipient.code}"
    for occasion in ["", by, *(f"{by}/{n}" for n in range(2, 10))]:  # at most 20 characters: the column's
        rejection = _notice(case, NoticeKind.REJECTION, sender, answered.recipient.code, why, occasion=occasion)
        if rejection.notice_id not in issued:
            return rejection
    return rejection  # ten rejections to one sender at one version: the last is taken as a repeat


def _notice(
    case: Case,
    kind: NoticeKind,
    recipient: Recipient,
    sender: str,
    reason: str,
    *,
    awaits: bool = False,
    occasion: str = "",
) -> PlannedNotice:
    return plan(
        record_id=case.record_id,
        case_version=case.version,
        kind=kind,
        recipient=recipient,
        sender=sender,
        reason=reason,
        awaits_answer=awaits,
        occasion=occasion,
    )


def follow_up_notice(case: Case, waiting: PlannedNotice, kind: NoticeKind, recipients: Recipients) -> PlannedNotice:
    """A reminder to the recipient that has not answered, or an escalation to the reporting bureau."""
    if kind is NoticeKind.REMINDER:
        reason = f"reminder: the {waiting.kind.value} notice {waiting.notice_id} has no answer yet"
        return _notice(case, kind, waiting.recipient, waiting.sender, reason)
    reason = (
        f"escalation: the {waiting.kind.value} notice {waiting.notice_id} to {waiting.recipient.code} has no answer"
    )
    bureau = recipients.for_code(district_of(case.reporting_street))
    return _notice(case, NoticeKind.ESCALATION, bureau, waiting.recipient.code, reason)
