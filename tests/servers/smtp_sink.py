"""A real SMTP server for tests (aiosmtpd on 127.0.0.1) that records what it accepts and can
be scripted to refuse recipients (RCPT) or whole transactions (DATA).
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    peer: str = ""  # "host:port" of the client connection (tells parallel connections apart)


@dataclass
class _Handler:
    sink: SmtpSink
    pipelining: bool = True

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname
        if self.pipelining:
            # aiosmtpd reads commands line by line from a buffered stream, so pipelined
            # commands work; it just does not advertise it.
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        scripted = self.sink.rcpt_responses.get(address.lower())
        if scripted is not None:
            return f"{scripted[0]} {scripted[1]}"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.sink.data_response is not None:
            code, text = self.sink.data_response
            return f"{code} {text}"
        content = envelope.original_content or envelope.content or b""
        data = content if isinstance(content, bytes) else content.encode("utf-8")
        peer = session.peer
        where = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer or "")
        self.sink._record(
            Received(str(envelope.mail_from or ""), list(envelope.rcpt_tos), data, where)
        )
        return "250 2.0.0 OK queued"


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class SmtpSink:
    """Usage: `sink = SmtpSink(); sink.start(); ...; sink.stop()` (or `with SmtpSink() as sink`).

    `pipelining=False` makes the sink behave like a server without RFC 2920 support;
    `tls` (a server context) offers STARTTLS and requires it, or with `implicit_tls` speaks TLS
    from the first byte (SMTPS).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        pipelining: bool = True,
        tls: ssl.SSLContext | None = None,
        implicit_tls: bool = False,
    ) -> None:
        self.host = host
        self.port = port or _free_port(host)  # 0: pick a free port, kept across restart()
        self.pipelining = pipelining
        self.tls = tls
        self.implicit_tls = implicit_tls
        self.messages: list[Received] = []
        self.rcpt_responses: dict[str, tuple[int, str]] = {}
        self.data_response: tuple[int, str] | None = None
        self._lock = threading.Condition()
        self._controller: Controller | None = None

    def _record(self, message: Received) -> None:
        with self._lock:
            self.messages.append(message)
            self._lock.notify_all()

    def start(self) -> None:
        if self._controller is not None:
            return
        tls: dict[str, Any] = {}
        if self.tls is not None and self.implicit_tls:
            tls = {"ssl_context": self.tls}
        elif self.tls is not None:
            tls = {"tls_context": self.tls, "require_starttls": True}
        controller = Controller(
            _Handler(self, self.pipelining),
            hostname=self.host,
            port=self.port,
            decode_data=False,
            enable_SMTPUTF8=True,
            data_size_limit=64 * 1024 * 1024,
            **tls,
        )
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def restart(self) -> None:
        self.stop()
        # The listening socket may linger for a moment after stop; retry briefly.
        deadline = time.monotonic() + 5.0
        while True:
            try:
                self.start()
                return
            except Exception:
                self._controller = None
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Wait until at least `count` messages arrived; return a snapshot (may be fewer)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._lock.wait(left)
            return list(self.messages)

    def recipients(self) -> list[str]:
        with self._lock:
            return [r for m in self.messages for r in m.rcpt_tos]

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()

    def __enter__(self) -> SmtpSink:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
