"""The rules of an answer to a notice, before it is recorded and published."""

from __future__ import annotations

from typing import Any

from shared.directory import DivisionDirectory, DivisionLevel
from shared.events import FeedbackResult, RejectionReason
from shared.events.feedback import correction_problems

FieldProblem = tuple[tuple[str, ...], str]


def feedback_problems(
    *, result: FeedbackResult, corrections: dict[str, Any], reason: RejectionReason | None
) -> list[FieldProblem]:
    """Every rule the answer breaks, as (location, message); empty when it is acceptable."""
    problems: list[FieldProblem] = []
    if result is FeedbackResult.CORRECTED and not corrections:
        problems.append((("corrections",), "is required with result 'corrected': list the fields that differ"))
    # each correction in its field's shape and within what routing's store takes (the contract's limits)
    problems += [(("corrections", name), message) for name, message in correction_problems(corrections)]
    if result is not FeedbackResult.CORRECTED and corrections:
        problems.append((("corrections",), "only goes with result 'corrected'"))
    if result is FeedbackResult.REJECTED and reason is None:
        problems.append(
            (("reason",), "is required with result 'rejected': " + ", ".join(r.value for r in RejectionReason))
        )
    if result is not FeedbackResult.REJECTED and reason is not None:
        problems.append((("reason",), "only goes with result 'rejected'"))
    return problems


def correction_code_problems(corrections: dict[str, Any], directory: DivisionDirectory) -> list[FieldProblem]:
    """Corrected codes that are not current in the national directory (routing would dead-letter them)."""
    problems: list[FieldProblem] = []
    street = corrections.get("residence_street")
    if street is not None and not (isinstance(street, str) and directory.exists(street, DivisionLevel.STREET)):
        problems.append((("corrections", "residence_street"), "is not a current street code of the directory"))
    division = corrections.get("registration_division")
    if division is not None and not (
        isinstance(division, str)
        and (directory.exists(division, DivisionLevel.DISTRICT) or directory.exists(division, DivisionLevel.STREET))
    ):
        problems.append(
            (("corrections", "registration_division"), "is not a current district or street code of the directory")
        )
    return problems
