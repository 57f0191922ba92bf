"""The lag metric's Kafka clients: one whose start fails or is cut short by a scrape's timeout is closed."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import pytest

from shared.kafka import lag
from shared.kafka.lag import BrokerOffsets
from shared.kafka.security import KafkaConnection


class SlowClient:
    """A Kafka client whose start waits for a broker that does not answer; counts starts and closes."""

    made: ClassVar[list[SlowClient]] = []

    def __init__(self, **_: Any) -> None:
        self.closed = False
        SlowClient.made.append(self)

    async def start(self) -> None:
        await asyncio.sleep(3600)

    async def close(self) -> None:
        self.closed = True

    async def stop(self) -> None:
        self.closed = True


@pytest.mark.parametrize("client", ["AIOKafkaAdminClient", "AIOKafkaConsumer"])
async def test_a_client_whose_start_is_cut_short_is_closed_not_left_open(
    monkeypatch: pytest.MonkeyPatch, client: str
) -> None:
    SlowClient.made = []
    if client == "AIOKafkaConsumer":  # the admin client starts first: let it start at once
        monkeypatch.setattr(lag, "AIOKafkaAdminClient", Started)
    monkeypatch.setattr(lag, client, SlowClient)
    offsets = BrokerOffsets(KafkaConnection("127.0.0.1:1"))
    for _ in range(3):  # three scrapes, each timed out
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(offsets.partitions(["t"]), 0.05)
    assert len(SlowClient.made) == 3
    assert all(made.closed for made in SlowClient.made)


class Started:
    """A client whose start succeeds at once."""

    def __init__(self, **_: Any) -> None:
        pass

    async def start(self) -> None:
        return None
