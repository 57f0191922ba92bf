"""`popflow import FILE`: send a department list to intake and keep the rejected rows.

The file goes to POST /v1/records/bulk as it is (JSON array, NDJSON, CSV or
XLSX, by its suffix), with an Idempotency-Key made from its content, so
sending the same file again stores nothing twice. Results stream back one
row at a time and drive the progress bar. Rejected rows are written, with
their errors, to a file the clerk corrects and imports again: CSV input
gives CSV with an `errors` column, XLSX gives XLSX with one (its text cells
stay text), JSON and NDJSON give NDJSON whose objects carry an `_errors`
field (intake ignores both); a row that is no record (a line that is not JSON) is kept as its text, `_raw`. The
file is written beside its place and renamed there once whole, so Ctrl-C
leaves no half file and an earlier one stays as it was. An import that
rejects nothing removes an earlier FILE.rejected.* (the default place
only): it was out of date, and it held names and identity numbers. Rows
accepted with warnings (a retired division code) are counted, with the rows
naming each code (import_warnings.py); they change no exit code.

Exit codes: 0 every row accepted (or already there), 1 some rows rejected
(the file of rejected rows says why), 2 refused as a whole (unreadable file,
or intake answered with an error: nothing was imported), 3 intake could not
be reached (services/cli/unreachable.py), or its answer was cut off part-way,
before its summary line (what it answered stands; sending the file again
finishes the import).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
from pathlib import Path
from types import SimpleNamespace
from typing import IO, Annotated, Any

import httpx
import typer
from httpx import TransportError
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from services.intake.adapters.bulk_formats import (
    RAW_TEXT,
    BulkFile,
    BulkFormat,
    FileProblem,
    Row,
    open_bulk,
    table_lines,
)
from services.intake.entrypoints.import_warnings import RetiredCodes
from shared.files import whole_file

console = Console()
SUFFIXES = {".json": BulkFormat.JSON, ".ndjson": BulkFormat.NDJSON, ".jsonl": BulkFormat.NDJSON}
SUFFIXES |= {".csv": BulkFormat.CSV, ".xlsx": BulkFormat.XLSX}
MEDIA = {
    BulkFormat.JSON: "application/json",
    BulkFormat.NDJSON: "application/x-ndjson",
    BulkFormat.CSV: "text/csv",
    BulkFormat.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
TAG = re.compile(r"<[^>]*>")  # a proxy's refusal is an HTML page: its text, without the markup
SHOWN_TEXT = 200  # characters of a refusal that is not intake's own problem


def import_file(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSON, NDJSON, CSV or XLSX list")],
    api_key: Annotated[str, typer.Option("--key", envvar="POPFLOW_API_KEY", help="Your API key")],
    url: Annotated[str, typer.Option(envvar="POPFLOW_INTAKE_URL", help="Intake's base URL")] = "http://127.0.0.1:8001",
    rejected: Annotated[Path | None, typer.Option(dir_okay=False, help="Where to write rejected rows")] = None,
) -> None:
    """Import FILE through intake; rejected rows go beside it, NAME.rejected.csv (or .xlsx, .ndjson).

    Exits 0 when every row was accepted, 1 when some were rejected, 2 when the file was refused as a whole.
    """
    fmt = SUFFIXES.get(file.suffix.lower())
    if fmt is None:
        console.print(f"[red]Unknown file type {file.suffix!r}[/]: use .json, .ndjson, .csv or .xlsx")
        raise typer.Exit(2)
    target = rejected or _rejected_path(file, fmt)
    if target.exists() and target.samefile(file):  # open("w") would empty the list before it is read
        console.print(f"[red]--rejected names the file being imported[/] ({escape(str(file))}): choose another")
        raise typer.Exit(2)
    if not target.parent.is_dir():  # found before the rows are sent, not after
        console.print(f"[red]The folder for rejected rows does not exist:[/] {escape(str(target.parent))}")
        raise typer.Exit(2)
    if not os.access(target.parent, os.W_OK):  # a read-only share: found after sending, the rejected rows were lost
        console.print(f"[red]Rejected rows cannot be written in[/] {escape(str(target.parent))}: choose --rejected")
        raise typer.Exit(2)
    total = _count(fmt, file)
    retired = RetiredCodes()
    errors, summary = _send(file, fmt, total, url=url.rstrip("/"), api_key=api_key, retired=retired)
    console.print(
        f"rows {summary.get('rows', 0)}: [green]{summary.get('accepted', 0)} accepted[/], "
        f"{summary.get('duplicate', 0)} duplicate, [red]{summary.get('rejected', 0)} rejected[/]"
    )
    for line in retired.lines():
        console.print(escape(line), style="yellow", highlight=False)
    if errors:
        _write_rejected(fmt, file, errors, target)
        console.print(f"Rejected rows with their errors: {target} (correct them and import that file again)")
        raise typer.Exit(1)
    if rejected is None and target.exists():
        # an earlier run's rejected rows: every row is in now, and the file still held names and numbers
        target.unlink()
        console.print(f"Removed the earlier file of rejected rows, {escape(str(target))}: every row is in now")


def _count(fmt: BulkFormat, file: Path) -> int:
    with file.open("rb") as handle:
        try:
            return sum(1 for _ in open_bulk(fmt, handle).rows())
        except FileProblem as error:
            console.print(f"[red]The file cannot be read:[/] {error}")
            raise typer.Exit(2) from None


def _send(
    file: Path, fmt: BulkFormat, total: int, *, url: str, api_key: str, retired: RetiredCodes
) -> tuple[dict[int, list[dict[str, str]]], dict[str, int]]:
    headers = {
        "Authorization": f"Bearer {api_key}",
        "Content-Type": MEDIA[fmt],
        "Accept": "application/x-ndjson",
        "Idempotency-Key": "file-" + hashlib.sha256(file.read_bytes()).hexdigest(),
    }
    with file.open("rb") as body:
        chunks = iter(lambda: body.read(1 << 16), b"")
        with httpx.stream("POST", url + "/v1/records/bulk", content=chunks, headers=headers, timeout=600) as response:
            if response.status_code != 200:  # refused as a whole: said before any bar is drawn
                response.read()
                console.print(f"[red]Refused: intake answered {response.status_code}:[/] {escape(_refusal(response))}")
                raise typer.Exit(2)
            return _read_results(response, f"Importing {file.name}", total, retired)


def _read_results(
    response: httpx.Response, description: str, total: int, retired: RetiredCodes
) -> tuple[dict[int, list[dict[str, str]]], dict[str, int]]:
    """The rejected rows' errors and intake's summary, one result a line, a bar counting them; the rows'
    warnings of retired codes into `retired`."""
    errors: dict[int, list[dict[str, str]]] = {}
    summary: dict[str, int] = {}
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(description, total=total)
        answered = 0
        try:
            for line in response.iter_lines():
                if not line.strip():
                    continue
                result = _result(line)
                if "summary" in result:
                    summary = result["summary"]
                    continue
                if result["status"] == "rejected":
                    errors[int(result["row"])] = result["errors"]
                retired.add(int(result["row"]), result.get("warnings"))
                answered += 1
                progress.advance(task)
        except (TransportError, UnreadableAnswer) as error:
            progress.stop()
            _cut_off(_why(error), answered, total)
        if not summary:  # intake ends every answer with its summary: one without it stopped short
            progress.stop()
            _cut_off("it ended before intake's summary", answered, total)
    return errors, summary


class UnreadableAnswer(ValueError):
    """A line of the streamed answer that is not one of intake's results (a proxy's page, say)."""


def _result(line: str) -> dict[str, Any]:
    try:
        result = json.loads(line)
    except ValueError:
        result = None
    if not isinstance(result, dict) or not ("summary" in result or {"row", "status"} <= result.keys()):
        raise UnreadableAnswer(_plain(line))
    return result


def _plain(line: str) -> str:
    """A line of a page that is not intake's, as words: its markup and runs of spaces gone, SHOWN_TEXT at most."""
    return " ".join(TAG.sub(" ", line).split())[:SHOWN_TEXT]


