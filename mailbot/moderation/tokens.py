"""Single-use confirmation tokens: issued with an expiry, redeemed once, never reusable."""

from __future__ import annotations

import json
import re
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from mailbot.moderation.models import ConfirmToken

# Lower-case letters and digits only: survives subject re-encoding, MUA line wrapping and Thai IMEs.
_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"
TOKEN_LEN = 16
TOKEN_RE = re.compile(rf"\b([{_ALPHABET}]{{{TOKEN_LEN}}})\b")


class TokenError(ValueError):
    """The token cannot be used; `reason` is a stable kebab-case id (unknown, used, expired, wrong-action)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def new_token() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(TOKEN_LEN))


def issue(
    session: Session,
    *,
    community_id: int,
    action: str,
    address: str,
    now: datetime,
    ttl: timedelta,
    member_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> ConfirmToken:
    row = ConfirmToken(
        community_id=community_id,
        token=new_token(),
        action=action,
        address=address.lower(),
        member_id=member_id,
        data=json.dumps(data or {}, ensure_ascii=False),
        created_at=now,
        expires_at=now + ttl,
        used_at=None,
    )
    session.add(row)
    session.flush()
    return row


def redeem(
    session: Session,
    *,
    community_id: int,
    token: str,
    now: datetime,
    actions: tuple[str, ...] = (),
    address: str | None = None,
) -> ConfirmToken:
    """Mark `token` used and return it; raise TokenError if unknown, used, expired or for another action."""
    row = session.scalar(
        select(ConfirmToken).where(
            ConfirmToken.community_id == community_id, ConfirmToken.token == token.strip().lower()
        )
    )
    if row is None:
        raise TokenError("unknown", f"unknown confirmation code {token[:40]!r}")
    if actions and row.action not in actions:
        raise TokenError("wrong-action", f"code {row.token} is not for this command")
    if address is not None and row.address != address.lower():
        # Proof of reading the mail is not proof of owning the address it was sent to.
        raise TokenError("wrong-address", f"code {row.token} must be confirmed from {row.address}")
    if row.used_at is not None:
        raise TokenError("used", f"code {row.token} was already used")
    if row.expires_at <= now:
        raise TokenError("expired", f"code {row.token} expired on {row.expires_at:%Y-%m-%d %H:%M} UTC")
    # Conditional UPDATE: two workers redeeming the same token at once cannot both succeed.
    done = session.execute(
        update(ConfirmToken)
        .where(ConfirmToken.id == row.id, ConfirmToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if getattr(done, "rowcount", 1) != 1:
        raise TokenError("used", f"code {row.token} was already used")
    session.refresh(row)
    return row


def payload(row: ConfirmToken) -> dict[str, Any]:
    try:
        value = json.loads(row.data or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def find_tokens(text: str) -> list[str]:
    return TOKEN_RE.findall(text.lower())
