"""Writing outgoing mail: one outbox row per message, one recipient row per address, in the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.orm import Session

from mailbot.store.models import Outbox, OutboxRecipient


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
) -> Outbox | None:
    """Queue `data` for `recipients`; nothing is sent until the surrounding transaction commits."""
    if not recipients:
        return None
    row = Outbox(
        community_id=community_id,
        source_message_id=source_message_id,
        kind=kind,
        verp=verp,
        mail_from=mail_from,
        data=data,
        created_at=now,
    )
    session.add(row)
    session.flush()
    # A bulk INSERT keeps a 10,000-member fan-out to one round trip per few thousand rows.
    session.execute(
        insert(OutboxRecipient),
        [
            {
                "outbox_id": row.id,
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
    return row
