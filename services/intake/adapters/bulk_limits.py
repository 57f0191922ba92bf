"""What a bulk file may hold, and the error for one that cannot be read as a whole.

Apart from the readers (bulk_formats for JSON, NDJSON and CSV; xlsx_rows for XLSX) so that each can raise
FileProblem and share the column bound without importing the other.
"""

from __future__ import annotations

MAX_COLUMNS = 200  # a record has a few dozen columns


class FileProblem(ValueError):
    """The file as a whole cannot be read; the message tells the clerk why."""
