"""`mailbot held list|approve|reject|discard|expire`, `mailbot roles`, `mailbot bounces probe`."""

from __future__ import annotations

import argparse
import functools
from typing import Any

from mailbot.config import ROLES, Settings


def _cli_open_app(settings: Settings) -> Any:
    from mailbot.cli import open_app  # the CLI imports this module: import it when used

    return open_app(settings)


def cmd_roles(settings: Settings, args: argparse.Namespace) -> int:
    from mailbot.cli import emit
    from mailbot.moderation.roles import ROLE_NAMES_TH, table_rows

    if args.format == "table":
        print("roles: " + ", ".join(f"{r} ({ROLE_NAMES_TH[r]})" for r in ROLES))
    emit(table_rows(), args.format, ["permission", *ROLES, "authenticated", "description"])
    return 0


def cmd_held(settings: Settings, args: argparse.Namespace) -> int:
    from mailbot.cli import CliError, emit
    from mailbot.moderation import held as held_mod
    from mailbot.moderation.policy import policy
    from mailbot.store.db import transaction
    from mailbot.store.queries import community_row

    app = _cli_open_app(settings)
    slugs = [args.community] if args.community else [c.slug for c in settings.communities]
    if args.action == "expire":
        from mailbot.moderation.maintenance import tick

        print(tick(app))
        app.deliverer.drain()
        return 0
    with transaction(app.sessions) as session:
        if args.action == "list":
            rows = []
            for slug in slugs:
                row = community_row(session, slug)
                for item in held_mod.pending(session, row.id):
                    rows.append({
                        "community": slug, "id": item.id, "token": item.token, "kind": item.kind,
                        "from": item.sender, "subject": item.subject[:50], "reason": item.reason,
                        "held": item.created_at.strftime("%Y-%m-%d %H:%M"),
                        "expires": item.expires_at.strftime("%Y-%m-%d %H:%M"),
                    })
            emit(rows, args.format, ["community", "id", "token", "from", "subject", "reason", "expires"])
            return 0
        community = settings.community(args.community)
        row = community_row(session, community.slug)
        try:
            item = held_mod.find(session, row.id, args.item)
            summary = held_mod.decide(
                session, app.renderer, community=community, community_row=row,
                pol=policy(settings, community), item=item, action=args.action,
                by=args.by, note=" ".join(getattr(args, "reason", []) or []), now=app.clock.now(),
                clock=app.clock, release=functools.partial(app.pipeline.release, session),
            )
        except held_mod.HeldError as exc:
            raise CliError(str(exc)) from None
    print(summary)
    app.deliverer.drain()
    return 0


def cmd_bounces(settings: Settings, args: argparse.Namespace) -> int:
    from mailbot.moderation.maintenance import tick

    app = _cli_open_app(settings)
    print(tick(app))
    app.deliverer.drain()
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the moderation sub-commands to the main parser."""
    from mailbot.cli import add_format

    s = sub.add_parser("roles", help="the permission table: which role may do what")
    add_format(s)
    s.set_defaults(func=cmd_roles)

    h = sub.add_parser("held", help="posts and join requests waiting for a facilitator")
    hsub = h.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = hsub.add_parser("list", help="list pending held items")
    a.add_argument("community", nargs="?")
    add_format(a)
    for action, text in (("approve", "send the held post / accept the join request"),
                         ("reject", "refuse it and tell the sender why"),
                         ("discard", "drop it silently")):
        a = hsub.add_parser(action, help=text)
        a.add_argument("community")
        a.add_argument("item", help="held item code (token) or id")
        a.add_argument("--by", default="cli", help="who decided (recorded)")
        if action == "reject":
            a.add_argument("reason", nargs="*", help="reason told to the sender")
    a = hsub.add_parser("expire", help="expire overdue items and run bounce probes now")
    a.add_argument("community", nargs="?")
    h.set_defaults(func=cmd_held)

    b = sub.add_parser("bounces", help="bounce handling")
    bsub = b.add_subparsers(dest="action", required=True, metavar="ACTION")
    bsub.add_parser("probe", help="send due re-enable probes, re-enable quiet addresses (also expires held items)")
    b.set_defaults(func=cmd_bounces)
