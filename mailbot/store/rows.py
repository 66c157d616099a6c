"""Reading or writing one ORM object's row with a single Core statement, keeping the session in step.

The ORM's machinery costs more than the row on the ingest path (a flush per message is ~0.3 ms of
Python); these helpers run the statement directly and leave the object as if the ORM had.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, TypeVar, cast

from sqlalchemy import Insert, Select, Table, Update, bindparam, inspect, select, update
from sqlalchemy.orm import Mapper, Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from mailbot.store import direct

T = TypeVar("T")


@functools.lru_cache(maxsize=16)
def _insert_returning_pk(table: Table) -> Insert:
    """INSERT of every column but the key, RETURNING the key (insert_row gives every value)."""
    (pk,) = table.primary_key.columns
    return direct.insert_values(table, tuple(c.key for c in table.columns if c is not pk), pk.key)


@functools.lru_cache(maxsize=64)
def _update_by_pk(table: Table, columns: tuple[str, ...]) -> Update:
    (pk,) = table.primary_key.columns
    stmt = update(table).where(pk == bindparam("_pk"))
    # Parameters are prefixed: a bind parameter may not share its column's name in SET.
    return stmt.values({name: bindparam(f"v_{name}", type_=table.c[name].type) for name in columns})


def insert_row(session: Session, obj: T) -> T:
    """INSERT a new object's row now (one statement, no flush) and make it persistent in `session`.

    Every column is written: the values set on `obj`, else the column's Python-side default, else
    NULL, so nothing is left unloaded for a later lazy SELECT. Returns `obj`, its key filled in.
    """
    mapper = inspect(type(obj))
    table = cast(Table, mapper.local_table)
    state = inspect(obj)
    if not state.transient:
        raise ValueError(f"insert_row: this {type(obj).__name__} is already in a session")
    linked = [r.key for r in mapper.relationships if state.dict.get(r.key) is not None]
    if linked:  # only the unit of work turns a related object into its foreign key
        raise ValueError(f"insert_row: {type(obj).__name__}.{linked[0]} is set; set its key column instead")
    values: dict[str, Any] = {}
    for prop in mapper.column_attrs:
        column = prop.columns[0]
        if column.primary_key:
            continue
        if prop.key in state.dict:
            value = state.dict[prop.key]
        elif column.default is not None and column.default.is_scalar:
            value = column.default.arg
        elif column.default is None and column.server_default is None:
            value = None
        else:  # a computed default: only the unit of work knows how to run it
            raise ValueError(f"insert_row: set {type(obj).__name__}.{prop.key} (its default is not a constant)")
        values[column.key] = value
        state.dict[prop.key] = value  # no attribute events: this becomes committed state below
    pk = direct.scalar(session.connection(), _insert_returning_pk(table), values)
    state.dict[mapper.get_property_by_column(mapper.primary_key[0]).key] = pk
    make_transient_to_detached(obj)  # the values just written are now its committed state
    session.add(obj)
    return obj


def update_row(session: Session, obj: object, **values: Any) -> None:
    """UPDATE these columns of a persistent object's row now (no flush); the object shows them as
    committed, so the unit of work does not write them again. Its other pending changes stay pending."""
    mapper = inspect(type(obj))
    table = cast(Table, mapper.local_table)
    if not inspect(obj).persistent:  # a pending row has no key yet: the UPDATE would match nothing
        raise ValueError(f"update_row: this {type(obj).__name__} has no row yet (flush or insert_row it first)")
    pk = mapper.primary_key_from_instance(obj)[0]
    params = {mapper.get_property(k).columns[0].key: v for k, v in values.items()}
    binds = {f"v_{name}": value for name, value in params.items()}
    direct.run(session.connection(), _update_by_pk(table, tuple(sorted(params))), {**binds, "_pk": pk})
    for key, value in values.items():
        set_committed_value(obj, key, value)


@functools.lru_cache(maxsize=16)
def _row_shape(cls: type) -> tuple[Mapper[Any], tuple[str, ...], int]:
    """cls's mapper, the attribute of each of its table's columns in the table's order, and the key's position."""
    mapper: Mapper[Any] = inspect(cls)
    table = cast(Table, mapper.local_table)
    (pk,) = table.primary_key.columns
    keys = tuple(mapper.get_property_by_column(c).key for c in table.columns)
    return mapper, keys, list(table.columns).index(pk)


def columns_of(cls: type) -> Select[Any]:
    """SELECT every column of cls's table, in its order: the row `attach` takes."""
    return select(*cast(Table, inspect(cls).local_table).columns)


def attach(session: Session, cls: type[T], row: Sequence[Any]) -> T:
    """The persistent object of a row read with `columns_of(cls)` in this session's transaction, as
    the ORM's own query would give it without building one: the session's copy when it already has
    that row (with any changes it holds), else a new object whose values are its committed state."""
    mapper, keys, pk_at = _row_shape(cast(type, cls))
    existing = session.identity_map.get(mapper.identity_key_from_primary_key((row[pk_at],)))
    if existing is not None:
        return cast(T, existing)
    obj = mapper.class_manager.new_instance()  # as the ORM's loading does: no __init__, no events
    inspect(obj).dict.update(zip(keys, row, strict=True))
    make_transient_to_detached(obj)  # the values read are its committed state; relationships load lazily
    session.add(obj)
    return cast(T, obj)
