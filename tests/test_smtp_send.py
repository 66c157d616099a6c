"""SMTP delivery against a real aiosmtpd sink on 127.0.0.1: batches, per-recipient outcomes,
outages, parallel connections, speed; and the Maildir fallback."""

from __future__ import annotations

import email
import mailbox
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from email import policy
from pathlib import Path

import pytest

from mailbot.config import SmtpSettings
from mailbot.mail.smtp import Envelope, MaildirSender, SendResult, SmtpSender, wire_data
from tests.servers.smtp_sink import SmtpSink

THAI = "สวัสดีครับ สมาชิกทุกท่าน".encode()
DATA = (
    b"From: km-it@example.org\r\nTo: km-it@example.org\r\nSubject: [KM-IT] hello\r\n"
    b"Message-ID: <p1@example.org>\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n\r\n" + THAI + b"\r\n.a line starting with a dot\r\n"
    b".\r\nFrom the end\r\n"
)
BOUNCES = "km-it-bounces@example.org"


def members(n: int, start: int = 0) -> list[str]:
    return [f"member{i}@example.net" for i in range(start, start + n)]


def settings(sink: SmtpSink, connections: int = 4) -> SmtpSettings:
    return SmtpSettings(host=sink.host, port=sink.port, timeout=5.0, connections=connections)


@pytest.fixture
def sender(smtp_sink: SmtpSink) -> Iterator[SmtpSender]:
    s = SmtpSender(settings(smtp_sink))
    try:
        yield s
    finally:
        s.close()


def batches(rcpts: list[str], size: int = 100, data: bytes = DATA) -> list[Envelope]:
    return [Envelope(BOUNCES, rcpts[i : i + size], data) for i in range(0, len(rcpts), size)]


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelining", "no-pipelining"])
def test_batch_delivery(pipelining: bool) -> None:
    with SmtpSink(pipelining=pipelining) as sink:
        sender = SmtpSender(settings(sink))
        try:
            rcpts = members(250)
            results = sender.send_many(batches(rcpts))
        finally:
            sender.close()
        assert [r.accepted for r in results] == [rcpts[:100], rcpts[100:200], rcpts[200:]]
        assert all(not r.temp_failed and not r.perm_failed for r in results)
        got = sink.wait_for(3)
        assert sorted(sink.recipients()) == sorted(rcpts)
        assert len(got) == 3
        for m in got:
            assert m.mail_from == BOUNCES
            assert m.data == DATA  # dot-stuffing undone, 8-bit Thai intact


def test_per_recipient_outcomes(smtp_sink: SmtpSink, sender: SmtpSender) -> None:
    smtp_sink.rcpt_responses["gone@example.net"] = (550, "5.1.1 no such user")
    smtp_sink.rcpt_responses["full@example.net"] = (451, "4.2.2 mailbox full, try later")
    rcpts = ["a@example.net", "gone@example.net", "full@example.net", "b@example.net"]
    (result,) = sender.send_many([Envelope(BOUNCES, rcpts, DATA)])
    assert result.accepted == ["a@example.net", "b@example.net"]
    assert result.perm_failed == {"gone@example.net": "550 5.1.1 no such user"}
    assert result.temp_failed == {"full@example.net": "451 4.2.2 mailbox full, try later"}
    smtp_sink.wait_for(1)
    assert smtp_sink.recipients() == ["a@example.net", "b@example.net"]


def test_every_recipient_refused_sends_nothing(smtp_sink: SmtpSink, sender: SmtpSender) -> None:
    smtp_sink.rcpt_responses["x@example.net"] = (550, "5.1.1 unknown")
    first, second = sender.send_many(
        [Envelope(BOUNCES, ["x@example.net"], DATA), Envelope(BOUNCES, ["ok@example.net"], DATA)]
    )
    assert first == SendResult([], {}, {"x@example.net": "550 5.1.1 unknown"})
    assert second.accepted == ["ok@example.net"]
    assert [m.rcpt_tos for m in smtp_sink.wait_for(1)] == [["ok@example.net"]]


