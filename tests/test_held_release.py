"""An approved held post is handled as if it had not been held: questions still become threads."""

from __future__ import annotations

from sqlalchemy import select

from mailbot.knowledge.models import Thread
from mailbot.store.models import Message
from tests.test_commands_support import Bot

pytest_plugins = ("tests.test_commands_support",)  # the `bot` fixture


def _approve_held(bot: Bot) -> None:
    subject = next(s.subject for s in bot.outbox() if s.kind == "held-for-moderation")
    bot.command("somchai@example.net", "อนุมัติ", subject=f"ตอบกลับ: {subject}")


def test_approved_question_from_a_guest_opens_a_numbered_thread(bot: Bot) -> None:
    bot.post("guest@example.com", "ถาม: ลงโปรแกรมแอนตี้ไวรัสตัวไหนดี", "เครื่องที่บ้านช้ามากค่ะ")
    _approve_held(bot)
    [copy] = bot.outbox("list-copy", new=False)
    assert "#Q1]" in copy.subject
    with bot.app.sessions() as s:
        thread = s.scalars(select(Thread)).one()
        record = s.scalars(select(Message).where(Message.from_email == "guest@example.com")).one()
    assert thread.number == 1 and thread.asker_email == "guest@example.com"
    assert (record.kind, record.status) == ("question", "processed")
    assert record.reason.startswith("approved by somchai@example.net")


def test_approved_plain_post_is_still_a_post(bot: Bot) -> None:
    bot.post("guest@example.com", "Our AAR template", "Sharing our template.")
    _approve_held(bot)
    [copy] = bot.outbox("list-copy", new=False)
    assert "#Q" not in copy.subject
