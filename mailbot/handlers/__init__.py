"""The one explicit table from message kind to handler (no decorators, no scanning)."""

from __future__ import annotations

from mailbot.handlers.answer import handle_answer
from mailbot.handlers.base import Handler
from mailbot.handlers.bounce import handle_bounce
from mailbot.handlers.commands import handle_command
from mailbot.handlers.held import handle_held
from mailbot.handlers.owner import handle_owner
from mailbot.handlers.post import handle_post
from mailbot.handlers.question import handle_question
from mailbot.handlers.simple import handle_auto_reply, handle_ignored, handle_loop
from mailbot.handlers.tip import handle_tip

HANDLERS: dict[str, Handler] = {
    "post": handle_post,
    "held": handle_held,
    "loop": handle_loop,
    "auto-reply": handle_auto_reply,
    "ignored": handle_ignored,
    "bounce": handle_bounce,
    "owner": handle_owner,
    "command": handle_command,
    "question": handle_question,
    "answer": handle_answer,
    "tip": handle_tip,
}
