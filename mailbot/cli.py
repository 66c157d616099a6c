"""The `mailbot` command line: check, run, members, status, messages and replay (later issues add more)."""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mailbot import config as config_mod
from mailbot import members as members_mod
from mailbot.app import StartupError
from mailbot.classify import cli as rules_cli
from mailbot.classify.loader import RuleError
from mailbot.config import REPO_ROOT, ConfigError, Settings
from mailbot.jobs import cli as jobs_cli
from mailbot.jobs import tips as tips_mod
from mailbot.knowledge import cli as knowledge_cli
from mailbot.moderation import cli as moderation_cli

log = logging.getLogger("mailbot")

# Sub-command registrations from feature modules: each adds its parsers to the subparsers object.
# Explicit list (not discovery) so `mailbot --help` is predictable.
EXTENSIONS: list[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]] = [
    knowledge_cli.register,
    jobs_cli.register,
    moderation_cli.register,
    rules_cli.register,
]


class CliError(Exception):
    """A user-facing error: printed without a traceback, exit status 2."""


# -- output helpers ----------------------------------------------------------------------------
def emit(rows: Sequence[dict[str, Any]], fmt: str, columns: Sequence[str]) -> None:
    if fmt == "json":
        print(json.dumps(list(rows), ensure_ascii=False, indent=2, default=str))
        return
    if not rows:
        print("(none)")
        return
    widths = {c: max(len(c), *(len(str(r.get(c, "") or "")) for r in rows)) for c in columns}
    print("  ".join(c.upper().ljust(widths[c]) for c in columns))
    for r in rows:
        print("  ".join(str(r.get(c, "") or "").ljust(widths[c]) for c in columns))


def emit_one(data: dict[str, Any], fmt: str) -> None:
    if fmt == "json":
        print(json.dumps(data, ensure_ascii=False, indent=2, default=str))
        return
    for key, value in data.items():
        if isinstance(value, dict):
            print(f"{key}:")
            for k, v in value.items():
                print(f"  {k}: {v}")
        elif isinstance(value, list):
            print(f"{key}: {'(none)' if not value else ''}")
            for item in value:
                print(f"  - {item}")
        else:
            print(f"{key}: {value}")


def add_format(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=("table", "json"), default="table", help="output format")


# -- commands ----------------------------------------------------------------------------------
def open_app(settings: Settings, *, prepare: bool = True, **kwargs: Any) -> Any:
    """The app for one CLI command; prepared (data validated, schema migrated) unless asked not."""
    from mailbot.app import App

    app = App(settings, **kwargs)
    if prepare:
        app.prepare()
    return app


def cmd_check(settings: Settings, args: argparse.Namespace) -> int:
    app = open_app(settings, prepare=False)  # check reports data problems instead of failing
    results = app.check(network=not args.offline)
    width = max(len(r.name) for r in results)
    for r in results:
        print(f"{'ok  ' if r.ok else 'FAIL'} {r.name.ljust(width)}  {r.detail}")
    failed = [r for r in results if not r.ok]
    print(f"\n{len(results) - len(failed)} of {len(results)} checks passed")
    return 1 if failed else 0


DEMO_MEMBERS = [
    ("somchai@localhost", "สมชาย ใจดี", "ฝ่ายเทคโนโลยีสารสนเทศ", "facilitator"),
    ("suda@localhost", "สุดา รักเรียน", "ส่วนเครือข่าย", "member"),
    ("anan@localhost", "อนันต์ ช่างคิด", "ส่วนฮาร์ดแวร์", "member"),
    ("pim@localhost", "พิมพ์ใจ บันทึกดี", "ส่วนบริการ", "scribe"),
    ("director@localhost", "ผู้อำนวยการฝ่าย", "ฝ่ายบริหาร", "sponsor"),
]


