"""Threading: which thread a reply belongs to (References, In-Reply-To, then the subject tag)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from mailbot.classify.facts import Facts
from mailbot.mail.parse import ParsedMessage
from mailbot.store.models import Community


def thread_facts(session: Session, community: Community, msg: ParsedMessage, facts: Facts) -> Facts:
    """Facts hook: fill in facts.thread_number when the message replies to a known thread."""
    return facts
