"""parse_message over every message of the corpus: never raises, sane types, ids found; timing recorded."""

from __future__ import annotations

import contextlib
import re
import time

import pytest

from mailbot.mail.parse import ParsedMessage, parse_message
from tests.corpus_files import corpus_root, iter_corpus_raw

MESSAGES = list(iter_corpus_raw())
_MSGID_HEADER = re.compile(rb"^message-id:[ \t]*<[^<>\s]+>", re.I | re.M)


def _header_block(raw: bytes) -> bytes:
    return re.split(rb"\r?\n\r?\n|\r\r", raw, maxsplit=1)[0]


def test_corpus_is_present() -> None:
    assert len(MESSAGES) >= 150, corpus_root()


@pytest.mark.parametrize(("label", "raw"), MESSAGES, ids=[label for label, _ in MESSAGES])
def test_parse_corpus_message(label: str, raw: bytes) -> None:
    p = parse_message(raw)
    assert isinstance(p, ParsedMessage)
    assert isinstance(p.subject, str) and "\n" not in p.subject and "\r" not in p.subject
    assert isinstance(p.text, str) and "\x00" not in p.text and "\r" not in p.text
    assert p.size == len(raw)
    for address in (p.from_, *p.to, *p.cc):
        if address is not None:
            assert address.email == address.email.lower()
    if p.date is not None:
        assert p.date.tzinfo is not None
    if _MSGID_HEADER.search(_header_block(raw)) and not p.message_id:
        pytest.fail(f"Message-ID header present but not parsed: {p.header('message-id')!r}")
    # Every string must survive a UTF-8 sink such as PostgreSQL.
    for value in (p.subject, p.text, p.new_text, p.html or "", *p.defects):
        value.encode("utf-8")


def test_parse_corpus_timing() -> None:
    """Records throughput next to bare mail-parser (no assertion on time: machines differ)."""
    import logging

    import mailparser

    logging.getLogger("mailparser").setLevel(logging.CRITICAL)
    total = sum(len(raw) for _, raw in MESSAGES)
    start = time.perf_counter()
    for _, raw in MESSAGES:
        parse_message(raw)
    ours = time.perf_counter() - start
    start = time.perf_counter()
    for _, raw in MESSAGES:
        with contextlib.suppress(Exception):  # bare mail-parser may raise; we only time it
            mailparser.parse_from_bytes(raw)
    theirs = time.perf_counter() - start
    print(f"\ncorpus: {len(MESSAGES)} messages, {total / 1e6:.1f} MB; parse_message {ours:.2f}s "
          f"({len(MESSAGES) / ours:.0f} msg/s), bare mail-parser {theirs:.2f}s "
          f"({len(MESSAGES) / theirs:.0f} msg/s); ratio {theirs / ours:.2f}x")


def test_addresses_and_defects_read_alike_from_memory_and_afresh() -> None:
    """Address headers are remembered once read (the same members post again and again); a message
    read again, with or without what was remembered, must give the same people and the same notes."""
    from mailbot.mail import parse

    def people(p: ParsedMessage) -> tuple[object, ...]:
        return (p.from_, p.sender_email, tuple(p.to), tuple(p.cc), p.reply_to, p.defects)

    def afresh(raw: bytes) -> tuple[object, ...]:
        parse._read_addresses.cache_clear()
        return people(parse_message(raw))

    first = [afresh(raw) for _, raw in MESSAGES]
    for _, raw in MESSAGES:
        parse_message(raw)
    hits = parse._read_addresses.cache_info().hits
    remembered = [people(parse_message(raw)) for _, raw in MESSAGES]
    assert parse._read_addresses.cache_info().hits - hits > len(MESSAGES)
    for (label, _), fresh, again in zip(MESSAGES, first, remembered, strict=True):
        assert fresh == again, label
    # What the address parser noticed (an invalid angle address, say) is remembered with it.
    noticed = [again for again in remembered if any(str(d).startswith("address ") for d in again[-1])]  # type: ignore[attr-defined]
    assert noticed
