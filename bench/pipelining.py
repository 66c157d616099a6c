"""A minimal RFC 2920 SMTP client for measuring the sink and the floors: no mailbot code in it."""

from __future__ import annotations

import socket


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
