"""What the classifier may know besides the message itself, loaded once before the chain runs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from mailbot.config import CommunitySettings
from mailbot.mail.bounces import BounceVerdict
from mailbot.mail.identity import Route
from mailbot.mail.parse import ParsedMessage
from mailbot.store.models import Community


@dataclass(frozen=True)
class MemberFacts:
    id: int
    role: str
    status: str  # active | disabled | left
    delivery: str


@dataclass(frozen=True)
class Facts:
    route: Route
    member: MemberFacts | None
    own_addresses: frozenset[str]
    bounce: BounceVerdict
    max_message_bytes: int
    thread_number: int | None = None  # thread this message replies to (References or subject tag)
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def community(self) -> CommunitySettings | None:
        return self.route.community

    @property
    def is_member(self) -> bool:
        return self.member is not None and self.member.status != "left"


# A function that adds facts before classification (which thread a reply belongs to, how much
# the sender posted lately): (session, community row, message, facts so far) -> facts to use.
FactsHook = Callable[[Session, Community, ParsedMessage, Facts], Facts]