@pytest.mark.parametrize(
    ("reply", "kind"), [((451, "4.3.0 try later"), "temp"), ((554, "5.6.0 rejected"), "perm")]
)
def test_data_refused(
    smtp_sink: SmtpSink, sender: SmtpSender, reply: tuple[int, str], kind: str
) -> None:
    smtp_sink.data_response = reply
    (result,) = sender.send_many([Envelope(BOUNCES, members(3), DATA)])
    failed = result.temp_failed if kind == "temp" else result.perm_failed
    assert result.accepted == []
    assert failed == {r: f"{reply[0]} {reply[1]}" for r in members(3)}
    # The connection stays usable after the refusal.
    smtp_sink.data_response = None
    (again,) = sender.send_many([Envelope(BOUNCES, members(3), DATA)])
    assert again.accepted == members(3)


def test_421_fails_the_envelope_temporarily_and_reconnects(
    smtp_sink: SmtpSink, sender: SmtpSender
) -> None:
    smtp_sink.rcpt_responses["busy@example.net"] = (421, "4.3.2 service shutting down")
    sender_1 = SmtpSender(settings(smtp_sink, connections=1))
    try:
        first, second = sender_1.send_many(
            [
                Envelope(BOUNCES, ["a@example.net", "busy@example.net", "c@example.net"], DATA),
                Envelope(BOUNCES, ["d@example.net"], DATA),
            ]
        )
    finally:
        sender_1.close()
    assert first.accepted == [] and first.perm_failed == {}
    assert set(first.temp_failed) == {"a@example.net", "busy@example.net", "c@example.net"}
    assert second.accepted == ["d@example.net"]
    assert smtp_sink.recipients() == ["d@example.net"]


def test_sink_down_then_back(smtp_sink: SmtpSink, sender: SmtpSender) -> None:
    (warm,) = sender.send_many([Envelope(BOUNCES, ["w@example.net"], DATA)])
    assert warm.accepted == ["w@example.net"]
    smtp_sink.stop()
    t0 = time.monotonic()
    results = sender.send_many(batches(members(300)))
    assert time.monotonic() - t0 < 5.0  # an outage is noticed quickly, not per envelope
    assert all(r.accepted == [] and not r.perm_failed for r in results)
    assert sorted(r for res in results for r in res.temp_failed) == sorted(members(300))
    smtp_sink.clear()
    smtp_sink.restart()
    results = sender.send_many(batches(members(300)))
    assert [r for res in results for r in res.accepted] == members(300)
    smtp_sink.wait_for(3)
    assert sorted(smtp_sink.recipients()) == sorted(members(300))


def test_no_server_at_all_is_temporary() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again below: nothing listens there
    sender = SmtpSender(SmtpSettings(host="127.0.0.1", port=port, timeout=2.0, connections=2))
    try:
        results = sender.send_many(batches(members(5), size=2))
    finally:
        sender.close()
    assert [sorted(r.temp_failed) for r in results] == [members(2), members(2, 2), members(1, 4)]
    assert all("connection failed" in text for r in results for text in r.temp_failed.values())


def test_parallel_connections_deliver_everything_exactly_once(
    smtp_sink: SmtpSink, sender: SmtpSender
) -> None:
    rcpts = members(400)
    # VERP: one envelope per recipient, the bounce address names the member.
    envelopes = [
        Envelope(f"km-it-bounces+{r.replace('@', '=')}@example.org", [r], DATA) for r in rcpts
    ]
    results = sender.send_many(envelopes)
    assert [r.accepted for r in results] == [[r] for r in rcpts]  # order = envelopes' order
    got = smtp_sink.wait_for(400)
    assert Counter(r for m in got for r in m.rcpt_tos) == Counter(rcpts)
    assert all(
        m.mail_from == f"km-it-bounces+{m.rcpt_tos[0].replace('@', '=')}@example.org" for m in got
    )
    assert len({m.peer for m in got}) == 4  # spread over the four connections
    # Connections are reused: a second run opens no new ones.
    smtp_sink.clear()
    sender.send_many(envelopes[:40])
    assert {m.peer for m in smtp_sink.wait_for(40)} <= {m.peer for m in got}


