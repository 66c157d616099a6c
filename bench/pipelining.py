"""A minimal RFC 2920 SMTP client for measuring the sink and the floors: no mailbot code in it."""

from __future__ import annotations

import socket
import time


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
        cmd = f"MAIL FROM:<{mail_from}>\r\n" + "".join(f"RCPT TO:<{r}>\r\n" for r in rcpts) + "DATA\r\n"
        self.sock.sendall(cmd.encode())
        self._replies(len(rcpts) + 2)
        self.sock.sendall(wired + b".\r\n")
        self._replies(1)

    def close(self) -> None:
        self.sock.sendall(b"QUIT\r\n")
        self.file.close()
        self.sock.close()


def multiplexed_rate(
    host: str, port: int, wired: bytes, *, transactions: int, rcpts_per_txn: int, connections: int
) -> float:
    """Recipients/s the sink accepts from the leanest client we can write: one thread drives every
    connection (select), and each message's end goes in one write with the next transaction's
    commands, so only the sink and the kernel set the pace. No mailbot code in it."""
    import select

    per_conn = max(1, transactions // connections)
    body = wired + b".\r\n"
    socks: list[socket.socket] = []
    for _ in range(connections):
        socks.append(PipeliningClient(host, port).sock)  # greeted and EHLO'd; read directly from here on

    def commands(c: int, t: int) -> bytes:
        rcpts = "".join(f"RCPT TO:<r{c}.{t}.{k}@example.org>\r\n" for k in range(rcpts_per_txn))
        return f"MAIL FROM:<bounces+{c}.{t}@example.org>\r\n{rcpts}DATA\r\n".encode()

    state = {}  # fileno -> [connection, next transaction, replies still due, unread bytes]
    start = time.perf_counter()
    for c, s in enumerate(socks):
        s.sendall(commands(c, 0))
        state[s.fileno()] = [c, 0, rcpts_per_txn + 2, b""]
    live = {s.fileno(): s for s in socks}
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
            c, t = st[0], st[1]
            if t + 1 < per_conn:
                s.sendall(body + commands(c, t + 1))  # this message's end, the next one's envelope
                st[1], st[2] = t + 1, 1 + rcpts_per_txn + 2
            elif t + 1 == per_conn:
                s.sendall(body)
                st[1], st[2] = t + 1, 1
            else:
                del live[s.fileno()]
    elapsed = time.perf_counter() - start
    for s in socks:
        s.sendall(b"QUIT\r\n")
        s.close()
    return per_conn * connections * rcpts_per_txn / elapsed
