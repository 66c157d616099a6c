"""What outbound delivery hands to a sender (an envelope) and gets back (per-recipient outcomes),
and the DATA form of a message as it goes on the wire."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_BARE_EOL = re.compile(rb"\r\n|\n|\r")
_LEADING_DOT = re.compile(rb"(?m)^\.")


@dataclass
class Envelope:
    mail_from: str  # "" is the null sender
    rcpts: list[str]
    data: bytes


@dataclass
class SendResult:
    accepted: list[str] = field(default_factory=list)
    temp_failed: dict[str, str] = field(default_factory=dict)  # rcpt -> "code text"
    perm_failed: dict[str, str] = field(default_factory=dict)  # rcpt -> "code text"


def wire_data(data: bytes) -> bytes:
    """The DATA section as sent: CRLF line ends, leading dots doubled, terminated by '.'."""
    if data.count(b"\n") != data.count(b"\r\n") or data.count(b"\r") != data.count(b"\r\n"):
        data = _BARE_EOL.sub(b"\r\n", data)
    if b"\n." in data or data.startswith(b"."):
        data = _LEADING_DOT.sub(b"..", data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"
