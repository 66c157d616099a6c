"""Threading: which thread a reply belongs to (References, In-Reply-To, then the subject tag).

Every post's Message-ID is kept in thread_refs with its parent; ids that are referenced but not yet
seen are 'ghost' rows, so a reply that arrives before its question joins the thread once it lands.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple, cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.orm import Session

from mailbot.classify.facts import Facts
from mailbot.knowledge.metoo import is_me_too
from mailbot.knowledge.models import Answer, Thread, ThreadRef
from mailbot.mail.compose import base_subject
from mailbot.mail.parse import ParsedMessage
from mailbot.mail.signoff import without_framing
from mailbot.members import shown_name
from mailbot.store import direct
from mailbot.store.models import Community, Member, Message

MAX_DEPTH = 200  # descendants walked when a ghost parent finally arrives
# Question markers stripped from entry titles ("Q:", "[Q]", "ถาม:", "คำถาม:").
_QUESTION_PREFIX = re.compile(r"^\s*(?:\[\s*(?:q|ถาม|คำถาม)\s*\]|(?:q|ถาม|คำถาม)\s*[:：])\s*", re.I)


@lru_cache(maxsize=32)
def tag_pattern(thread_tag: str) -> re.Pattern[str]:
    """'#Q{number}' -> a regex finding '#Q42' (case-insensitive) and capturing 42."""
    head, _, tail = thread_tag.partition("{number}")
    return re.compile(rf"{re.escape(head)}(\d{{1,9}}){re.escape(tail)}(?!\d)", re.I)


def tag_for(thread_tag: str, number: int) -> str:
    return thread_tag.replace("{number}", str(number))


def number_in_subject(subject: str, thread_tag: str) -> int | None:
    m = tag_pattern(thread_tag).search(subject)
    return int(m.group(1)) if m else None


def clean_title(subject: str, prefix: str) -> str:
    """The question's subject without list prefix, thread tag, Re:/Fwd: or Q:/ถาม: markers."""
    title = base_subject(subject, prefix)
    for _ in range(3):
        new = _QUESTION_PREFIX.sub("", title)
        if new == title:
            break
        title = base_subject(new, prefix)
    return title.strip() or subject.strip()


def reference_chain(msg: ParsedMessage) -> list[str]:
    """Ancestors oldest first: References, then In-Reply-To when References lacks it (JWZ)."""
    chain = [r for r in msg.references if r and r != msg.message_id]
    for irt in msg.in_reply_to[:1]:
        if irt and irt != msg.message_id and (not chain or chain[-1] != irt):
            if irt in chain:
                chain.remove(irt)
            chain.append(irt)
    seen: dict[str, None] = {}
    for r in chain:
        seen.pop(r, None)  # a repeated id keeps its last (closest) position
        seen[r] = None
    return [r[:998] for r in seen]


# -- the message-id table ----------------------------------------------------------------------
# Every post passes here, so the table is written with Core statements built once (no unit of work).
_REFS = cast(Table, ThreadRef.__table__)
_FIND_REFS = select(_REFS.c.message_id, _REFS.c.parent_id, _REFS.c.thread_id, _REFS.c.seen).where(
    _REFS.c.community_id == bindparam("community_id"), _REFS.c.message_id.in_(bindparam("ids", expanding=True))
)
# A new post has no ancestors: one id, asked without the expanding IN (it is rebuilt per call).
_FIND_REF = select(_REFS.c.message_id, _REFS.c.parent_id, _REFS.c.thread_id, _REFS.c.seen).where(
    _REFS.c.community_id == bindparam("community_id"), _REFS.c.message_id == bindparam("id")
)
_ADD_REF = direct.insert_values(_REFS, ("community_id", "message_id", "parent_id", "seen"))
_SET_REF = (
    update(_REFS)
    .where(_REFS.c.community_id == bindparam("cid"), _REFS.c.message_id == bindparam("mid"))
    .values(parent_id=bindparam("parent"), seen=bindparam("is_seen"))
)


class Ref(NamedTuple):
    """A thread_refs row as the linking code needs it."""

    parent_id: str | None
    thread_id: int | None
    seen: bool


def find_refs(session: Session, community_id: int, ids: Sequence[str]) -> dict[str, Ref]:
    """The thread_refs rows of these message-ids that exist, by message-id."""
    session.flush()  # thread_refs changes still pending in the session must be read, not missed
    conn = session.connection()
    rows: Iterable[Any]
    if len(ids) == 1:
        rows = direct.fetch(conn, _FIND_REF, {"community_id": community_id, "id": ids[0]})
    else:  # an expanding IN: SQLAlchemy renders it per call
        rows = conn.execute(_FIND_REFS, {"community_id": community_id, "ids": list(ids)})
    return {mid: Ref(parent, thread, bool(seen)) for mid, parent, thread, seen in rows}


