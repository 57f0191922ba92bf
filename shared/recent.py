"""A bounded memory of recent entries: full, it forgets its oldest one rather than everything.

Emptying a full memory at once lets a flood of distinct inputs wipe what was
useful (working keys, a storm's held-back log line, a host's checked
addresses); forgetting the oldest keeps the entries in use. O(1) a call.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


def keep_newest(memory: OrderedDict[K, V], key: K, value: V, bound: int) -> None:
    """`memory[key] = value` as its newest entry; past `bound` entries, the oldest is forgotten."""
    memory[key] = value
    memory.move_to_end(key)
    if len(memory) > bound:
        memory.popitem(last=False)
