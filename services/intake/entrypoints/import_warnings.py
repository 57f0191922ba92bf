"""What `popflow import` says of rows accepted with warnings: they name a division code since retired.

Intake answers such a row with `warnings` (field, code, note), as it answers a single POST. The clerk is
told how many rows, then, per retired code, its note and the rows that name it, so the codes can be found
in the list and corrected at their source. A warning holds codes only; nothing of the row (a name, an
identity number) is shown. A large list is shown in part: the first codes and rows, then how many more.
"""

from __future__ import annotations

from typing import Any

SHOWN_CODES = 10
SHOWN_ROWS = 10


class RetiredCodes:
    """The rows of one import that came back with warnings, by what each warning says."""

    def __init__(self) -> None:
        self.rows = 0
        self._by_note: dict[str, tuple[set[str], list[int]]] = {}  # note -> (fields, rows)

    def add(self, row: int, warnings: Any) -> None:
        """A result's `warnings`, if it has any; anything that is not intake's warning is passed over."""
        if not isinstance(warnings, list) or not warnings:
            return
        self.rows += 1
        for warning in warnings:
            if isinstance(warning, dict) and isinstance(note := warning.get("note"), str):
                fields, rows = self._by_note.setdefault(note, (set(), []))
                fields.add(str(warning.get("field", "")))
                if not rows or rows[-1] != row:
                    rows.append(row)

    def lines(self) -> list[str]:
        """What to print: nothing when no row was warned of."""
        if not self.rows:
            return []
        said = [
            f"{self.rows} {_rows(self.rows)} {'names' if self.rows == 1 else 'name'} a retired division code, "
            "stored all the same: routing maps each to its successor, or leaves it to the bureau's review. "
            "Correct the codes at their source:"
        ]
        notes = sorted(self._by_note.items(), key=lambda item: item[1][1][0])
        for note, (fields, rows) in notes[:SHOWN_CODES]:
            shown = ", ".join(map(str, rows[:SHOWN_ROWS]))
            more = f" and {len(rows) - SHOWN_ROWS} more" if len(rows) > SHOWN_ROWS else ""
            said.append(f"  {note} ({', '.join(sorted(fields))}): {_rows(len(rows))} {shown}{more}")
        if len(notes) > SHOWN_CODES:
            said.append(f"  and {len(notes) - SHOWN_CODES} more retired codes")
        return said


def _rows(count: int) -> str:
    return "row" if count == 1 else "rows"
