"""What the outbox relay reads on every pass: the keys held back behind a set-aside row, and the unsent rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Text, and_, cast, func, literal_column, or_, select
from sqlmodel import col


@dataclass(frozen=True, slots=True)
class Pending:
    """The columns of an unsent row the relay needs, the envelope as its stored JSON text.

    Plain values, not ORM objects: a batch of a thousand rows is read on every
    pass, and building entities (and decoding JSON with the standard library)
    was a tenth of a bulk import's CPU.
    """

    id: int
    topic: str
    key: str
    envelope: str


def set_aside_keys(table: type[Any]) -> Any:
    """(key, id of its oldest set-aside row) for every key held back: a few rows, from the partial index of
    exactly those rows (intake's migration 0005, notification's 0011), with or without the planner's statistics."""
    return (
        select(col(table.key), func.min(col(table.id)))
        .where(col(table.set_aside_at).is_not(None), col(table.discarded_at).is_(None))
        .group_by(col(table.key))
    )


def relay_order(table: type[Any]) -> Any:
    """`id + 0`: the relay's order, the ids' own, as an expression only the unsent rows' index holds
    (intake's migration 0009, notification's 0017), so that no plan can read it from the primary key.

    Ordered by `id` itself, the read had two indexes to choose from: that of
    the unsent rows, and the primary key with a filter. They cost the same to
    a planner whose statistics were taken while most rows were unsent (a
    backlog after an outage, an import), and in a third of the benchmark's
    drains PostgreSQL took the primary key: every pass then read every row
    published before it again, so a drain of 115,000 rows read 6.2 million
    (docs/performance.md, round 47). PostgreSQL does not simplify `id + 0`.
    Ordered by an expression, a plan could also read every unsent row in another
    order and sort them: no other index holds the unsent rows (the `sent_at`
    index holds published ones alone), so none offers that cheaply.
    """
    return col(table.id) + literal_column("0")


def pending(table: type[Any], limit: int, held: list[tuple[str, int]]) -> Any:
    """Unsent rows (id, topic, key, envelope text), oldest first, leaving out those behind a set-aside row of their key.

    `held` (from `set_aside_keys`) is given as values, not as a correlated
    subquery: on a table filled faster than PostgreSQL's statistics follow (a
    bulk import of tens of thousands of rows) the planner met the subquery
    with a plan that took a minute a pass, once per unsent row. Oldest first
    by `relay_order`, which only the unsent rows' index holds.
    """
    query = select(col(table.id), col(table.topic), col(table.key), cast(col(table.envelope), Text)).where(
        col(table.sent_at).is_(None), col(table.set_aside_at).is_(None)
    )
    if held:
        query = query.where(~or_(*(and_(col(table.key) == key, col(table.id) > first) for key, first in held)))
    return query.order_by(relay_order(table)).limit(limit)
