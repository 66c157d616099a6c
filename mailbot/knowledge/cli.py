"""`mailbot kb list|show|search|edit|export` and `mailbot threads list|show` sub-commands."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import select


def _open(settings: Any, slug: str) -> tuple[Any, Any]:
    from mailbot.cli import open_app  # the CLI imports this module: import it when used

    community = settings.community(slug)  # unknown community: clear error before the database
    app = open_app(settings)
    return app, community


def _row(session: Any, slug: str) -> Any:
    from mailbot.cli import _community

    return _community(session, slug)


def _topics(settings: Any) -> Any:
    from mailbot.knowledge.topics import topics_for

    return topics_for(str(settings.paths.resolved_rules_dir()))


def cmd_kb(settings: Any, args: argparse.Namespace) -> int:
    from mailbot.cli import CliError, emit, emit_one
    from mailbot.knowledge import entries, search
    from mailbot.store.db import transaction

    app, community = _open(settings, args.community)
    topics = _topics(settings)
    lang = community.language
    with transaction(app.sessions) as session:
        row = _row(session, args.community)
        if args.action == "list":
            rows = [
                {
                    "number": e.number,
                    "title": e.title,
                    "topic": e.topic,
                    "status": e.status,
                    "updated": e.updated_at.strftime("%Y-%m-%d"),
                }
                for e in entries.list_entries(session, row.id, args.status)
            ]
            emit(rows, args.format, ["number", "title", "topic", "status", "updated"])
        elif args.action == "show":
            entry = entries.entry_by_number(session, row.id, args.number)
            if entry is None:
                raise CliError(f"{args.community} has no knowledge entry {args.number}")
            emit_one(entries.entry_view_in(session, entry, topics, lang), args.format)
        elif args.action == "search":
            query = " ".join(args.words)
            from mailbot.knowledge.synonyms import synonyms_for

            hits = search.search(
                session,
                row.id,
                query,
                limit=args.limit,
                entries_only=not args.threads,
                include_hidden=args.drafts,
                synonyms=synonyms_for(str(settings.paths.resolved_rules_dir())),
            )
            emit(
                [
                    {
                        "kind": h.kind,
                        "number": h.number,
                        "title": h.title,
                        "topic": h.topic,
                        "status": h.status,
                        "score": round(h.score, 4),
                        "excerpt": " ".join(h.excerpt.split())[:80],
                    }
                    for h in hits
                ],
                args.format,
                ["kind", "number", "title", "topic", "status", "excerpt"],
            )
        elif args.action == "edit":
            entry = entries.entry_by_number(session, row.id, args.number)
            if entry is None:
                raise CliError(f"{args.community} has no knowledge entry {args.number}")
            answer = Path(args.answer_file).read_text(encoding="utf-8") if args.answer_file else None
            try:
                entries.edit_entry(
                    session, entry, now=app.clock.now(), title=args.title, answer=answer,
                    topic=args.topic, status=args.status,
                )
            except entries.EntryError as exc:
                raise CliError(str(exc)) from None
            print(f"entry {entry.number} updated ({entry.status})")
        elif args.action == "export":
            return _export(session, row, Path(args.dir), topics, lang)
    return 0


def _slug(title: str) -> str:
    return re.sub(r"[^\w\u0e00-\u0e7f]+", "-", title.casefold()).strip("-")[:60] or "entry"


def _export(session: Any, row: Any, out: Path, topics: Any, lang: str) -> int:
    """One Markdown file per entry plus entries.json (everything, for re-import or other tools)."""
    from tqdm import tqdm

    from mailbot.knowledge import entries

    out.mkdir(parents=True, exist_ok=True)
    items = entries.list_entries(session, row.id)
    worked = entries.worked_for(session, [e.id for e in items])  # one query for them all
    dump = []
    for e in tqdm(items, unit="entry", desc="exporting", disable=not sys.stderr.isatty()):
        view = entries.entry_view(e, topics, lang, entries.thread_number_of(session, e), worked.get(e.id, 0))
        dump.append(view)
        lines = [f"# {e.number}. {e.title}", "", f"- topic: {view['topic'] or '-'}", f"- status: {e.status}"]
        if view["thread_number"]:
            lines.append(f"- thread: {view['thread_number']}")
        lines += [f"- filed: {e.created_at.date().isoformat()}", "", "## Question", "", e.question, "",
                  "## Answer", "", e.answer, ""]
        for h in view["helpful"]:
            lines += [f"### Also helpful ({h['author']})", "", h["text"], ""]
        if view["contributors"]:
            lines += ["Contributors: " + ", ".join(view["contributors"]), ""]
        (out / f"{e.number:05d}-{_slug(e.title)}.md").write_text("\n".join(lines), encoding="utf-8")
    (out / "entries.json").write_text(json.dumps(dump, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    print(f"exported {len(items)} entries to {out}")
    return 0


def cmd_threads(settings: Any, args: argparse.Namespace) -> int:
    from mailbot.cli import CliError, emit, emit_one
    from mailbot.knowledge import threads
    from mailbot.knowledge.models import Thread

    app, community = _open(settings, args.community)
    with app.sessions() as session:
        row = _row(session, args.community)
        if args.action == "list":
            query = select(Thread).where(Thread.community_id == row.id).order_by(Thread.number)
            if args.unanswered:
                query = query.where(Thread.status == "open")
            elif args.status:
                query = query.where(Thread.status == args.status)
            rows = [
                {
                    "number": t.number,
                    "tag": threads.tag_for(community.thread_tag, t.number),
                    "subject": t.subject,
                    "status": t.status,
                    "asker": t.asker_name or t.asker_email,
                    "topic": t.topic,
                    "answers": t.answer_count,
                    "created": t.created_at.strftime("%Y-%m-%d"),
                }
                for t in session.scalars(query)
            ]
            emit(rows, args.format, ["tag", "subject", "status", "asker", "topic", "answers", "created"])
        else:
            thread = threads.thread_by_number(session, row.id, args.number)
            if thread is None:
                raise CliError(f"{args.community} has no thread {args.number}")
            emit_one(threads.thread_view(session, thread, community.thread_tag), args.format)
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the knowledge sub-commands to the main parser."""
    from mailbot.cli import add_format

    kb = sub.add_parser("kb", help="knowledge entries: list, show, search, edit, export")
    ksub = kb.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = ksub.add_parser("list", help="list a community's knowledge entries")
    a.add_argument("community")
    a.add_argument("--status", choices=("draft", "published", "stale"))
    add_format(a)
    a = ksub.add_parser("show", help="one entry in full")
    a.add_argument("community")
    a.add_argument("number", type=int)
    add_format(a)
    a = ksub.add_parser("search", help="search entries (Thai and English)")
    a.add_argument("community")
    a.add_argument("words", nargs="+")
    a.add_argument("--limit", type=int, default=10)
    a.add_argument("--threads", action="store_true", help="include open (unsolved) threads")
    a.add_argument("--drafts", action="store_true", help="include drafts awaiting scribe review")
    add_format(a)
    a = ksub.add_parser("edit", help="correct an entry (scribe)")
    a.add_argument("community")
    a.add_argument("number", type=int)
    a.add_argument("--title")
    a.add_argument("--topic")
    a.add_argument("--status", choices=("draft", "published", "stale"))
    a.add_argument("--answer-file", metavar="FILE", help="replace the answer with this file's text")
    a = ksub.add_parser("export", help="write every entry as Markdown plus entries.json")
    a.add_argument("community")
    a.add_argument("dir")
    kb.set_defaults(func=cmd_kb)

    th = sub.add_parser("threads", help="question threads: list, show")
    tsub = th.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = tsub.add_parser("list", help="list threads")
    a.add_argument("community")
    a.add_argument("--unanswered", action="store_true", help="only questions nobody has answered")
    a.add_argument("--status", choices=("open", "answered", "solved"))
    add_format(a)
    a = tsub.add_parser("show", help="one thread with its answers")
    a.add_argument("community")
    a.add_argument("number", type=int)
    add_format(a)
    th.set_defaults(func=cmd_threads)
