"""One SQLite library per process: pysqlite3's current SQLite when installed, the standard library's
when pinned or missing; every connection mailbot opens to a file goes through it."""

from __future__ import annotations

import os
import platform
import sqlite3 as stdlib_sqlite3
import subprocess
import sys
from pathlib import Path

from mailbot.store.sqlite_driver import dbapi, describe
from tests.helpers import make_app, settings_for


def _describe_in_a_new_process(**env: str) -> str:
    code = "from mailbot.store.sqlite_driver import describe; print(describe())"
    out = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def test_the_engine_and_its_connections_use_the_one_library(sqlite_url: str, tmp_path: Path) -> None:
    app = make_app(settings_for(sqlite_url, tmp_path))
    assert app.engine.dialect.dbapi is dbapi
    with app.engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert isinstance(raw, dbapi.Connection)
        version = conn.exec_driver_sql("SELECT sqlite_version()").scalar()
    assert version == dbapi.sqlite_version
    assert describe() == f"SQLite {version} ({dbapi.__name__.split('.')[0]})"


def test_pysqlite3_serves_where_its_wheel_exists_and_stdlib_when_pinned() -> None:
    pinned = _describe_in_a_new_process(MAILBOT_SQLITE="stdlib")
    assert pinned == f"SQLite {stdlib_sqlite3.sqlite_version} (sqlite3)"
    chosen = _describe_in_a_new_process(MAILBOT_SQLITE="")
    if sys.platform == "linux" and platform.machine() == "x86_64":  # pyproject installs it here
        assert chosen.endswith("(pysqlite3)"), chosen
        # The reason for the dependency: a newer SQLite than Debian 12's 3.40 (FTS5 ranking).
        major, minor = (int(x) for x in chosen.split()[1].split(".")[:2])
        assert (major, minor) > (3, 40), chosen
    else:
        assert chosen.endswith(("(pysqlite3)", "(sqlite3)")), chosen
