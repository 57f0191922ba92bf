"""Topic creation and configuration. Broker auto-creation stays off, so each service creates what it uses.

Every service states the topic configs it wants (retention, from the
settings): new topics are created with them, and existing topics whose
configs differ are altered at start-up, so a changed setting takes effect
on the next deploy. No topic takes smaller messages than the producers send
(`FLOORS`): one that does is raised at start-up, with a warning; one that
takes more keeps it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError

from shared.kafka.security import KafkaConnection
from shared.retry import until_up
from shared.settings import CommonSettings
from shared.topics import DEAD_LETTER, TopicNames

log = structlog.get_logger(__name__)

TopicConfigs = Mapping[str, Mapping[str, str]]
DAY_MS = 24 * 60 * 60 * 1000
DYNAMIC_TOPIC_CONFIG = 1  # DescribeConfigs config_source: set on the topic itself (not a broker default)
IN_SYNC = "min.insync.replicas"
# The least each topic must take, raised at start-up where a topic (or the broker's default) takes less;
# more is kept. The producers send batches up to 256 KiB (shared/kafka/broker.py) and a record up to aiokafka's
# max_request_size of 1 MiB, so a topic taking less refuses a whole batch: the rows in it are set aside
# together, and the idempotent producer's sequence for the partition breaks until the service restarts
# (docs/security.md). Kafka's own default (1 MiB and 12 bytes): aiokafka counts a batch's header in its 1 MiB.
FLOORS = {"max.message.bytes": 1_048_588}
BROKER_DEFAULTS = {"max.message.bytes": "message.max.bytes"}  # the broker's config each topic config defaults to


def topic_configs(settings: CommonSettings, topics: TopicNames) -> dict[str, dict[str, str]]:
    """The configs every topic of the deployment should have, from the settings: its retention, and how many
    copies must hold an event before the producers' acks=all is answered (min.insync.replicas)."""
    events = "-1" if settings.topic_retention_days == -1 else str(settings.topic_retention_days * DAY_MS)
    in_sync = {IN_SYNC: str(settings.min_in_sync)}
    configs = {name: {"retention.ms": events, **in_sync} for name in topics.all()}
    configs[topics(DEAD_LETTER)] = {"retention.ms": str(settings.dead_letter_retention_days * DAY_MS), **in_sync}
    return configs


async def ensure_topics(
    kafka: KafkaConnection,
    names: list[str],
    *,
    partitions: int,
    replication: int,
    configs: TopicConfigs | None = None,
    in_sync_for: Callable[[int], int] | None = None,
) -> None:
    """Create the topics that are missing, with `configs`; set `configs` on those that exist.

    A topic that exists keeps the copies it was made with: the services do not move partitions. With
    `in_sync_for` (copies -> min.insync.replicas), such a topic's min.insync.replicas follows its own
    copies rather than `configs`, since a value above them would refuse every write; topics with fewer
    copies than `replication` are said at start-up, with how to raise them.
    """
    configs = configs or {}
    admin = AIOKafkaAdminClient(**kafka.options())
    async for attempt in until_up():
        with attempt:
            await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [n for n in names if n not in existing]
        if missing:
            floors = await _floors_over_broker_defaults(admin)
            topics = [
                NewTopic(n, partitions, replication, topic_configs=floors | dict(configs.get(n, {}))) for n in missing
            ]
            response = await admin.create_topics(topics)
            _raise_unless_created(response)
            log.info("topics created", topics=missing, partitions=partitions)
        # every topic that was there, for the floors, with the configs asked of it
        wanted: TopicConfigs = {n: configs.get(n, {}) for n in names if n in existing}
        if in_sync_for is not None and wanted:
            wanted = await _in_sync_by_copies(admin, wanted, replication, in_sync_for)
        await _align_configs(admin, wanted)
    finally:
        await admin.close()


