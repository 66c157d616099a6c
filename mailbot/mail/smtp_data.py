"""The DATA section of an SMTP/LMTP transaction, read in a few large reads rather than a line at a time.

aiosmtpd awaits each line of a message separately; on a 5 KB post that was about a tenth of the
`mailbot run` process's instructions. The result is what aiosmtpd's own loop gives (pinned by a test
against it).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

_DOT_LINE = b".\r\n"
TOO_LONG = "500 Line too long (see RFC5321 4.5.3.1.6)"
TOO_MUCH = "552 Error: Too much mail data"


@dataclass(frozen=True)
class DataSection:
    content: bytes  # dot-unstuffed, without the final ".\r\n"
    refusal: str | None = None  # the reply when the section is refused (content is then empty)


def _has_long_line(data: bytes, line_limit: int) -> bool:
    """Whether a line of `data` is longer than `line_limit` with its CRLF (aiosmtpd's rule)."""
    if len(data) + 2 <= line_limit:
        return False  # no line can be longer than the whole
    return any(len(line) + 2 > line_limit for line in data.split(b"\r\n"))


async def read_data(reader: asyncio.StreamReader, size_limit: int | None, line_limit: int) -> DataSection:
    """Read up to and including the line holding a lone dot, as aiosmtpd's smtp_DATA does.

    Consumes nothing after that line (a pipelining client may already have sent its next command).
    A message over `size_limit` bytes (counted before unstuffing) or with a line over `line_limit`
    is read to its end and refused, with aiosmtpd's replies.
    """
    chunks: list[bytes] = []
    size = 0
    # The two bytes before what is read next: the section starts at the start of a line.
    before = b"\r\n"
    refusal: str | None = None
    while True:
        try:
            # Every end of the section ends in ".\r\n"; so do lines ending in a full stop, which are
            # told apart by the bytes before the dot.
            chunk = await reader.readuntil(_DOT_LINE)
            at_end = (before + chunk[-5:])[-5:-3] == b"\r\n"
        except asyncio.LimitOverrunError as exc:
            # No ".\r\n" within the reader's limit: take what cannot hold one whole, keep the rest.
            chunk = await reader.readexactly(exc.consumed)
            at_end = False
        before = (before + chunk[-2:])[-2:]
        if at_end:
            chunk = chunk[: -len(_DOT_LINE)]
        size += len(chunk)
        if refusal is None:
            chunks.append(chunk)
            if size_limit and size > size_limit:
                # aiosmtpd keeps whichever refusal it met first; a long line among what came before
                # is taken as met first (when one message passes both limits, the two may name
                # different ones: both refuse it for good).
                refusal = TOO_LONG if _has_long_line(b"".join(chunks), line_limit) else TOO_MUCH
                chunks = []  # what is refused is not kept in memory
        if at_end:
            break
    if refusal is not None:
        return DataSection(b"", refusal)
    data = b"".join(chunks)
    if _has_long_line(data, line_limit):
        return DataSection(b"", TOO_LONG)
    # RFC 5321 4.5.2: a line starting with a dot had one added by the client.
    if data[:1] == b".":
        data = data[1:]
    return DataSection(data.replace(b"\r\n.", b"\r\n"))