def test_concurrent_callers_are_serialised(smtp_sink: SmtpSink, sender: SmtpSender) -> None:
    out: list[list[SendResult]] = []
    threads = [
        threading.Thread(
            target=lambda n=n: out.append(sender.send_many(batches(members(50, n * 50), 10)))
        )
        for n in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r for res in out for x in res for r in x.accepted) == sorted(members(200))
    smtp_sink.wait_for(20)
    assert sorted(smtp_sink.recipients()) == sorted(members(200))


def test_addresses_cannot_inject_smtp_commands(smtp_sink: SmtpSink, sender: SmtpSender) -> None:
    evil = "a@example.net>\r\nRCPT TO:<victim@example.net"
    (result,) = sender.send_many([Envelope(BOUNCES, [evil, "ok@example.net", ""], DATA)])
    assert result.accepted == ["ok@example.net"]
    assert set(result.perm_failed) == {evil, ""}
    smtp_sink.wait_for(1)
    assert smtp_sink.recipients() == ["ok@example.net"]


def test_wire_data_normalises_line_ends_and_stuffs_dots() -> None:
    assert wire_data(b"a\n.b\r\nc") == b"a\r\n..b\r\nc\r\n.\r\n"
    assert wire_data(b".x\r\n") == b"..x\r\n.\r\n"


def test_ten_thousand_members_in_batches_of_100_each_exactly_once(smtp_sink: SmtpSink) -> None:
    # Speed is measured in bench/ (BENCHMARKS.md); here: a large fan-out is complete and exact.
    rcpts = members(10_000)
    sender = SmtpSender(settings(smtp_sink))
    try:
        results = sender.send_many(batches(rcpts))
    finally:
        sender.close()
    assert sum(len(r.accepted) for r in results) == 10_000
    assert sorted(smtp_sink.recipients()) == sorted(rcpts)


def test_maildir_sender_writes_readable_files(tmp_path: Path) -> None:
    box_path = tmp_path / "outbound"
    sender = MaildirSender(box_path)
    results = sender.send_many(
        [
            Envelope(BOUNCES, ["a@example.net", "b@example.net"], DATA),
            Envelope("", ["c@example.net"], DATA),
        ]
    )
    sender.close()
    assert [r.accepted for r in results] == [["a@example.net", "b@example.net"], ["c@example.net"]]
    box = mailbox.Maildir(box_path, create=False)
    files = sorted(box_path.joinpath("new").iterdir())
    assert len(files) == 3
    seen = {}
    for path in files:
        raw = path.read_bytes()
        assert b"\r\n" not in raw  # local line ends, readable with any pager
        msg = email.message_from_bytes(raw, policy=policy.default)
        seen[str(msg["Delivered-To"])] = str(msg["Return-Path"])
        assert msg["Subject"] == "[KM-IT] hello"
        body = msg.get_body()
        assert body is not None and "สวัสดีครับ สมาชิกทุกท่าน" in body.get_content()
    assert seen == {
        "a@example.net": f"<{BOUNCES}>",
        "b@example.net": f"<{BOUNCES}>",
        "c@example.net": "<>",
    }
    assert len(box) == 3


def test_connection_dropped_while_idle_is_reopened_without_failing(
    smtp_sink: SmtpSink, sender: SmtpSender
) -> None:
    (warm,) = sender.send_many([Envelope(BOUNCES, ["w@example.net"], DATA)])
    assert warm.accepted == ["w@example.net"]
    smtp_sink.restart()  # the server went away and came back while the bot was idle
    t0 = time.monotonic()
    (result,) = sender.send_many([Envelope(BOUNCES, members(3), DATA)])
    assert result.accepted == members(3)
    assert time.monotonic() - t0 < 3.0


def test_make_sender_picks_maildir_without_relay(tmp_path: Path) -> None:
    from mailbot.config import PathSettings, Settings
    from mailbot.mail.smtp import make_sender

    local = make_sender(Settings(paths=PathSettings(data_dir=str(tmp_path))))
    assert isinstance(local, MaildirSender) and local.path == tmp_path / "outbound"
    relay = make_sender(Settings(smtp=SmtpSettings(host="127.0.0.1", port=2525)))
    assert isinstance(relay, SmtpSender)
    relay.close()
