"""No identity number or name reaches a log line, even by mistake."""

from __future__ import annotations

import asyncio
import json
import logging
import unicodedata
from typing import Any, cast

import asyncpg
import pytest
import structlog
from faststream._internal.endpoint.subscriber.supervisor import TaskCallbackSupervisor
from faststream.kafka import KafkaBroker
from sqlalchemy.exc import IntegrityError

from shared.db import build_engine
from shared.logging import configure_logging, render_json, said_safely, scrub_text


def test_personal_data_is_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(service="test", fmt="json")
    log = structlog.get_logger("t")
    log.info("careless", name="王五", id_number="11010519491231002X", note="id 11010519491231002X here")
    logging.getLogger("foreign").warning("stdlib says 11010519491231002X")
    out = capsys.readouterr().err
    assert "11010519491231002X" not in out
    assert "王五" not in out
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines[0]["service"] == "test"
    assert lines[0]["name"] == "[redacted]"
    assert "[id-redacted]" in lines[0]["note"]
    assert "[id-redacted]" in lines[1]["event"]


def test_names_and_quoted_values_in_exception_text_are_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(service="test", fmt="json")
    log = structlog.get_logger("t")
    sql_error = (
        "(sqlalchemy.dialects.postgresql.asyncpg.Error) value too long for type character varying(50)\n"
        "[SQL: UPDATE cases SET name=$1 WHERE case_id = $2]\n"
        "[parameters: ('Zhang Sanfeng the Second', 'c-1')]\n"
        "(Background on this error at: https://sqlalche.me/e/20/dbapi)"
    )
    try:
        raise ValueError(sql_error)
    except ValueError:
        log.exception("store failed", note="赵六 moved")
    try:
        raise RuntimeError("too long [type=string_too_long, input_value='Jane Q. Public, Esq.', input_type=str]")
    except RuntimeError:
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
    out = capsys.readouterr().err
    for personal in ("Zhang Sanfeng", "Jane Q. Public", "赵六"):
        assert personal not in out
    lines = [json.loads(line) for line in out.splitlines()]
    assert "[parameters: [redacted]]" in lines[0]["exception"]
    assert "UPDATE cases" in lines[0]["exception"]  # the statement itself stays: it helps and names no one
    assert "input_value=[redacted]" in lines[1]["exception"]


def test_sql_parameters_are_hidden_from_database_errors() -> None:
    engine = build_engine("sqlite+aiosqlite:///:memory:")
    assert engine.sync_engine.hide_parameters


def test_every_shape_of_value_is_scrubbed(capsys: pytest.CaptureFixture[str]) -> None:
    # the scrubber skips patterns that cannot match (short or ASCII text): the edges must still be caught
    configure_logging(service="test", fmt="json")
    structlog.get_logger("t").info(
        "shapes",
        bare="11010519491231002X",
        listed=["ok", ("x", "11010519491231002x")],
        nested={"street": "440111008", "who": "李四"},
        count=3,
        as_number=110105194912310021,
        as_bytes=b"id 11010519491231002X",
        ratio=0.5,
        flag=True,
        nothing=None,
    )
    line = json.loads(capsys.readouterr().err.splitlines()[0])
    assert line["bare"] == "[id-redacted]"
    assert line["listed"] == ["ok", ["x", "[id-redacted]"]]
    assert line["nested"] == {"street": "440111008", "who": "[text-redacted]"}
    assert (line["count"], line["ratio"], line["flag"], line["nothing"]) == (3, 0.5, True, None)
    assert line["as_number"] == "[id-redacted]"
    assert line["as_bytes"] == "id [id-redacted]"


def test_lines_are_the_json_the_standard_library_wrote() -> None:
    # orjson renders lines (compact); what a line says is unchanged, and what orjson refuses is still rendered
    line = {"event": "request", "route": "/v1/records", "status": 202, "ms": 1.25, "who": "[redacted]", "ok": True}
    line |= {"nested": {"a": [1, "二", None]}, "thing": object()}
    assert json.loads(render_json(line, default=repr)) == json.loads(json.dumps(line, default=repr))
    assert render_json({"event": "x", "by_number": {1: 2}}, default=repr) == '{"event": "x", "by_number": {"1": 2}}'


def test_a_line_below_the_level_is_dropped_before_its_processors_run(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(service="test", level="WARNING", fmt="json")
    assert structlog.get_config()["processors"][0] is structlog.stdlib.filter_by_level
    log = structlog.get_logger("t")
    log.info("quiet", note="not rendered")
    log.warning("loud", note="rendered")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(line["event"], line["level"]) for line in lines] == [("loud", "warning")]


