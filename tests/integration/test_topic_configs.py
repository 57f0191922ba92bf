"""Topic configs set by the services: retention at creation, and existing topics aligned to the settings."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from pydantic import ValidationError

from services.routing.settings import RoutingSettings
from shared.kafka import admin as kafka_admin
from shared.kafka.admin import DAY_MS, ensure_topics, topic_configs
from shared.kafka.security import KafkaConnection
from shared.topics import DEAD_LETTER, RECORDS_SUBMITTED, TopicNames
from tests.support.infra import DATA_KEYS, PERSON_KEY_SECRET, kafka_connection, unique_name
from tests.support.logs import logged_by
from tests.support.waiting import eventually


def settings(**env: str) -> RoutingSettings:
    return RoutingSettings.model_validate(
        {"POPFLOW_PERSON_KEY_SECRET": PERSON_KEY_SECRET, "POPFLOW_DATA_KEYS": DATA_KEYS, **env}
    )


@pytest.fixture
async def admin() -> AsyncIterator[AIOKafkaAdminClient]:
    client = AIOKafkaAdminClient(**kafka_connection().options())
    await client.start()
    try:
        yield client
    finally:
        await client.close()


async def configs_of(admin: AIOKafkaAdminClient, topic: str) -> dict[str, str]:
    described = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    return {entry[0]: entry[1] for response in described for *_, entries in response.resources for entry in entries}


async def showing(admin: AIOKafkaAdminClient, topic: str, name: str, value: str) -> dict[str, str] | None:
    """The topic's configs once `name` reads `value`: a broker applies a created topic or a config change from
    the metadata log a moment after answering, and describes what it has applied."""
    configs = await configs_of(admin, topic)
    return configs if configs.get(name) == value else None


def test_defaults_keep_events_for_ever_and_dead_letters_two_weeks() -> None:
    topics = TopicNames("p.")
    configs = topic_configs(settings(), topics)
    assert configs[topics(RECORDS_SUBMITTED)] == {"retention.ms": "-1", "min.insync.replicas": "1"}
    assert configs[topics(DEAD_LETTER)] == {"retention.ms": str(14 * DAY_MS), "min.insync.replicas": "1"}
    assert set(configs) == set(topics.all())


@pytest.mark.parametrize(
    ("env", "in_sync"),
    [
        ({}, "1"),
        ({"POPFLOW_TOPIC_REPLICATION": "2"}, "1"),
        ({"POPFLOW_TOPIC_REPLICATION": "3"}, "2"),
        ({"POPFLOW_TOPIC_REPLICATION": "5"}, "2"),
        ({"POPFLOW_TOPIC_REPLICATION": "5", "POPFLOW_TOPIC_MIN_IN_SYNC": "3"}, "3"),
        ({"POPFLOW_TOPIC_REPLICATION": "3", "POPFLOW_TOPIC_MIN_IN_SYNC": "1"}, "1"),
    ],
)
def test_every_topic_asks_for_the_copies_in_sync_the_replication_allows(env: dict[str, str], in_sync: str) -> None:
    topics = TopicNames("p.")
    configs = topic_configs(settings(**env), topics)
    assert {name: config["min.insync.replicas"] for name, config in configs.items()} == dict.fromkeys(
        topics.all(), in_sync
    )


def test_more_copies_in_sync_than_made_is_refused_naming_both_settings() -> None:
    with pytest.raises(ValidationError) as refused:
        settings(POPFLOW_TOPIC_REPLICATION="3", POPFLOW_TOPIC_MIN_IN_SYNC="4")
    assert "POPFLOW_TOPIC_MIN_IN_SYNC=4" in str(refused.value)
    assert "POPFLOW_TOPIC_REPLICATION" in str(refused.value)
    with pytest.raises(ValidationError):
        settings(POPFLOW_TOPIC_MIN_IN_SYNC="0")


def test_retention_settings_are_checked() -> None:
    shorter = topic_configs(
        settings(POPFLOW_TOPIC_RETENTION_DAYS="400", POPFLOW_DEAD_LETTER_RETENTION_DAYS="3"), TopicNames("")
    )
    assert shorter[RECORDS_SUBMITTED]["retention.ms"] == str(400 * DAY_MS)
    assert shorter[DEAD_LETTER]["retention.ms"] == str(3 * DAY_MS)
    for bad in ({"POPFLOW_TOPIC_RETENTION_DAYS": "0"}, {"POPFLOW_DEAD_LETTER_RETENTION_DAYS": "0"}):
        with pytest.raises(ValidationError):
            settings(**bad)


async def test_topics_are_created_with_their_retention_and_aligned_later(admin: AIOKafkaAdminClient) -> None:
    kafka: KafkaConnection = kafka_connection()
    topics = TopicNames(f"test.{unique_name('cfg')}.")
    names = [topics(RECORDS_SUBMITTED), topics(DEAD_LETTER)]
    first = topic_configs(settings(POPFLOW_DEAD_LETTER_RETENTION_DAYS="14"), topics)
    await ensure_topics(kafka, names, partitions=1, replication=1, configs=first)
    try:
        await eventually(
            functools.partial(showing, admin, topics(DEAD_LETTER), "retention.ms", str(14 * DAY_MS)), within=10
        )
        await eventually(functools.partial(showing, admin, topics(RECORDS_SUBMITTED), "retention.ms", "-1"), within=10)

        # An operator's own override on the topic survives the services aligning retention.
        await admin.alter_configs(
            [
                ConfigResource(
                    ConfigResourceType.TOPIC,
                    topics(DEAD_LETTER),
                    configs={"retention.ms": str(14 * DAY_MS), "max.message.bytes": "2097152"},
                )
            ]
        )
        # the services align what they describe: they must see the override to keep it
        await eventually(
            functools.partial(showing, admin, topics(DEAD_LETTER), "max.message.bytes", "2097152"), within=10
        )
        later = topic_configs(settings(POPFLOW_DEAD_LETTER_RETENTION_DAYS="2"), topics)
        await ensure_topics(kafka, names, partitions=1, replication=1, configs=later)

        async def aligned() -> dict[str, str] | None:
            # a broker applies a config change from the metadata log a moment after answering
            dead_letter = await configs_of(admin, topics(DEAD_LETTER))
            return dead_letter if dead_letter["retention.ms"] == str(2 * DAY_MS) else None

        assert (await eventually(aligned, within=10))["max.message.bytes"] == "2097152"
    finally:
        await admin.delete_topics(names)


@pytest.mark.parametrize(
    ("env", "copies", "in_sync"),
    [
        ({}, 1, 1),
        ({}, 3, 2),  # topics made with three copies before, the setting left at 1: not lowered to 1
        ({"POPFLOW_TOPIC_REPLICATION": "3"}, 1, 1),  # made with one copy before the setting was raised
        ({"POPFLOW_TOPIC_REPLICATION": "3"}, 2, 1),
        ({"POPFLOW_TOPIC_REPLICATION": "5", "POPFLOW_TOPIC_MIN_IN_SYNC": "3"}, 2, 2),
        ({"POPFLOW_TOPIC_REPLICATION": "5", "POPFLOW_TOPIC_MIN_IN_SYNC": "3"}, 5, 3),
    ],
)
def test_a_topic_asks_for_no_more_copies_in_sync_than_it_has(env: dict[str, str], copies: int, in_sync: int) -> None:
    assert settings(**env).min_in_sync_for(copies) == in_sync


async def test_an_existing_topic_with_fewer_copies_than_the_setting_keeps_taking_writes(
    admin: AIOKafkaAdminClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Topics made with one copy, then POPFLOW_TOPIC_REPLICATION raised to 3 (docs/scaling.md): the services do
    not move partitions, so asking those topics for two copies in sync would refuse every write."""
    kafka: KafkaConnection = kafka_connection()
    topics = TopicNames(f"test.{unique_name('copies')}.")
    names = [topics(RECORDS_SUBMITTED), topics(DEAD_LETTER)]

    async def as_the_services_do(deployment: RoutingSettings) -> None:
        await ensure_topics(
            kafka,
            names,
            partitions=1,
            replication=deployment.topic_replication,
            configs=topic_configs(deployment, topics),
            in_sync_for=deployment.min_in_sync_for,
        )

    await as_the_services_do(settings())
    try:
        with logged_by(monkeypatch, kafka_admin) as logs:
            await as_the_services_do(settings(POPFLOW_TOPIC_REPLICATION="3"))
        for name in names:
            assert (await configs_of(admin, name))["min.insync.replicas"] == "1"
        said = [line for line in logs if line["event"] == "topics have fewer copies than POPFLOW_TOPIC_REPLICATION"]
        assert len(said) == 1, logs
        assert (said[0]["topics"], said[0]["copies"], said[0]["log_level"]) == (2, [1], "warning")
        assert "kafka-reassign-partitions.sh" in said[0]["action"]
        # and a write that asks for every copy in sync is acknowledged
        producer = AIOKafkaProducer(**kafka.options(), acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(names[0], b"{}")
        finally:
            await producer.stop()
    finally:
        await admin.delete_topics(names)


async def test_a_topic_taking_smaller_messages_than_the_producers_send_is_raised_and_more_is_kept(
    admin: AIOKafkaAdminClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a topic taking less than a producer's batch refuses the whole batch, and the idempotent producer's
    # sequence for the partition then breaks until the service restarts (docs/security.md)
    kafka: KafkaConnection = kafka_connection()
    topics = TopicNames(f"test.{unique_name('floor')}.")
    lowered, larger, new = topics(RECORDS_SUBMITTED), topics(DEAD_LETTER), topics("records.routed")
    await ensure_topics(kafka, [lowered, larger], partitions=1, replication=1)
    try:
        for name, value in ((lowered, "4000"), (larger, "2097152")):  # an operator's overrides
            await admin.alter_configs(
                [ConfigResource(ConfigResourceType.TOPIC, name, configs={"max.message.bytes": value})]
            )
            await eventually(functools.partial(showing, admin, name, "max.message.bytes", value), within=10)
        with logged_by(monkeypatch, kafka_admin) as logs:
            await ensure_topics(
                kafka, [lowered, larger, new], partitions=1, replication=1, configs=topic_configs(settings(), topics)
            )
        floor = str(kafka_admin.FLOORS["max.message.bytes"])
        for name, value in ((lowered, floor), (larger, "2097152"), (new, floor)):
            await eventually(functools.partial(showing, admin, name, "max.message.bytes", value), within=10)
        raised = [line for line in logs if line["event"].startswith("topic takes smaller messages")]
        assert [(line["topic"], line["was"], line["now"]) for line in raised] == [(lowered, 4000, int(floor))]
    finally:
        await admin.delete_topics([lowered, larger, new])


async def test_new_topics_are_made_at_the_floor_only_where_the_brokers_default_is_below_it(
    admin: AIOKafkaAdminClient,
) -> None:
    # a topic-level value would pin a new topic below a broker that takes more; one that takes less needs it
    node = str((await admin.describe_cluster())["brokers"][0]["node_id"])
    broker = functools.partial(ConfigResource, ConfigResourceType.BROKER, node)

    async def broker_default(value: str) -> str | None:
        described = await admin.describe_configs([broker(configs={"message.max.bytes": None})])
        found = {e[0]: e[1] for response in described for *_, entries in response.resources for e in entries}
        return found.get("message.max.bytes") if found.get("message.max.bytes") == value else None

    kafka: KafkaConnection = kafka_connection()
    topics = TopicNames(f"test.{unique_name('brokerfloor')}.")
    above, below = topics(RECORDS_SUBMITTED), topics(DEAD_LETTER)
    floor = str(kafka_admin.FLOORS["max.message.bytes"])
    try:
        for value, name, expected in (("2097152", above, "2097152"), ("500000", below, floor)):
            await admin.alter_configs([broker(configs={"message.max.bytes": value})])  # this broker's own, for now
            await eventually(functools.partial(broker_default, value), within=10)
            await ensure_topics(kafka, [name], partitions=1, replication=1)
            await eventually(functools.partial(showing, admin, name, "max.message.bytes", expected), within=10)
    finally:
        await admin.alter_configs([broker(configs={})])  # the broker's own values gone: its file's again
        await eventually(functools.partial(broker_default, floor), within=10)
        await admin.delete_topics([above, below])
