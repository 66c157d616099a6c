"""VERP addresses: building them, reading the member token back from a bounce's envelope or headers."""

from __future__ import annotations

import email
import email.policy
import smtplib
from typing import Any

import pytest

from mailbot.mail.verp import TOKEN_RE, new_member_token, parse_verp, verp_from_message, verp_sender
from tests.corpus_files import corpus_root

BOUNCES = "km-it-bounces@example.org"


def test_verp_sender_puts_token_after_plus() -> None:
    assert verp_sender(BOUNCES, "a1b2c3") == "km-it-bounces+a1b2c3@example.org"


@pytest.mark.parametrize("token", ["abc", "a" * 33, "ab-cd-ef", "abc def", ""])
def test_verp_sender_refuses_bad_tokens(token: str) -> None:
    with pytest.raises(ValueError):
        verp_sender(BOUNCES, token)


def test_verp_sender_refuses_non_address() -> None:
    with pytest.raises(ValueError):
        verp_sender("km-it-bounces", "a1b2c3")


def test_round_trip_with_fresh_tokens() -> None:
    tokens = {new_member_token() for _ in range(200)}
    assert len(tokens) == 200  # 60 random bits: no collisions in a small sample
    for token in tokens:
        assert len(token) == 12 and token == token.lower() and TOKEN_RE.fullmatch(token)
        assert parse_verp(verp_sender(BOUNCES, token), [BOUNCES]) == (BOUNCES, token)


@pytest.mark.parametrize(
    "recipient",
    [
        "km-it-bounces+a1b2c3@example.org",
        "KM-IT-Bounces+A1B2C3@EXAMPLE.ORG",  # some MTAs upper-case what they echo back
        "<km-it-bounces+a1b2c3@example.org>",
        "Bounce Handler <km-it-bounces+a1b2c3@example.org>",
        "rfc822; km-it-bounces+a1b2c3@example.org",  # DSN Original-Recipient form
        "prvs=0123456789=km-it-bounces+a1b2c3@example.org",  # BATV-signed on the way out
        "km-it-bounces+a1b2c3@example.org.",  # trailing root dot
    ],
)
def test_parse_verp_recognises_forms(recipient: str) -> None:
    assert parse_verp(recipient, ["other-bounces@example.org", BOUNCES]) == (BOUNCES, "a1b2c3")


@pytest.mark.parametrize(
    "recipient",
    [
        "km-it-bounces@example.org",  # no token
        "km-it-bounces+a1b@example.org",  # token too short
        "km-it-bounces+a1b2c3!@example.org",  # not [a-z0-9]
        "km-hr-bounces+a1b2c3@example.org",  # someone else's list
        "km-it-bounces+a1b2c3@example.net",  # other domain
        "km-it+a1b2c3@example.org",  # the posting address, not the bounce address
        "member@example.com",
        "",
        "not an address at all",
    ],
)
def test_parse_verp_rejects_other_addresses(recipient: str) -> None:
    assert parse_verp(recipient, [BOUNCES]) is None


def test_parse_verp_with_no_bounce_addresses() -> None:
    assert parse_verp("km-it-bounces+a1b2c3@example.org", []) is None


def _real_dsn() -> bytes:
    path = corpus_root() / "bounces" / "flanker" / "bounce__no-mx.eml"
    if not path.is_file():
        pytest.skip(f"corpus file missing: {path}")
    return path.read_bytes()


@pytest.mark.parametrize("header", ["Delivered-To", "X-Original-To", "Envelope-To"])
def test_token_found_in_envelope_header_of_real_dsn(header: str) -> None:
    token = new_member_token()
    raw = f"{header}: {verp_sender(BOUNCES, token)}\r\n".encode() + _real_dsn()
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    assert verp_from_message(msg, [BOUNCES]) == (BOUNCES, token)


def test_real_dsn_without_our_address_has_no_token() -> None:
    msg = email.message_from_bytes(_real_dsn(), policy=email.policy.compat32)
    assert verp_from_message(msg, [BOUNCES]) is None


def test_bounce_over_real_smtp_names_member_by_envelope_recipient(smtp_sink: Any) -> None:
    """A remote MTA returns a DSN with a null sender to our VERP address over real SMTP."""
    token = new_member_token()
    verp = verp_sender(BOUNCES, token)
    with smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=10) as smtp:
        # SMTP wants CRLF; the corpus file has bare LFs, which smtplib leaves alone in bytes.
        wire = _real_dsn().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        smtp.sendmail("<>", [verp.upper()], wire)
    [received] = smtp_sink.wait_for(1)
    assert received.mail_from in ("", "<>")
    assert parse_verp(received.rcpt_tos[0], [BOUNCES]) == (BOUNCES, token)
