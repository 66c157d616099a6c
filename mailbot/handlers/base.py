"""What every handler receives and returns. Handlers write rows (and outbox rows); they never commit or send."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from mailbot.classify.chain import Decision
from mailbot.classify.facts import Facts
from mailbot.clock import Clock
from mailbot.config import CommunitySettings, Settings
from mailbot.mail.parse import ParsedMessage
from mailbot.members import shown_name
from mailbot.render import Renderer
from mailbot.store.models import Community, Member, Message


@dataclass
class Context:
    session: Session
    settings: Settings
    community: CommunitySettings | None
    community_row: Community | None
    member: Member | None
    msg: ParsedMessage
    facts: Facts
    decision: Decision
    record: Message
    clock: Clock
    renderer: Renderer
    # Handles a stored, held message as approved (Pipeline.release bound to this session).
    release: Callable[[Message], Outcome] | None = None

    @property
    def now(self) -> datetime:
        return self.clock.now()


def author_name(ctx: Context) -> str:
    """How the sender is named on threads and entries: the member's registered name ("สุดา
    รักเรียน"), else the From display name, else the address."""
    signed, registered = sender_names(ctx)
    return shown_name(registered, signed, ctx.msg.sender_email)


def sender_names(ctx: Context) -> tuple[str, str]:
    """The sender's names as a sign-off would write them: From's display name and the member's."""
    return (ctx.msg.from_.name if ctx.msg.from_ else "", ctx.member.name if ctx.member else "")


@dataclass(frozen=True)
class Outcome:
    status: str  # processed | held | ignored
    reason: str = ""


Handler = Callable[[Context], Outcome]