def link_message(session: Session, community_id: int, message_id: str, chain: Sequence[str]) -> dict[str, Ref]:
    """Record `message_id` (seen) and its ancestors (ghosts when unknown); returns the rows of the
    chain and of the message itself, by message-id, as they were before this call."""
    message_id = message_id[:998]
    found = find_refs(session, community_id, [*chain, message_id])
    ghosts, learned = [], []
    for i, mid in enumerate(chain):
        row = found.get(mid)
        parent = chain[i - 1] if i else None
        if row is None:
            ghosts.append({"community_id": community_id, "message_id": mid, "parent_id": parent, "seen": False})
        elif not row.seen and row.parent_id is None and parent and parent != mid:
            # A ghost learns more of its ancestry from a later reply.
            learned.append({"cid": community_id, "mid": mid, "parent": parent, "is_seen": False})
    # The message's own References are the truth about its parent (a ghost's was only a guess).
    own_parent = chain[-1] if chain else None
    if message_id in found:
        learned.append({"cid": community_id, "mid": message_id, "parent": own_parent, "is_seen": True})
    else:
        ghosts.append({"community_id": community_id, "message_id": message_id, "parent_id": own_parent, "seen": True})
    conn = session.connection()
    if ghosts:
        direct.run(conn, _ADD_REF, ghosts)
    if learned:
        direct.run(conn, _SET_REF, learned)
    # Rows loaded as objects earlier in this session are stale now: reload them when next read.
    for obj in list(session.identity_map.values()):
        if isinstance(obj, ThreadRef):
            session.expire(obj)
    return found


def link_and_resolve(session: Session, community_id: int, message_id: str, chain: Sequence[str]) -> int | None:
    """Link the message and say which thread it is in: its References first (the truth), else the
    thread its ghost row was attached to before it arrived."""
    rows = link_message(session, community_id, message_id, chain)
    own = rows.get(message_id[:998])
    return thread_from_chain(chain, rows) or (own.thread_id if own else None)


def thread_from_chain(chain: Sequence[str], rows: Mapping[str, Ref]) -> int | None:
    """Thread id of the closest ancestor that belongs to a thread."""
    for mid in reversed(chain):
        row = rows.get(mid)
        if row is not None and row.thread_id is not None:
            return row.thread_id
    return None


def thread_by_number(session: Session, community_id: int, number: int) -> Thread | None:
    return session.scalar(
        select(Thread).where(Thread.community_id == community_id, Thread.number == number)
    )


def thread_facts(session: Session, community: Community, msg: ParsedMessage, facts: Facts) -> Facts:
    """Facts hook: record the message in the thread table; set facts.thread_number for replies."""
    settings = facts.community
    if settings is None or facts.route.role != "post":
        return facts
    chain = reference_chain(msg)
    thread_id: int | None = None
    if msg.message_id:
        thread_id = link_and_resolve(session, community.id, msg.message_id, chain)
    elif chain:
        thread_id = thread_from_chain(chain, find_refs(session, community.id, chain))
    thread = session.get(Thread, thread_id) if thread_id is not None else None
    if thread is None:
        number = number_in_subject(msg.subject, settings.thread_tag)
        if number is not None:
            thread = thread_by_number(session, community.id, number)
    if thread is None:
        return facts
    return dataclasses.replace(facts, thread_number=thread.number)


# -- threads and answers -----------------------------------------------------------------------
def next_thread_number(session: Session, community_id: int) -> int:
    top = session.scalar(select(func.max(Thread.number)).where(Thread.community_id == community_id))
    return int(top or 0) + 1


def open_thread(
    session: Session,
    *,
    community_id: int,
    subject: str,
    question_text: str,
    message_pk: int | None,
    message_id: str | None,
    asker_member_id: int | None,
    asker_email: str,
    asker_name: str,
    topic: str,
    now: datetime,
) -> Thread:
    thread = Thread(
        community_id=community_id,
        number=next_thread_number(session, community_id),
        subject=subject,
        status="open",
        topic=topic,
        question_text=question_text,
        question_message_pk=message_pk,
        root_message_id=(message_id or "")[:998],
        asker_member_id=asker_member_id,
        asker_email=asker_email,
        asker_name=asker_name,
        answer_count=0,
        created_at=now,
        updated_at=now,
    )
    session.add(thread)
    session.flush()
    return thread