INTEGRATORS_REF = "-".join(("acme", "ref", "7731"))  # not written whole here: the traceback quotes this file


def _unique_violation(value: str) -> IntegrityError:
    """A unique violation as SQLAlchemy's asyncpg dialect raises it: PostgreSQL's DETAIL in its text."""
    driver = asyncpg.exceptions.UniqueViolationError.new(
        {
            "M": 'duplicate key value violates unique constraint "uq_records_source_ref"',
            "D": f"Key (source_ref)=({value}) already exists.",
            "C": "23505",
            "n": "uq_records_source_ref",
        }
    )
    return IntegrityError("INSERT INTO records (source_ref) VALUES ($1)", None, driver)


def test_the_values_postgresql_quotes_in_an_error_reach_no_log_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(service="test", fmt="json")
    try:
        try:
            raise _unique_violation(INTEGRATORS_REF)
        except IntegrityError as error:
            raise RuntimeError("the batch was not stored") from error
    except RuntimeError:
        structlog.get_logger("t").exception("store failed")
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
    failing_row = "DETAIL:  Failing row contains (r-1, J.\n\nPublic).\nHINT:  Check the column."  # a value over lines
    structlog.get_logger("t").error("refused", error=f'violates check constraint "ck"\n{failing_row}')
    out = capsys.readouterr().err
    assert INTEGRATORS_REF not in out
    assert "Public" not in out
    lines = [json.loads(line) for line in out.splitlines()]
    for line in lines[:2]:
        assert "DETAIL:  [redacted]" in line["exception"]
        assert "uq_records_source_ref" in line["exception"]  # the constraint's name stays: it names no one
        assert "the batch was not stored" in line["exception"]
    assert lines[2]["error"] == 'violates check constraint "ck"\nDETAIL:  [redacted]\nHINT:  Check the column.'


@pytest.mark.parametrize(
    ("fields", "scrubbed"),
    [
        # PostgreSQL quotes the value as written: a quote and a line break inside it end nothing
        (
            {"M": 'invalid input syntax for type uuid: "J. "Public"\nOK"'},
            "invalid input syntax for type uuid: [redacted]",
        ),
        (
            {"M": 'invalid input value for enum kind: "J."', "D": "x", "H": "Check the value."},
            "invalid input value for enum kind: [redacted]\nDETAIL:  [redacted]\nHINT:  Check the value.",
        ),
        # cut off (a dead letter's header keeps a bounded part of an error): the rest is the value's
        ({"M": 'malformed array literal: "{J. Pub'}, "malformed array literal: [redacted]"),
        (
            {"M": "invalid input for query argument $2: 'J. Public' (expected str, got int)"},
            "invalid input for query argument $2: [redacted]",
        ),
    ],
)
def test_a_value_quoted_in_a_database_errors_message_is_redacted_to_its_end(
    fields: dict[str, str], scrubbed: str
) -> None:
    error = asyncpg.exceptions.InvalidTextRepresentationError.new({**fields, "C": "22P02"})
    assert scrub_text(str(error)) == scrubbed


def test_a_line_that_quotes_no_value_is_left_as_it_was() -> None:
    for line in ('new row for relation "records" violates check constraint "ck"', "invalid token", "out of range"):
        assert scrub_text(line) == line


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("440111-440106-20270301T020000-0123456789ab", "440111-440106-20270301T020000-0123456789ab"),
        ("a\nforged line", "a\\nforged line"),
        ("\x1b[2Jcleared\x07", "\\x1b[2Jcleared\\x07"),
        ("gpj.\u202eexe", "gpj.\\u202eexe"),  # no text turned around
        ("11010119900307012X.batch", "[id-redacted].batch"),
        ("张三.batch", "[text-redacted].batch"),
        ("x" * 130, "x" * 117 + "..."),
        # split by what nobody sees, an identity number or a name is one all the same
        ("1101011990\u200b0307012X.batch", "[id-redacted].batch"),
        ("110101199003\x0007012X", "[id-redacted]"),
        ("张\u200b三\n.batch", "[text-redacted]\\u200b[text-redacted]\\n.batch"),  # masked apart
        ("report\u200b.batch", "report\\u200b.batch"),
    ],
)
def test_text_from_outside_is_said_scrubbed_escaped_and_cut(text: str, said: str) -> None:
    assert said_safely(text) == said


