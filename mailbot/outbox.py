"""Writing outgoing mail: one outbox row per message, one recipient row per address, in the caller's transaction."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import (
    ColumnElement,
    Insert,
    Table,
    bindparam,
    delete,
    func,
    insert,
    literal,
    select,
)
from sqlalchemy.orm import Session

from mailbot.store import direct
from mailbot.store.models import Member, Outbox, OutboxRecipient

# Core handles of the two tables: the outbox code never needs their ORM objects.
OUTBOX = cast(Table, Outbox.__table__)
RECIPIENTS = cast(Table, OutboxRecipient.__table__)


@dataclass(frozen=True)
class Recipient:
    address: str
    member_id: int | None = None
    verp_token: str = ""


def enqueue(
    session: Session,
    *,
    community_id: int,
    kind: str,
    data: bytes,
    recipients: Sequence[Recipient],
    mail_from: str,
    now: datetime,
    verp: bool = False,
    source_message_id: int | None = None,
) -> int | None:
    """Queue `data` for `recipients`; nothing is sent until the surrounding transaction commits.
    Returns the outbox row's id (None: no recipients, nothing queued)."""
    if not recipients:
        return None
    box_id = _insert_outbox(session, community_id, source_message_id, kind, verp, mail_from, data, now)
    # A bulk INSERT keeps a 10,000-member fan-out to one round trip per few thousand rows.
    session.execute(
        insert(OutboxRecipient),
        [
            {
                "outbox_id": box_id,
                "address": r.address,
                "member_id": r.member_id,
                "verp_token": r.verp_token if verp else "",
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "last_error": "",
            }
            for r in recipients
        ],
    )
    return box_id


def _insert_outbox(
    session: Session,
    community_id: int,
    source_message_id: int | None,
    kind: str,
    verp: bool,
    mail_from: str,
    data: bytes,
    now: datetime,
) -> int:
    """The outbox row for one message (Core: callers need only its id)."""
    values = {
        "community_id": community_id,
        "source_message_id": source_message_id,
        "kind": kind,
        "verp": verp,
        "mail_from": mail_from,
        "data": data,
        "created_at": now,
    }
    return int(direct.scalar(session.connection(), _INSERT_OUTBOX, values))


def enqueue_members(
    session: Session,
    *,
    community_id: int,
    kind: str,
    data: bytes,
    mail_from: str,
    now: datetime,
    verp: bool,
    source_message_id: int | None,
    exclude_email: str | None,
) -> int:
    """Queue `data` for every active each-post member of the community (but `exclude_email`).

    One INSERT ... SELECT from the members table: the database copies the recipients itself, so
    a post to 1,000 members costs one statement instead of 1,000 rows built in Python.
    Returns the number of recipients; queues nothing when there are none.
    """
    box_id = _insert_outbox(session, community_id, source_message_id, kind, verp, mail_from, data, now)
    conn = session.connection()
    params = {"outbox_id": box_id, "community_id": community_id, "now": now, "exclude": exclude_email}
    count = direct.run(conn, _copy_members(verp, exclude_email is not None), params)
    if count is None or count < 0:
        # psycopg reports no row count for INSERT ... SELECT through SQLAlchemy: ask (index probe).
        count = conn.execute(_COUNT_RECIPIENTS, {"outbox_id": box_id}).scalar_one()
    if not count:
        conn.execute(_DELETE_OUTBOX, {"id": box_id})
    return int(count or 0)


_INSERT_OUTBOX = direct.insert_values(
    OUTBOX, ("community_id", "source_message_id", "kind", "verp", "mail_from", "data", "created_at"), "id"
)
_COUNT_RECIPIENTS = select(func.count()).select_from(RECIPIENTS).where(
    RECIPIENTS.c.outbox_id == bindparam("outbox_id")
)
_DELETE_OUTBOX = delete(OUTBOX).where(OUTBOX.c.id == bindparam("id"))


@functools.lru_cache(maxsize=4)
def _copy_members(verp: bool, exclude: bool) -> Insert:
    """INSERT INTO outbox_recipients (...) SELECT ... FROM members WHERE ..., built once per shape."""
    r = RECIPIENTS.c
    conditions: list[ColumnElement[bool]] = [
        Member.community_id == bindparam("community_id"),
        Member.status == "active",
        Member.delivery == "each",
    ]
    if exclude:
        conditions.append(Member.email != bindparam("exclude"))
    rows = (
        select(
            bindparam("outbox_id", type_=r.outbox_id.type),
            Member.email,
            Member.id,
            Member.verp_token if verp else literal("", r.verp_token.type),
            literal("pending", r.status.type),
            literal(0, r.attempts.type),
            bindparam("now", type_=r.next_attempt_at.type),
            literal("", r.last_error.type),
        )
        .where(*conditions)
        .order_by(Member.id)
    )
    columns = ["outbox_id", "address", "member_id", "verp_token", "status", "attempts", "next_attempt_at", "last_error"]
    return insert(RECIPIENTS).from_select(columns, rows)
