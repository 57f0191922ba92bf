"""Who is in a consumer group right now, from the broker (a rebuild refuses while the service it rebuilds runs)."""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import for_code

from shared.kafka.security import KafkaConnection


async def group_members(kafka: KafkaConnection, group: str) -> int:
    """How many consumers are members of `group` now; 0 for a group that is empty or was never formed.

    A consumer that stops leaves its group at once (aiokafka sends LeaveGroup); one that dies stays a member
    until its session times out (`session.timeout.ms`, 10 s by default)."""
    admin = AIOKafkaAdminClient(**kafka.options())
    await admin.start()
    try:
        responses = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    # the raw DescribeGroups answer: per group (error_code, group, state, protocol_type, protocol, members, ...)
    for response in responses:
        for error_code, group_id, _state, _protocol_type, _protocol, members, *_ in response.groups:
            if group_id != group:
                continue
            if error_code:
                raise for_code(error_code)(f"describing consumer group {group}")
            return len(members)
    return 0
