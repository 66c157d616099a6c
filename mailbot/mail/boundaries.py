"""Multipart boundaries matched without a regular expression compiled per message (Python < 3.13).

The stdlib's feedparser compiles a new expression for every multipart boundary it meets: about
0.3 ms each on a 2-vCPU VM, more than the rest of a small post's parse. CPython 3.13 matches the
separator with `str.startswith` and one shared expression instead (python/cpython#106628);
`install()` gives 3.11 and 3.12 the same, with the same answers (tests/test_boundaries.py).
"""

from __future__ import annotations

import email.feedparser
import re
import sys
from typing import Any

# The expression feedparser builds (3.11, 3.12): the separator, then what may follow it on its line.
_PREFIX = "(?P<sep>"
_SUFFIX = r")(?P<end>--)?(?P<ws>[ \t]*)(?P<linesep>\r\n|\r|\n)?$"
_AFTER_SEPARATOR = re.compile(_SUFFIX[1:])
_ESCAPED_CHAR = re.compile(r"\\(.)", re.DOTALL)
# Versions whose feedparser was read and builds the expression above; 3.13 no longer does.
_VERSIONS = ((3, 11), (3, 12))


class BoundaryMatcher:
    """Stands in for `re.compile(pattern)` of one boundary: `match(line)` answers as that
    expression's `match` would for every group feedparser reads (end, ws, linesep); anything else
    asked of it goes to the real expression, compiled then."""

    __slots__ = ("separator", "pattern", "_compiled")

    def __init__(self, separator: str, pattern: str) -> None:
        self.separator = separator
        self.pattern = pattern
        self._compiled: re.Pattern[str] | None = None

    def match(self, line: str) -> re.Match[str] | None:
        if not line.startswith(self.separator):
            return None
        return _AFTER_SEPARATOR.match(line, len(self.separator))

    def __getattr__(self, name: str) -> Any:
        if self._compiled is None:
            self._compiled = re.compile(self.pattern)
        return getattr(self._compiled, name)


def separator_of(pattern: str) -> str | None:
    """The separator of a boundary expression as feedparser builds it, or None for any other."""
    if not (pattern.startswith(_PREFIX) and pattern.endswith(_SUFFIX)):
        return None
    escaped = pattern[len(_PREFIX) : -len(_SUFFIX)]
    separator = _ESCAPED_CHAR.sub(r"\1", escaped)
    # re.escape only puts a backslash before a character: the round trip proves the reading exact.
    return separator if re.escape(separator) == escaped else None


class _ReForFeedparser:
    """The `re` module as feedparser sees it once installed: its boundary expressions become
    BoundaryMatchers, every other call is the real module's."""

    def __getattr__(self, name: str) -> Any:
        return getattr(re, name)

    @staticmethod
    def compile(pattern: Any, flags: int = 0) -> Any:
        if flags == 0 and isinstance(pattern, str):
            separator = separator_of(pattern)
            if separator is not None:
                return BoundaryMatcher(separator, pattern)
        return re.compile(pattern, flags)


def install() -> bool:
    """Use BoundaryMatchers in the stdlib's email parser, on the versions whose parser needs it;
    True when installed (idempotent)."""
    if sys.version_info[:2] not in _VERSIONS:
        return False
    namespace = vars(email.feedparser)  # the module's globals: its `re` is looked up there per call
    if not isinstance(namespace.get("re"), _ReForFeedparser):
        namespace["re"] = _ReForFeedparser()
    return True
