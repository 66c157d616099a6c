"""Knowledge entries that may already answer a new question ("already answered?"). Any word of the
question may match, a wide net; an entry is offered only when its title shares a word with the
question, so one common word in an answer ("drops") does not offer a shared-drive fix for a VPN question."""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy.orm import Session

from mailbot.knowledge import search
from mailbot.knowledge.segment import tokens
from mailbot.knowledge.synonyms import Synonyms

_WEAK_WORDS = (
    "after before every again still when then time times keep keeps get gets got not no all any some "
    "just also there here have has had will would should one new use using work working help problem "
    "issue error question ปัญหา สอบถาม ถาม คำถาม ช่วย วิธี ใช้งาน"
)


@lru_cache(maxsize=1)
def _weak_tokens() -> frozenset[str]:
    """Words too common in titles to make two questions alike ("… after reboot", "every time …"),
    in the index's own (stemmed, segmented) form. Built on first use: segmenting Thai loads
    PyThaiNLP's dictionary (about 0.7 s), which start-up must not pay."""
    return frozenset(tokens(_WEAK_WORDS))


def _weak(phrase: tuple[str, ...]) -> bool:
    return len(phrase) == 1 and (phrase[0].isdigit() or phrase[0] in _weak_tokens() or search.is_stop(phrase[0]))


def related_entries(session: Session, community_id: int, question: str, *, limit: int, synonyms: Synonyms) -> list[search.Hit]:
    """Up to `limit` entries for `question` (its title, then its text), best first."""
    hits = search.search(
        session, community_id, question, limit=limit * 3, entries_only=True, any_term=True, synonyms=synonyms
    )
    _, wide = search.query_words(question, synonyms)
    asked = [phrase for word in wide for phrase in word if not _weak(phrase)]
    shared = []
    for hit in hits:
        title = set(tokens(hit.title))
        if any(all(t in title for t in phrase) for phrase in asked):
            shared.append(hit)
    return shared[:limit]
