"""A small real SMTP server on 127.0.0.1 (PIPELINING offered) with scripted misbehaviour: it can
close the connection right after accepting a connection's n-th message, or never answer a
message's end. It records each accepted message with the connection it came on."""

from __future__ import annotations

import socket
import socketserver
import threading
from dataclasses import dataclass, field


@dataclass
class Accepted:
    connection: int
    mail_from: str
    rcpts: list[str]
    data: bytes


@dataclass
class ScriptedSmtp:
    close_after: int = 0  # > 0: close right after accepting this many messages on one connection
    silent_after: int = 0  # > 0: never answer the end of the n-th message on a connection
    idle_timeout: float = 0.0  # > 0: a client silent this long gets 421 and the close, as Postfix does
    rcpt_replies: dict[str, bytes] = field(default_factory=dict)  # address -> its raw RCPT reply (not 250)
    messages: list[Accepted] = field(default_factory=list)
    connections: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        script = self

        class Handler(socketserver.StreamRequestHandler):
            def _next_line(self) -> bytes:
                try:
                    return self.rfile.readline()
                except TimeoutError:
                    self.wfile.write(b"421 4.4.2 scripted: idle timeout, closing\r\n")
                    return b""

            def handle(self) -> None:
                with script._lock:
                    script.connections += 1
                    conn = script.connections
                self.wfile.write(b"220 scripted ESMTP\r\n")
                mail_from, rcpts, count = "", [], 0
                if script.idle_timeout:
                    self.connection.settimeout(script.idle_timeout)
                while line := self._next_line():
                    verb = line[:4].upper()
                    if verb in (b"EHLO", b"HELO"):
                        self.wfile.write(b"250-scripted\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
                    elif verb == b"MAIL":
                        mail_from, rcpts = line.decode().split("<", 1)[1].split(">")[0], []
                        self.wfile.write(b"250 2.1.0 OK\r\n")
                    elif verb == b"RCPT":
                        address = line.decode().split("<", 1)[1].split(">")[0]
                        reply = script.rcpt_replies.get(address, b"250 2.1.5 OK\r\n")
                        if reply[:1] == b"2":
                            rcpts.append(address)
                        self.wfile.write(reply)
                    elif verb == b"DATA":
                        self.wfile.write(b"354 go ahead\r\n")
                        body = b""
                        while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                            body += chunk[1:] if chunk.startswith(b"..") else chunk
                        count += 1
                        if count == script.silent_after:
                            self.rfile.read()  # reads until the client gives up and closes
                            return
                        with script._lock:
                            script.messages.append(Accepted(conn, mail_from, rcpts, body))
                        self.wfile.write(b"250 2.0.0 queued\r\n")
                        if count == script.close_after:
                            self.wfile.flush()
                            self.connection.shutdown(socket.SHUT_RDWR)
                            return
                    elif verb == b"QUIT":
                        self.wfile.write(b"221 bye\r\n")
                        return
                    else:  # RSET, NOOP
                        self.wfile.write(b"250 OK\r\n")

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
