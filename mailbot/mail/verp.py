"""VERP envelope senders: one bounce address per member, `<list>-bounces+<token>@domain`.

A bounce that comes back to such an address names the member by token, whatever the DSN says.
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Iterable
from email.message import Message
from email.utils import getaddresses

TOKEN_RE = re.compile(r"[a-z0-9]{6,32}")
# BATV (prvs=tag=local@domain) rewrites our envelope sender on the way out; the bounce then comes
# back to the signed form, so strip the signature before matching.
_BATV_RE = re.compile(r"^(?:prvs|msprvs\d*|btv1)=[^=@]*=+", re.IGNORECASE)
# Headers in which receiving MTAs record the envelope recipient of a bounce.
ENVELOPE_HEADERS = (
    "delivered-to",
    "x-original-to",
    "envelope-to",
    "x-envelope-to",
    "x-rcpt-to",
    "original-recipient",
    "to",
)


def new_member_token() -> str:
    """Twelve random lower-case base32 characters (60 bits): unguessable, safe in a local part."""
    return base64.b32encode(secrets.token_bytes(10)).decode("ascii")[:12].lower()


def verp_sender(bounces_address: str, token: str) -> str:
    """'km-it-bounces@example.org' + 'a1b2c3' -> 'km-it-bounces+a1b2c3@example.org'."""
    local, sep, domain = bounces_address.rpartition("@")
    if not sep or not local or not domain:
        raise ValueError(f"not an address: {bounces_address!r}")
    token = token.lower()
    if not TOKEN_RE.fullmatch(token):
        raise ValueError(f"bad VERP token: {token!r}")
    return f"{local}+{token}@{domain}"


def _bare_addresses(value: str) -> list[str]:
    """Addresses in a header value or a bare address, with 'rfc822;' DSN prefixes removed."""
    value = value.strip()
    if ";" in value and value.split(";", 1)[0].strip().lower() in ("rfc822", "rfc822-addr"):
        value = value.split(";", 1)[1]
    found = [addr for _name, addr in getaddresses([value]) if "@" in addr]
    return found or ([value.strip("<> \t")] if "@" in value else [])


def parse_verp(recipient: str, bounces_addresses: Iterable[str]) -> tuple[str, str] | None:
    """(bounces_address, token) when `recipient` is one of our VERP addresses, else None.

    `recipient` may be a bare address or a header value ('Name <addr>', 'rfc822; addr').
    Local part and domain compare case-insensitively; the token is returned lower-cased.
    """
    wanted: dict[tuple[str, str], str] = {}
    for address in bounces_addresses:
        local, sep, domain = address.strip().rpartition("@")
        if sep and local and domain:
            wanted[(local.lower(), domain.lower())] = address
    if not wanted:
        return None
    for candidate in _bare_addresses(recipient):
        local, sep, domain = candidate.rpartition("@")
        if not sep:
            continue
        local = _BATV_RE.sub("", local)
        base, plus, token = local.rpartition("+")
        if not plus:
            continue
        token = token.lower()
        key = (base.lower(), domain.lower().rstrip("."))
        if key in wanted and TOKEN_RE.fullmatch(token):
            return wanted[key], token
    return None


def verp_from_message(msg: Message, bounces_addresses: Iterable[str]) -> tuple[str, str] | None:
    """Find our VERP token in the envelope headers an MTA wrote into a received bounce.

    Used when the transport did not hand over the envelope recipient (IMAP): Delivered-To,
    X-Original-To, Envelope-To and finally To are tried in that order.
    """
    addresses = list(bounces_addresses)
    for name in ENVELOPE_HEADERS:
        try:
            values = msg.get_all(name) or []
        except Exception:  # a broken header must not stop the scan of the others
            continue
        for value in values:
            hit = parse_verp(str(value), addresses)
            if hit:
                return hit
    return None
