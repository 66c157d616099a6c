"""Several communities in one deployment: one shared mailbox told apart by envelope headers, and
a community with a mailbox of its own."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import uuid
from pathlib import Path
from typing import Any

from mailbot.config import CommunitySettings, ImapSettings
from tests.helpers import add_members, make_app, member_mail, settings_for


def _user(dovecot: Any) -> tuple[str, str]:
    name, password = f"t{uuid.uuid4().hex[:10]}", uuid.uuid4().hex[:12]
    dovecot.add_user(name, password)
    return name, password


def test_shared_mailbox_and_own_mailbox(
    db_url: str, tmp_path: Path, dovecot: Any, imap_settings: ImapSettings, smtp_sink: Any
) -> None:
    own_user, own_password = _user(dovecot)
    own_imap = dataclasses.replace(imap_settings, username=own_user, password=own_password)
    communities = [
        CommunitySettings(slug="km-it", address="km-it@example.org", subject_prefix="[KM-IT]"),
        CommunitySettings(slug="km-net", address="km-net@example.org", subject_prefix="[KM-NET]", language="en"),
        CommunitySettings(slug="km-ebook", address="km-ebook@example.org", subject_prefix="[E-BOOK]", imap=own_imap),
    ]
    app = make_app(settings_for(db_url, tmp_path, smtp_port=smtp_sink.port, imap=imap_settings,
                                communities=communities))  # fmt: skip
    add_members(app, ("a@example.org", "A"), ("b@example.org", "B"), slug="km-it")
    add_members(app, ("c@example.org", "C"), ("d@example.org", "D"), slug="km-net")
    add_members(app, ("e@example.org", "E"), ("f@example.org", "F"), slug="km-ebook")
    shared = imap_settings.username
    # The MTA delivered km-net's copy into the shared mailbox although the visible To is km-it's.
    dovecot.append(shared, "INBOX", member_mail("a@example.org", "it post", "x"))
    dovecot.append(shared, "INBOX", member_mail(
        "c@example.org", "net post", "y", to="km-it@example.org", headers={"Delivered-To": "km-net@example.org"}
    ))  # fmt: skip
    dovecot.append(own_user, "INBOX", member_mail("e@example.org", "ebook post", "z", to="km-ebook@example.org"))
    counts = app.run_once()
    assert counts["fetched"] == 3
    got = smtp_sink.wait_for(3)
    by_rcpt = {
        r: str(email.message_from_bytes(m.data, policy=email.policy.default)["Subject"])
        for m in got for r in m.rcpt_tos
    }  # fmt: skip
    assert by_rcpt == {
        "b@example.org": "[KM-IT] it post",
        "d@example.org": "[KM-NET] net post",
        "f@example.org": "[E-BOOK] ebook post",
    }
    assert dovecot.list_uids(shared, "INBOX") == [] and dovecot.list_uids(own_user, "INBOX") == []
