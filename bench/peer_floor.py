"""The peer workload's floor: the parts alone, no mailbot code, as its own process.

aiosmtpd takes each post; mail-parser parses it; one SQLite INSERT + COMMIT stores it; one
pipelined SMTP transaction per 100 members sends it to the sink; only then the post gets its 250.
Run as `python -m bench.peer_floor SINK_PORT DB_PATH MEMBERS`; prints the port it listens on.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

import mailparser
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from bench.pipelining import PipeliningClient, wire
from bench.servers import free_port
from mailbot.store.sqlite_driver import dbapi as sqlite3


class _Lenient(SMTP):
    line_length_limit = 1 << 20  # as mailbot's listener: real mail has long lines


class _WholeData(_Lenient):
    """DATA read with one `readuntil` of the whole message instead of aiosmtpd's await per line,
    as mailbot's listener reads it (a floor's version: no size or line limits, which the bench's
    posts never reach)."""

    async def smtp_DATA(self, arg: str) -> None:
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        data = await self._reader.readuntil(b"\r\n.\r\n")
        data = data[:-3]
        if data[:1] == b".":
            data = data[1:]
        self.envelope.content = self.envelope.original_content = data.replace(b"\r\n.", b"\r\n")
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()
        await self.push(status)


class _Controller(Controller):
    whole_data = False

    def factory(self) -> SMTP:
        return (_WholeData if self.whole_data else _Lenient)(self.handler, **self.SMTP_kwargs)


def main(argv: list[str]) -> None:
    sink_port, db_path, members = int(argv[0]), argv[1], int(argv[2])
    db = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE IF NOT EXISTS m (id INTEGER PRIMARY KEY, message_id TEXT, raw BLOB)")
    rcpts = [f"member{i:06d}@example.org" for i in range(1, members)]
    sender = PipeliningClient("127.0.0.1", sink_port, helo="floor.example.org")

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            raw = envelope.original_content or envelope.content
            parsed = mailparser.parse_from_bytes(raw)
            db.execute("BEGIN IMMEDIATE")
            db.execute("INSERT INTO m (message_id, raw) VALUES (?, ?)", (parsed.message_id, raw))
            db.execute("COMMIT")
            wired = wire(raw)
            for start in range(0, len(rcpts), 100):
                sender.send("km-it-bounces@example.org", rcpts[start : start + 100], wired)
            return "250 OK"

    serve(Handler())


def serve(handler: object, whole_data: bool = False) -> None:
    """Listen on a free loopback port with `handler`, print the port for the bench, run until killed.
    `whole_data`: read each message's DATA in one read (mailbot's way) rather than aiosmtpd's."""
    port = free_port()
    controller = _Controller(handler, hostname="127.0.0.1", port=port)
    controller.whole_data = whole_data
    controller.start()
    print(port, flush=True)
    threading.Event().wait()  # until the bench kills us


if __name__ == "__main__":
    main(sys.argv[1:])
