"""The listener's DATA reader against aiosmtpd's own: same replies, same message, over real sockets."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from mailbot.mail.inbound_smtp import _LenientSMTP


class _Recorder:
    def __init__(self) -> None:
        self.contents: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.contents.append(envelope.original_content)
        return "250 OK"


def _classes(line_limit: int) -> tuple[type[SMTP], type[SMTP]]:
    class Ours(_LenientSMTP):
        line_length_limit = line_limit

    class Theirs(_LenientSMTP):
        line_length_limit = line_limit
        smtp_DATA = SMTP.smtp_DATA  # aiosmtpd's line-at-a-time reading

    return Ours, Theirs


class _Server(Controller):
    def __init__(self, cls: type[SMTP], size_limit: int) -> None:
        self.cls = cls
        self.recorder = _Recorder()
        super().__init__(self.recorder, hostname="127.0.0.1", port=0, data_size_limit=size_limit,
                         enable_SMTPUTF8=True, decode_data=False)  # fmt: skip

    def factory(self) -> SMTP:
        return self.cls(self.handler, **self.SMTP_kwargs)

    def _trigger_server(self) -> None:
        sockets = getattr(self.server, "sockets", None)
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        super()._trigger_server()


def _servers(line_limit: int, size_limit: int) -> Iterator[tuple[_Server, _Server]]:
    ours, theirs = (_Server(cls, size_limit) for cls in _classes(line_limit))
    ours.start()
    theirs.start()
    try:
        yield ours, theirs
    finally:
        ours.stop()
        theirs.stop()


@pytest.fixture(scope="module")
def small() -> Iterator[tuple[_Server, _Server]]:
    yield from _servers(line_limit=100, size_limit=400)


@pytest.fixture(scope="module")
def lenient() -> Iterator[tuple[_Server, _Server]]:
    yield from _servers(line_limit=_LenientSMTP.line_length_limit, size_limit=2_000_000)


def _exchange(server: _Server, pieces: list[bytes]) -> tuple[bytes, list[bytes]]:
    """Everything the server answers after 354 (the DATA reply, then QUIT's, sent right after the
    section without waiting), and what its handler received."""
    before = len(server.recorder.contents)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        reader = sock.makefile("rb")

        def reply() -> bytes:
            lines = [reader.readline()]
            while lines[-1][3:4] == b"-":
                lines.append(reader.readline())
            return b"".join(lines)

        reply()
        for command in (b"EHLO client.example.org", b"MAIL FROM:<a@example.org>", b"RCPT TO:<km@example.org>", b"DATA"):
            sock.sendall(command + b"\r\n")
            answer = reply()
        assert answer.startswith(b"354"), answer
        for piece in pieces[:-1]:
            sock.sendall(piece)
            time.sleep(0.01)  # the server sees each piece on its own
        sock.sendall(pieces[-1] + b"QUIT\r\n")
        rest = reader.read()
    return rest, server.recorder.contents[before:]


LONG_LINES = [b"x" * n + b"\r\n" for n in (96, 97, 98, 99, 100, 101, 150)]
SECTIONS = {
    "empty": [b".\r\n"],
    "plain": [b"Subject: x\r\n\r\nbody\r\n.\r\n"],
    "dot-stuffed": [b"a\r\n..b\r\n.c\r\n...\r\nend.\r\n..\r\n.\r\n"],
    "lines ending in a full stop": [b"Thanks.\r\nok.\r\n.\r\n"],
    "first line a dot-stuffed dot": [b"..\r\nx\r\n.\r\n"],
    "blank first line": [b"\r\n.\r\n"],
    "8-bit, bare LF and CR": ["สวัสดี\nครับ\rx.\n.\r\n".encode() + b".\r\n"],
    "bare LF before the dot": [b"text\n.\r\nmore\r\n.\r\n"],
    **{f"line of {len(line) - 2}": [b"a\r\n" + line + b"b\r\n.\r\n"] for line in LONG_LINES},
    "size at the limit": [(b"y" * 97 + b"\r\n") * 4 + b"ab\r\n.\r\n"],
    "size one over": [(b"y" * 97 + b"\r\n") * 4 + b"abc\r\n.\r\n"],
    "size one over, dot-stuffed": [(b"y" * 97 + b"\r\n") * 4 + b"..b\r\n.\r\n"],
    "size far over": [b"w" * 50 + b"\r\n"] * 30 + [b".\r\n"],
    "in pieces": [b"Subject: x\r", b"\n\r\nbody.", b"\r", b"\n.", b"\r\n"],
    "dot line in pieces": [b"a\r\n", b".", b".b\r\n", b".\r", b"\n"],
}
SPLIT = b"one\r\ntwo.\r\n..three\r\n.\r\n"
for cut in range(len(SPLIT) - 6, len(SPLIT)):
    SECTIONS[f"end cut at {cut}"] = [SPLIT[:cut], SPLIT[cut:]]


@pytest.mark.parametrize("name", list(SECTIONS))
def test_data_section_reads_as_aiosmtpd_reads_it(small: tuple[_Server, _Server], name: str) -> None:
    ours, theirs = small
    assert _exchange(ours, SECTIONS[name]) == _exchange(theirs, SECTIONS[name])


def test_a_large_message_reads_as_aiosmtpd_reads_it(lenient: tuple[_Server, _Server]) -> None:
    """1.2 MB in 78-character lines, some dot-stuffed, sent in 64 KiB pieces: past the reader's
    limit, so read in pieces of its size; the message handed on is the same, byte for byte."""
    lines = [(b".." if i % 7 == 0 else b"") + (b"%06d " % i) * 11 + b"\r\n" for i in range(16_000)]
    wire = b"".join(lines) + b".\r\n"
    pieces = [wire[i : i + 65536] for i in range(0, len(wire), 65536)]
    ours, theirs = lenient
    got_ours, got_theirs = _exchange(ours, pieces), _exchange(theirs, pieces)
    assert got_ours == got_theirs
    assert got_ours[0].startswith(b"250") and len(got_ours[1][0]) == len(wire) - 3 - 16_000 // 7 - 1


def test_a_connection_dropped_mid_data_hands_nothing_on_and_the_listener_serves_on(
    small: tuple[_Server, _Server],
) -> None:
    """A client that vanishes inside DATA (a phone losing signal) leaves no message behind, gets no
    250 (so its MTA would retry), and the listener goes on taking the next client's mail."""
    for server in small:
        before = len(server.recorder.contents)
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            reader = sock.makefile("rb")
            reader.readline()
            for command in (b"HELO phone.example.org", b"MAIL FROM:<a@example.org>", b"RCPT TO:<km@example.org>", b"DATA"):
                sock.sendall(command + b"\r\n")
                answer = reader.readline()
            assert answer.startswith(b"354")
            sock.sendall(b"Subject: half\r\n\r\nthe first line, then nothing")
        time.sleep(0.2)
        assert server.recorder.contents[before:] == []
        replies, handed_on = _exchange(server, [b"Subject: whole\r\n\r\nbody\r\n.\r\n"])
        assert replies.startswith(b"250") and handed_on == [b"Subject: whole\r\n\r\nbody\r\n"]
