"""`mailbot tips ...`, `mailbot summary ...` and `mailbot jobs ...` sub-commands."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from mailbot.config import CommunitySettings, Settings


def _cli() -> Any:
    from mailbot import cli  # the main CLI imports us: import it lazily, not at module load

    return cli


def _community(settings: Settings, slug: str | None) -> CommunitySettings:
    if slug:
        return settings.community(slug)
    if len(settings.communities) == 1:
        return settings.communities[0]
    raise _cli().CliError("several communities are configured: say which with --community")


def _app(settings: Settings, now: str | None = None) -> Any:
    """The app, on a clock frozen at `--now` when given (to run or preview a past period)."""
    from mailbot.clock import FrozenClock

    clock = None
    if now:
        try:
            when = datetime.fromisoformat(now)
        except ValueError:
            raise _cli().CliError(f"--now {now!r}: expected ISO date-time, e.g. 2026-11-23T08:00+07:00") from None
        if when.tzinfo is None:
            raise _cli().CliError("--now needs a timezone offset, e.g. 2026-11-23T08:00+07:00")
        clock = FrozenClock(when)
    return _cli().open_app(settings, clock=clock)


# -- tips ------------------------------------------------------------------------------------------
def cmd_tips(settings: Settings, args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from mailbot.jobs import tips
    from mailbot.store.db import transaction
    from mailbot.store.queries import community_row

    community = _community(settings, args.community)
    app = _app(settings)
    cli = _cli()
    with transaction(app.sessions) as session:
        row = community_row(session, community.slug)
        now = app.clock.now()
        try:
            if args.action == "import":
                directory = Path(args.dir)
                if not directory.is_dir():
                    raise cli.CliError(f"no such folder: {directory}")
                added = updated = 0
                problems: list[str] = []
                files = tips.tip_files(directory)
                for item in tqdm(tips.read_dir(directory), total=len(files), unit="tip", desc="importing",
                                 disable=not sys.stderr.isatty()):  # fmt: skip
                    if isinstance(item, tips.TipError):
                        problems.append(str(item))
                        continue
                    _tip, created = tips.upsert(session, row.id, item, now)
                    added += created
                    updated += not created
                print(f"imported {added} new tips, {updated} updated, {len(problems)} files skipped")
                for p in problems:
                    print(f"  skipped {p}")
            elif args.action == "list":
                rows = [tips.as_dict(t) for t in tips.listing(session, row.id, args.status)]
                cli.emit(rows, args.format, ["id", "status", "topic", "times_sent", "title"])
            elif args.action == "add":
                text = Path(args.file).read_text(encoding="utf-8") if args.file else (args.text or "")
                if args.file and not args.title:
                    draft = tips.parse_tip(text, Path(args.file).stem)
                else:
                    if not args.title:
                        raise cli.CliError("give --title (or a --file with front matter)")
                    draft = tips.TipDraft(tips.slug_key(args.title), args.title, args.topic.lower(),
                                          args.source, text.strip())  # fmt: skip
                    if not draft.body:
                        raise cli.CliError("give the tip's text with --text or --file")
                tip, created = tips.upsert(session, row.id, draft, now)
                print(f"{'added' if created else 'updated'} tip {tip.id}: {tip.title}")
            elif args.action in ("disable", "enable", "approve", "reject"):
                status = {"disable": "disabled", "enable": "active", "approve": "active", "reject": "rejected"}
                tip = tips.set_status(session, row.id, args.id, status[args.action])
                print(f"tip {tip.id}: {tip.status}")
            elif args.action == "promote":
                from mailbot.jobs.promote import promote_entry

                tip = promote_entry(session, row.id, args.entry, now)
                print(f"entry {args.entry} is now tip {tip.id}: {tip.title}")
        except tips.TipError as exc:
            raise cli.CliError(str(exc)) from None
    return 0


# -- summary -----------------------------------------------------------------------------------------
def cmd_summary(settings: Settings, args: argparse.Namespace) -> int:
    from mailbot.jobs import periods, weekly_summary
    from mailbot.jobs.base import JobEnv
    from mailbot.store.queries import community_row

    community = settings.community(args.community)
    app = _app(settings)
    env = JobEnv.from_app(app)
    if args.week:
        try:
            period = periods.iso_week(args.week, community.tz)
        except ValueError as exc:
            raise _cli().CliError(str(exc)) from None
    else:
        fire = periods.latest_due(weekly_summary.schedule(community), app.clock.now(), community.tz)
        period = periods.previous_seven_days(fire, community.tz)
    with app.sessions() as session:
        fig = weekly_summary.figures(session, community, community_row(session, community.slug), period)
    if args.format == "json":
        _cli().emit_one(fig.context(), "json")
        return 0
    rendered = weekly_summary.render(env, community, fig)
    if args.out:
        out = Path(args.out)
        png = weekly_summary.chart(community, fig)
        chart_file = out.with_suffix(".png")
        chart_file.write_bytes(png)
        # A browser cannot resolve cid:, so the preview file points at the PNG beside it.
        html = rendered.html.replace(f"cid:{weekly_summary.CHART_CID}", chart_file.name)
        out.write_text(html, encoding="utf-8")
        print(f"{rendered.subject}\nwritten: {out} and {chart_file}")
    else:
        print(f"Subject: {rendered.subject}\n")
        print(rendered.text)
    return 0


# -- jobs ----------------------------------------------------------------------------------------------
def cmd_jobs(settings: Settings, args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from mailbot.jobs import JOBS, run_job
    from mailbot.jobs.base import JobEnv
    from mailbot.jobs.models import JobRun
    from mailbot.store.models import Community

    cli = _cli()
    if args.action == "names":
        cli.emit([{"name": s.name, "summary": s.summary} for s in JOBS.values()], args.format, ["name", "summary"])
        return 0
    if args.action == "run":
        if args.name not in JOBS:
            raise cli.CliError(f"unknown job {args.name!r} (jobs: {', '.join(JOBS)})")
        community = _community(settings, args.community)
        app = _app(settings, args.now)
        result = run_job(JobEnv.from_app(app), args.name, community, by_hand=True)
        if not args.no_deliver:
            app.deliverer.drain()
        cli.emit_one(result.as_dict(), args.format)
        return 0 if result.status != "failed" else 1
    app = _app(settings)
    with app.sessions() as session:
        query = (
            select(JobRun, Community.slug)
            .join(Community, Community.id == JobRun.community_id)
            .order_by(JobRun.id.desc())
            .limit(args.limit)
        )
        if args.community:
            query = query.where(Community.slug == args.community)
        rows = [
            {"id": r.id, "job": r.job, "community": slug, "period": r.period,
             "ran_at": r.ran_at.isoformat(timespec="seconds"), "messages": r.messages,
             "recipients": r.recipients, "detail": r.detail}
            for r, slug in session.execute(query)
        ]  # fmt: skip
    cli.emit(rows, args.format, ["id", "job", "community", "period", "ran_at", "recipients", "detail"])
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the scheduling sub-commands to the main parser."""
    from mailbot.cli import add_format

    t = sub.add_parser("tips", help="the KM tip-of-the-day library")
    tsub = t.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = tsub.add_parser("import", help="import Markdown tips (front matter: title, topic, source) from DIR")
    a.add_argument("dir")
    a.add_argument("--community")
    a = tsub.add_parser("list", help="list tips")
    a.add_argument("--community")
    a.add_argument("--status", choices=("active", "pending", "disabled", "rejected"))
    add_format(a)
    a = tsub.add_parser("add", help="add one tip")
    a.add_argument("--community")
    a.add_argument("--title", default="")
    a.add_argument("--topic", default="")
    a.add_argument("--source", default="")
    a.add_argument("--text")
    a.add_argument("--file", help="a Markdown file (with or without front matter)")
    for verb, text in (("disable", "stop sending a tip"), ("enable", "send a disabled tip again"),
                       ("approve", "approve a tip members submitted"), ("reject", "reject a submitted tip")):
        a = tsub.add_parser(verb, help=text)
        a.add_argument("id", type=int)
        a.add_argument("--community")
    a = tsub.add_parser("promote", help="make a published knowledge entry a tip")
    a.add_argument("entry", type=int, help="knowledge entry number")
    a.add_argument("--community")
    t.set_defaults(func=cmd_tips)

    s = sub.add_parser("summary", help="the weekly summary for sponsors")
    ssub = s.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = ssub.add_parser("preview", help="render a week's summary without sending it")
    a.add_argument("community")
    a.add_argument("--week", help="ISO week, e.g. 2026-W47 (default: the last complete one)")
    a.add_argument("--out", help="write HTML here (and the chart as .png beside it)")
    add_format(a)
    s.set_defaults(func=cmd_summary)

    j = sub.add_parser("jobs", help="scheduled jobs: run one by hand, list past runs")
    jsub = j.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = jsub.add_parser("run", help="run a job now (keyed: never twice for one period)")
    a.add_argument("name")
    a.add_argument("--community")
    a.add_argument("--now", help="pretend it is this ISO time (with offset)")
    a.add_argument("--no-deliver", action="store_true", help="only queue the mail")
    add_format(a)
    a = jsub.add_parser("list", help="past job runs")
    a.add_argument("--community")
    a.add_argument("--limit", type=int, default=30)
    add_format(a)
    a = jsub.add_parser("names", help="the job names")
    add_format(a)
    j.set_defaults(func=cmd_jobs)
