"""InboundSmtpServer with real SMTP/LMTP clients on 127.0.0.1: 250 only after ingest, 451 on failure."""

from __future__ import annotations

import smtplib
import socket
import threading
from collections.abc import Iterator, Sequence

import pytest

from mailbot.config import InboundSmtpSettings
from mailbot.mail.contracts import IngestResult
from mailbot.mail.inbound_smtp import INLINE_MAX_BYTES, InboundSmtpServer, with_return_path

LIST = "km-it@localhost"
MSG = (
    "From: Somchai <somchai@example.org>\r\nTo: km-it@localhost\r\nSubject: =?utf-8?b?4Lij4Lit?=\r\n"
    "Message-ID: <s1@example.org>\r\nMIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    "สวัสดีครับ ทุกท่าน\r\n.leading dot line\r\n"
).encode()


class Ingest:
    def __init__(self) -> None:
        self.calls: list[dict[str, object]] = []
        self.fail = False
        self.gate: threading.Event | None = None  # when set, ingest waits for it (a slow commit)
        self.gate_over = 0  # ...only for messages larger than this
        self.entered = threading.Event()

    def __call__(
        self, raw: bytes, *, source: str, source_ref: str, envelope_to: Sequence[str] = ()
    ) -> IngestResult:
        self.entered.set()
        if self.gate is not None and len(raw) > self.gate_over:
            assert self.gate.wait(10)
        if self.fail:
            raise ConnectionError("database unreachable")
        self.calls.append(
            {"raw": raw, "source": source, "ref": source_ref, "to": list(envelope_to),
             "thread": threading.current_thread().name}
        )  # fmt: skip
        return IngestResult("processed", len(self.calls), "post", None)


@pytest.fixture
def ingest() -> Ingest:
    return Ingest()


@pytest.fixture
def start_server(ingest: Ingest) -> Iterator:
    servers: list[InboundSmtpServer] = []

    def start(**kw: object) -> InboundSmtpServer:
        settings = InboundSmtpSettings(
            host="127.0.0.1",
            port=0,
            lmtp=bool(kw.pop("lmtp", False)),
            max_message_bytes=int(kw.pop("max_message_bytes", 1_000_000)),  # type: ignore[call-overload]
        )
        server = InboundSmtpServer(settings, ingest, **kw)  # type: ignore[arg-type]
        server.start()
        servers.append(server)
        return server

    yield start
    for s in servers:
        s.stop()


@pytest.mark.parametrize("eol", [b"\r\n", b"\n"], ids=["CRLF", "bare LF"])
def test_return_path_ends_its_line_as_the_message_does(eol: bytes) -> None:
    """The Return-Path the listener adds ends its line as the message's first line does, leaving
    one line-end style in the stored bytes (the list copy keeps a body as it came only then)."""
    message = MSG.replace(b"\r\n", eol)
    assert with_return_path(message, "<somchai@example.org>") == b"Return-Path: <somchai@example.org>" + eol + message
    assert with_return_path(message, "") == b"Return-Path: <>" + eol + message


# Both ways a message is stored: in a worker thread, and on the listener's own thread (inline).
MODES = pytest.mark.parametrize("inline_max_bytes", [0, 1_000_000], ids=["worker", "inline"])


@MODES
def test_250_only_after_ingest_returned(start_server, ingest: Ingest, inline_max_bytes: int) -> None:
    server = start_server(inline_max_bytes=inline_max_bytes)
    assert server.port > 0
    ingest.gate = threading.Event()
    outcome: dict[str, object] = {}

    def send() -> None:
        with smtplib.SMTP(server.host, server.port, timeout=10) as c:
            outcome["refused"] = c.sendmail("somchai@example.org", [LIST], MSG)

    client = threading.Thread(target=send)
    client.start()
    assert ingest.entered.wait(5)
    client.join(timeout=0.5)
    assert client.is_alive(), "the client got its reply before ingest returned"
    ingest.gate.set()
    client.join(timeout=5)
    assert outcome["refused"] == {}
    [call] = ingest.calls
    assert call["raw"] == b"Return-Path: <somchai@example.org>\r\n" + MSG  # 8-bit Thai intact
    assert call["source"] == "smtp" and call["to"] == [LIST]
    assert str(call["ref"]).startswith("smtp:127.0.0.1:")


