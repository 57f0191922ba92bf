"""structlog, configured once per process, with personal data redacted.

Every log line is one JSON object (or a console line on a terminal). Keys
that may hold personal data are dropped and anything shaped like an
identity number is masked, so a careless `log.info(..., record=record)`
still cannot leak a person. Names have no shape to find in free text, so
every run of letters outside ASCII is masked too, whatever the script:
Chinese, and those the district's people also write names in (Uyghur and
Kazakh in Arabic script, Tibetan, Mongolian, Yi, kana, Hangul); log lines
carry codes, not division names. The text of exceptions and tracebacks loses the
parts that quote values: SQL parameters, pydantic's input_value,
PostgreSQL's DETAIL, and the value PostgreSQL's or asyncpg's own message
quotes when it refuses one (a text that is no uuid, no enum value, no
number in range, no date).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, MutableMapping
from typing import Any, ClassVar, Protocol

import orjson
import structlog

from shared.recent import keep_newest

SENSITIVE_KEYS = frozenset(
    {
        "id_number",
        "name",
        "names",
        "full_name",
        "person",
        "phone",
        "address",
        "residence_address",
        "record",
        "body",
        "payload",
        "corrections",
        "secret",
    }
)
ID_NUMBER_LENGTH = 18
ID_NUMBER_AS_INT = 10**17  # the smallest 18-digit number
ID_NUMBER_PATTERN = re.compile(r"(?<![0-9])[0-9]{17}[0-9Xx](?![0-9])")
# characters nobody sees (zero-width spaces and joiners, direction marks, the soft hyphen, the byte-order mark):
# an identity number split by them reads as one
INVISIBLE_PATTERN = re.compile("[\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
# what may hold a person's name, or an address, in free text: a run of characters outside ASCII. Inside one, every
# stretch of letters (any script), combining marks (Tibetan's stacked letters and vowels, Arabic's vowel marks) and
# numbers (a full-width identity number, which ID_NUMBER_PATTERN's ASCII digits miss) is masked; spaces,
# punctuation and symbols stay, as do ASCII's letters and digits (codes, ids, our own words). Only CJK ideographs
# were masked: a name in Uyghur, Tibetan, Mongolian, Yi, kana or Hangul, and a rare character of CJK's extension
# B, reached a log line and the FTP set-aside list as written
NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]+")
LETTERS_RUN = re.compile(r"[^\W_\x00-\x7f]+")  # letters and numbers outside ASCII (\w's own, in C): marks are not
MASK = "[text-redacted]"
# masked as letters are (_unread): combining marks; unassigned, private-use and lone surrogate characters
_UNREAD = frozenset(("Mn", "Mc", "Me", "Cn", "Co", "Cs"))
# what exceptions quote: "[parameters: (...)]" from SQLAlchemy, "input_value='...'" from pydantic, and
# PostgreSQL's DETAIL (asyncpg puts it in the error's text), which quotes the row's values: "Key
# (source_ref)=(an integrator's id) already exists", "Failing row contains (every column)". A DETAIL may
# span lines (a deadlock's does, and so may a value): it ends only where SQLAlchemy's or asyncpg's next
# part begins, or a traceback's next exception, else with the text
DETAIL_ENDS = (
    r"\n\[SQL: ",
    r"\nHINT:  ",
    r"\n\(Background on this error",
    r"\n\nThe above exception",
    r"\n\nDuring handling",
)
# A value PostgreSQL refuses is quoted in the error's message itself, not only in its DETAIL
# (src/backend/utils/adt: uuid.c, enum.c, numutils.c, datetime.c, arrayfuncs.c, rowtypes.c,
# rangetypes.c), as written, so it may hold a quote or span lines: it ends where the message does.
QUOTED_ENDS = "(?:" + "|".join((*DETAIL_ENDS, r"\nDETAIL:  ", r"\Z")) + ")"
REFUSED_INPUT = (
    r"invalid input syntax for type [^:\n]+"  # "…for type uuid: "…"", integer, date, boolean, numeric, …
    r"|invalid input value for enum [^:\n]+"  # "…for enum kind: "…""
    r"|date/time field value out of range"
    r"|malformed (?:array|record|range) literal"
)
# "…: "the value"" (REFUSED_INPUT): the closing quote before the message's end; cut off, or followed by
# anything else, the value is taken to run to the text's end
REFUSED = re.compile(rf'({REFUSED_INPUT}): ".*?(?:"(?={QUOTED_ENDS})|\Z)', re.DOTALL)
OUT_OF_RANGE = re.compile(r'value ".*?" is out of range for type ', re.DOTALL)  # numutils.c, int8.c, …
# asyncpg, before sending (protocol/prepared_stmt.pyx): "invalid input for query argument $1: 'the value' (why)",
# 40 characters of its repr at most, on one line; the why may quote it again, as does its cause (INVALID_UUID)
ARGUMENT = re.compile(r"(invalid input for query argument \$\d+(?: in element #\d+ of executemany\(\) sequence)?): .*")
INVALID_UUID = re.compile(r"invalid UUID (?:'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\")")  # pgproto/uuid.pyx
# (what a text holds when the pattern may match, the pattern, what the match becomes)
QUOTED_VALUES = (
    (
        ("[parameters: ",),
        re.compile(r"\[parameters: .*?\](?=\s*(?:\(Background|\n|$))", re.DOTALL),
        "[parameters: [redacted]]",
    ),
    (("input_value=",), re.compile(r"input_value=.*?(?=, input_type=|\]|$)", re.DOTALL), "input_value=[redacted]"),
    (("DETAIL:  ",), re.compile(rf"DETAIL:  .*?(?={'|'.join(DETAIL_ENDS)}|\Z)", re.DOTALL), "DETAIL:  [redacted]"),
    (("invalid input ", "out of range: ", "malformed "), REFUSED, r"\1: [redacted]"),
    (("out of range for type ",), OUT_OF_RANGE, "value [redacted] is out of range for type "),
    (("query argument $",), ARGUMENT, r"\1: [redacted]"),
    (("invalid UUID ",), INVALID_UUID, "invalid UUID [redacted]"),
)


def scrub_text(text: str) -> str:
    """`text` without identity numbers, names (letters outside ASCII) or quoted input values."""
    # every line passes here, most of them short ASCII words: a few substring tests, no pattern, for those
    if (
        "[parameters: " in text
        or "input_value=" in text
        or "DETAIL:  " in text
        or "invalid " in text
        or "out of range" in text
        or "malformed " in text
    ):
        for markers, pattern, replacement in QUOTED_VALUES:
            if any(marker in text for marker in markers):
                text = pattern.sub(replacement, text)
    if len(text) >= ID_NUMBER_LENGTH:
        text = ID_NUMBER_PATTERN.sub("[id-redacted]", text)
        if not text.isascii() and INVISIBLE_PATTERN.search(text):
            visible = INVISIBLE_PATTERN.sub("", text)
            if ID_NUMBER_PATTERN.search(visible):  # only then: a direction mark that hid none is still said
                text = ID_NUMBER_PATTERN.sub("[id-redacted]", visible)
    return text if text.isascii() else _names_masked(text)


def _names_masked(text: str) -> str:
    """`text` (not ASCII) with its letters, marks and numbers outside ASCII masked: by one pattern, unless what is
    left between its runs holds a combining mark, which \\w does not match (Tibetan, an Arabic vowel mark), or a
    character this Python cannot read (_unread): then character by character, at a third of the pattern's speed."""
    between = LETTERS_RUN.split(text)  # what is left between the runs: punctuation, symbols, spaces, ASCII, marks
    left = "".join(between)
    if left.isascii() or not any(_unread(c) for c in set(left) if not c.isascii()):
        return MASK.join(between)
    return NON_ASCII_RUN.sub(_masked, text)


