"""Sending straight to aiokafka must pick the partition aiokafka's default partitioner picks,
or one person's events could split across partitions (and lose their order)."""

from __future__ import annotations

import random

from aiokafka.partitioner import DefaultPartitioner, murmur2
from murmurhash2 import murmurhash2

from shared.kafka import direct


def test_the_compiled_hash_equals_aiokafkas_murmur2_for_every_length_and_byte() -> None:
    draw = random.Random(11)
    samples = [bytes(draw.randrange(256) for _ in range(length)) for length in range(200) for _ in range(5)]
    samples += [b"\xff" * 67, b"\x00" * 9, "人".encode(), bytes(range(256))]
    for data in samples:
        assert murmurhash2(data, direct.KAFKA_SEED) == murmur2(data), data


def test_a_key_goes_where_the_default_partitioner_sends_it() -> None:
    draw = random.Random(12)
    keys = [draw.randbytes(32).hex().encode() for _ in range(300)] + [b"", b"a", b"ab", b"abc", "人".encode()]
    for count in (1, 3, 6, 7, 50):
        partitions = list(range(count))
        for key in keys:
            assert direct.partition_of(key, partitions) == DefaultPartitioner()(key, partitions, partitions)
