"""A reply in a thread: store the answer (new text only), handle #solved/#accept/#kb, distribute."""

from __future__ import annotations

from mailbot.handlers.base import Context, Outcome
from mailbot.handlers.post import handle_post


def handle_answer(ctx: Context) -> Outcome:
    return handle_post(ctx)
