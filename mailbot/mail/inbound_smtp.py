"""SMTP/LMTP inbound (aiosmtpd): an MTA hands us mail; we answer 250 only after the pipeline committed it.

A failing ingest (database down) answers 451 so the sending MTA keeps the message and retries.
Small messages may be stored on the listener's own thread (`inline_max_bytes`; SQLite, whose one
writer serialises ingests anyway), larger ones and every message on PostgreSQL in worker threads.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import MISSING, SMTP, Envelope, Session

from mailbot.config import InboundSmtpSettings
from mailbot.mail.contracts import Ingest, IngestResult
from mailbot.mail.smtp_data import read_data

log = logging.getLogger(__name__)

# RFC 5321 caps lines at 998 octets, but real clients break it; we would rather take the message
# and let the parser record a defect than bounce a member's post.
LENIENT_LINE_LIMIT = 64 * 1024
INGEST_WORKERS = 4  # ingest is blocking SQLAlchemy; this caps concurrent database writers
# Largest message stored on the listener's thread when inline ingest is on: a few milliseconds of
# work, so other sessions wait at most that long for their next reply (a 30 MB post would take
# seconds and goes to a worker).
INLINE_MAX_BYTES = 256 * 1024


_HEADER_END = re.compile(rb"\r?\n\r?\n")
_RETURN_PATH = re.compile(rb"(?im)^return-path:")


ADDRESS_CACHE_SIZE = 4096
_addresses: dict[tuple[str, int], tuple[str | None, str | None]] = {}
# `<local@domain>` then ESMTP parameters (SIZE=, BODY=) after white space: the parameters differ
# per message, so such an argument is remembered by its address alone. Anything else (comments,
# quoting, `<>`, no space before the parameters) is remembered whole, as aiosmtpd reads it.
_PLAIN_WITH_PARAMETERS = re.compile(r'(<[^<>()"\\\s@]+@[^<>()"\\\s@]+>)([ \t]+[^()]*)')


class _RememberedAddresses(SMTP):
    """aiosmtpd reads each MAIL FROM and RCPT TO argument with the email package's full address
    parser and builds a typing.Protocol class on every call: a third of the listener's time per
    post, measured. The same few addresses (the members, the list) arrive again and again, and the
    answer depends only on the argument and the local-part limit, so it is remembered."""

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        plain = _PLAIN_WITH_PARAMETERS.fullmatch(arg)
        if plain is None:
            return self._remembered(arg)
        # The parser stops after the address and the white space that follows it: what it leaves
        # is the parameters, so the address's own answer plus them is what it would give.
        address, _ = self._remembered(plain[1])
        return (address, plain[2].lstrip(" \t")) if address is not None else (None, None)

    def _remembered(self, arg: str) -> tuple[str | None, str | None]:
        key = (arg, self.local_part_limit)
        found = _addresses.get(key)
        if found is None:
            found = super()._getaddr(arg)
            if len(_addresses) >= ADDRESS_CACHE_SIZE:
                _addresses.clear()  # bounded: a flood of new addresses costs parses, not memory
            _addresses[key] = found
        return found


class _WholeData(SMTP):
    """DATA read in a few large reads (mail/smtp_data.py) instead of aiosmtpd's await per line; the
    rest of the command is aiosmtpd's: its checks, replies and handler call, in its order."""

    async def smtp_DATA(self, arg: str) -> None:
        if self._decode_data or "DATA" not in self._handle_hooks:
            await super().smtp_DATA(arg)  # configurations this listener does not use
            return
        if await self.check_helo_needed():
            return
        if await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        try:
            section = await read_data(self._reader, self.data_size_limit, self.line_length_limit)
        except asyncio.CancelledError:
            log.info("Connection lost during DATA")
            self._writer.close()
            raise
        if section.refusal is not None:
            await self.push(section.refusal)
            self._set_post_data_state()
            return
        self.envelope.content = self.envelope.original_content = section.content
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()
        await self.push("250 OK" if status is MISSING else status)


class _LenientSMTP(_WholeData, _RememberedAddresses):
    line_length_limit = LENIENT_LINE_LIMIT


class _LenientLMTP(_WholeData, _RememberedAddresses, LMTP):
    line_length_limit = LENIENT_LINE_LIMIT


def _peer_text(peer: Any) -> str:
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer or "unknown")


def with_return_path(raw: bytes, mail_from: str | None) -> bytes:
    """Prepend Return-Path as a final-delivery agent does, so bounces (MAIL FROM:<>) are visible."""
    end = _HEADER_END.search(raw, 0, 65536)
    if _RETURN_PATH.search(raw[: end.start()] if end else raw[:65536]):
        return raw
    sender = (mail_from or "").strip("<>")
    # The message's own line end: a client that sent bare LF (smtplib sends bytes as given) keeps
    # one line-end style throughout, which the list copy needs to keep the body as it came.
    first = raw.find(b"\n")
    eol = b"\n" if first > 0 and raw[first - 1 : first] != b"\r" else b"\r\n"
    return b"Return-Path: <" + sender.encode("utf-8", "surrogateescape") + b">" + eol + raw


