"""PostgreSQL for tests: the local server on 127.0.0.1:5432 when it trusts us, else a throwaway cluster.

`fresh_database()` gives each test its own database, dropped afterwards by `drop_database()`.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid

import psycopg

from tests.servers.dovecot import free_port

_server_url: str | None = None


def _dsn(user: str, port: int, dbname: str = "postgres") -> str:
    return f"host=127.0.0.1 port={port} user={user} dbname={dbname} connect_timeout=3"


def _reachable(user: str, port: int) -> bool:
    try:
        with psycopg.connect(_dsn(user, port)) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if found:
        return found[-1]  # the newest installed major version
    path = shutil.which(name)
    if not path:
        raise RuntimeError(f"PostgreSQL server binary {name!r} not found; install postgresql")
    return path


def _start_cluster() -> str:
    """initdb + pg_ctl start in a temp dir on a free port; stopped again at interpreter exit."""
    root = os.geteuid() == 0
    # PostgreSQL refuses to run as root, so the cluster belongs to an unprivileged account.
    account = pwd.getpwnam("postgres" if _has_user("postgres") else "nobody") if root else None
    base = tempfile.mkdtemp(prefix="pg", dir="/tmp")
    data = os.path.join(base, "data")
    port = free_port()
    if account is not None:
        os.chown(base, account.pw_uid, account.pw_gid)

    def run(*cmd: str) -> None:
        def demote() -> None:
            if account is not None:
                os.setgid(account.pw_gid)
                os.setuid(account.pw_uid)

        subprocess.run(cmd, check=True, capture_output=True, preexec_fn=demote, cwd=base)

    run(_bin("initdb"), "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale")
    opts = f"-h 127.0.0.1 -p {port} -k {base} -c fsync=off -c full_page_writes=off"
    run(_bin("pg_ctl"), "-D", data, "-o", opts, "-l", os.path.join(base, "log"), "-w", "start")

    def stop() -> None:
        with contextlib.suppress(Exception):
            run(_bin("pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)

    atexit.register(stop)
    deadline = time.monotonic() + 30
    while not _reachable("postgres", port):
        if time.monotonic() > deadline:
            raise RuntimeError(f"throwaway PostgreSQL on port {port} did not come up")
        time.sleep(0.1)
    return f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def postgres_server_url() -> str:
    """URL of a PostgreSQL server we may create databases on (maintenance db `postgres`)."""
    global _server_url
    if _server_url is None:
        for user in ("postgres", "root"):
            if _reachable(user, 5432):
                _server_url = f"postgresql+psycopg://{user}@127.0.0.1:5432/postgres"
                break
        else:
            _server_url = _start_cluster()
    return _server_url


def _parts(url: str) -> tuple[str, int, str]:
    """(user, port, dbname) of a postgresql+psycopg://user@127.0.0.1:port/db URL."""
    rest = url.split("://", 1)[1]
    user, _, hostpart = rest.partition("@")
    hostport, _, db = hostpart.partition("/")
    port = int(hostport.rpartition(":")[2] or 5432)
    return user, port, db


def fresh_database(server_url: str) -> str:
    """CREATE DATABASE with a random name; returns its SQLAlchemy URL."""
    user, port, _ = _parts(server_url)
    name = f"mailbot_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_dsn(user, port), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE \"{name}\" ENCODING 'UTF8' TEMPLATE template0")
    return f"postgresql+psycopg://{user}@127.0.0.1:{port}/{name}"


def drop_database(db_url: str) -> None:
    """Drop a database made by fresh_database, even if a leaked connection still uses it."""
    user, port, name = _parts(db_url)
    if not name.startswith("mailbot_test_"):
        raise ValueError(f"refusing to drop {name!r}: not a test database")
    with psycopg.connect(_dsn(user, port), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
