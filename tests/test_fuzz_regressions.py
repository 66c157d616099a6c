"""Every input that ever broke parse, classify or composition (tests/data/fuzz/) stays a test case.

`exercise` is also the target scripts/fuzz.py runs on mutated corpus messages.
"""

from __future__ import annotations

import email
import email.policy
from functools import cache
from pathlib import Path

import pytest

from mailbot.classify.chain import RuleChain
from mailbot.classify.facts import Facts, MemberFacts
from mailbot.classify.loader import load_rules
from mailbot.config import CommunitySettings
from mailbot.handlers import HANDLERS
from mailbot.mail.bounces import classify_bounce
from mailbot.mail.compose import as_bytes, bot_message, list_copy
from mailbot.mail.identity import own_addresses, route
from mailbot.mail.parse import parse_message

REPO = Path(__file__).resolve().parent.parent
FUZZ_DIR = REPO / "tests" / "data" / "fuzz"
COMMUNITY = CommunitySettings(slug="km-it", address="km-it@example.org", name="ชุมชน KM-IT",
                              subject_prefix="[KM-IT]")  # fmt: skip
# Header names a member could try to smuggle into mail we write.
FORBIDDEN = {"x-injected", "bcc"}


@cache
def rules() -> RuleChain:
    return load_rules(REPO / "rules" / "routing.toml", HANDLERS.keys())


def _names(data: bytes) -> set[str]:
    return {k.lower() for k in email.message_from_bytes(data, policy=email.policy.compat32)}


def exercise(raw: bytes) -> None:
    """Parse, classify (as member and as stranger), and write the mail the bot would write from it.

    Raises only on a real bug: an exception escaping, or a forbidden header appearing in our mail.
    """
    msg = parse_message(raw)
    where = route([(), msg.delivered_to, [a.email for a in msg.to + msg.cc]], [COMMUNITY], COMMUNITY)
    for member in (None, MemberFacts(1, "member", "active", "each")):
        facts = Facts(route=where, member=member, own_addresses=own_addresses([COMMUNITY]),
                      bounce=classify_bounce(msg.message), max_message_bytes=30 * 1024 * 1024)  # fmt: skip
        decision = rules().classify(msg, facts)
        assert decision.kind in HANDLERS
    copy = list_copy(msg.message, community=COMMUNITY, subject=msg.subject,
                     from_name=msg.from_.name if msg.from_ else "",
                     from_email=msg.sender_email)  # fmt: skip
    before = _names(raw) if b"\n" in raw else set()
    assert not (_names(copy) & FORBIDDEN) - before, "member text became a header of the list copy"
    reply = as_bytes(bot_message(COMMUNITY, to=["somchai@example.org"], subject=f"Re: {msg.subject}",
                                 text=msg.new_text, html=f"<p>{msg.subject}</p>",
                                 in_reply_to=msg.message_id, references=msg.references))  # fmt: skip
    assert not _names(reply) & FORBIDDEN, "member text became a header of a bot message"


CASES = sorted(p for p in FUZZ_DIR.glob("*") if p.is_file() and p.suffix != ".md")


# Cases whose bug is reported but not fixed yet: strict, so the fix makes this list shrink.


@pytest.mark.parametrize("path", CASES, ids=[p.name for p in CASES])
def test_kept_fuzz_case(path: Path) -> None:
    exercise(path.read_bytes())


def test_there_are_kept_cases() -> None:
    assert len(CASES) >= 2