class _Handler:
    def __init__(
        self,
        ingest: Ingest,
        accept_rcpt: Callable[[str], bool] | None,
        lmtp: bool,
        executor: ThreadPoolExecutor,
        inline_max_bytes: int = 0,
    ) -> None:
        self.ingest = ingest
        self.accept_rcpt = accept_rcpt
        self.lmtp = lmtp
        self.executor = executor
        self.inline_max_bytes = inline_max_bytes

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if self.accept_rcpt is not None:
            # Called on the event loop: the check must not block (the app's matches the address
            # against the configured communities, no database). A thread hand-off per RCPT cost
            # more than the check itself.
            try:
                known = self.accept_rcpt(address)
            except Exception:
                log.exception("inbound-smtp: recipient check failed for %s", address)
                return "451 4.3.0 Temporary failure checking recipient, try again later"
            if not known:
                log.info("inbound-smtp: rejected unknown recipient %s", address)
                return f"550 5.1.1 <{address}>: Recipient address rejected: unknown user"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        if isinstance(raw, str):  # only with decode_data=True, which we never set
            raw = raw.encode("utf-8", "surrogateescape")
        raw = with_return_path(raw, envelope.mail_from)
        ref = f"smtp:{_peer_text(session.peer)}:{uuid.uuid4().hex[:16]}"
        rcpts = tuple(envelope.rcpt_tos)
        call = partial(self.ingest, raw, source="smtp", source_ref=ref, envelope_to=rcpts)
        try:
            if len(raw) <= self.inline_max_bytes:
                # On this thread, blocking the loop for the commit: handing each message to a
                # worker and its result back cost 7% of a post's CPU (two thread switches and the
                # futures between them; BENCHMARKS.md, fourteenth pass), and on SQLite the
                # workers would only queue behind its one writer anyway.
                result: IngestResult = call()
            else:
                result = await asyncio.get_running_loop().run_in_executor(self.executor, call)
        except Exception:
            # Nothing was stored: a 4xx makes the sending MTA keep the message and retry.
            log.exception("inbound-smtp: ingest failed for %s; answering 451", ref)
            reply = "451 4.3.0 Temporary failure storing the message, try again later"
        else:
            log.info(
                "inbound-smtp: %s from=%s to=%s status=%s kind=%s",
                ref,
                envelope.mail_from,
                ",".join(rcpts),
                result.status,
                result.kind or "-",
            )
            reply = f"250 2.0.0 OK queued as {ref.rsplit(':', 1)[-1]}"
        if self.lmtp:
            # LMTP wants one reply per accepted recipient; one ingest covered them all.
            return "\r\n".join([reply] * max(1, len(rcpts)))
        return reply


class _Controller(Controller):
    def __init__(self, handler: _Handler, *, lmtp: bool, **kwargs: Any) -> None:
        self._lmtp = lmtp
        super().__init__(handler, **kwargs)

    def factory(self) -> SMTP:
        cls = _LenientLMTP if self._lmtp else _LenientSMTP
        return cls(self.handler, **self.SMTP_kwargs)

    def _trigger_server(self) -> None:
        # Port 0 asks the OS for a free port; learn which one before the readiness probe.
        sockets = getattr(self.server, "sockets", None)
        if self.port == 0 and sockets:
            self.port = int(sockets[0].getsockname()[1])
        super()._trigger_server()


class InboundSmtpServer:
    """aiosmtpd server in its own thread; `start()` returns once it accepts connections.

    `accept_rcpt` answers RCPT TO (unknown addresses get 550): fast and non-blocking, it runs on
    the server's event loop. `inline_max_bytes` > 0: messages up to that size are ingested on the
    loop's thread (while one is stored, other sessions wait for their next reply); larger ones, and
    all with 0, in worker threads."""

    def __init__(
        self,
        settings: InboundSmtpSettings,
        ingest: Ingest,
        *,
        accept_rcpt: Callable[[str], bool] | None = None,
        inline_max_bytes: int = 0,
    ) -> None:
        self.settings = settings
        self.ingest = ingest
        self.accept_rcpt = accept_rcpt
        self.inline_max_bytes = inline_max_bytes
        self._controller: _Controller | None = None
        self._executor: ThreadPoolExecutor | None = None

    @property
    def host(self) -> str:
        return self.settings.host

    @property
    def port(self) -> int:
        if self._controller is not None:
            return int(self._controller.port)
        return self.settings.port

    def start(self) -> None:
        if self._controller is not None:
            return
        s = self.settings
        self._executor = ThreadPoolExecutor(INGEST_WORKERS, thread_name_prefix="inbound-smtp")
        handler = _Handler(self.ingest, self.accept_rcpt, s.lmtp, self._executor, self.inline_max_bytes)
        controller = _Controller(
            handler,
            lmtp=s.lmtp,
            hostname=s.host,
            port=s.port,
            data_size_limit=s.max_message_bytes,
            enable_SMTPUTF8=True,
            decode_data=False,
        )
        try:
            controller.start()
        except BaseException:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise
        self._controller = controller
        log.info(
            "inbound-smtp: listening (%s) on %s:%s", "LMTP" if s.lmtp else "SMTP", s.host, self.port
        )

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)  # let in-flight ingests finish their commit
