"""What kind of database error this is: the data's fault (never succeeds) or the store's (try later).

SQLAlchemy's asyncpg dialect wraps most server errors in a generic DBAPIError,
so the class alone does not tell; the SQLSTATE of the server's error does.
Class 22 (data exception: a value too long, out of range, not valid text)
and the NOT NULL and CHECK violations of class 23 are the data's fault:
retrying the same message or request gives the same answer. Unique and
foreign-key violations are left out on purpose: a concurrent writer or an
event that arrives before its cause can make them pass on a later try. Class
40's deadlock and serialization failure end a transaction so that another
can go on: nothing of it stays, and run again it can succeed.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

from sqlalchemy import exc

DATA_STATES = frozenset({"23502", "23514"})  # not_null_violation, check_violation
# unique_violation, foreign_key_violation: mostly a concurrent writer that got there first
RACED_STATES = frozenset({"23505", "23503"})
RACED_SQLITE = frozenset({"SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY", "SQLITE_CONSTRAINT_FOREIGNKEY"})
# serialization_failure, deadlock_detected: the server ended the transaction to let another go on
ROLLED_BACK_STATES = frozenset({"40001", "40P01"})
# connection exception; admin_shutdown (pg_terminate_backend), crash_shutdown, cannot_connect_now;
# insufficient resources (too many connections)
UNAVAILABLE_CLASSES = ("08", "53")
UNAVAILABLE_STATES = frozenset({"57P01", "57P02", "57P03"})


def is_data_error(error: BaseException) -> bool:
    """True when the database refused the values themselves (permanent for these values)."""
    if any(isinstance(e, exc.DataError) for e in _chain(error)):
        return True
    state = sqlstate_of(error)
    return state is not None and (state.startswith("22") or state in DATA_STATES)


def is_raced(error: BaseException) -> bool:
    """True when the write met another of the same key at the same moment (PostgreSQL or SQLite)."""
    if sqlstate_of(error) in RACED_STATES:
        return True
    return any(getattr(e, "sqlite_errorname", None) in RACED_SQLITE for e in _chain(error))


def is_rolled_back(error: BaseException) -> bool:
    """True when PostgreSQL ended the transaction to break a lock cycle or a serialization conflict."""
    return sqlstate_of(error) in ROLLED_BACK_STATES


def is_unavailable(error: BaseException) -> bool:
    """True when the store could not be reached or dropped the connection (worth retrying later)."""
    for e in _chain(error):
        if isinstance(e, exc.OperationalError | exc.InterfaceError | exc.TimeoutError | ConnectionError | TimeoutError):
            return True
        if isinstance(e, socket.gaierror):  # the store's host name not found: compose's `postgres`, stopped
            return True
        if isinstance(e, exc.InvalidRequestError) and str(e) == CHECKOUT_EXHAUSTED:
            return True
        if isinstance(e, exc.DBAPIError) and e.connection_invalidated:
            return True
        if _asyncpg_name(e) in _ASYNCPG_CONNECTION_ERRORS:
            return True
    state = sqlstate_of(error)
    return state is not None and (state.startswith(UNAVAILABLE_CLASSES) or state in UNAVAILABLE_STATES)


# invalid_authorization_specification (a wrong password or user, no pg_hba.conf entry), invalid_catalog_name (no
# such database), insufficient_privilege (the role may not create tables in the schema): a setting or a grant is
# wrong, and no wait mends it
REFUSED_CLASSES = ("28",)
REFUSED_STATES = frozenset({"3D000", "42501"})


def is_refused_for_good(error: BaseException) -> bool:
    """True when PostgreSQL refused the connection or the role for a reason a retry never changes (the password,
    the user, the database's name, a missing grant): start-up says so at once instead of waiting a minute."""
    state = sqlstate_of(error)
    return state is not None and (state.startswith(REFUSED_CLASSES) or state in REFUSED_STATES)


def is_connection_lost(error: BaseException) -> bool:
    """True when the connection the statement went out on was dropped under it (a restart of PostgreSQL, a
    terminated backend), not refused: the store may well be up, and a new connection may succeed.

    Whether a statement that was in flight took effect is unknown; a caller that tries again on a new
    connection must find its own earlier work (intake's batches look for their own record ids first)."""
    for e in _chain(error):
        if isinstance(e, exc.DBAPIError) and e.connection_invalidated:
            return True
        if _driver_lost(e):
            return True
    return sqlstate_of(error) in LOST_STATES


def _driver_lost(error: BaseException) -> bool:
    """asyncpg's own error for a dropped connection. Its InterfaceError only when it says the connection is
    closed, as SQLAlchemy's disconnect check reads it: asyncpg raises the same class, before sending anything,
    for a statement given the wrong number of arguments or begun while another is in progress, which a new
    connection does not mend (and a retry would hide)."""
    name = _asyncpg_name(error)
    if name == "InterfaceError":
        return "connection is closed" in str(error)
    return name in _ASYNCPG_LOST


def _asyncpg_name(error: BaseException) -> str | None:
    """The class name of one of asyncpg's own errors (matched by name: asyncpg is PostgreSQL's driver only)."""
    return type(error).__name__ if type(error).__module__.startswith("asyncpg") else None


# admin_shutdown, crash_shutdown: the server ended this backend (pg_terminate_backend, a restart); cannot_connect_now
# (57P03) is a refusal of a new connection and is not among them
LOST_STATES = frozenset({"57P01", "57P02"})
_ASYNCPG_LOST = frozenset({"ConnectionDoesNotExistError", "InternalClientError"})
# What SQLAlchemy's pool raises when its checkout listener (shared/db/engine.py `_replace_closed`) refused a
# connection and its replacement too: each one found closed by the server, which is the store's state
CHECKOUT_EXHAUSTED = "This connection is closed"


# The store unavailable: a connection lost, or a new one refused; and asyncpg's InterfaceError whatever it says.
# InternalClientError (among the lost): a statement begun while asyncpg was still handling the close of a
# connection the server dropped ("cannot switch to state 12; another operation (2) is in progress"). Neither a
# PostgresError nor an InterfaceError; SQLAlchemy wraps it (as InternalError, the connection invalidated), but a
# statement sent on the driver itself raises it as it is (tests/integration/test_dropped_connection_errors.py)
_ASYNCPG_CONNECTION_ERRORS = _ASYNCPG_LOST | {"ConnectionFailureError", "CannotConnectNowError", "InterfaceError"}


def constraint_of(error: BaseException) -> str | None:
    """The name of the constraint the server's error is about (no values in it), if it names one."""
    for e in _chain(error):
        name = getattr(e, "constraint_name", None)
        if isinstance(name, str):
            return name
    return None


def driver_error_name(error: BaseException) -> str:
    """The class of the driver's error behind `error` (ConnectionDoesNotExistError, ...), for a log line: its
    message may quote a statement or a value."""
    orig = getattr(error, "orig", None)
    return type(orig if isinstance(orig, BaseException) else error).__name__


def sqlstate_of(error: BaseException) -> str | None:
    """The SQLSTATE of the server's error behind `error`, if there is one."""
    for e in _chain(error):
        state = getattr(e, "sqlstate", None) or getattr(e, "pgcode", None)
        if isinstance(state, str):
            return state
    return None


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The error, what it wraps (`orig`) and what it was raised from, each once."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        orig = getattr(current, "orig", None)
        pending += [orig if isinstance(orig, BaseException) else None, current.__cause__]
