"""Multipart boundaries matched without a per-message regular expression give the stdlib's answers."""

from __future__ import annotations

import email
import email.feedparser
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import Message

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbot.mail import boundaries
from tests.corpus_files import iter_corpus_raw

# What feedparser (3.11, 3.12) compiles for a boundary, written out here as it is there.
SUFFIX = r")(?P<end>--)?(?P<ws>[ \t]*)(?P<linesep>\r\n|\r|\n)?$"


def stdlib_pattern(separator: str) -> str:
    return "(?P<sep>" + re.escape(separator) + SUFFIX


@contextmanager
def plain_re() -> Iterator[None]:
    """The stdlib parser as it ships, for the length of the block."""
    namespace = vars(email.feedparser)
    installed = namespace["re"]
    namespace["re"] = re
    try:
        yield
    finally:
        namespace["re"] = installed


def answers(found: re.Match[str] | None) -> tuple[str | None, ...] | None:
    """What feedparser reads of a boundary match: whether it matched, and the groups it asks for."""
    return None if found is None else (found.group("end"), found.group("ws"), found.group("linesep"))


BOUNDARY_CHARS = st.sampled_from(list("abcXYZ0189'()+_,-./:=? \t\\[]{}*^$|&~#") + ["ก", "é", "\x00"])
TAILS = st.lists(st.sampled_from(["--", "-", " ", "\t", "\r\n", "\r", "\n", "x", "\n\n", "-- ", "\r\n\r\n"]), max_size=4)


@settings(max_examples=600, deadline=None)
@given(
    boundary=st.text(BOUNDARY_CHARS, min_size=1, max_size=30),
    lead=st.sampled_from(["", " ", "-", "x"]),
    tail=TAILS,
    cut=st.integers(min_value=0, max_value=3),
)
def test_a_boundary_line_matches_as_the_stdlib_expression_matches(boundary: str, lead: str, tail: list[str], cut: int) -> None:
    separator = "--" + boundary
    pattern = stdlib_pattern(separator)
    line = lead + separator[: len(separator) - cut] + "".join(tail)
    assert boundaries.separator_of(pattern) == separator
    matcher = boundaries.BoundaryMatcher(separator, pattern)
    assert answers(matcher.match(line)) == answers(re.compile(pattern).match(line)), repr(line)


def test_only_boundary_expressions_are_taken_over() -> None:
    assert boundaries.separator_of(r"(?P<sep>--abc)(?P<end>--)?$") is None  # another suffix
    assert boundaries.separator_of(r"(?P<x>--abc" + SUFFIX) is None
    # An unescaped special character cannot come from re.escape: left to the real re.compile.
    assert boundaries.separator_of("(?P<sep>--a.c" + SUFFIX) is None
    matcher = boundaries._ReForFeedparser.compile(stdlib_pattern("--b"))
    assert isinstance(matcher, boundaries.BoundaryMatcher)
    assert matcher.pattern == stdlib_pattern("--b") and matcher.search("x--b") is not None  # the real one, when asked
    assert isinstance(boundaries._ReForFeedparser.compile(stdlib_pattern("--b"), re.I), re.Pattern)


@pytest.mark.skipif(sys.version_info[:2] not in ((3, 11), (3, 12)), reason="3.13 and later match boundaries this way")
def test_installed_for_the_parser_on_this_python() -> None:
    assert boundaries.install()
    assert isinstance(vars(email.feedparser)["re"].compile(stdlib_pattern("--b1")), boundaries.BoundaryMatcher)


def shape(msg: Message) -> list[tuple[object, ...]]:
    """Everything the parser decided about a message's tree: types, payloads, preambles, epilogues, defects."""
    out = []
    for part in msg.walk():
        payload = None if part.is_multipart() else part.get_payload()
        defects = [type(d).__name__ for d in part.defects]
        out.append((part.get_content_type(), part.get_boundary(), payload, part.preamble, part.epilogue, defects))
    return out


def test_every_corpus_message_parses_to_the_same_tree() -> None:
    """The shared corpus (real client mail, malformed MIME, bounces, list archives) parsed with the
    matchers installed and with the stdlib as it ships: the same tree, part for part."""
    boundaries.install()
    multipart = 0
    for label, raw in iter_corpus_raw():
        try:
            ours = shape(email.message_from_bytes(raw))
        except RecursionError:
            continue  # hostile nesting: parse.py reads the headers only, either way
        with plain_re():
            theirs = shape(email.message_from_bytes(raw))
        assert ours == theirs, label
        multipart += ours[0][0].startswith("multipart/")
    assert multipart > 500  # the corpus is mostly multipart: the matchers did the work