def _why(error: Exception) -> str:
    return f"a line that is not intake's: {error}" if isinstance(error, UnreadableAnswer) else type(error).__name__


def _cut_off(why: str, answered: int, total: int) -> None:
    """The answer stopped part-way: what was answered stands, the rest is unknown; exit 3."""
    console.print(
        f"[red]Intake's answer was cut off after {answered} of {total} rows[/] ({escape(why)}). "
        "Rows answered before were stored or rejected; send the same file again to finish: "
        "stored rows come back as duplicates."
    )
    raise typer.Exit(3)


def _refusal(response: httpx.Response) -> str:
    """Intake's problem detail; from anything else (a proxy's 413 or 502 page) its first line of text."""
    try:
        body = response.json()
    except ValueError:  # not JSON, or not text at all
        body = None
    if isinstance(body, dict) and isinstance(detail := body.get("detail") or body.get("title"), str):
        return detail
    return next(filter(None, map(_plain, response.text.splitlines())), response.reason_phrase)


def _rejected_path(file: Path, fmt: BulkFormat) -> Path:
    suffix = {BulkFormat.CSV: ".csv", BulkFormat.XLSX: ".xlsx"}.get(fmt, ".ndjson")
    return file.with_name(f"{file.stem}.rejected{suffix}")


def _describe(errors: list[dict[str, str]]) -> str:
    return "; ".join(f"{e.get('column') or e['pointer'] or 'row'}: {e['detail']}" for e in errors)


