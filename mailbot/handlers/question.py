"""A member's question: open a numbered thread and distribute it with the thread tag."""

from __future__ import annotations

from mailbot.handlers.base import Context, Outcome
from mailbot.handlers.post import handle_post


def handle_question(ctx: Context) -> Outcome:
    return handle_post(ctx)
