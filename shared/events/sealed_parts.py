"""Walks over a payload's sealed parts: each sealed in its place, or all of them together in one block.

A class's sealed paths are held as a tree, {"record": {"person": None, "residence": {"address": None}}},
so a walk copies only the dicts on the way to a sealed part and shares the rest with the payload it was
given. Nothing here knows a key or a context: envelope.py hands in what seals and what opens.

The block (`SEALED_BLOCK`): sealing each part alone cost a fixed ~6 µs a seal in a bulk row, whatever
its size, and an opening as much in every consumer; one block seals once for all the parts. Its plain
text is a JSON object from dotted path to value. The parts it holds are taken out of their places, and
put back before validation, where a part found in clear is refused (in a block version, a value in a
sealed part's place was not written by the producer and must not pass for it).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from shared.sealing import SealError

SEALED_BLOCK = "sealed"  # the payload key the block travels under: no event may have a field of that name

# Each node maps a name to (its subtree, its dotted path); None marks a sealed part.
SealedTree = dict[str, tuple["SealedTree | None", str]]


class SealedBlockRefused(SealError):
    """A payload of a block version that breaks the block's rules: no block, a part in clear, a part the
    block should not hold. The message names paths of the contract, never a value."""


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


def blocked(payload: dict[str, Any], tree: SealedTree, seal: Callable[[dict[str, Any]], str]) -> dict[str, Any]:
    """`payload` with its present (non-null) parts taken out and sealed together by `seal` under
    SEALED_BLOCK. Null parts stay in their places; the block is written even when it holds nothing,
    so a reader can tell a payload whose block was dropped. The block comes first, so the payload
    still ends as it did (intake splices its case id and version into the end)."""
    parts: dict[str, Any] = {}
    rest = _taken(payload, tree, parts)
    return {SEALED_BLOCK: seal(parts), **rest}


def unblocked(payload: dict[str, Any], tree: SealedTree, open_block: Callable[[Any], Any], what: str) -> dict[str, Any]:
    """`payload` with its block opened by `open_block` and each part put back at its path; `what` names
    the event and version for an error. SealedBlockRefused when there is no block, when a part of
    `tree` is in clear, or when the block holds a part `tree` does not mark or that has no place here."""
    if SEALED_BLOCK not in payload:
        raise SealedBlockRefused(f"{what} carries no sealed block (payload.{SEALED_BLOCK})")
    parts = open_block(payload[SEALED_BLOCK])
    if not isinstance(parts, dict):
        raise SealedBlockRefused(f"the sealed block of {what} holds no object of parts")
    placed, count = _placed(payload, tree, parts, what)
    del placed[SEALED_BLOCK]
    if count != len(parts):
        known = set(_paths(tree))
        if any(path not in known for path in parts):
            raise SealedBlockRefused(f"the sealed block of {what} holds a part that is not one of its sealed paths")
        raise SealedBlockRefused(f"the sealed block of {what} holds a part whose place the payload does not have")
    return placed


def _taken(payload: dict[str, Any], tree: SealedTree, parts: dict[str, Any]) -> dict[str, Any]:
    payload = dict(payload)
    for name, (subtree, path) in tree.items():
        value = payload.get(name)
        if subtree is None:
            if value is not None:
                parts[path] = payload.pop(name)
        elif isinstance(value, dict):
            payload[name] = _taken(value, subtree, parts)
    return payload


def _placed(payload: dict[str, Any], tree: SealedTree, parts: dict[str, Any], what: str) -> tuple[dict[str, Any], int]:
    """A copy of `payload` with `parts` at their paths, and how many found a place (one whose parent is
    missing or null has none)."""
    payload, count = dict(payload), 0
    for name, (subtree, path) in tree.items():
        value = payload.get(name)
        if subtree is None:
            if value is not None:
                raise SealedBlockRefused(f"{what} carries {path} in clear, outside its sealed block")
            if path in parts:
                payload[name] = parts[path]
                count += 1
        elif isinstance(value, dict):
            payload[name], below = _placed(value, subtree, parts, what)
            count += below
    return payload, count


def _paths(tree: SealedTree) -> list[str]:
    found: list[str] = []
    for subtree, path in tree.values():
        found.extend([path] if subtree is None else _paths(subtree))
    return found
