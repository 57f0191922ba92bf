"""The routing emitter picks partitions itself (remembering each key's hash): it must pick
the partition aiokafka's default partitioner picks, or one person's events could split."""

from __future__ import annotations

import secrets

from aiokafka.partitioner import DefaultPartitioner

from services.routing.adapters.emitter import _partition_of


def test_a_key_goes_where_the_default_partitioner_sends_it() -> None:
    keys = [secrets.token_hex(32).encode() for _ in range(300)] + [b"", b"a", b"ab", b"abc", "人".encode()]
    for count in (1, 3, 6, 7, 50):
        partitions = list(range(count))
        for key in keys:
            assert _partition_of(key, partitions) == DefaultPartitioner()(key, partitions, partitions)
