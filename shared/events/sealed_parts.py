"""Walks over a payload's sealed parts, each sealed (or opened) in its place.

A class's sealed paths are held as a tree, {"record": {"person": None, "residence": {"address": None}}},
so a walk copies only the dicts on the way to a sealed part and shares the rest with the payload it was
given. Nothing here knows a key or a context: envelope.py hands in what seals and what opens.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

# Each node maps a name to (its subtree, its dotted path); None marks a sealed part.
SealedTree = dict[str, tuple["SealedTree | None", str]]


@functools.cache
def paths_tree(paths: tuple[str, ...]) -> SealedTree:
    """The tree of `paths` (dotted paths into a payload)."""
    tree: SealedTree = {}
    for path in paths:
        *parents, last = path.split(".")
        node, at = tree, ""
        for name in parents:
            at += name + "."
            child = node.setdefault(name, ({}, at[:-1]))[0]
            assert child is not None, f"{path} lies inside another sealed part"
            node = child
        node[last] = (None, path)
    return tree


def changed(payload: dict[str, Any], tree: SealedTree, change: Callable[[Any, str], Any]) -> dict[str, Any]:
    """A copy of `payload` with `change(value, path)` applied to the parts `tree` marks; absent or
    null parts stay as they are, and the dicts off those paths are shared with `payload`, not copied."""
    payload = dict(payload)
    for name, (subtree, path) in tree.items():
        value = payload.get(name)
        if subtree is None:
            if value is not None:
                payload[name] = change(value, path)
        elif isinstance(value, dict):
            payload[name] = changed(value, subtree, change)
    return payload
