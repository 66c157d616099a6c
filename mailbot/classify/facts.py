"""What the classifier may know besides the message itself, loaded once before the chain runs."""

from __future__ import annotations

from dataclasses import dataclass, field

from mailbot.config import CommunitySettings
from mailbot.mail.bounces import BounceVerdict
from mailbot.mail.identity import Route


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
