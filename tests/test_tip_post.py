"""`#tip` on the first line of a group post submits a KM tip instead of starting a discussion."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path
from typing import Any

from sqlalchemy import select

from mailbot.jobs.models import Tip
from tests.helpers import add_members, make_app, member_mail, settings_for


def test_hash_tip_post_becomes_a_pending_tip(db_url: str, tmp_path: Path, smtp_sink: Any) -> None:
    app = make_app(settings_for(db_url, tmp_path, smtp_port=smtp_sink.port))
    add_members(app, ("somchai@example.org", "สมชาย", "facilitator"), ("suda@example.org", "สุดา"),
                ("anan@example.org", "อนันต์"))  # fmt: skip
    raw = member_mail(
        "suda@example.org",
        "เคล็ดลับเรื่องไวรัส",
        "#tip อย่าเปิดไฟล์แนบที่ไม่รู้จัก #virus\nสวัสดีค่ะ ทุกท่าน\nไฟล์ .exe หรือ .js ในอีเมลมักเป็นไวรัส ลบทิ้งได้เลย\n\nขอบคุณค่ะ\nสุดา",
    )
    result = app.ingest(raw, source="test", source_ref="tip1")
    assert (result.kind, result.status) == ("tip", "processed")
    with app.sessions() as s:
        tip = s.scalars(select(Tip)).one()
    assert tip.status == "pending" and tip.topic == "virus"
    assert tip.title == "อย่าเปิดไฟล์แนบที่ไม่รู้จัก"
    # The tip goes to everyone as the day's tip: the greeting and the sign-off stay out.
    assert tip.body == "ไฟล์ .exe หรือ .js ในอีเมลมักเป็นไวรัส ลบทิ้งได้เลย"
    app.deliverer.drain()
    got = smtp_sink.wait_for(2)
    to = sorted(r for m in got for r in m.rcpt_tos)
    # An approval request to the facilitator and an acknowledgement to the sender; no list copy.
    assert to == ["somchai@example.org", "suda@example.org"]
    for m in got:
        assert email.message_from_bytes(m.data, policy=email.policy.default)["Auto-Submitted"]
    approval = next(m for m in got if m.rcpt_tos == ["somchai@example.org"])
    text = email.message_from_bytes(approval.data, policy=email.policy.default).get_body(("plain",)).get_content()
    assert "หมวด: ไวรัสและความปลอดภัย" in text  # the topic as members know it


def test_tip_in_a_quote_is_just_a_post(db_url: str, tmp_path: Path, smtp_sink: Any) -> None:
    app = make_app(settings_for(db_url, tmp_path, smtp_port=smtp_sink.port))
    add_members(app, ("suda@example.org", "สุดา"), ("anan@example.org", "อนันต์"))
    raw = member_mail("suda@example.org", "Re: x", "ขอบคุณค่ะ\n\n> #tip something quoted\n")
    assert app.ingest(raw, source="test", source_ref="tip2").kind != "tip"
