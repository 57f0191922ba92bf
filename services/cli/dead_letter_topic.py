"""The dead-letter topic as `popflow dead-letters` reads it: its letters, and the notes replays leave.

A message set aside for one reason is one Letter, however many dead letters
say so. A replay note (dead_letter_replays.py writes it) names the message
it re-sent; the latest note of each message is the one `show` tells.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka import ConsumerRecord

from shared.kafka.replay import batches_to_end
from shared.kafka.security import KafkaConnection


@dataclass
class Letter:
    """One message set aside for one reason, how many dead letters say so, and where the first one lies
    in the dead-letter topic (`partition:offset`, what `replay` takes)."""

    headers: dict[str, str]
    value: bytes
    times: int = 1
    place: str = ""


REPLAY_OF = "replay_of"  # a replay note's header: the message re-sent, as `message_of` names it


def message_name(topic: str, partition: object, offset: object) -> str:
    """How a replay note and `show` name one message of a topic: `<topic> <partition>:<offset>`."""
    return f"{topic} {partition}:{offset}"


def message_of(headers: dict[str, str]) -> str:
    """The message a dead letter set aside (`message_name`); "" when the letter does not say."""
    topic, partition, offset = (headers.get(h, "") for h in ("source_topic", "source_partition", "source_offset"))
    return message_name(topic, partition, offset) if topic and partition and offset else ""


@dataclass(frozen=True)
class Replayed:
    """What a replay note says: the message went back to `to` (`partition:offset` of its topic) at `at`, by `by`."""

    to: str
    at: str
    by: str
    letter: str  # the dead letter's place that `replay` was given

    @classmethod
    def from_note(cls, headers: dict[str, str]) -> Replayed:
        return cls(
            headers.get("replayed_to", ""),
            headers.get("replayed_at", ""),
            headers.get("replayed_by", ""),
            headers.get("dead_letter", ""),
        )


class Letters:
    """The first `limit` distinct dead letters, oldest first, each with its repeats counted, and the replay notes.

    `skip`: messages whose letters are left out (with `--pending`, those re-sent already)."""

    def __init__(self, limit: int, skip: frozenset[str] = frozenset()) -> None:
        self.limit = limit
        self.skip = skip
        self.shown: dict[tuple[str, ...], Letter] = {}
        self.replays: dict[str, Replayed] = {}

    def add(self, headers: dict[str, str], value: bytes, place: str = "") -> None:
        if REPLAY_OF in headers:  # a note, not a letter: the latest replay of a message is the one told
            self.replays[headers[REPLAY_OF]] = Replayed.from_note(headers)
            return
        if self.skip and message_of(headers) in self.skip:
            return
        # a source offset names one message; without one (a dead letter from before the headers) each stands alone
        same = (
            *(headers.get(h, "") for h in SAME_MESSAGE),
            str(len(self.shown)) if not headers.get("source_offset") else "",
        )
        seen = self.shown.get(same)
        if seen is not None:
            seen.times += 1
        elif len(self.shown) < self.limit:
            self.shown[same] = Letter(headers, value, place=place)


SAME_MESSAGE = ("source_topic", "source_partition", "source_offset", "consumer_group", "error_type", "error")


def told_replay(replayed: Replayed) -> str:
    by = replayed.by or "an unknown account"
    return f"re-sent by `replay {replayed.letter}` at {replayed.at} by {by}: it lies now at {replayed.to}"


async def noted_replays(kafka: KafkaConnection, topic: str) -> dict[str, Replayed]:
    """The replay notes on the dead-letter topic, by the message each re-sent (the latest replay of each)."""
    replays = {}
    async for records in batches_to_end(kafka, [topic]):
        for record in records:
            headers = headers_of(record)
            if REPLAY_OF in headers:
                replays[headers[REPLAY_OF]] = Replayed.from_note(headers)
    return replays


def headers_of(record: ConsumerRecord) -> dict[str, str]:
    return {key: value.decode(errors="replace") for key, value in record.headers}