def _unread(c: str) -> bool:
    """A combining mark, or a character of a name that the Unicode database calls no letter: unassigned in this
    Python's (CJK extension H, Unicode 15, encodes rare characters of names; 3.11 has 14.0), private use (where
    the population registers' systems encode the rarest), or a lone surrogate (a name's bytes in another encoding,
    GBK say, decoded with surrogateescape). Kept, said_safely's escape spelt each out (`\\U00031350`)."""
    return unicodedata.category(c) in _UNREAD


def _masked(run: re.Match[str]) -> str:
    """A run of characters outside ASCII, each stretch of letters, marks, numbers and unread characters in it one
    MASK."""
    said: list[str] = []
    for c in run[0]:
        if c.isalnum() or _unread(c):
            if not said or said[-1] != MASK:
                said.append(MASK)
        else:
            said.append(c)
    return "".join(said)


def said_safely(text: str, limit: int = 120) -> str:
    """Text from outside (a file name a partner chose, say) as a log line may quote it: scrubbed (scrub_text:
    identity numbers, and every letter outside ASCII, masked),
    control and other unprintable characters escaped (`\\n`, `\\x1b`, `\\u202e`: no forged line, no
    terminal escape, no text turned around), and cut to `limit` characters with `...` at the end."""
    text = scrub_text(text)
    if not text.isprintable():
        # an identity number or a name split by a character nobody sees (a zero-width space, a control
        # character) is one all the same: when taking them out shows one, it is said without them
        visible = "".join(c for c in text if c.isprintable())
        if scrub_text(visible) != visible:
            text = scrub_text(visible)
    if not text.isprintable():
        text = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= ID_NUMBER_AS_INT:
        return scrub_text(str(value))  # an identity number passed as a number is one all the same
    if isinstance(value, int | float | bool) or value is None:
        return value
    if isinstance(value, bytes | bytearray):
        return scrub_text(bytes(value).decode("utf-8", "replace"))
    if isinstance(value, dict):
        return {k: "[redacted]" if k in SENSITIVE_KEYS else _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def redact_personal_data(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: no identity number or name survives into the output."""
    for key in list(event_dict):
        if key in SENSITIVE_KEYS:
            event_dict[key] = "[redacted]"
        else:
            event_dict[key] = _scrub(event_dict[key])
    return event_dict


def render_json(value: Any, *, default: Callable[[Any], Any], **_: Any) -> str:
    """A line's JSON by orjson (2 us instead of the standard library's 30); the standard library where orjson refuses.

    orjson refuses what a line rarely holds (keys that are not strings, integers
    beyond 64 bits): those lines are rendered as before. Compact separators.
    """
    try:
        return orjson.dumps(value, default=default).decode()
    except TypeError:
        return json.dumps(value, default=default, ensure_ascii=False)


class QuietRepeats(logging.Filter):
    """Lets one line of a client library's repeated message through per `window_s`, and says how many it held.

    A Kafka broker down makes aiokafka log "Unable connect to node with id 2" and its kin at ERROR for every
    attempt: about 100 lines a second from each service (round 35, a broker killed under the services),
    which buries every other line of the incident. The same line again (the same logger, level and text) is
    one message here: the first goes out, the rest of the window are counted, and the next one after the
    window says "(and N more like it in the last S s)". Lines that differ in anything, a node id, a
    partition or an offset included, are different messages: a second broker going down, or another
    partition reset, is said when it happens. The count of a storm's last window goes out with its next
    line, if one comes. PopFlow's own lines are never held.

    Full, the memory forgets the message seen least recently, one at a time: every repeat, held or not,
    makes its message the newest, so a storm stays remembered while lines that differ (offsets,
    generations, a client making up new ones) pass through. Emptying it whole let the storm's next line
    out within its window, and lost the count of what it had held.
    """

    KEPT = 1000  # messages remembered at most (a client that makes up new ones cannot grow this)

    def __init__(
        self,
        prefixes: tuple[str, ...] = ("aiokafka",),
        window_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._clock = clock
        self._prefixes = prefixes
        self._window_s = window_s
        # message -> [window's start, held], the message said least recently first
        self._seen: OrderedDict[tuple[str, int, str], list[float]] = OrderedDict()
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(self._prefixes):
            return True
        message = record.getMessage()
        key = (record.name, record.levelno, message)
        now = self._clock()
        with self._lock:
            seen = self._seen.get(key)
            if seen is not None and now - seen[0] < self._window_s:
                seen[1] += 1
                self._seen.move_to_end(key)
                return False
            keep_newest(self._seen, key, [now, 0], self.KEPT)
        if seen is not None and seen[1]:
            record.msg = f"{message} (and {seen[1]:.0f} more like it in the last {now - seen[0]:.0f} s)"
            record.args = None
        return True


class RetriedLookups(logging.Filter):
    """aiokafka's failed look-ups that it retries itself are said at WARNING, not ERROR.

    A consumer's first lookup on a new broker finds no coordinator while Kafka creates its offsets topic
    (`[Error 15] GroupCoordinatorNotAvailableError`), and aiokafka logs that at ERROR before it retries:
    every first start of a deployment began with an error line that needs nobody. Topics the services have
    just created do the same for a moment: their metadata is not there yet (`Topic ... not found in cluster
    metadata`, Kafka's UnknownTopicOrPartition) or their partitions' leaders are not known yet (`Failed fetch
    offsets from 1: [Error 6] NotLeaderForPartitionError`); `make run-two`'s first start logged both. An error
    Kafka calls retriable is retried until it passes (one that never does shows as the group's lag, and the
    line repeats); one that is not (an answer the client does not know) stays at ERROR, and the consumer
    stops. A group not authorised never comes here: aiokafka raises it before the coordinator lookup's line.
    """

    # (logger, message): where the Kafka error is among the message's arguments; None where the message
    # names it (UnknownTopicOrPartition, retriable)
    _RETRIED: ClassVar[dict[tuple[str, str], int | None]] = {
        ("aiokafka.consumer.group_coordinator", "Group Coordinator Request failed: %s"): 0,
        ("aiokafka.consumer.fetcher", "Failed fetch offsets from %s: %s"): 1,
        ("aiokafka.cluster", "Topic %s not found in cluster metadata"): None,
    }

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.msg if isinstance(record.msg, str) else "")
        if key in self._RETRIED and record.levelno > logging.WARNING and self._retriable(record, self._RETRIED[key]):
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            # its logger let it through as an error: a deployment logging errors alone does not want it now
            return logging.getLogger(record.name).isEnabledFor(logging.WARNING)
        return True

    @staticmethod
    def _retriable(record: logging.LogRecord, at: int | None) -> bool:
        if at is None:
            return True
        args = record.args if isinstance(record.args, tuple) else ()
        return len(args) > at and getattr(args[at], "retriable", False) is True


class SubscriberTaskEnds(logging.Filter):
    """FastStream's "callback for Task-N is being executed..." is said at DEBUG, not INFO.

    FastStream 0.7's subscriber supervisor says it at INFO whenever a subscriber's task ends, which is at every
    stop: a line for each subscriber, naming an asyncio task, that tells an operator nothing (`make run-two`'s
    stop printed 14). A task that failed is said at ERROR by the supervisor's next line, once an hour for the same
    exception (FastStream's own cache); its restarts after that, which this line was the only trace of, are not
    told apart from a stop by the record alone, and are at DEBUG too.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.msg if isinstance(record.msg, str) else ""
        if (
            record.levelno == logging.INFO
            and message.startswith("callback for ")
            and message.endswith(" is being executed...")
        ):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


class LogSettings(Protocol):
    """What a service's settings say of its log lines (shared.settings.CommonSettings)."""

    log_level: str
    log_format: str
    deployment_name: str


def configure_service_logging(service: str, settings: LogSettings) -> None:
    """configure_logging as `settings` say: their level, format and deployment's name."""
    configure_logging(
        service=service, level=settings.log_level, fmt=settings.log_format, deployment=settings.deployment_name
    )


def configure_logging(*, service: str, level: str = "INFO", fmt: str = "auto", deployment: str = "") -> None:
    """Route structlog and the standard library (uvicorn, aiokafka, FastStream) through one pipeline; every line
    carries `service`, and `deployment` when one is named (several deployments writing to one log)."""
    as_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    shared_processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact_personal_data,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=render_json) if as_json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        # a line below the level is dropped before any processor runs (it cost a third of a line,
        # context, time stamp and scrubbing included, only for the stdlib logger to discard it)
        processors=[
            structlog.stdlib.filter_by_level,
            *shared_processors,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler()
    handler.addFilter(RetriedLookups())  # before QuietRepeats, which tells messages apart by their level
    handler.addFilter(SubscriberTaskEnds())
    handler.addFilter(QuietRepeats())
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared_processors,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    # a log record's thread, process and process-name fields are never rendered: not looking them up
    # saves a fifth of a line's cost (every line is built as a stdlib record, see ProcessorFormatter)
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    # nor is where a line was logged (file, line, function): not walking the stack for it saves another
    # tenth (the "Optimization" table of the logging HOWTO)
    logging._srcfile = None
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn, when something configured it with its own log config, keeps handlers that bypass
    # the redaction above: every line goes through the root handler
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        named = logging.getLogger(name)
        named.handlers[:] = []
        named.propagate = True
        named.disabled = False
    # one access line per request, popflow.access (shared/http/access.py, with route, status, duration
    # and request id): uvicorn's own second line cost a log record per request for nothing new
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service=service, **({"deployment": deployment} if deployment else {}))