@MODES
def test_451_when_ingest_raises_then_retry_succeeds(start_server, ingest: Ingest, inline_max_bytes: int) -> None:
    server = start_server(inline_max_bytes=inline_max_bytes)
    ingest.fail = True
    with (
        smtplib.SMTP(server.host, server.port, timeout=10) as c,
        pytest.raises(smtplib.SMTPDataError) as err,
    ):
        c.sendmail("somchai@example.org", [LIST], MSG)
    assert err.value.smtp_code == 451 and b"4.3.0" in err.value.smtp_error
    assert ingest.calls == []
    ingest.fail = False  # the sender's MTA retries later
    with smtplib.SMTP(server.host, server.port, timeout=10) as c:
        assert c.sendmail("somchai@example.org", [LIST], MSG) == {}
    assert len(ingest.calls) == 1


def test_inline_stores_small_messages_on_the_listener_and_a_large_one_holds_up_no_one(
    start_server, ingest: Ingest
) -> None:
    """With inline ingest, a small message is stored on the listener's thread (no hand-off), and a
    message over the limit in a worker: while a large post is still being stored, another member's
    small post is taken and answered."""
    server = start_server(inline_max_bytes=64 * 1024)
    big = MSG + b"x" * 100 + b"\r\n" + (b"y" * 76 + b"\r\n") * 1000  # about 78 KB
    ingest.gate, ingest.gate_over = threading.Event(), 64 * 1024
    outcome: dict[str, object] = {}

    def send_big() -> None:
        with smtplib.SMTP(server.host, server.port, timeout=10) as c:
            outcome["big"] = c.sendmail("somchai@example.org", [LIST], big)

    client = threading.Thread(target=send_big)
    client.start()
    assert ingest.entered.wait(5)  # the large post is being stored (and waits on the gate)
    try:
        with smtplib.SMTP(server.host, server.port, timeout=5) as c:
            assert c.sendmail("suda@example.org", [LIST], MSG) == {}
    finally:
        ingest.gate.set()
    client.join(timeout=5)
    assert outcome["big"] == {}
    small, large = ingest.calls
    assert len(small["raw"]) < 64 * 1024 < len(large["raw"])  # type: ignore[arg-type]
    assert not str(small["thread"]).startswith("inbound-smtp")  # the listener's own thread
    assert str(large["thread"]).startswith("inbound-smtp")  # a worker


def test_app_stores_inline_on_sqlite_only(db_url: str, tmp_path) -> None:
    """SQLite's one writer serialises ingests anyway: there small messages are stored on the
    listener's thread; PostgreSQL stores several at once, so every message goes to a worker."""
    from tests.helpers import make_app, settings_for

    app = make_app(settings_for(db_url, tmp_path))
    try:
        server = app.inbound_server()
        assert server.inline_max_bytes == (0 if db_url.startswith("postgresql") else INLINE_MAX_BYTES)
    finally:
        app.engine.dispose()


def test_unknown_recipient_550(start_server, ingest: Ingest) -> None:
    server = start_server(accept_rcpt=lambda a: a.lower() == LIST)
    with smtplib.SMTP(server.host, server.port, timeout=10) as c:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as err:
            c.sendmail("x@example.org", ["nobody@localhost"], MSG)
        code, text = err.value.recipients["nobody@localhost"]
        assert code == 550 and b"5.1.1" in text
        c.rset()
        refused = c.sendmail("x@example.org", ["nobody@localhost", "KM-IT@localhost"], MSG)
    assert set(refused) == {"nobody@localhost"}
    assert [call["to"] for call in ingest.calls] == [["KM-IT@localhost"]]


def test_bounce_keeps_null_sender_as_return_path(start_server, ingest: Ingest) -> None:
    server = start_server()
    with smtplib.SMTP(server.host, server.port, timeout=10) as c:
        c.sendmail("", ["km-it-bounces+somchai=example.org@localhost"], MSG)
    raw = ingest.calls[0]["raw"]
    assert isinstance(raw, bytes) and raw.startswith(b"Return-Path: <>\r\n")
    assert ingest.calls[0]["to"] == ["km-it-bounces+somchai=example.org@localhost"]


