"""Kinds that are recorded and never redistributed: loops, auto-replies, unrouted mail, bounces (basic)."""

from __future__ import annotations

from mailbot.handlers.base import Context, Outcome


def handle_loop(ctx: Context) -> Outcome:
    return Outcome("ignored", f"loop: {ctx.decision.rule}")


def handle_auto_reply(ctx: Context) -> Outcome:
    return Outcome("ignored", f"auto-reply ({ctx.facts.bounce.reason})")


def handle_ignored(ctx: Context) -> Outcome:
    return Outcome("ignored", ctx.decision.rule)
