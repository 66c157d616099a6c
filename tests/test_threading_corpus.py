"""Threading checked against real list archives (../shared/corpus/threads), in order and shuffled.

Each archive file is its own community. Every message that starts a conversation (no References,
no In-Reply-To) opens a thread; every other message must end up in the thread of the root its
References lead to, whatever order the messages arrive in (ghost parents are attached later).
"""

from __future__ import annotations

import random
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from mailbot.knowledge import threads
from mailbot.knowledge.models import Thread, ThreadRef
from mailbot.mail.parse import parse_message
from mailbot.store.db import make_engine, make_session_factory, transaction, upgrade
from mailbot.store.models import Community
from tests.corpus_files import corpus_root, is_mbox, iter_corpus_raw
from tests.helpers import START

Archive = list[tuple[str, tuple[str, ...]]]  # (message-id, reference chain) in file order


def _archives() -> dict[str, Archive]:
    out: dict[str, Archive] = defaultdict(list)
    for label, raw in iter_corpus_raw():
        if not label.startswith("threads/"):
            continue
        msg = parse_message(raw)
        if msg.message_id:
            out[label.split("#", 1)[0]].append((msg.message_id, tuple(threads.reference_chain(msg))))
    return dict(out)


ARCHIVES = _archives() if (corpus_root() / "threads").is_dir() else {}


def _expected_roots(archive: Archive) -> dict[str, str | None]:
    """message-id -> the seen root its References chain leads to (None: root never in the archive)."""
    seen = {mid for mid, _ in archive}
    parent: dict[str, str | None] = {}
    for mid, chain in archive:
        parent.setdefault(mid, chain[-1] if chain else None)  # first copy of a duplicated id wins
    for _mid, chain in archive:
        # An id we never see (a ghost) hangs below its predecessor in the References that name it.
        for i, ref in enumerate(chain):
            if ref not in seen and parent.get(ref) is None and i:
                parent[ref] = chain[i - 1]
    out: dict[str, str | None] = {}
    for mid in seen:
        cur, hops = mid, 0
        while parent.get(cur) is not None and hops < 1000:
            cur, hops = parent[cur] or cur, hops + 1
        out[mid] = cur if cur in seen and parent.get(cur) is None else None
    return out


def _run(session: Any, cid: int, archive: Archive) -> dict[str, int | None]:
    """Feed one archive; returns message-id -> thread number."""
    numbers: dict[int, int] = {}
    done: set[str] = set()
    for mid, chain in archive:
        if mid in done:
            continue  # the pipeline dedupes repeated Message-IDs before threading
        done.add(mid)
        thread_id = threads.link_and_resolve(session, cid, mid, chain)
        if not chain:
            t = threads.open_thread(
                session, community_id=cid, subject=mid, question_text="", message_pk=None, message_id=mid,
                asker_member_id=None, asker_email="", asker_name="", topic="", now=START,
            )
            threads.set_ref_thread(session, cid, mid, t.id)
            threads.attach_waiting(session, t, START)
            numbers[t.id] = t.number
        elif thread_id is not None:
            threads.set_ref_thread(session, cid, mid, thread_id)
            thread = session.get(Thread, thread_id)
            threads.adopt_descendants(session, thread, mid, START)
    session.flush()
    rows = session.scalars(select(ThreadRef).where(ThreadRef.community_id == cid, ThreadRef.seen.is_(True)))
    return {r.message_id: numbers.get(r.thread_id) if r.thread_id else None for r in rows}


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory) -> Any:
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('threading') / 'db.sqlite'}")
    upgrade(engine)
    return make_session_factory(engine)


def _community(session: Any, slug: str) -> int:
    row = Community(slug=slug, name=slug, address=f"{slug}@example.org", created_at=START)
    session.add(row)
    session.flush()
    return row.id


@pytest.mark.skipif(not ARCHIVES, reason="corpus/threads not available")
def test_corpus_has_real_threads() -> None:
    replies = sum(1 for a in ARCHIVES.values() for _, chain in a if chain)
    assert len(ARCHIVES) > 50 and replies > 500


@pytest.mark.skipif(not ARCHIVES, reason="corpus/threads not available")
@pytest.mark.parametrize("order", ["archive", "reversed", "shuffled"])
def test_every_message_joins_the_thread_its_references_lead_to(sessions: Any, order: str) -> None:
    rng = random.Random(4242)
    checked = 0
    for n, (name, archive) in enumerate(sorted(ARCHIVES.items())):
        arrival = list(archive)
        if order == "reversed":
            arrival.reverse()
        elif order == "shuffled":
            rng.shuffle(arrival)
        with transaction(sessions) as session:
            cid = _community(session, f"{order[:3]}{n}")
            got = _run(session, cid, arrival)
            # The parent each message gets is the last entry of its own References/In-Reply-To.
            first_chain: dict[str, tuple[str, ...]] = {}
            for mid, chain in archive:
                first_chain.setdefault(mid, chain)
            parents = dict(
                session.execute(
                    select(ThreadRef.message_id, ThreadRef.parent_id).where(
                        ThreadRef.community_id == cid, ThreadRef.seen.is_(True)
                    )
                ).all()
            )
        expected_root = _expected_roots(archive)
        # Thread numbers depend on arrival order; compare which messages share a thread instead.
        root_of_number = {got[mid]: mid for mid, root in expected_root.items() if root == mid}
        for mid, root in expected_root.items():
            want_parent = first_chain[mid][-1] if first_chain[mid] else None
            assert parents[mid] == want_parent, f"{name}: parent of {mid}"
            if root is None:
                assert got[mid] is None, f"{name}: {mid} has no root in the archive but joined a thread"
            else:
                assert root_of_number.get(got[mid]) == root, f"{name}: {mid} should be in the thread of {root}"
            checked += 1
    assert checked > 1000


def test_corpus_files_are_mboxes() -> None:
    base = corpus_root() / "threads"
    if not base.is_dir():
        pytest.skip("corpus/threads not available")
    assert all(is_mbox(p) or p.suffix in (".eml", ".txt", ".md", "") for p in Path(base).rglob("*") if p.is_file())
