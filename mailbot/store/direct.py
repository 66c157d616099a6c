"""Core statements compiled once and run straight on the SQLite driver, for the few that every post
and every delivery round runs: SQLAlchemy's work per execution cost more than SQLite's (118 against
45 us for the duplicate probe). Other databases take the ordinary Core path; errors raise as Core's.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import (
    Connection,
    Delete,
    Insert,
    Select,
    Table,
    TextClause,
    Update,
    bindparam,
    insert,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError

from mailbot.store.sqlite_driver import dbapi

T = TypeVar("T")
Statement = Select[*tuple[Any, ...]] | Insert | Update | Delete | TextClause
# (name, converter or None, constant value) for each parameter, in the SQL's order.
Order = list[tuple[str, Any, Any]]


@functools.lru_cache(maxsize=128)
def sqlite_form(stmt: Statement, dialect: Dialect) -> tuple[str, Order]:
    """`stmt` compiled once for SQLite: its SQL and, in order, each parameter's name, converter
    (the column type's, e.g. aware datetimes to UTC text) and value when it is a constant.

    Refuses what only an execution through SQLAlchemy would get right: Python-side column defaults
    (the execution fills them in) and expanding IN lists (rendered per call)."""
    compiled = stmt.compile(dialect=dialect)
    if getattr(compiled, "insert_prefetch", None) or getattr(compiled, "update_prefetch", None):
        raise ValueError(f"{stmt!r} has Python-side defaults: give every value, or run it through SQLAlchemy")
    order = []
    for name in compiled.positiontup or ():
        bind = compiled.binds[name]
        if bind.expanding:
            raise ValueError(f"{stmt!r} has an expanding parameter ({name}): run it through SQLAlchemy")
        # The dialect's own form of the type: a TypeDecorator's bind_processor alone stops at its
        # Python value (an aware datetime), which sqlite3 would then write in a text format of its
        # own ("...+00:00") that compares wrongly with SQLAlchemy's at whole seconds.
        convert = bind.type.dialect_impl(dialect).bind_processor(dialect)
        order.append((name, convert, bind.effective_value))
    return str(compiled), order


@functools.lru_cache(maxsize=64)
def insert_values(table: Table, columns: tuple[str, ...], returning: str | None = None) -> Insert:
    """INSERT INTO table (columns) VALUES (:column, ...) [RETURNING returning], built once: every
    value named, as `sqlite_form` needs (a bare insert() takes its columns from each call's keys)."""
    stmt = insert(table).values({name: bindparam(name, type_=table.c[name].type) for name in columns})
    return stmt.returning(table.c[returning]) if returning else stmt


@contextlib.contextmanager
def as_sqlalchemy_errors(what: str) -> Iterator[None]:
    """Driver-level work raising as SQLAlchemy would (OperationalError for a lock or a full disk,
    IntegrityError for a lost race), so callers handle one family of errors whichever way it went."""
    try:
        yield
    except dbapi.Error as exc:
        raise DBAPIError.instance(what, None, exc, dbapi.Error) from exc


def driver_values(order: Order, one: Mapping[str, object]) -> list[object]:
    """One parameter set in a `sqlite_form` statement's order, each converted as its column's type would."""
    out = []
    for name, convert, constant in order:
        value = one.get(name, constant)
        out.append(convert(value) if convert is not None else value)
    return out


def _on_driver(
    conn: Connection, stmt: Statement, params: Mapping[str, object] | list[dict[str, object]], take: Callable[[Any], T]
) -> T:
    """Run `stmt` on the driver (a list of parameter sets: once per set) and `take` what is wanted
    from its cursor, both inside the error mapping (reading rows can fail as running can)."""
    sql, order = sqlite_form(stmt, conn.dialect)
    driver = conn.connection.driver_connection
    assert driver is not None
    with as_sqlalchemy_errors(sql):
        if isinstance(params, list):
            return take(driver.executemany(sql, [driver_values(order, p) for p in params]))
        return take(driver.execute(sql, driver_values(order, params)))


def fetch(conn: Connection, stmt: Statement, params: Mapping[str, object]) -> Sequence[Any]:
    """The rows of a SELECT (or RETURNING) of plain columns (ints and text: no result conversion), as tuples."""
    if conn.dialect.name != "sqlite":
        return list(conn.execute(stmt, params))  # Rows unpack like tuples
    return _on_driver(conn, stmt, params, lambda cursor: cursor.fetchall())


@functools.lru_cache(maxsize=32)
def _result_converters(stmt: Select[*tuple[Any, ...]], dialect: Dialect) -> tuple[Any, ...]:
    """Each selected column's result converter on this dialect (None: the driver's value is it)."""
    return tuple(c.type.dialect_impl(dialect).result_processor(dialect, None) for c in stmt.selected_columns)


def fetch_one(conn: Connection, stmt: Select[*tuple[Any, ...]], params: Mapping[str, object]) -> tuple[Any, ...] | None:
    """The first row of a SELECT, each value converted as its column's type would (text to aware
    datetimes, 0/1 to booleans), or None when there is none."""
    if conn.dialect.name != "sqlite":
        found = conn.execute(stmt, params).first()
        return tuple(found) if found is not None else None
    row = _on_driver(conn, stmt, params, lambda cursor: cursor.fetchone())
    if row is None:
        return None
    converters = _result_converters(stmt, conn.dialect)
    return tuple(v if f is None or v is None else f(v) for f, v in zip(converters, row, strict=True))


def scalar(conn: Connection, stmt: Statement, params: Mapping[str, object]) -> Any:
    """The first column of the first row (no result conversion), or None when there is none."""
    if conn.dialect.name != "sqlite":
        return conn.scalar(stmt, params)
    row = _on_driver(conn, stmt, params, lambda cursor: cursor.fetchone())
    return row[0] if row is not None else None


def run(conn: Connection, stmt: Statement, params: Mapping[str, object] | list[dict[str, object]]) -> int:
    """Run an INSERT, UPDATE or DELETE (a list of parameter sets: once per set); returns the row
    count as the driver reports it (PostgreSQL may report -1 for INSERT ... SELECT)."""
    if conn.dialect.name != "sqlite":
        return int(conn.execute(stmt, params).rowcount)
    return int(_on_driver(conn, stmt, params, lambda cursor: cursor.rowcount))
