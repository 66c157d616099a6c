"""E-mail commands to <list>-request (help, subscribe, search, ...)."""

from __future__ import annotations

from mailbot.handlers.base import Context, Outcome


def handle_command(ctx: Context) -> Outcome:
    return Outcome("ignored", "e-mail commands are not implemented yet")