def seed_demo(app: Any) -> bool:
    """Give the embedded-defaults community a few members so a first run shows something."""
    from mailbot.store.db import transaction
    from mailbot.store.queries import community_row

    community = app.settings.communities[0]
    with transaction(app.sessions) as session:
        row = community_row(session, community.slug)
        if any(True for _ in members_mod.listing(session, row)):
            return False
        for email, name, section, role in DEMO_MEMBERS:
            members_mod.add(session, row, email, app.clock, name=name, section=section, role=role)
        # The shipped KM tip library, so "KM วันละนิด" has something to send from day one.
        for draft in tips_mod.read_dir(REPO_ROOT / "tips"):
            if not isinstance(draft, tips_mod.TipError):
                tips_mod.upsert(session, row.id, draft, app.clock.now())
    return True


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    app = open_app(settings)
    if not settings.source_file:
        seeded = seed_demo(app)
        c = settings.communities[0]
        where = settings.paths.resolved_outbound_maildir()
        print(f"mailbot on embedded defaults ({'demo members added' if seeded else 'demo community'}):")
        print(f"  database:       {settings.database_url}")
        print(f"  send mail to:   {c.address} via SMTP at {settings.inbound_smtp.host}:{settings.inbound_smtp.port}")
        print(f"                  e.g. swaks --server {settings.inbound_smtp.host}:{settings.inbound_smtp.port} "
              f"--from somchai@localhost --to {c.address}")
        print(f"  outbound mail:  {where}/new/ (no SMTP relay configured)")
        print("  members:        mailbot members list km-it")
    for warning in app.role_warnings():  # e.g. held posts that no facilitator will ever see
        log.warning("%s (mailbot check)", warning)
    if args.once:
        counts = app.run_once()
        print(
            f"fetched {counts['fetched']}, jobs run {counts['jobs']}, sent {counts['sent']}, "
            f"failed {counts['failed']}, deferred {counts['deferred']}"
        )
        return 0
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("signal %s: shutting down", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # What start-up built (modules, compiled statements, templates) lives as long as the process:
    # frozen, the collector stops rescanning it in every full collection, each a pause of 0.1 s
    # or more with every thread stopped, several a second on a busy list (BENCHMARKS.md, eighth
    # pass). No collection first: it would delay the first poll, and start-up's garbage is small.
    gc.freeze()
    try:
        app.run(stop, ready=lambda: log.info("mailbot running; Ctrl-C or SIGTERM stops it"))
    except OSError as exc:
        listener = f"{settings.inbound_smtp.host}:{settings.inbound_smtp.port}"
        raise CliError(f"cannot start the SMTP listener on {listener}: {exc.strerror or exc} "
                       "(is another mailbot running? set [inbound_smtp] port)") from None
    return 0


def _community(session: Any, slug: str) -> Any:
    from mailbot.store.queries import community_row

    try:
        return community_row(session, slug)
    except LookupError as exc:
        raise CliError(str(exc)) from None


def cmd_members(settings: Settings, args: argparse.Namespace) -> int:
    from mailbot.store.db import transaction

    settings.community(args.community)  # unknown community: clear error before touching the db
    app = open_app(settings)
    with transaction(app.sessions) as session:
        row = _community(session, args.community)
        try:
            if args.action == "add":
                member, created = members_mod.add(
                    session, row, args.email, app.clock, name=args.name, role=args.role, section=args.section
                )
                print(f"{'added' if created else 'already a member'}: {member.email} ({member.role})")
            elif args.action == "remove":
                member = members_mod.remove(session, row, args.email)
                print(f"removed: {member.email}")
            elif args.action in ("set-role", "set-delivery"):
                found = members_mod.find(session, row, args.email)
                if found is None:
                    raise CliError(f"{args.email} is not a member of {args.community}")
                if args.action == "set-role":
                    found.role = members_mod.check_role(args.role)
                    print(f"{found.email}: role {found.role}")
                else:
                    found.delivery = members_mod.check_delivery(args.mode)
                    print(f"{found.email}: delivery {found.delivery}")
            elif args.action == "list":
                rows = [members_mod.as_dict(m) for m in members_mod.listing(session, row, include_left=args.all)]
                columns = ["email", "name", "section", "role", "delivery", "status"]
                if args.bouncing:
                    rows = [r for r in rows if float(str(r["bounce_score"])) > 0 or r["status"] == "disabled"]
                    columns = ["email", "name", "status", "bounce_score", "disabled_reason"]
                emit(rows, args.format, columns)
            elif args.action == "import":
                return _import(session, row, Path(args.file), app)
        except members_mod.MemberError as exc:
            raise CliError(str(exc)) from None
    return 0


def _import(session: Any, row: Any, path: Path, app: Any) -> int:
    from tqdm import tqdm

    if not path.exists():
        raise CliError(f"no such file: {path}")
    added = updated = 0
    problems: list[str] = []
    total = members_mod.count_lines(path)
    for item in tqdm(members_mod.read_csv(path), total=total, unit="member", desc="importing",
                     disable=not sys.stderr.isatty()):
        if isinstance(item, members_mod.MemberError):
            problems.append(str(item))
            continue
        _member, created = members_mod.add(
            session, row, item.email, app.clock, name=item.name, role=item.role, section=item.section
        )
        added += created
        updated += not created
    print(f"imported {added} new members, {updated} already present, {len(problems)} rows skipped")
    for p in problems:
        print(f"  skipped {p}")
    return 0


def cmd_status(settings: Settings, args: argparse.Namespace) -> int:
    from mailbot.store.queries import status_summary

    app = open_app(settings)
    with app.sessions() as session:
        emit_one(status_summary(session), args.format)
    return 0


def cmd_messages(settings: Settings, args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from mailbot.store.models import Message

    app = open_app(settings)
    with app.sessions() as session:
        query = select(Message).order_by(Message.id.desc()).limit(args.limit)
        if args.status:
            query = query.where(Message.status == args.status)
        rows = [
            {
                "id": m.id,
                "received": m.received_at.strftime("%Y-%m-%d %H:%M"),
                "from": m.from_email,
                "subject": m.subject[:50],
                "kind": m.kind,
                "rule": m.rule,
                "status": m.status,
                "reason": (m.reason.splitlines() or [""])[0][:80],
            }
            for m in session.scalars(query)
        ]
    emit(rows, args.format, ["id", "received", "from", "subject", "kind", "status", "reason"])
    return 0


def cmd_replay(settings: Settings, args: argparse.Namespace) -> int:
    app = open_app(settings)
    for pk in args.ids:
        try:
            result = app.pipeline.replay(pk)
        except KeyError as exc:
            raise CliError(str(exc)) from None
        print(f"message {pk}: {result.status} ({result.kind or '-'}) {result.reason or ''}")
    app.deliverer.drain()
    return 0


# -- parser --------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mailbot",
        description="Group-mail bot for Communities of Practice (ชุมชนนักปฏิบัติ): "
        "group mail, questions to knowledge, KM tip of the day, weekly summaries.",
    )
    p.add_argument("--config", metavar="FILE", help="TOML settings (default: $MAILBOT_CONFIG or embedded defaults)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("check", help="validate config, rules and templates; test database, IMAP and SMTP")
    s.add_argument("--offline", action="store_true", help="skip the IMAP/SMTP connection tests")
    s.set_defaults(func=cmd_check)

    s = sub.add_parser("run", help="run the bot (IMAP IDLE or SMTP listener, delivery, schedules)")
    s.add_argument(
        "--once", action="store_true", help="drain the inbox, run due jobs, deliver what is due, exit (cron)"
    )
    s.set_defaults(func=cmd_run)

    m = sub.add_parser("members", help="manage a community's members")
    msub = m.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = msub.add_parser("add", help="add a member")
    a.add_argument("community")
    a.add_argument("email")
    a.add_argument("--name", default="")
    a.add_argument("--role", default="member", help="member, facilitator, scribe, sponsor or admin")
    a.add_argument("--section", default="", help="section or department")
    a = msub.add_parser("import", help="import members from CSV (email,name,section,role)")
    a.add_argument("community")
    a.add_argument("file")
    a = msub.add_parser("list", help="list members")
    a.add_argument("community")
    a.add_argument("--all", action="store_true", help="include members who left")
    a.add_argument("--bouncing", action="store_true", help="only members with bounce trouble")
    add_format(a)
    a = msub.add_parser("remove", help="remove a member")
    a.add_argument("community")
    a.add_argument("email")
    a = msub.add_parser("set-role", help="set a member's role")
    a.add_argument("community")
    a.add_argument("email")
    a.add_argument("role", help="member, facilitator, scribe, sponsor or admin")
    a = msub.add_parser("set-delivery", help="set delivery: each, daily, weekly or none")
    a.add_argument("community")
    a.add_argument("email")
    a.add_argument("mode")
    m.set_defaults(func=cmd_members)

    s = sub.add_parser("status", help="queue sizes, last poll, recent failures")
    add_format(s)
    s.set_defaults(func=cmd_status)

    s = sub.add_parser("messages", help="list stored inbound messages and what became of them")
    s.add_argument("--status", choices=("processed", "held", "ignored", "failed"))
    s.add_argument("--limit", type=int, default=30)
    add_format(s)
    s.set_defaults(func=cmd_messages)

    s = sub.add_parser("replay", help="run stored messages (e.g. failed ones) through the pipeline again")
    s.add_argument("ids", type=int, nargs="+", metavar="ID")
    s.set_defaults(func=cmd_replay)

    for extend in EXTENSIONS:
        extend(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = config_mod.load(args.config)
    except ConfigError as exc:
        print(f"mailbot: configuration error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else getattr(logging, settings.log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        # One line per message is ours to write; the libraries' per-connection chatter is not.
        for noisy in ("mail.log", "apscheduler", "alembic.runtime.migration"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return int(args.func(settings, args) or 0)
    except (CliError, ConfigError, StartupError, RuleError, members_mod.MemberError) as exc:
        print(f"mailbot: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`mailbot messages | head`): stop quietly, as other tools do.
        # Point stdout at /dev/null so the interpreter's final flush does not complain either.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
