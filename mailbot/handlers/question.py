"""A member's question: open a numbered thread, distribute it with the thread tag, offer related entries."""

from __future__ import annotations

from mailbot.handlers.base import Context, Outcome, author_name, sender_names
from mailbot.handlers.post import distribute
from mailbot.knowledge import search, threads
from mailbot.knowledge.related import related_entries
from mailbot.knowledge.synonyms import synonyms_for
from mailbot.knowledge.topics import topics_for
from mailbot.mail.signoff import without_framing
from mailbot.notices import send_mail

RELATED_LIMIT = 3


def _related(ctx: Context, title: str) -> list[search.Hit]:
    assert ctx.community_row is not None
    return related_entries(
        ctx.session,
        ctx.community_row.id,
        f"{title}\n{ctx.msg.new_text[:1000]}",
        limit=RELATED_LIMIT,
        synonyms=synonyms_for(str(ctx.settings.paths.resolved_rules_dir())),
    )


def _append_footer(ctx: Context, hits: list[search.Hit]) -> str:
    assert ctx.community is not None
    lines = ["อาจมีคำตอบอยู่แล้ว / Already answered?" if ctx.community.language == "th" else "Already answered?"]
    lines += [f"  [{h.number}] {h.title}" for h in hits]
    lines.append(f"kb <N> -> {ctx.community.request_address}")
    return "\n".join(lines)


def handle_question(ctx: Context) -> Outcome:
    community, row, msg = ctx.community, ctx.community_row, ctx.msg
    assert community is not None and row is not None
    title = threads.clean_title(msg.subject, community.prefix)
    topics = topics_for(str(ctx.settings.paths.resolved_rules_dir()))
    thread = threads.open_thread(
        ctx.session,
        community_id=row.id,
        subject=title,
        question_text=without_framing(msg.new_text, *sender_names(ctx)),
        message_pk=ctx.record.id,
        message_id=msg.message_id,
        asker_member_id=ctx.member.id if ctx.member else None,
        asker_email=msg.sender_email,
        asker_name=author_name(ctx),
        topic=topics.classify(msg.subject, msg.new_text),
        now=ctx.now,
    )
    ctx.record.thread_id = thread.id
    threads.set_ref_thread(ctx.session, row.id, msg.message_id, thread.id)
    waiting = threads.attach_waiting(ctx.session, thread, ctx.now)
    search.index_thread(ctx.session, thread)

    hits = _related(ctx, title) if community.related_entries != "off" else []
    footer = _append_footer(ctx, hits) if hits and community.related_entries == "append" else None
    tag = threads.tag_for(community.thread_tag, thread.number)
    count = distribute(ctx, tag=tag, footer_text=footer)
    if hits and community.related_entries == "private" and msg.sender_email:
        send_mail(
            ctx.session,
            ctx.renderer,
            community=community,
            community_row=row,
            to=[msg.sender_email],
            template="related-entries",
            kind="related-entries",
            now=ctx.now,
            in_reply_to=msg.message_id,
            source_message_id=ctx.record.id,
            question_subject=title,
            entries=[{"number": h.number, "title": h.title, "excerpt": h.excerpt} for h in hits],
        )
    extra = f", {len(waiting)} earlier replies attached" if waiting else ""
    return Outcome("processed", f"question {tag} ({thread.topic or 'no topic'}); distributed to {count} members{extra}")
