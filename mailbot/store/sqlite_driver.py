"""The one sqlite3 module every SQLite connection of this process uses: pysqlite3's (a current SQLite
built in) when installed, else the standard library's. MAILBOT_SQLITE=stdlib pins the latter.

One module for all, because two SQLite libraries in one process do not see each other's locks on the
same file (each keeps its own table of the process's POSIX locks), so two writers could both proceed.
Why pysqlite3: Debian 12's SQLite 3.40 ranks full-text matches (FTS5 bm25) about a quarter slower
than SQLite 3.51 on the same index (BENCHMARKS.md, tenth pass).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

_PINNED_TO_STDLIB = os.environ.get("MAILBOT_SQLITE", "").strip().lower() == "stdlib"

if TYPE_CHECKING or _PINNED_TO_STDLIB:  # one API either way: type-checked against the standard library's
    import sqlite3 as dbapi
else:
    try:
        from pysqlite3 import dbapi2 as dbapi
    except ImportError:  # no wheel for this platform: the standard library's SQLite serves
        import sqlite3 as dbapi

__all__ = ["dbapi", "describe"]


def describe() -> str:
    """'SQLite 3.51.1 (pysqlite3)': which library this process runs, for logs and benchmark tables."""
    return f"SQLite {dbapi.sqlite_version} ({dbapi.__name__.split('.')[0]})"
