"""FTP batch files: many exchange messages to one district, sealed for it, with a signed manifest.

A batch is two files in the recipient district's folder on the exchange platform:

    <batch_id>.batch           the messages, one JSON document a line (exchange_messages.body_of),
                               the whole text sealed for the recipient (base64 sealed box)
    <batch_id>.manifest.json   {"format", "batch_id", "sender", "recipient", "file", "count",
                                "sha256", "bytes", "timestamp", "signature"}

The manifest's signature covers its other fields (compact JSON, sorted keys),
so the checksum, the count and the sender are the sender's word; the checksum
covers the batch file. The platform's operators see file names, sizes and
district codes, never a notice. Pure: building and checking; the FTP is elsewhere.

What is wrong with the file (checksum, seal, count, a message from another
sender) refuses the batch as a whole. A line that is not a message we can read
(a newer format, a value past our bounds) is refused alone, with its line
number: the file is the sender's signed word, so its other messages are taken.
A batch none of whose lines reads is refused as a whole.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

from pydantic import ValidationError

from services.notification.domain import exchange_crypto as crypto
from services.notification.domain.exchange_messages import NEEDS_ZONE, ExchangeMessage, times_without_zone

FORMAT = "popflow-exchange-batch/1"
BATCH_SUFFIX = ".batch"
MANIFEST_SUFFIX = ".manifest.json"
MAX_LINES = 10_000  # messages a batch may hold, ours or a partner's: its acknowledgement names every refused one
MAX_TEXT_BYTES = 16 << 20  # a batch's lines before sealing at most (FtpBatcher sends what it gathered then)
MAX_FILE_BYTES = 32 << 20  # a batch file read from the platform at most (sealed and base64: 4/3 of its text)
MAX_SMALL_FILE_BYTES = 1 << 20  # a manifest or an acknowledgement read from the platform at most
_SENDER = re.compile(r"[0-9]{6}")  # a district, as every message of the batch names its sender
_RECIPIENT = re.compile(r"[0-9]{6}(?:[0-9]{3})?")  # a district (or a street of it: its first six digits are read)


class SetAside(ValueError):
    """A batch refused as a whole (unsigned, tampered, truncated, not for us): moved aside with this reason."""


@dataclass(frozen=True, slots=True)
class Batch:
    batch_id: str
    file: bytes  # the sealed batch text
    manifest: bytes

    @property
    def file_name(self) -> str:
        return self.batch_id + BATCH_SUFFIX

    @property
    def manifest_name(self) -> str:
        return self.batch_id + MANIFEST_SUFFIX

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.file).hexdigest()


def signed_part(manifest: dict[str, object]) -> bytes:
    """What the signature covers: every field but the signature, compact JSON with sorted keys."""
    fields = {k: v for k, v in manifest.items() if k != "signature"}
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def build_batch(
    *,
    batch_id: str,
    sender: str,
    recipient: str,
    lines: list[bytes],
    seal_key: str,
    timestamp: str,
    sign: Callable[[str, str, bytes], str],
) -> Batch:
    """`sign(batch_id, timestamp, signed bytes)` gives the signature header value (Ed25519 or shared secret)."""
    file = crypto.seal(b"\n".join(lines) + b"\n", seal_key).encode("ascii")
    manifest: dict[str, object] = {
        "format": FORMAT,
        "batch_id": batch_id,
        "sender": sender,
        "recipient": recipient,
        "file": batch_id + BATCH_SUFFIX,
        "count": len(lines),
        "sha256": hashlib.sha256(file).hexdigest(),  # as Batch.sha256
        "bytes": len(file),
        "timestamp": timestamp,
    }
    manifest["signature"] = sign(batch_id, timestamp, signed_part(manifest))
    return Batch(batch_id, file, json.dumps(manifest, ensure_ascii=False, indent=1).encode())


def read_manifest(raw: bytes) -> dict[str, object]:
    try:
        manifest = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise SetAside("manifest is not JSON (truncated?)") from error
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise SetAside(f"manifest is not a {FORMAT} manifest")
    required = ("batch_id", "sender", "recipient", "file", "count", "sha256", "timestamp")
    missing = [k for k in required if k not in manifest]
    if missing:
        raise SetAside("manifest lacks " + ", ".join(missing))
    if not manifest.get("signature"):
        raise SetAside("manifest is unsigned")
    # read before the signature is checked, from whoever wrote the file: held to codes before any reason or log
    # line quotes them (another system's manifest could name a person there)
    if not (_is_code(manifest["sender"], _SENDER) and _is_code(manifest["recipient"], _RECIPIENT)):
        raise SetAside("manifest's sender or recipient is not a district code")
    try:
        # JSON may escape half a surrogate pair, which no UTF-8 writes: such a manifest cannot be the bytes its
        # sender signed, and met at every poll it would never be set aside
        signed_part(manifest)
    except UnicodeEncodeError as error:
        raise SetAside("manifest is not UTF-8 text") from error
    return manifest


def _is_code(value: object, pattern: re.Pattern[str]) -> bool:
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def check_size(manifest: dict[str, object]) -> None:
    """SetAside for a batch larger than a reader takes, by its manifest (read and its signature checked first,
    so that the sender is told): up to MAX_LINES messages, a file of up to MAX_FILE_BYTES."""
    count, size = manifest["count"], manifest.get("bytes", 0)
    if not isinstance(count, int) or isinstance(count, bool) or not 0 < count <= MAX_LINES:
        raise SetAside(f"manifest's count is not a number of messages from 1 to {MAX_LINES}")
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= MAX_FILE_BYTES:
        raise SetAside(f"manifest's bytes is not a size from 0 to {MAX_FILE_BYTES}")


@dataclass(frozen=True, slots=True)
class OpenedBatch:
    """A batch's messages and the lines that are not one, each by its line number (from 1; the batch file's
    lines that are not empty, as `build_batch` writes them: one message a line, in the order of its messages)."""

    messages: list[tuple[int, ExchangeMessage]]
    malformed: list[tuple[int, str]]  # (line, why: the number of problems, never a value)


def open_batch(manifest: dict[str, object], file: bytes, sealing_key: str, *previous: str) -> OpenedBatch:
    """The messages of a batch whose manifest's signature was checked; SetAside when the file is not that batch.
    `previous`: our earlier sealing keys, during a switch-over."""
    if len(file) != manifest.get("bytes", len(file)) or hashlib.sha256(file).hexdigest() != manifest["sha256"]:
        raise SetAside("batch file differs from its manifest's checksum (tampered or truncated)")
    try:
        text = crypto.open_sealed(file.decode("ascii"), sealing_key, *previous)
    except (crypto.BadSeal, UnicodeDecodeError) as error:
        raise SetAside("batch file does not open with this deployment's sealing key") from error
    lines = [line for line in text.split(b"\n") if line]
    if len(lines) != manifest["count"]:
        raise SetAside(f"batch holds {len(lines)} messages, its manifest says {manifest['count']}")
    opened = OpenedBatch([], [])
    for number, line in enumerate(lines, start=1):
        try:
            opened.messages.append((number, ExchangeMessage.model_validate_json(line)))
        except ValidationError as error:
            opened.malformed.append((number, _unread(error)))
    if lines and not opened.messages:
        raise SetAside(f"no message of the batch reads: {refusals_said(opened.malformed, limit=150)}")
    if any(m.sender != manifest["sender"] for _, m in opened.messages):
        raise SetAside("batch holds a message from another sender than its manifest's")
    return opened


def _unread(error: ValidationError) -> str:
    """Why a line is no message: the fields whose time has no time zone, named (ours, not the partner's), or
    `malformed`. The same words for every such line, so that a run of them is said as one range
    (refusals_said); pydantic's other locations may name a partner's own keys, its messages quote values:
    neither is said."""
    naive = times_without_zone(error)
    if not naive:
        return "malformed"
    return f"{', '.join('.'.join(map(str, where)) for where in naive)} {NEEDS_ZONE}"


def _by_reason(refused: list[tuple[int, str]]) -> dict[str, list[int]]:
    """The refused lines' numbers, sorted, for each reason (in the order of each reason's first line)."""
    groups: dict[str, list[int]] = {}
    for number, why in sorted(refused):
        groups.setdefault(why, []).append(number)
    return groups


def refused_runs(refused: list[tuple[int, str]]) -> dict[str, str]:
    """Every refused line, the lines refused for one reason together, runs as ranges:
    `{"refused (409)": "3", "malformed": "4-6, 17"}`. Whole, however long (an acknowledgement's `refused_lines`)."""
    return {why: _ranges(numbers) for why, numbers in _by_reason(refused).items()}


def refusals_said(refused: list[tuple[int, str]], *, limit: int = 300) -> str:
    """Lines refused one by one, as an acknowledgement's or a listing's reason: `refused_runs` in words
    (`lines 2-40, 45: malformed; line 3: refused (409)`), as many reasons as fit in `limit` characters,
    then how many more lines there were."""
    parts = [
        (f"line{'s' if len(numbers) > 1 else ''} {_ranges(numbers)}: {why}", len(numbers))
        for why, numbers in _by_reason(refused).items()
    ]
    for shown in range(len(parts), 0, -1):
        rest = sum(count for _, count in parts[shown:])
        said = "; ".join(part for part, _ in parts[:shown]) + (f"; and {rest} more lines" if rest else "")
        if len(said) <= limit:
            return said
    return f"{len(refused)} lines refused"[:limit]


def said_whole(refused: list[tuple[int, str]]) -> tuple[str, dict[str, str] | None]:
    """A taken batch's refused lines as its acknowledgement tells them: the reason in words and, when the words
    could not name every line (`refusals_said`'s limit), every line by reason (`refused_runs`), else None."""
    said = refusals_said(refused)
    return said, None if len(refused_lines(said, lines=MAX_LINES)) == len(refused) else refused_runs(refused)


def _ranges(numbers: list[int]) -> str:
    """Sorted line numbers as `2-40, 45`."""
    runs: list[list[int]] = []
    for number in numbers:
        if runs and number == runs[-1][1] + 1:
            runs[-1][1] = number
        else:
            runs.append([number, number])
    return ", ".join(str(low) if low == high else f"{low}-{high}" for low, high in runs)


_REFUSED_LINES = re.compile(r"(?:^|; )lines? ([0-9][0-9, -]{0,300}): ([^;]{1,100})")
RUNS = r"^[0-9]{1,9}(?:-[0-9]{1,9})?(?:, [0-9]{1,9}(?:-[0-9]{1,9})?)*$"  # `_ranges`' form, as a field's pattern


def refused_lines(reason: str | None, *, lines: int) -> dict[int, str]:
    """The lines (of a batch of `lines`) that a taken batch's acknowledgement names as refused, in `refusals_said`'s
    form, with why; {} for a reason in any other form (a partner's own words), and nothing for the lines cut off
    as "and N more lines"."""
    return lines_in(((why, numbers) for numbers, why in _REFUSED_LINES.findall(reason or "")), lines=lines)


def lines_in(runs: Iterable[tuple[str, str]], *, lines: int) -> dict[int, str]:
    """The lines (of a batch of `lines`) that (why, ranges) pairs name, with why; a run that does not read, a line 0
    or a line past the batch's end names nothing."""
    found: dict[int, str] = {}
    for why, numbers in runs:
        for low, high in _spans(numbers):
            for number in range(max(low, 1), min(high, lines) + 1):
                found[number] = why
    return found


def _spans(numbers: str) -> Iterator[tuple[int, int]]:
    """The (first, last) line of each run of `2-40, 45` (`_ranges`' form), leaving out a run that does not read."""
    for run in numbers.split(", "):
        low, dash, high = run.partition("-")
        if low.isdigit() and (high.isdigit() if dash else True):
            yield int(low), int(high or low)


def lines_counted(runs: Mapping[str, str]) -> int:
    """How many lines (why -> ranges in RUNS' form) name, counted without listing them; ValueError unless each
    line is named once, from 1 to MAX_LINES, every run rising (`refused_runs` writes them so)."""
    spans = sorted(span for numbers in runs.values() for span in _spans(numbers))
    if any(not 1 <= low <= high <= MAX_LINES for low, high in spans):
        raise ValueError(f"a run of refused lines is not rising from 1 to {MAX_LINES}")
    if any(later[0] <= earlier[1] for earlier, later in itertools.pairwise(spans)):
        raise ValueError("a refused line is named twice")
    return sum(high - low + 1 for low, high in spans)


def refused_whole(manifest: dict[str, object]) -> int:
    """The lines refused with a batch set aside whole, as its acknowledgement may say them: its manifest's count,
    bounded (0 when the count is not a number)."""
    count = manifest.get("count")
    return min(max(count, 0), MAX_LINES) if isinstance(count, int) else 0


def not_read_said(opened: OpenedBatch) -> str:
    """The bureau's listing of a taken batch's lines that did not read: how many, then which, in the reason's
    300 characters."""
    total = len(opened.messages) + len(opened.malformed)
    listed = f"{len(opened.malformed)} of {total} lines not read (the batch is in done/, its other lines taken): "
    return listed + refusals_said(opened.malformed, limit=300 - len(listed))
