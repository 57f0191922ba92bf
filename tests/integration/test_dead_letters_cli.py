"""`popflow dead-letters show` on a real topic: bodies opened, a message set aside again shown once for each
consumer group that set it aside."""

from __future__ import annotations

import asyncio

from typer.testing import CliRunner

from services.cli.main import app
from shared.kafka.admin import ensure_topics
from shared.kafka.failures import SEALED_HEADER, dead_letter_headers, seal_dead_letter
from shared.topics import DEAD_LETTER, TopicNames
from tests.support.infra import (
    DATA_KEYS,
    PERSON_KEY_SECRET,
    TEST_KEYRING,
    kafka_bootstrap,
    kafka_connection,
    unique_name,
)
from tests.support.kafka import publish_one


async def set_aside(topic: str, offset: int, body: bytes, error: str, group: str = "popflow.reporting") -> None:
    source = type("Source", (), {"topic": "popflow.records.rejected", "partition": 0, "offset": offset})()
    headers = dead_letter_headers(source, "DataError", error, group=group) | {"sealed": SEALED_HEADER}
    await publish_one(topic, seal_dead_letter(TEST_KEYRING, body, headers), headers=headers)


async def test_a_message_set_aside_on_every_rebuild_is_shown_once_with_its_count() -> None:
    prefix = unique_name("deadletters.") + "."
    topic = TopicNames(prefix)(DEAD_LETTER)
    await ensure_topics(kafka_connection(), [topic], partitions=1, replication=1)
    await set_aside(topic, 7, b'{"first": 1}', "22021 refused")
    await set_aside(topic, 9, b'{"second": 2}', "22021 refused")
    await set_aside(topic, 7, b'{"first": 1}', "22021 refused")  # the fold's rebuild set it aside again
    await set_aside(topic, 7, b'{"first": 1}', "22021 refused")
    await set_aside(topic, 9, b'{"second": 2}', "22021 refused", group="popflow.routing")  # another service's

    env = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap(),
        "POPFLOW_TOPIC_PREFIX": prefix,
        "POPFLOW_DATA_KEYS": DATA_KEYS,
        "POPFLOW_PERSON_KEY_SECRET": PERSON_KEY_SECRET,
    }
    result = await asyncio.to_thread(CliRunner().invoke, app, ["dead-letters", "show"], env=env)
    assert result.exit_code == 0, result.output
    assert result.output.count('{"first": 1}') == 1
    assert result.output.count('{"second": 2}') == 2  # once for each group that set it aside
    assert result.output.count("set aside by popflow.reporting") == 2
    assert result.output.count("set aside by popflow.routing") == 1
    assert result.output.count("set aside 3 times") == 1
    assert result.output.index('{"first": 1}') < result.output.index('{"second": 2}')

    one = await asyncio.to_thread(CliRunner().invoke, app, ["dead-letters", "show", "--limit", "1"], env=env)
    assert '{"second": 2}' not in one.output
    assert "set aside 3 times" in one.output
