"""A condition "the column's value is one of a list", for a list whose length changes from one call to the next.

SQLAlchemy writes `column IN (...)` with a parameter for each value, every time
the statement runs, and each new length is a new text that asyncpg prepares
afresh (and PostgreSQL parses and plans). On PostgreSQL the list goes as one
array instead, `column = ANY($1)`: one statement text, compiled once and
prepared once per connection. The outbox relay's mark of the rows Kafka
confirmed (1,000 ids a statement): 5-6 µs of the client's CPU an id as an IN
list, 1.5-2 as an array (docs/performance.md, round 41). Other databases
(SQLite) take the IN list, expanded at execution.

The values go in the statement's parameters, under the name given:
`session.execute(select(t).where(among(t.c.id, "ids", dialect)), {"ids": ids})`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, Text, any_, bindparam
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import TypeEngine


def among(column: Any, parameter: str, dialect: str, element: TypeEngine[Any] | None = None) -> Any:
    """`column` (a table's column, or a model's attribute) is one of the values of `parameter`.

    `element` is the array's element type on PostgreSQL: by default the column's own; give BigInteger for an
    id the model declares an int, whatever the table holds."""
    if dialect == "postgresql":
        kind = element or column.type
        # text, not varchar(n): PostgreSQL's cast to varchar(n)[] cuts longer values short, silently, and one cut
        # to a stored value's length would match it
        kind = Text() if isinstance(kind, String) else kind
        return column == any_(bindparam(parameter, type_=postgresql.ARRAY(kind)))
    return column.in_(bindparam(parameter, expanding=True))