NAMES = {  # a person's name (or part of one) in the scripts a district's people write names in
    "uyghur": "\u0626\u0627\u064a\u06af\u06c8\u0644",  # ئايگۈل, Arabic script
    "kazakh": "\u0646\u06c7\u0631\u0644\u0627\u0646",  # نۇرلان
    "tibetan": "\u0f56\u0f40\u0fb2\u0f0b\u0f64\u0f72\u0f66",  # བཀྲ་ཤིས: a stacked letter and a vowel sign (marks)
    "mongolian": "\u182a\u1820\u1832\u1824",  # ᠪᠠᠲᠤ
    "yi": "\ua188\ua320",  # ꆈꌠ
    "kana": "\u3084\u307e\u3060 \u30bf\u30ed\u30a6",  # やまだ タロウ
    "hangul": "\uae40\ucca0\uc218",  # 김철수
    "han-extension-b": "\U00020000\u4e09",  # a rare character of a name, and a common one
    "full-width-digits": "\uff14\uff14\uff10\uff11\uff10\uff16",  # an identity number's digits, full width
}


@pytest.mark.parametrize("name", NAMES.values(), ids=NAMES.keys())
def test_a_name_in_any_script_is_masked_and_ascii_codes_stay(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Only CJK ideographs were masked: a name in the script of one of China's minorities, or in kana or Hangul,
    reached a log line, and the FTP set-aside list, as written."""
    said = said_safely(f"440111-{name}-7.batch")
    assert said.startswith("440111-[text-redacted]")
    assert said.endswith("-7.batch")
    assert not any(c in said for c in name if unicodedata.category(c)[0] in "LMN")  # Tibetan's tsheg stays
    configure_logging(service="test", fmt="json")
    structlog.get_logger("t").warning("row refused", reason=f"holder {name} at row 3")
    line = json.loads(capsys.readouterr().err.splitlines()[0])
    assert line["reason"].startswith("holder [text-redacted]")
    assert line["reason"].endswith(" at row 3")


def test_punctuation_and_symbols_outside_ascii_stay_between_masked_names() -> None:
    said = "[text-redacted]\u00b7[text-redacted] \u2192 \u2605 ok"  # a middle dot, an arrow, a star
    assert scrub_text("\u963f\u4f9d\u00b7\u4e70\u4e70 \u2192 \u2605 ok") == said
    assert said_safely("Jos\u00e9 M\u00fcller, 440111") == "Jos[text-redacted] M[text-redacted]ller, 440111"


def test_the_cut_is_made_after_the_escapes_and_the_scrub() -> None:
    assert said_safely("\x00" * 50, limit=20) == "\\x00" * 4 + "\\..."
    assert said_safely("1" * 17 + "X" + "y" * 200, limit=20) == "[id-redacted]yyyy..."


@pytest.mark.parametrize("split", ["\u200b", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u202e"])
def test_an_identity_number_split_by_a_character_nobody_sees_is_scrubbed_from_every_line(
    split: str, capsys: pytest.CaptureFixture[str]
) -> None:
    number = "110101199003070" + split + "12X"
    assert scrub_text(f"refused {number} at row 3") == "refused [id-redacted] at row 3"
    configure_logging(service="test", fmt="json")
    structlog.get_logger("t").warning("row refused", reason=f"holder {number}")
    line = capsys.readouterr().err
    assert "[id-redacted]" in line
    assert "110101199003070" not in line
    assert scrub_text("gpj.\u202eexe") == "gpj.\u202eexe"  # nothing hidden: left for said_safely to escape


def test_a_coordinator_lookup_aiokafka_retries_is_a_warning_and_one_it_gives_up_on_an_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # a consumer's first start on a new broker: no coordinator while Kafka makes its offsets topic
    from aiokafka.errors import GroupAuthorizationFailedError, GroupCoordinatorNotAvailableError

    configure_logging(service="test", fmt="json")
    coordinator = logging.getLogger("aiokafka.consumer.group_coordinator")
    coordinator.error("Group Coordinator Request failed: %s", GroupCoordinatorNotAvailableError())
    coordinator.error("Group Coordinator Request failed: %s", GroupAuthorizationFailedError("g"))
    coordinator.error("Heartbeat failed: %r", GroupCoordinatorNotAvailableError())  # another message: as it was
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [line["level"] for line in lines] == ["warning", "error", "error"]
    assert "GroupCoordinatorNotAvailableError" in lines[0]["event"]


def test_a_new_topics_first_lookups_aiokafka_retries_are_warnings(capsys: pytest.CaptureFixture[str]) -> None:
    """`make run-two`'s first start: topics just created have no metadata or no known leaders for a moment."""
    from aiokafka.errors import KafkaError, NotLeaderForPartitionError

    configure_logging(service="test", fmt="json")
    logging.getLogger("aiokafka.cluster").error("Topic %s not found in cluster metadata", "popflow.notices.issued")
    fetcher = logging.getLogger("aiokafka.consumer.fetcher")
    fetcher.error("Failed fetch offsets from %s: %s", 1, NotLeaderForPartitionError())
    fetcher.error("Failed fetch offsets from %s: %s", 1, KafkaError())  # not retriable: as it was
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [line["level"] for line in lines] == ["warning", "warning", "error"]
    assert "popflow.notices.issued" in lines[0]["event"]


async def test_a_subscriber_task_ending_is_said_at_debug(capsys: pytest.CaptureFixture[str]) -> None:
    """FastStream's supervisor says each subscriber task's end at INFO: a dozen lines at every stop. Said here by
    the supervisor itself, on a broker logging as the services' do (shared/kafka/broker.py): a FastStream that
    rewords the line fails this test instead of printing it at INFO again."""
    broker = KafkaBroker(logger=logging.getLogger("popflow.routing.kafka"), log_level=logging.DEBUG)
    subscriber = broker.subscriber("t", group_id="g")

    async def ends() -> None:
        return None

    async def one_ending(name: str) -> None:
        task = asyncio.create_task(ends(), name=name)
        await task
        TaskCallbackSupervisor(ends, None, None, cast(Any, subscriber))(task)  # as FastStream calls it when a task ends

    broker._setup_logger()  # as `connect` sets it up (FastStream's test broker puts a mock in its place)
    configure_logging(service="test", fmt="json")
    await one_ending("Task-44")
    logging.getLogger("popflow.routing.kafka").info("Task-44 stopped, callback for it is being executed")  # as it was
    configure_logging(service="test", fmt="json", level="DEBUG")
    await one_ending("Task-45")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(line["event"], line["level"]) for line in lines] == [
        ("Task-44 stopped, callback for it is being executed", "info"),
        ("callback for Task-45 is being executed...", "debug"),
    ]