def set_ref_thread(session: Session, community_id: int, message_id: str | None, thread_id: int) -> None:
    if not message_id:
        return
    row = session.scalar(
        select(ThreadRef).where(
            ThreadRef.community_id == community_id, ThreadRef.message_id == message_id[:998]
        )
    )
    if row is not None:
        row.thread_id = thread_id


def add_answer(
    session: Session,
    thread: Thread,
    *,
    message_pk: int | None,
    message_id: str | None,
    member_id: int | None,
    author_email: str,
    author_name: str,
    text: str,
    now: datetime,
) -> Answer:
    top = session.scalar(select(func.max(Answer.number)).where(Answer.thread_id == thread.id))
    answer = Answer(
        thread_id=thread.id,
        number=int(top or 0) + 1,
        message_pk=message_pk,
        message_id=(message_id or "")[:998],
        member_id=member_id,
        author_email=author_email,
        author_name=author_name,
        text=text,
        accepted=False,
        helpful=False,
        created_at=now,
    )
    session.add(answer)
    thread.answer_count = answer.number
    thread.updated_at = now
    if thread.status == "open":
        thread.status = "answered"
    session.flush()
    return answer


def answers_of(session: Session, thread: Thread) -> list[Answer]:
    return list(session.scalars(select(Answer).where(Answer.thread_id == thread.id).order_by(Answer.number)))


def attach_waiting(session: Session, thread: Thread, now: datetime) -> list[Answer]:
    """Replies that arrived before this thread's question: join them to it, as answers."""
    return adopt_descendants(session, thread, thread.root_message_id, now)


def adopt_descendants(session: Session, thread: Thread, message_id: str | None, now: datetime) -> list[Answer]:
    """Messages below `message_id` that are in no thread yet (they arrived before it) join `thread`.

    Walks the ghost tree (bounded) and records every stored post in it as an answer, in arrival order.
    """
    if not message_id:
        return []
    frontier = [message_id[:998]]
    found: list[str] = []
    for _ in range(MAX_DEPTH):
        if not frontier:
            break
        children = list(
            session.scalars(
                select(ThreadRef).where(
                    ThreadRef.community_id == thread.community_id,
                    ThreadRef.parent_id.in_(frontier),
                    ThreadRef.thread_id.is_(None),
                )
            )
        )
        for child in children:
            child.thread_id = thread.id
            if child.seen:
                found.append(child.message_id)
        frontier = [c.message_id for c in children]
    if not found:
        return []
    messages = session.scalars(
        select(Message)
        .where(
            Message.community_id == thread.community_id,
            Message.message_id.in_(found),
            Message.kind.in_(("post", "answer")),
            Message.status == "processed",
        )
        .order_by(Message.id)
    ).all()
    # Named as a live answer would be (members.shown_name): the member list's name first.
    member_ids = {m.member_id for m in messages if m.member_id}
    registered: dict[int, str] = {}
    if member_ids:
        rows = session.execute(select(Member.id, Member.name).where(Member.id.in_(member_ids))).all()
        registered = {int(member_id): str(name) for member_id, name in rows}
    out = []
    for m in messages:
        m.thread_id = thread.id
        if m.from_email and m.from_email == thread.asker_email:
            continue  # the asker's own follow-ups are not answers
        text = without_framing(m.body_text or "", m.from_name or "", registered.get(m.member_id or 0, ""))
        if is_me_too(text):
            continue  # the same problem, not an answer
        out.append(
            add_answer(
                session,
                thread,
                message_pk=m.id,
                message_id=m.message_id,
                member_id=m.member_id,
                author_email=m.from_email,
                author_name=shown_name(registered.get(m.member_id or 0), m.from_name, m.from_email),
                text=text,
                now=now,
            )
        )
    return out


def thread_view(session: Session, thread: Thread, thread_tag: str) -> dict[str, Any]:
    """A thread as plain data (CLI JSON): number, subject, status, asker, topic and its answers."""
    return {
        "number": thread.number,
        "tag": tag_for(thread_tag, thread.number),
        "subject": thread.subject,
        "status": thread.status,
        "topic": thread.topic,
        "asker": {"name": thread.asker_name, "email": thread.asker_email},
        "created_at": thread.created_at.isoformat(),
        "solved_at": thread.solved_at.isoformat() if thread.solved_at else None,
        "question": thread.question_text,
        "answers": [
            {
                "number": a.number,
                "author": {"name": a.author_name, "email": a.author_email},
                "accepted": a.accepted,
                "helpful": a.helpful,
                "created_at": a.created_at.isoformat(),
                "text": a.text,
            }
            for a in answers_of(session, thread)
        ],
    }
