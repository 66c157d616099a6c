"""The loopback servers a benchmark run needs: Dovecot, an SMTP sink (Postfix smtp-sink, else aiosmtpd)
and the databases (a SQLite file, a fresh PostgreSQL database). All on 127.0.0.1.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # the test servers live in tests/servers (shared with the suite)
    sys.path.insert(0, str(REPO))

from tests.servers.dovecot import Dovecot, free_port  # noqa: E402
from tests.servers.smtp_sink import SmtpSink  # noqa: E402

SMTP_SINK = shutil.which("smtp-sink") or ("/usr/sbin/smtp-sink" if Path("/usr/sbin/smtp-sink").exists() else "")


class PostfixSink:
    """Postfix's smtp-sink (C): accepts everything, stores nothing, so it is never the bottleneck."""

    kind = "postfix smtp-sink"

    def __init__(self) -> None:
        self.host = "127.0.0.1"
        self.port = free_port()
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        # -c: count only; -4: IPv4; backlog 256 for parallel connections.
        user = ["-u", "nobody"] if os.geteuid() == 0 else []  # it refuses to run as root
        self._proc = subprocess.Popen(
            [SMTP_SINK, "-c", "-4", *user, "-m", "256", f"{self.host}:{self.port}", "256"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((self.host, self.port), timeout=1) as s:
                    if s.recv(100).startswith(b"220"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("smtp-sink did not greet")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.terminate()
            proc.wait(10)


class AioSink:
    """The aiosmtpd sink of the test suite (Python): used when smtp-sink is not installed."""

    kind = "aiosmtpd sink (Python; smtp-sink not installed)"

    def __init__(self) -> None:
        self._sink = SmtpSink(host="127.0.0.1", port=0)
        self.host = self._sink.host
        self.port = self._sink.port

    def start(self) -> None:
        self._sink.start()

    def stop(self) -> None:
        self._sink.stop()


class TimestampSink(SmtpSink):
    """aiosmtpd sink that notes when each message arrived (latency case: few messages, exact times)."""

    def __init__(self) -> None:
        super().__init__(host="127.0.0.1", port=0)
        self.arrivals: list[tuple[float, bytes]] = []

    def _record(self, message: Any) -> None:
        self.arrivals.append((time.monotonic(), message.data))
        super()._record(message)


def fast_sink() -> PostfixSink | AioSink:
    sink: PostfixSink | AioSink = PostfixSink() if SMTP_SINK else AioSink()
    sink.start()
    return sink


class Servers:
    """Started lazily, stopped together at the end of the run."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._dovecot: Dovecot | None = None
        self._sink: PostfixSink | AioSink | None = None
        self._pg: str | None = None
        self._pg_error = ""

    @property
    def dovecot(self) -> Dovecot:
        if self._dovecot is None:
            d = Dovecot()
            d.start()
            self._dovecot = d
        return self._dovecot

    def imap_user(self) -> tuple[str, str]:
        """A fresh, empty mailbox on the shared Dovecot."""
        name, password = f"b{uuid.uuid4().hex[:10]}", uuid.uuid4().hex[:12]
        self.dovecot.add_user(name, password)
        return name, password

    @property
    def sink(self) -> PostfixSink | AioSink:
        if self._sink is None:
            self._sink = fast_sink()
        return self._sink

    def sqlite_url(self, name: str) -> str:
        path = self.workdir / f"{name}-{uuid.uuid4().hex[:6]}.db"
        return f"sqlite:///{path}"

    def pg_url(self) -> str | None:
        """A fresh PostgreSQL database, or None (with pg_error set) when no server can be had."""
        from tests.servers.postgres import fresh_database, postgres_server_url

        if self._pg is None and not self._pg_error:
            try:
                self._pg = postgres_server_url()
            except Exception as exc:  # noqa: BLE001 - reported as 'not available'
                self._pg_error = str(exc)
        if self._pg is None:
            return None
        return fresh_database(self._pg)

    @property
    def pg_error(self) -> str:
        return self._pg_error

    def drop(self, url: str) -> None:
        if url.startswith("postgresql"):
            from tests.servers.postgres import drop_database

            drop_database(url)
        elif url.startswith("sqlite:///"):
            for suffix in ("", "-wal", "-shm"):
                Path(url[len("sqlite:///") :] + suffix).unlink(missing_ok=True)

    def stop(self) -> None:
        if self._sink is not None:
            self._sink.stop()
        if self._dovecot is not None:
            self._dovecot.cleanup()
