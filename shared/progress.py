"""A progress display for operator commands (rebuilds, demo) that count work without knowing its total."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

Advance = Callable[[int], None]


@contextmanager
def progress(description: str, *, unit: str, total: int | None = None) -> Iterator[Advance]:
    """Show `description`, a count of `unit` (of `total` when known) and the time so far; yields `advance(n)`."""
    count = MofNCompleteColumn() if total is not None else TextColumn("{task.completed:,.0f}")
    columns = (SpinnerColumn(), TextColumn(description), BarColumn(), count, TextColumn(unit), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True)) as shown:
        task = shown.add_task(description, total=total)
        yield lambda n: shown.advance(task, n)
