"""A throwaway PostgreSQL cluster this test process owns, so it may restart it (never the shared 5432 one)."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from typing import Any

from tests.servers.dovecot import free_port
from tests.servers.postgres import _bin, _reachable


class Cluster:
    def __init__(self) -> None:
        # PostgreSQL refuses to run as root: the cluster belongs to an unprivileged account.
        self.account = None
        if os.geteuid() == 0:
            for name in ("postgres", "nobody"):
                try:
                    self.account = pwd.getpwnam(name)
                    break
                except KeyError:
                    continue
        self.base = tempfile.mkdtemp(prefix="pgr", dir="/tmp")
        self.data = os.path.join(self.base, "data")
        self.port = free_port()
        if self.account is not None:
            os.chown(self.base, self.account.pw_uid, self.account.pw_gid)

    def _run(self, *cmd: str, **kw: Any) -> None:
        account = self.account

        def demote() -> None:
            if account is not None:
                os.setgid(account.pw_gid)
                os.setuid(account.pw_uid)

        subprocess.run(cmd, check=True, capture_output=True, preexec_fn=demote, cwd=self.base, **kw)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        if not os.path.isdir(self.data):
            self._run(_bin("initdb"), "-D", self.data, "-U", "postgres", "-A", "trust", "-E", "UTF8",
                      "--no-locale")  # fmt: skip
        opts = f"-h 127.0.0.1 -p {self.port} -k {self.base} -c fsync=off"
        self._run(_bin("pg_ctl"), "-D", self.data, "-o", opts, "-l", os.path.join(self.base, "log"),
                  "-w", "start", timeout=60)  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._run(_bin("pg_ctl"), "-D", self.data, "-m", mode, "-w", "stop", timeout=60)

    def reachable(self) -> bool:
        return _reachable("postgres", self.port)

    def cleanup(self) -> None:
        with contextlib.suppress(Exception):  # already stopped
            self.stop("immediate")
        shutil.rmtree(self.base, ignore_errors=True)
