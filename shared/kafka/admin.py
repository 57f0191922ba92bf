"""Topic creation. Broker auto-creation stays off, so each service creates what it uses."""

from __future__ import annotations

import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from shared.retry import until_up

log = structlog.get_logger(__name__)


async def ensure_topics(
    bootstrap_servers: str,
    names: list[str],
    *,
    partitions: int,
    replication: int,
    configs: dict[str, dict[str, str]] | None = None,
) -> None:
    """Create the missing topics, with their `configs` (e.g. retention.ms); existing ones are left as they are."""
    configs = configs or {}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    async for attempt in until_up():
        with attempt:
            await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [n for n in names if n not in existing]
        if missing:
            topics = [NewTopic(n, partitions, replication, topic_configs=configs.get(n, {})) for n in missing]
            response = await admin.create_topics(topics)
            _raise_unless_created(response)
            log.info("topics created", topics=missing, partitions=partitions)
    finally:
        await admin.close()


def _raise_unless_created(response: object) -> None:
    for topic, code, message in getattr(response, "topic_errors", []):
        if code not in (0, TopicAlreadyExistsError.errno):
            raise RuntimeError(f"cannot create topic {topic}: {code} {message}")