def _lmtp_deliver(port: int, rcpts: list[str], body: bytes) -> list[bytes]:
    """Speak LMTP by hand (smtplib.LMTP reads only one reply after DATA); return the DATA replies."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        f = s.makefile("rb")

        def reply() -> bytes:
            lines = [f.readline()]
            while lines[-1][3:4] == b"-":
                lines.append(f.readline())
            return lines[-1]

        assert reply().startswith(b"220")
        s.sendall(b"LHLO client.example.org\r\n")
        assert reply().startswith(b"250")
        s.sendall(b"MAIL FROM:<somchai@example.org>\r\n")
        assert reply().startswith(b"250")
        for r in rcpts:
            s.sendall(f"RCPT TO:<{r}>\r\n".encode())
            assert reply().startswith(b"250")
        s.sendall(b"DATA\r\n")
        assert reply().startswith(b"354")
        s.sendall(body.replace(b"\r\n.", b"\r\n..") + b".\r\n")
        out = [reply() for _ in rcpts]
        s.sendall(b"QUIT\r\n")
        return out


def test_lmtp_one_reply_per_recipient(start_server, ingest: Ingest) -> None:
    server = start_server(lmtp=True)
    rcpts = [LIST, "km-it-request@localhost"]
    replies = _lmtp_deliver(server.port, rcpts, MSG)
    assert [r[:3] for r in replies] == [b"250", b"250"]
    assert len(ingest.calls) == 1 and ingest.calls[0]["to"] == rcpts
    assert ingest.calls[0]["raw"] == b"Return-Path: <somchai@example.org>\r\n" + MSG
    ingest.fail = True
    replies = _lmtp_deliver(server.port, rcpts, MSG)
    assert [r[:3] for r in replies] == [b"451", b"451"]
    # EHLO is not LMTP.
    with smtplib.SMTP(timeout=10) as c:
        c.connect("127.0.0.1", server.port)
        code, _ = c.ehlo()
        assert code == 500


def test_oversize_rejected_552(start_server, ingest: Ingest) -> None:
    server = start_server(max_message_bytes=10_000)
    big = MSG + b"x" * 70 + b"\r\n"
    big = big * 200  # about 30 kB
    with smtplib.SMTP(server.host, server.port, timeout=10) as c:
        # With SIZE= announced, the server refuses at MAIL FROM.
        with pytest.raises(smtplib.SMTPSenderRefused) as err:
            c.sendmail("somchai@example.org", [LIST], big)
        assert err.value.smtp_code == 552
        c.rset()
        # Without SIZE=, it reads the data and then refuses it.
        assert c.mail("somchai@example.org")[0] == 250
        assert c.rcpt(LIST)[0] == 250
        code, _ = c.data(big)
        assert code == 552
        # The session stays usable for a normal message.
        assert c.sendmail("somchai@example.org", [LIST], MSG) == {}
    assert len(ingest.calls) == 1


def test_envelope_addresses_read_alike_every_time_even_past_the_remembered_limit(
    start_server, ingest: Ingest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The listener remembers how it read each MAIL FROM / RCPT TO argument (aiosmtpd's parse is
    the listener's largest cost per post). A remembered answer must be the one a fresh parse gives:
    a malformed address is refused every time, parameters stay with the argument they came with."""
    import mailbot.mail.inbound_smtp as inbound

    monkeypatch.setattr(inbound, "ADDRESS_CACHE_SIZE", 3)  # forget often, to cover the reset too
    server = start_server()
    senders = ["somchai@example.org", "malee@example.org", "somchai@example.org", "<>", "malee@example.org"]
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        f = s.makefile("rb")

        def say(line: str) -> bytes:
            s.sendall(line.encode() + b"\r\n")
            reply = f.readline()
            while reply[3:4] == b"-":
                reply = f.readline()
            return reply

        assert f.readline().startswith(b"220")
        assert say("EHLO client.example.org").startswith(b"250")
        for round_ in range(2):
            assert say("MAIL FROM:<somchai@@example.org>").startswith(b"553"), round_
            assert say("MAIL FROM:<somchai@example.org> SIZE=999999999").startswith(b"552"), round_
            for sender in senders:
                arg = sender if sender == "<>" else f"<{sender}>"
                assert say(f"MAIL FROM:{arg}").startswith(b"250")
                assert say("RCPT TO:<km-it@@localhost>").startswith(b"553")
                assert say(f"RCPT TO:<{LIST}>").startswith(b"250")
                assert say("DATA").startswith(b"354")
                s.sendall(MSG + b".\r\n")
                assert f.readline().startswith(b"250")
        say("QUIT")
    assert len(inbound._addresses) <= 3
    paths = [call["raw"].split(b"\r\n", 1)[0] for call in ingest.calls]  # type: ignore[attr-defined]
    want = [b"Return-Path: <>" if x == "<>" else f"Return-Path: <{x}>".encode() for x in senders]
    assert paths == want * 2
    assert all(call["to"] == [LIST] for call in ingest.calls)


