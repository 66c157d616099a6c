"""Which community, and which of its addresses (group, -request, -bounces, -owner), a message is for.

The mail server usually aliases all of them into one mailbox, so the envelope (SMTP RCPT,
Delivered-To, X-Original-To) is trusted first, then To/Cc.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from mailbot.config import CommunitySettings

_SUBADDRESS = re.compile(r"^(?P<local>[^+]+)\+(?P<tag>[^@]+)@(?P<domain>.+)$")


@dataclass(frozen=True)
class Route:
    community: CommunitySettings | None
    role: str  # post | request | bounces | owner | '' (not for us)
    address: str = ""
    token: str = ""  # VERP member token on a -bounces+TOKEN address
    subaddress: str = ""  # 'ask' in km-it+ask@example.org


NOWHERE = Route(community=None, role="")


def match_address(address: str, communities: Sequence[CommunitySettings]) -> Route | None:
    address = address.strip().lower().strip("<>")
    if "@" not in address:
        return None
    for c in communities:
        exact = {
            c.address: "post",
            c.request_address: "request",
            c.bounces_address: "bounces",
            c.owner_address: "owner",
        }
        if address in exact:
            return Route(c, exact[address], address)
        m = _SUBADDRESS.match(address)
        if m and m["domain"] == c.domain:
            base = f"{m['local']}@{m['domain']}"
            if base == c.bounces_address:
                return Route(c, "bounces", address, token=m["tag"])
            if base in exact:
                return Route(c, exact[base], address, subaddress=m["tag"])
    return None


def route(
    candidates_in_order: Iterable[Iterable[str]],
    communities: Sequence[CommunitySettings],
    default: CommunitySettings | None = None,
) -> Route:
    """First address (envelope, then Delivered-To, then To/Cc) that names one of our addresses."""
    for group in candidates_in_order:
        for address in group:
            hit = match_address(address, communities)
            if hit:
                return hit
    if default is not None:
        return Route(default, "post", default.address)
    return NOWHERE


def own_addresses(communities: Sequence[CommunitySettings]) -> frozenset[str]:
    out: set[str] = set()
    for c in communities:
        out.update({c.address, c.request_address, c.bounces_address, c.owner_address})
    return frozenset(out)
