"""Fields that only make sense together with another field's value."""

from __future__ import annotations

import re
from typing import Any

from services.intake.domain.fields import FieldProblem, text_at, value_at
from shared.events.record_parts import ChangeKind, SourceKind
from shared.events.records import EventKind
from shared.surrogates import IN_TEXT, has_lone_half

KEY_AREA = ("key_area",)
NEW_RESIDENCE = ("new_residence",)
CHANGE = ("change",)
# An unknown source or event is the shape check's to report, not a second problem here.
OTHER_SOURCES = frozenset(kind.value for kind in SourceKind) - {SourceKind.CANVASS.value}
OTHER_EVENTS = frozenset(kind.value for kind in EventKind) - {EventKind.OUTFLOW.value}
# C0 controls, DEL, the C1 controls, and lone halves of UTF-16 pairs (JSON may escape one, "\\ud83d",
# which no text encoding can store): one regex search per text, not a loop over its characters
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")  # one class: an alternation with LONE_HALF is a fifth slower
CONTROL_CHARACTER = "contains a control character; type the text again"
BROKEN_CHARACTER = IN_TEXT  # the same words as every other door's (shared/http/surrogates.py)


def consistency_problems(raw: Any) -> list[FieldProblem]:
    problems: list[FieldProblem] = []
    source = text_at(raw, ("source_kind",))
    if value_at(raw, KEY_AREA) is not None and source in OTHER_SOURCES:
        problems.append((KEY_AREA, "is only given for a field canvass (source_kind 'canvass')"))
    event = text_at(raw, ("event",))
    if value_at(raw, NEW_RESIDENCE) is not None and event in OTHER_EVENTS:
        problems.append((NEW_RESIDENCE, "is only given for an outflow (event 'outflow')"))
    change = text_at(raw, CHANGE)
    if change is not None and event is not None and event != EventKind.CHANGE.value:
        problems.append((CHANGE, "is only given for a change record (event 'change')"))
    if change == ChangeKind.CERTIFICATE.value and value_at(raw, ("certificate",)) is None:
        problems.append((("certificate",), "is required with change 'certificate': the new check or renewal"))
    return problems


def control_character_problems(raw: Any, location: tuple[str | int, ...] = ()) -> list[FieldProblem]:
    """Text with control characters (NUL, escapes) cannot be stored or shown; report where.

    Nearly every record has none: one search over all its text first, and the walk that
    builds each field's location only when it found one (the walk alone was a fifth of
    the rules' time)."""
    texts: list[str] = []
    _texts(raw, texts)
    if not CONTROL.search("".join(texts)):
        return []
    return _control_character_problems(raw, location)


def _texts(raw: Any, into: list[str]) -> None:
    if isinstance(raw, str):
        into.append(raw)
    elif isinstance(raw, dict):
        for value in raw.values():
            _texts(value, into)
    elif isinstance(raw, list):
        for value in raw:
            _texts(value, into)


def _control_character_problems(raw: Any, location: tuple[str | int, ...]) -> list[FieldProblem]:
    if isinstance(raw, dict):
        return [p for key, value in raw.items() for p in _control_character_problems(value, (*location, str(key)))]
    if isinstance(raw, list):
        return [p for i, value in enumerate(raw) for p in _control_character_problems(value, (*location, i))]
    if isinstance(raw, str) and (found := CONTROL.search(raw)):
        return [(location, BROKEN_CHARACTER if has_lone_half(found.group()) else CONTROL_CHARACTER)]
    return []