async def _in_sync_by_copies(
    admin: AIOKafkaAdminClient, wanted: TopicConfigs, replication: int, in_sync_for: Callable[[int], int]
) -> dict[str, dict[str, str]]:
    """`wanted` with each topic's min.insync.replicas from the copies it has."""
    copies = {
        topic["topic"]: min((len(p["replicas"]) for p in topic["partitions"]), default=replication)
        for topic in await admin.describe_topics(list(wanted))
    }
    fewer = sorted(name for name, n in copies.items() if n < replication)
    if fewer:
        log.warning(
            "topics have fewer copies than POPFLOW_TOPIC_REPLICATION",
            replication=replication,
            copies=sorted({copies[name] for name in fewer}),
            topics=len(fewer),
            first=fewer[0],
            action="raise them with kafka-reassign-partitions.sh (docs/scaling.md); until then each asks for "
            "the copies in sync that its own copies allow",
        )
    return {
        name: {**config, IN_SYNC: str(in_sync_for(copies.get(name, replication)))}
        if IN_SYNC in config
        else dict(config)
        for name, config in wanted.items()
    }


async def _align_configs(admin: AIOKafkaAdminClient, wanted: TopicConfigs) -> None:
    """Alter the topics whose configs differ from `wanted`, keeping their other topic-level settings.

    AlterConfigs replaces a topic's whole set of overrides, hence the overrides
    already there are sent back with ours.
    """
    if not wanted:
        return
    described = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, n) for n in wanted])
    changes = []
    for error_code, message, _, name, entries in _resources(described):
        if error_code:
            raise RuntimeError(f"cannot describe topic {name}: {error_code} {message}")
        current = {entry[0]: entry[1] for entry in entries}
        raised = _below_floors(name, current, keep=wanted[name])
        if raised or any(current.get(key) != value for key, value in wanted[name].items()):
            overrides = {entry[0]: entry[1] for entry in entries if entry[3] == DYNAMIC_TOPIC_CONFIG}
            changes.append(
                ConfigResource(ConfigResourceType.TOPIC, name, configs=overrides | dict(wanted[name]) | raised)
            )
    if changes:
        for error_code, message, _, name in _resources(await admin.alter_configs(changes)):
            if error_code:
                raise RuntimeError(f"cannot set the configs of topic {name}: {error_code} {message}")
        log.info("topic configs set", topics=[c.name for c in changes])


async def _floors_over_broker_defaults(admin: AIOKafkaAdminClient) -> dict[str, str]:
    """`FLOORS` the broker's own defaults are below, for the topics created here; a broker that takes more keeps
    its own for them (a topic-level value would pin them below it). All of them when the broker does not say."""
    try:
        node = str((await admin.describe_cluster())["brokers"][0]["node_id"])
        resource = ConfigResource(ConfigResourceType.BROKER, node, configs=dict.fromkeys(BROKER_DEFAULTS.values()))
        entries = {
            entry[0]: entry[1] for *_, found in _resources(await admin.describe_configs([resource])) for entry in found
        }
    except Exception as error:  # no right to describe the broker, say: the floors it is
        log.info("broker defaults not read: new topics get the floors", error=type(error).__name__)
        entries = {}
    below = {}
    for key, floor in FLOORS.items():
        value = entries.get(BROKER_DEFAULTS[key])
        if value is None or not value.isdigit() or int(value) < floor:  # a default not read is taken as below
            below[key] = str(floor)
    return below


def _below_floors(topic: str, current: Mapping[str, str], keep: Mapping[str, str]) -> dict[str, str]:
    """The configs of `FLOORS` the topic has below their floor, at their floor (said in a warning); those the
    caller asks for itself (`keep`) are left to it."""
    raised = {}
    for key, floor in FLOORS.items():
        value = current.get(key)
        if key not in keep and value is not None and value.isdigit() and int(value) < floor:
            raised[key] = str(floor)
            log.warning(
                "topic takes smaller messages than the producers send: raised",
                topic=topic,
                config=key,
                was=int(value),
                now=floor,
            )
    return raised


def _resources(responses: list[Any]) -> list[Any]:
    return [resource for response in responses for resource in response.resources]


def _raise_unless_created(response: object) -> None:
    for topic, code, message in getattr(response, "topic_errors", []):
        if code not in (0, TopicAlreadyExistsError.errno):
            raise RuntimeError(f"cannot create topic {topic}: {code} {message}")