ENVELOPE_ARGUMENTS = [
    "<somchai@example.org>", "<somchai@example.org> SIZE=5123", "<somchai@example.org> SIZE=77 BODY=8BITMIME",
    "<somchai@example.org>  SIZE=1\tBODY=7BIT ", "<somchai@example.org>\tSIZE=9", "<somchai@example.org> ",
    "<somchai@example.org>SIZE=1", "<somchai@example.org> (comment) SIZE=1", " <somchai@example.org> SIZE=1",
    "<> SIZE=300", "<>", "somchai@example.org SIZE=1", "somchai@example.org", "<somchai@@example.org> SIZE=1",
    '<"som chai"@example.org> SIZE=1', "<som(chai)@example.org> SIZE=1", "<somchai@[192.0.2.1]> SIZE=1",
    "<somchai@example.org> SIZE=<1>", '<somchai@example.org> SIZE="1"', "<@relay.example:somchai@example.org> SIZE=1",
    f"<{'x' * 65}@example.org> SIZE=1", f"<{'x' * 64}@example.org> SIZE=1", "<somchai@example.org> SMTPUTF8",
    "<สมชาย@ตัวอย่าง.ไทย> SIZE=1 SMTPUTF8", "<somchai@example.org", "<somchai@example.org>> SIZE=1", "",
]  # fmt: skip


@pytest.mark.parametrize("limit", [0, 64])
def test_a_remembered_envelope_argument_reads_as_aiosmtpd_reads_it(limit: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """MAIL FROM carries SIZE= (and BODY=) from Postfix, Outlook and smtplib, different for each
    message: the address is remembered without them, and every argument still gets exactly the
    address and the parameters aiosmtpd's own reading gives, first time and remembered."""
    from aiosmtpd.smtp import SMTP as AioSMTP

    import mailbot.mail.inbound_smtp as inbound

    monkeypatch.setattr(inbound, "_addresses", {})
    reader = inbound._LenientSMTP.__new__(inbound._LenientSMTP)  # _getaddr reads only the limit
    reader.local_part_limit = limit
    fresh = AioSMTP.__new__(AioSMTP)
    fresh.local_part_limit = limit
    for round_ in range(2):
        for arg in ENVELOPE_ARGUMENTS:
            assert reader._getaddr(arg) == fresh._getaddr(arg), (round_, arg)


def test_mail_from_with_a_new_size_each_message_is_read_from_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    from aiosmtpd.smtp import SMTP as AioSMTP

    import mailbot.mail.inbound_smtp as inbound

    parsed: list[str] = []
    real = AioSMTP._getaddr

    def counting(self: AioSMTP, arg: str) -> tuple[str | None, str | None]:
        parsed.append(arg)
        return real(self, arg)

    monkeypatch.setattr(inbound, "_addresses", {})
    monkeypatch.setattr(AioSMTP, "_getaddr", counting)
    reader = inbound._LenientSMTP.__new__(inbound._LenientSMTP)
    reader.local_part_limit = 0
    got = [reader._getaddr(f"<somchai@example.org> SIZE={size} BODY=8BITMIME") for size in (512, 4096, 70000)]
    assert got == [("somchai@example.org", f"SIZE={size} BODY=8BITMIME") for size in (512, 4096, 70000)]
    assert parsed == ["<somchai@example.org>"]
