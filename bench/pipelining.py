"""A minimal RFC 2920 SMTP client for measuring the sink and the floors: no mailbot code in it."""

from __future__ import annotations

import json
import select
import socket
import time

from mailbot.store.sqlite_driver import dbapi as sqlite3


def wire(raw: bytes) -> bytes:
    """`raw` as DATA content: CRLF line ends, leading dots doubled, ending in CRLF."""
    lines = raw.replace(b"\r\n", b"\n").split(b"\n")
    out = b"\r\n".join(b"." + ln if ln.startswith(b".") else ln for ln in lines)
    return out if out.endswith(b"\r\n") else out + b"\r\n"


class PipeliningClient:
    """One connection; each transaction's envelope goes in one write, answers are read in bulk."""

    def __init__(self, host: str, port: int, *, helo: str = "bench.example.org") -> None:
        self.sock = socket.create_connection((host, port), timeout=30)
        self.file = self.sock.makefile("rb")
        self._replies(1)
        self.sock.sendall(f"EHLO {helo}\r\n".encode())
        self._replies(1)

    def _replies(self, n: int) -> None:
        for _ in range(n):
            while True:
                line = self.file.readline()
                if not line:
                    raise ConnectionError("sink closed the connection")
                if not line[:3].isdigit() or int(line[:3]) >= 400:
                    raise RuntimeError(f"sink refused: {line!r}")
                if line[3:4] != b"-":
                    break

    def send(self, mail_from: str, rcpts: list[str], wired: bytes) -> None:
        """One transaction; `wired` is already in wire form (see `wire`)."""
        self.sock.sendall(_commands(mail_from, rcpts))
        self._replies(len(rcpts) + 2)
        self.sock.sendall(wired + b".\r\n")
        self._replies(1)

    def close(self) -> None:
        self.sock.sendall(b"QUIT\r\n")
        self.file.close()
        self.sock.close()


def drive(socks: list[socket.socket], plans: list[list[bytes]], body: bytes, replies: int) -> None:
    """Send on each socket its planned transactions (each an envelope's commands, `replies` answers
    due for them), all sockets from this one thread (select), each message's end written together
    with the next transaction's commands (RFC 2920); returns when every message is accepted."""
    state = {}  # fileno -> [plan, next transaction, replies still due, unread bytes]
    for s, plan in zip(socks, plans, strict=True):
        if plan:
            s.sendall(plan[0])
            state[s.fileno()] = [plan, 0, replies, b""]
    live = {s.fileno(): s for s in socks if s.fileno() in state}
    while live:
        readable, _, _ = select.select(list(live.values()), [], [], 30)
        if not readable:
            raise TimeoutError("sink stopped answering")
        for s in readable:
            st = state[s.fileno()]
            data = st[3] + s.recv(65536)
            if not data:
                raise ConnectionError("sink closed the connection")
            *lines, st[3] = data.split(b"\n")
            for line in lines:
                if line[3:4] == b"-":
                    continue
                if not line[:3].isdigit() or int(line[:3]) >= 400:
                    raise RuntimeError(f"sink refused: {line!r}")
                st[2] -= 1
            if st[2] > 0:
                continue
            plan, t = st[0], st[1]
            if t + 1 < len(plan):
                s.sendall(body + plan[t + 1])  # this message's end, the next one's envelope
                st[1], st[2] = t + 1, 1 + replies
            elif t + 1 == len(plan):
                s.sendall(body)
                st[1], st[2] = t + 1, 1
            else:
                del live[s.fileno()]


def _quit(socks: list[socket.socket]) -> None:
    for s in socks:
        s.sendall(b"QUIT\r\n")
        s.close()


def _commands(mail_from: str, rcpts: list[str]) -> bytes:
    return (f"MAIL FROM:<{mail_from}>\r\n" + "".join(f"RCPT TO:<{r}>\r\n" for r in rcpts) + "DATA\r\n").encode()


def multiplexed_rate(
    host: str, port: int, wired: bytes, *, transactions: int, rcpts_per_txn: int, connections: int
) -> float:
    """Recipients/s the sink accepts from the leanest client we can write: one thread drives every
    connection, and each message's end goes in one write with the next transaction's commands,
    so only the sink and the kernel set the pace. No mailbot code in it."""
    per_conn = max(1, transactions // connections)
    socks = [PipeliningClient(host, port).sock for _ in range(connections)]  # greeted, EHLO'd
    plans = [
        [_commands(f"bounces+{c}.{t}@example.org", [f"r{c}.{t}.{k}@example.org" for k in range(rcpts_per_txn)])
         for t in range(per_conn)]
        for c in range(connections)
    ]  # fmt: skip
    start = time.perf_counter()
    drive(socks, plans, wired + b".\r\n", rcpts_per_txn + 2)
    elapsed = time.perf_counter() - start
    _quit(socks)
    return per_conn * connections * rcpts_per_txn / elapsed


def rounds_floor(
    host: str, port: int, wired: bytes, db_path: str, *, envelopes: int, connections: int, per_connection: int
) -> float:
    """Envelopes/s of VERP delivery under mailbot's crash bound through the parts alone: rounds of
    connections x per_connection envelopes, each round's outcome and the next round's attempt
    committed to SQLite (WAL, synchronous=NORMAL, one UPDATE each, the pending-rows index mailbot keeps)
    before that round is sent by the leanest client. No mailbot code: the most any program can
    get from these parts while at most one round is ever sent but unrecorded."""
    db = sqlite3.connect(db_path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(
        "CREATE TABLE rcpt (id INTEGER PRIMARY KEY, address TEXT, status TEXT, attempts INTEGER,"
        " next_attempt_at TEXT, sent_at TEXT)"
    )
    db.execute("CREATE INDEX rcpt_pending ON rcpt (next_attempt_at, id) WHERE status = 'pending'")  # as migration 0006
    db.executemany(
        "INSERT INTO rcpt VALUES (?, ?, 'pending', 0, '2026-01-01 00:00:00', NULL)",
        [(i, f"m{i}@example.org") for i in range(1, envelopes + 1)],
    )
    socks = [PipeliningClient(host, port).sock for _ in range(connections)]
    per_round = connections * per_connection
    body = wired + b".\r\n"
    start = time.perf_counter()
    sent: list[int] = []
    for first in range(1, envelopes + 1, per_round):
        ids = list(range(first, min(first + per_round, envelopes + 1)))
        db.execute("BEGIN IMMEDIATE")
        if sent:
            db.execute(
                "UPDATE rcpt SET status = 'sent', sent_at = ? WHERE id IN (SELECT value FROM json_each(?))",
                ("2026-01-01 00:00:01", json.dumps(sent)),
            )
        db.execute("UPDATE rcpt SET attempts = attempts + 1 WHERE id IN (SELECT value FROM json_each(?))", (json.dumps(ids),))
        db.execute("COMMIT")
        plans = [[_commands(f"b+t{i}@example.org", [f"m{i}@example.org"]) for i in ids[c::connections]] for c in range(connections)]
        drive(socks, plans, body, 3)
        sent = ids
    db.execute(
        "UPDATE rcpt SET status = 'sent' WHERE id IN (SELECT value FROM json_each(?))", (json.dumps(sent),)
    )
    elapsed = time.perf_counter() - start
    _quit(socks)
    db.close()
    return envelopes / elapsed
