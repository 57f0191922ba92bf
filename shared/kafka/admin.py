"""Topic creation and configuration. Broker auto-creation stays off, so each service creates what it uses.

Every service states the topic configs it wants (retention, from the
settings): new topics are created with them, and existing topics whose
configs differ are altered at start-up, so a changed setting takes effect
on the next deploy.
"""

from __future__ import annotations

from collections.abc import Mapping
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


def topic_configs(settings: CommonSettings, topics: TopicNames) -> dict[str, dict[str, str]]:
    """The configs every topic of the deployment should have, from the settings: its retention, and how many
    copies must hold an event before the producers' acks=all is answered (min.insync.replicas)."""
    events = "-1" if settings.topic_retention_days == -1 else str(settings.topic_retention_days * DAY_MS)
    in_sync = {"min.insync.replicas": str(settings.min_in_sync)}
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
) -> None:
    """Create the topics that are missing, with `configs`; set `configs` on those that exist."""
    configs = configs or {}
    admin = AIOKafkaAdminClient(**kafka.options())
    async for attempt in until_up():
        with attempt:
            await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [n for n in names if n not in existing]
        if missing:
            topics = [NewTopic(n, partitions, replication, topic_configs=dict(configs.get(n, {}))) for n in missing]
            response = await admin.create_topics(topics)
            _raise_unless_created(response)
            log.info("topics created", topics=missing, partitions=partitions)
        await _align_configs(admin, {n: configs[n] for n in names if n in existing and configs.get(n)})
    finally:
        await admin.close()


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
        if any(current.get(key) != value for key, value in wanted[name].items()):
            overrides = {entry[0]: entry[1] for entry in entries if entry[3] == DYNAMIC_TOPIC_CONFIG}
            changes.append(ConfigResource(ConfigResourceType.TOPIC, name, configs=overrides | dict(wanted[name])))
    if changes:
        for error_code, message, _, name in _resources(await admin.alter_configs(changes)):
            if error_code:
                raise RuntimeError(f"cannot set the configs of topic {name}: {error_code} {message}")
        log.info("topic configs set", topics=[c.name for c in changes])


def _resources(responses: list[Any]) -> list[Any]:
    return [resource for response in responses for resource in response.resources]


def _raise_unless_created(response: object) -> None:
    for topic, code, message in getattr(response, "topic_errors", []):
        if code not in (0, TopicAlreadyExistsError.errno):
            raise RuntimeError(f"cannot create topic {topic}: {code} {message}")
