"""Sign-off of a street's weekly report and of its campaign result. Pure state rules.

A street submits its week; the bureau accepts it (the week is then locked:
later events still show, marked as after sign-off) or returns it with a
comment, after which the street submits again. The campaign result of a
street is accepted or sent back for a new canvass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from shared.signoff_refusals import Refusal


class SignoffState(StrEnum):
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    RETURNED = "returned"


class Decision(StrEnum):
    ACCEPT = "accept"
    RETURN = "return"


class CampaignDecision(StrEnum):
    ACCEPT = "accept"
    RECANVASS = "recanvass"


class SignoffRefused(ValueError):
    """The step does not fit the report's state (e.g. reviewing a report nobody submitted)."""

    def __init__(self, reason: Refusal, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


_REFUSED_IN = {SignoffState.SUBMITTED: Refusal.ALREADY_SUBMITTED, SignoffState.ACCEPTED: Refusal.ALREADY_ACCEPTED}
_NOT_REVIEWABLE = {SignoffState.ACCEPTED: Refusal.ALREADY_ACCEPTED, SignoffState.RETURNED: Refusal.ALREADY_RETURNED}


@dataclass(frozen=True, slots=True)
class Signoff:
    street: str
    week: str
    state: SignoffState
    first_submitted_at: datetime
    submitted_at: datetime
    reviewed_at: datetime | None = None
    comment: str = ""


def submit(current: Signoff | None, *, street: str, week: str, at: datetime, opens_at: datetime) -> Signoff:
    """The street submits `week` at `at`; not before the week has begun (`opens_at`): a report of a week not yet
    begun holds nothing, and would count as on time."""
    if at < opens_at:
        detail = f"the report week {week} has not begun yet; it can be submitted once it has"
        raise SignoffRefused(Refusal.WEEK_NOT_BEGUN, detail)
    if current is None:
        return Signoff(street, week, SignoffState.SUBMITTED, first_submitted_at=at, submitted_at=at)
    if current.state is not SignoffState.RETURNED:
        raise SignoffRefused(_REFUSED_IN[current.state], f"the report of {week} is already {current.state.value}")
    return Signoff(street, week, SignoffState.SUBMITTED, current.first_submitted_at, submitted_at=at)


def review(current: Signoff | None, *, decision: Decision, comment: str, at: datetime) -> Signoff:
    if current is None or current.state is not SignoffState.SUBMITTED:
        state = "not submitted" if current is None else current.state.value
        reason = Refusal.NOT_SUBMITTED if current is None else _NOT_REVIEWABLE[current.state]
        raise SignoffRefused(reason, f"only a submitted report can be reviewed; this one is {state}")
    if decision is Decision.RETURN and not comment.strip():
        raise SignoffRefused(Refusal.COMMENT_MISSING, "say why the report is returned (comment)")
    state = SignoffState.ACCEPTED if decision is Decision.ACCEPT else SignoffState.RETURNED
    return Signoff(current.street, current.week, state, current.first_submitted_at, current.submitted_at, at, comment)


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a sign-off: a submission, or the bureau's acceptance or return (with its comment)."""

    at: datetime
    state: SignoffState
    comment: str = ""


def step_of(signoff: Signoff) -> Step:
    """The step that made `signoff` what it is."""
    if signoff.state is SignoffState.SUBMITTED:
        return Step(signoff.submitted_at, signoff.state)
    assert signoff.reviewed_at is not None, "a reviewed sign-off has its review's time"
    return Step(signoff.reviewed_at, signoff.state, signoff.comment)


def as_it_stood(signoff: Signoff | None, moment: datetime, steps: Sequence[Step] = ()) -> Signoff | None:
    """The sign-off as it stood at `moment` (None: not submitted yet), for a sheet of a week as at its cut-off.

    `steps`, in order, are its recorded steps; from its first submission on, the steps up to `moment`
    give its state then. A sign-off from before steps were recorded keeps only its latest submission
    and review: one submitted again after `moment` stood returned or submitted then, depending on when
    the return came, and is shown as submitted, which it had been by then either way.
    """
    if signoff is None or signoff.first_submitted_at > moment:
        return None
    if steps and steps[0] == Step(signoff.first_submitted_at, SignoffState.SUBMITTED):
        stood = None
        for step in steps:
            if step.at > moment:
                break
            if step.state is SignoffState.SUBMITTED:
                stood = Signoff(signoff.street, signoff.week, step.state, signoff.first_submitted_at, step.at)
            elif stood is not None:
                stood = replace(stood, state=step.state, reviewed_at=step.at, comment=step.comment)
        return stood
    if signoff.submitted_at <= moment and (signoff.reviewed_at is None or signoff.reviewed_at <= moment):
        return signoff
    latest = signoff.submitted_at if signoff.submitted_at <= moment else signoff.first_submitted_at
    return replace(signoff, state=SignoffState.SUBMITTED, submitted_at=latest, reviewed_at=None, comment="")


def on_time(signoff: Signoff, due_at: datetime) -> bool:
    """Submitted (the first time) no later than the cut-off that closes the week."""
    return signoff.first_submitted_at <= due_at


def on_time_rate(flags: Sequence[bool]) -> float | None:
    return round(sum(flags) / len(flags), 4) if flags else None