def _write_rejected(fmt: BulkFormat, file: Path, errors: dict[int, list[dict[str, str]]], target: Path) -> None:
    # Ctrl-C too leaves no half file behind; the rows hold identity numbers and names: the owner's to read only
    if fmt is BulkFormat.XLSX:
        with whole_file(target, mode=0o600) as out, file.open("rb") as handle:
            _write_workbook(open_bulk(fmt, handle), errors, out)
        return
    with whole_file(target, encoding="utf-8-sig", newline="", mode=0o600) as out, file.open("rb") as handle:
        bulk = open_bulk(fmt, handle)
        if fmt is BulkFormat.CSV:
            _write_table(bulk, errors, csv.writer(out))
        else:
            _write_objects(bulk, errors, out)


def _write_workbook(bulk: BulkFile, errors: dict[int, list[dict[str, str]]], out: IO[bytes]) -> None:
    """A workbook's rejected rows as a workbook: as CSV, Excel and WPS read an 18-digit identity number as a
    number and save it with its last digits zeroed, and run a text cell starting with `=` as a formula."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet()

    def append(values: list[Any]) -> None:
        sheet.append([_text_cell(sheet, value) for value in values])

    _write_table(bulk, errors, SimpleNamespace(writerow=append))
    workbook.save(out)


def _text_cell(sheet: Any, value: Any) -> Any:
    """A text cell stays text, as the clerk wrote it (openpyxl makes one starting with `=` a formula); an empty
    one stays empty."""
    if not isinstance(value, str) or not value:
        return value or None
    cell = WriteOnlyCell(sheet, value)
    cell.data_type = "s"
    return cell


def _write_objects(bulk: BulkFile, errors: dict[int, list[dict[str, str]]], out: IO[str]) -> None:
    for row in bulk.rows():
        if row.number in errors:
            out.write(json.dumps(_rejected_object(row, errors[row.number]), ensure_ascii=False) + "\n")


def _rejected_object(row: Row, errors: list[dict[str, str]]) -> dict[str, Any]:
    """The row as written, with its errors; a row that is no record (not JSON) keeps its text to be corrected."""
    if isinstance(row.record, dict):
        kept: dict[str, Any] = row.record
    else:
        kept = {RAW_TEXT: row.text} if row.text is not None else {}
    return kept | {"_errors": _describe(errors)}


def _write_table(bulk: BulkFile, errors: dict[int, list[dict[str, str]]], writer: Any) -> None:
    """The header and the rejected rows, cut to the header's last named column, then `errors`.

    An XLSX row comes padded to MAX_COLUMNS cells; a CSV row may be shorter than its header. Cells beyond
    the header that hold something stay, after `errors`, so nothing the clerk wrote is lost.
    """
    width: int | None = None
    for number, cells in table_lines(bulk):
        values = ["" if cell is None else cell for cell in cells]
        if width is None and any(str(v).strip() for v in values):
            width = _filled(values)
            writer.writerow([*values[:width], "errors"])
        elif width is not None and number in errors:
            row = values[:width] + [""] * (width - len(values))
            writer.writerow([*row, _describe(errors[number]), *values[width : _filled(values)]])


def _filled(values: list[Any]) -> int:
    """How many cells there are up to the last one holding something."""
    return max((i + 1 for i, v in enumerate(values) if str(v).strip()), default=0)
