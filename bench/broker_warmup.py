"""A new broker's first minute costs it two to four times the CPU a message of its later ones: warm it first.

`make bench` starts its own broker, and its first benchmarks ran while the
JVM was still compiling the broker's hot paths: a fresh broker took 61 µs of
its CPU a message (produced and read back) in its first 100,000 messages, 33
in the next, then 16-30 over the next minute (docs/performance.md, round 27), so intake's bulk row
counted 43-125 µs of the broker's CPU in `make bench` against 10-21 beside a
broker that had run a while. A deployment's brokers run warm. `warm` sends
rounds of messages through a scratch topic (the relay's producer settings,
envelope-sized values), reads each back, and stops once a round is no longer
much cheaper for the broker than the one before (`settled` times it at least;
`least` rounds at least, `rounds` at most);
it returns the broker's µs a message in each round, for the results' JSON.

    .venv/bin/python bench/broker_warmup.py    # on KAFKA_BOOTSTRAP_SERVERS
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.box_share import BoxShare, standard_groups
from tests.support.infra import kafka_options

VALUE = b"x" * 1500  # about an outbox envelope


async def warm(
    bootstrap: str, *, messages: int = 100_000, least: int = 4, rounds: int = 8, settled: float = 1.25
) -> list[float]:
    """The broker's µs of CPU a message, round by round, until it settles (see the module's doc)."""
    topic = f"bench-warmup-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(**kafka_options(bootstrap))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 6, 1)])
        costs: list[float] = []
        for _ in range(rounds):
            costs.append(await _round(bootstrap, topic, messages))
            if len(costs) >= least and costs[-1] * settled >= costs[-2]:  # no longer falling
                break
        return costs
    finally:
        await admin.delete_topics([topic])
        await admin.close()


async def _round(bootstrap: str, topic: str, messages: int) -> float:
    """`messages` produced (idempotent, acks=all) and read back: the broker's µs of CPU a message."""
    share = BoxShare(standard_groups({}, databases="-", bootstrap=bootstrap))
    with share:
        producer = AIOKafkaProducer(**kafka_options(bootstrap), enable_idempotence=True, acks="all", linger_ms=5)
        await producer.start()
        try:
            sent = [await producer.send(topic, VALUE, key=str(i % 1000).encode()) for i in range(messages)]
            await asyncio.gather(*sent)
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(topic, **kafka_options(bootstrap), auto_offset_reset="earliest")
        await consumer.start()
        try:
            read = 0
            while read < messages:
                batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
                read += sum(len(batch) for batch in batches.values())
        finally:
            await consumer.stop()
    return round(share.seconds().get("Kafka", 0.0) / messages * 1e6, 1)


if __name__ == "__main__":
    costs = asyncio.run(warm(os.environ["KAFKA_BOOTSTRAP_SERVERS"]))
    print("broker µs a message, round by round: " + ", ".join(f"{c:.1f}" for c in costs))
