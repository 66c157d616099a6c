"""Locate the real-world mail corpus used by tests and iterate over its messages.

Order of preference: $MAILBOT_CORPUS, the shared full corpus next to the repo, the subset in tests/data/corpus.
"""

from __future__ import annotations

import mailbox
import os
from collections.abc import Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
BUNDLED_CORPUS = REPO_ROOT / "tests" / "data" / "corpus"
SHARED_CORPUS = REPO_ROOT.parent / "shared" / "corpus"

# Body-only samples for quote stripping, not RFC 5322 messages.
REPLY_BODIES = Path("mua") / "reply-bodies"
# Documentation files that live inside the corpus tree.
_NOT_MAIL = {"SOURCES.md", "PROVENANCE.md", "README.md"}
_MBOX_SUFFIXES = (".mbox", ".mbox.txt")
_BOM = b"\xef\xbb\xbf"


def corpus_root() -> Path:
    """The corpus directory: $MAILBOT_CORPUS, else ../shared/corpus, else tests/data/corpus."""
    env = os.environ.get("MAILBOT_CORPUS")
    if env:
        return Path(env)
    if SHARED_CORPUS.is_dir():
        return SHARED_CORPUS
    return BUNDLED_CORPUS


def _is_reply_body(rel: Path) -> bool:
    return rel.parts[: len(REPLY_BODIES.parts)] == REPLY_BODIES.parts


def corpus_messages() -> list[Path]:
    """Every message file (mbox files included as one path each), sorted; reply bodies excluded."""
    root = corpus_root()
    found = []
    for path in root.rglob("*"):
        if not path.is_file() or path.name in _NOT_MAIL:
            continue
        if _is_reply_body(path.relative_to(root)):
            continue
        found.append(path)
    return sorted(found)


def reply_bodies() -> list[Path]:
    """Body-only reply samples (mua/reply-bodies/**), sorted."""
    base = corpus_root() / REPLY_BODIES
    if not base.is_dir():
        return []
    return sorted(p for p in base.rglob("*") if p.is_file())


def is_mbox(path: Path) -> bool:
    return path.name.endswith(_MBOX_SUFFIXES)


def _split_mbox(path: Path) -> list[bytes]:
    head = path.read_bytes()[:5 + len(_BOM)]
    # Some ".mbox" files are a single bare message with no "From " separator line; a BOM in
    # front of the first separator would make mailbox skip the first message, so read those whole.
    if not head.startswith(b"From "):
        return [path.read_bytes()]
    box = mailbox.mbox(str(path), create=False)
    try:
        return [box.get_bytes(key) for key in box.iterkeys()]
    finally:
        box.close()


def iter_corpus_raw() -> Iterator[tuple[str, bytes]]:
    """Yield (label, raw bytes) for every message; mbox files are split, labelled 'path#n'."""
    root = corpus_root()
    for path in corpus_messages():
        rel = path.relative_to(root).as_posix()
        if is_mbox(path):
            parts = _split_mbox(path)
            if len(parts) == 1:
                yield rel, parts[0]
                continue
            for n, raw in enumerate(parts):
                yield f"{rel}#{n}", raw
        else:
            yield rel, path.read_bytes()
