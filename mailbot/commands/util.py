"""Small helpers shared by the command functions: language, policy, results."""

from __future__ import annotations

from mailbot.commands.base import CommandResult
from mailbot.handlers.base import Context
from mailbot.moderation.policy import Policy, policy


def lang(ctx: Context) -> str:
    return ctx.community.language if ctx.community else "en"


def t(ctx: Context, en: str, th: str) -> str:
    """The community's language: Thai communities read Thai replies."""
    return th if lang(ctx) == "th" else en


def pol(ctx: Context) -> Policy:
    assert ctx.community is not None
    return policy(ctx.settings, ctx.community)


def done(summary: str, **reply_context: object) -> CommandResult:
    return CommandResult("done", summary, reply_context=dict(reply_context))


def refused(summary: str) -> CommandResult:
    return CommandResult("refused", summary)