def test_every_line_names_its_deployment_when_one_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(service="routing", fmt="json", deployment="440111")
    structlog.get_logger("t").info("ours")
    logging.getLogger("aiokafka.consumer").warning("the client's")
    configure_logging(service="routing", fmt="json")
    structlog.get_logger("t").info("unnamed")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(line["event"], line.get("deployment")) for line in lines] == [
        ("ours", "440111"),
        ("the client's", "440111"),
        ("unnamed", None),
    ]


UNREAD = {  # characters of a name that this Python's Unicode database calls no letter
    # CJK extension H (Unicode 15: unassigned in Python 3.11's 14.0), encoded for the rare characters of names
    "han-extension-h": "\u5f20\U00031350",
    "private-use": "\u738b\ue0a5",  # a rare character as the population registers' systems encode it (PUA)
    "surrogate-escaped": "\udcd5\udcc5\udcc8\udcfd",  # 张三 in GBK, its bytes decoded with surrogateescape
}


@pytest.mark.parametrize("name", UNREAD.values(), ids=UNREAD.keys())
def test_a_character_of_a_name_that_no_letter_of_the_unicode_database_is_masked_too(name: str) -> None:
    """Only letters, marks and numbers were masked: a character that is not one in this Python (a rare character
    of CJK extension H, one in the private-use area, the bytes of a name decoded with surrogateescape) was kept,
    and said_safely's escape spelt it out (`\\U00031350`), as a log line and the FTP set-aside list then said it."""
    said = said_safely(f"440111-{name}-7.batch")
    assert said == "440111-[text-redacted]-7.batch"
    assert scrub_text(f"holder {name} at row 3") == "holder [text-redacted] at row 3"


def test_a_coordinator_lookup_lowered_to_a_warning_is_not_written_when_the_level_is_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The level was checked before the line was lowered: a deployment logging errors alone still got it."""
    from aiokafka.errors import GroupCoordinatorNotAvailableError

    configure_logging(service="test", level="ERROR", fmt="json")
    coordinator = logging.getLogger("aiokafka.consumer.group_coordinator")
    coordinator.error("Group Coordinator Request failed: %s", GroupCoordinatorNotAvailableError())
    coordinator.error("Heartbeat failed: %r", GroupCoordinatorNotAvailableError())
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(line["level"], line["event"][:16]) for line in lines] == [("error", "Heartbeat failed")]
