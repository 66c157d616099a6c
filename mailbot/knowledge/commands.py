"""E-mail commands `search <words>` / `ค้นหา <คำ>` and `kb <N>`, answered with their own templates."""

from __future__ import annotations

import re

from mailbot.commands.base import CommandResult
from mailbot.commands.util import lang
from mailbot.handlers.base import Context
from mailbot.knowledge import entries, search
from mailbot.knowledge.synonyms import synonyms_for
from mailbot.knowledge.topics import topics_for

SEARCH_LIMIT = 5



def cmd_search(ctx: Context, args: str) -> CommandResult:
    query = " ".join(args.split())[:200]
    th = lang(ctx) == "th"
    if not query or ctx.community_row is None:
        return CommandResult("error", "ค้นหา <คำ>: ใส่คำที่ต้องการค้นด้วย" if th else "search <words>: give the words to look for")
    rules_dir = str(ctx.settings.paths.resolved_rules_dir())
    topics = topics_for(rules_dir)
    hits = search.search(
        ctx.session, ctx.community_row.id, query, limit=SEARCH_LIMIT, entries_only=True, synonyms=synonyms_for(rules_dir)
    )
    results = []
    for h in hits:
        topic = topics.get(h.topic)
        results.append(
            {
                "number": h.number,
                "title": h.title,
                "excerpt": h.excerpt,
                "topic": topic.label(lang(ctx)) if topic else (h.topic or "-"),
                "status": h.status,
            }
        )
    summary = f"search {query!r}: {len(results)} entries"
    return CommandResult("done", summary, reply_template="search-results", reply_context={"query": query, "results": results})


def cmd_kb(ctx: Context, args: str) -> CommandResult:
    th = lang(ctx) == "th"
    m = re.match(r"^\s*#?(\d{1,9})\b", args)
    if not m or ctx.community_row is None:
        return CommandResult("error", "kb <หมายเลข>: เช่น kb 12" if th else "kb <number>: for example kb 12")
    number = int(m.group(1))
    entry = entries.entry_by_number(ctx.session, ctx.community_row.id, number)
    if entry is None or entry.status == "draft":
        return CommandResult("error", f"ไม่พบบันทึกความรู้หมายเลข {number}" if th else f"no knowledge entry {number}")
    topics = topics_for(str(ctx.settings.paths.resolved_rules_dir()))
    view = entries.entry_view(entry, topics, lang(ctx), entries.thread_number_of(ctx.session, entry))
    return CommandResult("done", f"kb {number} sent", reply_template="kb-entry", reply_context={"entry": view})
