"""The SMTP engine (one thread, every connection): transactions that follow one another on one
connection, TLS (STARTTLS and SMTPS) to a real aiosmtpd, and servers that hang up or go silent."""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from mailbot.config import SmtpSettings
from mailbot.mail.smtp import Envelope, SmtpSender
from tests.servers.scripted_smtp import ScriptedSmtp
from tests.servers.smtp_sink import SmtpSink

BOUNCES = "km-it-bounces@example.org"
THAI = "ข่าวสารชุมชน KM ประจำสัปดาห์".encode()


def message(n: int, size: int = 2000) -> bytes:
    body = (THAI + b" " + str(n).encode() + b"\r\n") * max(1, size // (len(THAI) + 8))
    return (
        f"From: {BOUNCES}\r\nSubject: post {n}\r\nMessage-ID: <p{n}@example.org>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    ).encode() + body


def verp(n: int) -> Envelope:
    return Envelope(f"km-it-bounces+m{n}@example.org", [f"m{n}@example.net"], message(n))


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelining", "no-pipelining"])
def test_refusals_do_not_disturb_the_transactions_that_follow_on_one_connection(pipelining: bool) -> None:
    with SmtpSink(pipelining=pipelining) as sink:
        sink.rcpt_responses["gone@example.net"] = (550, "5.1.1 no such user")
        sink.rcpt_responses["later@example.net"] = (451, "4.2.1 try later")
        sender = SmtpSender(SmtpSettings(host=sink.host, port=sink.port, timeout=5.0, connections=1))
        envelopes = [
            Envelope(BOUNCES, ["a@example.net"], message(1)),
            Envelope(BOUNCES, ["gone@example.net"], message(2)),  # every recipient refused: RSET
            Envelope(BOUNCES, ["b@example.net", "later@example.net"], message(3)),
            Envelope(BOUNCES, ["gone@example.net", "later@example.net"], message(4)),
            Envelope(BOUNCES, ["c@example.net"], message(5)),
        ]
        try:
            results = sender.send_many(envelopes)
        finally:
            sender.close()
        assert [r.accepted for r in results] == [["a@example.net"], [], ["b@example.net"], [], ["c@example.net"]]
        assert list(results[1].perm_failed) == ["gone@example.net"]
        assert list(results[2].temp_failed) == ["later@example.net"]
        assert set(results[3].perm_failed) == {"gone@example.net"}
        assert set(results[3].temp_failed) == {"later@example.net"}
        got = sink.wait_for(3)
        assert [(m.rcpt_tos, m.data) for m in got] == [
            (["a@example.net"], message(1)),
            (["b@example.net"], message(3)),
            (["c@example.net"], message(5)),
        ]


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def trusted(ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ssl.SSLContext:
    """A server context for 127.0.0.1 whose CA the client trusts the way an operator would make it
    (SSL_CERT_FILE), so certificates are still verified."""
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server)
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    return server


@pytest.mark.parametrize("mode", ["starttls", "smtps"])
def test_tls_connections_deliver_everything_once(mode: str, trusted: ssl.SSLContext) -> None:
    sink = SmtpSink(tls=trusted, implicit_tls=mode == "smtps")
    sink.start()
    settings = SmtpSettings(
        host="127.0.0.1", port=sink.port, timeout=5.0, connections=2,
        starttls=mode == "starttls", ssl=mode == "smtps",
    )  # fmt: skip
    sender = SmtpSender(settings)
    try:
        # Large messages too: TLS records split them, and decrypted data can wait unseen by select.
        envelopes = [verp(n) for n in range(40)] + [
            Envelope(BOUNCES, ["big@example.net"], message(99, size=300_000))
        ]
        results = sender.send_many(envelopes)
        again = sender.send_many([verp(n) for n in range(40, 44)])  # the TLS connections are reused
    finally:
        sender.close()
        got = sink.wait_for(45)
        sink.stop()
    assert all(r.accepted == e.rcpts for r, e in zip(results + again, envelopes + [verp(n) for n in range(40, 44)], strict=True))
    assert sorted(r for m in got for r in m.rcpt_tos) == sorted([f"m{n}@example.net" for n in range(44)] + ["big@example.net"])
    assert next(m.data for m in got if m.rcpt_tos == ["big@example.net"]) == message(99, size=300_000)
    assert len({m.peer for m in got}) == 2


def test_untrusted_certificate_is_a_temporary_failure(ca: trustme.CA) -> None:
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)  # the client does not trust this CA
    with SmtpSink(tls=server) as sink:
        sender = SmtpSender(SmtpSettings(host="127.0.0.1", port=sink.port, timeout=5.0, starttls=True))
        try:
            (result,) = sender.send_many([verp(1)])
        finally:
            sender.close()
    assert result.accepted == [] and not result.perm_failed
    assert "certificate" in result.temp_failed["m1@example.net"].lower()


@pytest.fixture
def scripted() -> Iterator[ScriptedSmtp]:
    server = ScriptedSmtp()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_server_hanging_up_after_a_message_loses_nothing_and_sends_nothing_twice(scripted: ScriptedSmtp) -> None:
    # The next transaction's commands went in the same write as the message's end; the server
    # closed without reading them, so they had no answer: sent again on a new connection.
    scripted.close_after = 2
    sender = SmtpSender(SmtpSettings(host="127.0.0.1", port=scripted.port, timeout=5.0, connections=1))
    try:
        results = sender.send_many([verp(n) for n in range(7)])
    finally:
        sender.close()
    assert [r.accepted for r in results] == [[f"m{n}@example.net"] for n in range(7)]
    assert sorted(r for m in scripted.messages for r in m.rcpts) == [f"m{n}@example.net" for n in range(7)]
    assert scripted.connections == 4  # 2 + 2 + 2 + 1 messages
    assert all(m.data == message(int(m.rcpts[0][1:].split("@")[0])) for m in scripted.messages)


def test_server_that_stops_answering_fails_only_that_message_after_the_timeout(scripted: ScriptedSmtp) -> None:
    scripted.silent_after = 2
    sender = SmtpSender(SmtpSettings(host="127.0.0.1", port=scripted.port, timeout=1.0, connections=1))
    started = time.monotonic()
    try:
        first, second, third = sender.send_many([verp(n) for n in range(3)])
    finally:
        sender.close()
    assert first.accepted == ["m0@example.net"]
    # Its end may have been taken: not sent again, but kept for a later retry (temporary).
    assert second.accepted == [] and "timed out" in second.temp_failed["m1@example.net"]
    # The third had no answer at all on the silent connection: sent on a new one.
    assert third.accepted == ["m2@example.net"]
    assert time.monotonic() - started < 4.0


def test_server_closing_an_idle_connection_with_421_fails_nothing(scripted: ScriptedSmtp) -> None:
    # Postfix says "421 4.4.2 ... timeout exceeded" to a client idle for 5 minutes, then closes.
    # Read as the next transaction's first reply, that 421 would defer a message it never saw.
    scripted.idle_timeout = 0.2
    sender = SmtpSender(SmtpSettings(host="127.0.0.1", port=scripted.port, timeout=5.0, connections=1))
    try:
        (first,) = sender.send_many([verp(1)])
        time.sleep(0.5)  # idle longer than the server allows: its 421 waits unread
        (second,) = sender.send_many([verp(2)])
    finally:
        sender.close()
    assert first.accepted == ["m1@example.net"]
    assert second.accepted == ["m2@example.net"] and not second.temp_failed
    assert [m.rcpts for m in scripted.messages] == [["m1@example.net"], ["m2@example.net"]]
    assert scripted.connections == 2


def test_every_kind_of_recipient_reply_is_read_in_a_pipelined_stream(scripted: ScriptedSmtp) -> None:
    # Among one post's many plain "250"s: a 251 (forwarded: taken), a refusal for now and one over
    # two lines, whose whole text reaches the facilitator's report; the replies after them stay in step.
    scripted.rcpt_replies = {
        "moved@example.net": b"251 2.1.5 user not local; will forward\r\n",
        "full@example.net": b"452 4.2.2 mailbox full\r\n",
        "gone@example.net": b"550-5.1.1 no such user here\r\n550 5.1.1 see the new staff directory\r\n",
    }
    rcpts = ["a@example.net", "moved@example.net", "full@example.net", "gone@example.net", "b@example.net"]
    sender = SmtpSender(SmtpSettings(host="127.0.0.1", port=scripted.port, timeout=5.0, connections=1))
    try:
        first, second = sender.send_many([Envelope(BOUNCES, rcpts, message(1)), verp(2)])
    finally:
        sender.close()
    assert first.accepted == ["a@example.net", "moved@example.net", "b@example.net"]
    assert first.perm_failed == {"gone@example.net": "550 5.1.1 no such user here 5.1.1 see the new staff directory"}
    assert first.temp_failed == {"full@example.net": "452 4.2.2 mailbox full"}
    assert second.accepted == ["m2@example.net"]
    assert [m.rcpts for m in scripted.messages] == [["a@example.net", "moved@example.net", "b@example.net"],
                                                    ["m2@example.net"]]  # fmt: skip
