"""The contract every e-mail command implements: a function of (context, argument text) to a result."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mailbot.handlers.base import Context


@dataclass
class CommandResult:
    status: str  # done | refused | error
    summary: str  # one line for the command-reply mail ("subscribed somchai@…", "only facilitators may …")
    # A command that answers with its own mail (search results, a kb entry, help) names its template
    # and context here; the command handler sends it instead of folding it into command-reply.
    reply_template: str | None = None
    reply_context: dict[str, Any] = field(default_factory=dict)
    # The command already wrote to the sender itself (a confirmation code to their own address):
    # that mail says what happened, so no command-reply is needed for it.
    mailed_sender: bool = False


CommandFn = Callable[[Context, str], CommandResult]


@dataclass(frozen=True)
class Command:
    name: str  # stable kebab-case id, e.g. "search"
    aliases: tuple[str, ...]  # other spellings, Thai included, e.g. ("ค้นหา", "find")
    summary_en: str
    summary_th: str
    fn: CommandFn
    needs_member: bool = True  # non-members may only use subscribe/help-like commands
    # Changes the sender's own state (delivery, profile): a From that is not authenticated by our
    # server (Authentication-Results) must first confirm by replying to a mailed code.
    changes_state: bool = False
    # Permission id from mailbot.moderation.roles.PERMISSIONS the sender's role must hold; when the
    # community requires it, a passing DMARC/DKIM verdict as well. '' for none.
    permission: str = ""
    # The lines below the command word are its argument (profile: a self-introduction).
    takes_body: bool = False
