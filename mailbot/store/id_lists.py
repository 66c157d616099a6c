"""A list of ids bound as ONE parameter, so a statement's SQL is the same whatever the count: a JSON
array read by `json_each` on SQLite, an array compared with `= ANY` on PostgreSQL. An IN list of a
thousand placeholders cost more to build and bind than the statement itself, and is SQL built per call.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import BigInteger, ColumnElement, String, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.elements import SQLCoreOperations


def id_in(column: SQLCoreOperations[int], name: str, dialect: str) -> ColumnElement[bool]:
    """`column` is one of the ids bound as `name` (pass them through `ids_param`)."""
    if dialect == "postgresql":
        return column == func.any(bindparam(name, type_=ARRAY(BigInteger)))
    values = func.json_each(bindparam(name, type_=String)).table_valued("value")
    return column.in_(select(values.c.value))


def ids_param(ids: Sequence[object], dialect: str) -> object:
    """The bound value `id_in` expects for `ids` on `dialect`."""
    return list(ids) if dialect == "postgresql" else json.dumps(ids)
