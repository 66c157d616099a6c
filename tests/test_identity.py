"""Routing: one mailbox aliases several communities' group, -request, -bounces and -owner addresses."""

from __future__ import annotations

from mailbot.config import CommunitySettings
from mailbot.mail.identity import match_address, route

KM = CommunitySettings(slug="km-it", address="km-it@example.org")
NET = CommunitySettings(slug="km-net", address="km-net@example.org")
BOTH = [KM, NET]


def test_roles_of_addresses() -> None:
    assert match_address("KM-IT@example.org", BOTH).role == "post"  # type: ignore[union-attr]
    assert match_address("km-it-request@example.org", BOTH).role == "request"  # type: ignore[union-attr]
    assert match_address("<km-net-owner@example.org>", BOTH).community is NET  # type: ignore[union-attr]
    hit = match_address("km-it-bounces+ab12cd34ef@example.org", BOTH)
    assert hit is not None and hit.role == "bounces" and hit.token == "ab12cd34ef"
    ask = match_address("km-it+ask@example.org", BOTH)
    assert ask is not None and ask.role == "post" and ask.subaddress == "ask"
    assert match_address("km-it@elsewhere.org", BOTH) is None


def test_envelope_beats_headers() -> None:
    # Delivered by the MTA to km-net, although the visible To names km-it (a Bcc or a cross-post).
    r = route([["km-net@example.org"], [], ["km-it@example.org"]], BOTH)
    assert r.community is NET


def test_delivered_to_before_to_and_cc() -> None:
    r = route([[], ["km-it-request@example.org"], ["km-net@example.org"]], BOTH)
    assert r.community is KM and r.role == "request"


def test_unrouted_without_default() -> None:
    assert route([[], [], ["someone@example.org"]], BOTH).community is None
    assert route([[], [], ["someone@example.org"]], BOTH, default=KM).community is KM
