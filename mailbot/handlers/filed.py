"""Mail around a knowledge entry filed from a thread: thanks to the answerer with a receipt to whoever
filed it, the draft to the scribes when the community reviews entries, and a reply when a #accept,
#kb or #kb edit could not be applied (it would otherwise vanish into the group's copy)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from mailbot.handlers.base import Context, author_name
from mailbot.jobs import mailing
from mailbot.knowledge import entries
from mailbot.knowledge.models import Answer, KbEntry, Thread
from mailbot.knowledge.threads import tag_for
from mailbot.knowledge.topics import topics_for
from mailbot.mail.compose import list_subject
from mailbot.moderation.roles import roles_with
from mailbot.notices import reply_to_sender, send_mail
from mailbot.store.models import Member


def announce_entry(ctx: Context, thread: Thread, entry: KbEntry, answer: Answer | None, *, how: str) -> str:
    """Queue the thank-you/receipt (and, for a draft, the scribes' review request); `how` is
    "accepted" or "kb". Returns a note for the outcome."""
    assert ctx.community is not None and ctx.community_row is not None
    view = entries.entry_view_in(
        ctx.session, entry, topics_for(str(ctx.settings.paths.resolved_rules_dir())), ctx.community.language,
        thread.number,
    )  # fmt: skip
    filer = ctx.msg.sender_email
    to = [filer]
    answerer, filer_answered = "", False
    if answer is not None:
        answerer = answer.author_name or answer.author_email
        filer_answered = bool(answer.author_email) and answer.author_email.lower() == filer.lower()
        # The answerer is thanked unless they filed it themselves or no longer take mail from us.
        if answer.author_email and not filer_answered and _takes_mail(ctx, answer.author_email):
            to.append(answer.author_email)
    draft = entry.status == "draft"
    context: dict[str, Any] = {
        "entry": view,
        "thread": _thread_view(ctx, thread),
        "how": how,
        "filer": author_name(ctx),
        "answerer": answerer,
        "filer_answered": filer_answered,
        "draft": draft,
    }
    send_mail(
        ctx.session, ctx.renderer, community=ctx.community, community_row=ctx.community_row, to=to,
        template="entry-filed", kind="entry-filed", now=ctx.now, in_reply_to=ctx.msg.message_id,
        source_message_id=ctx.record.id, **context,
    )  # fmt: skip
    note = f"entry-filed mail to {len(to)}"
    if draft:
        reviewers = _reviewers(ctx, exclude=filer)
        if reviewers:
            send_mail(
                ctx.session, ctx.renderer, community=ctx.community, community_row=ctx.community_row,
                to=reviewers, template="entry-review", kind="entry-review", now=ctx.now,
                auto_submitted="auto-generated", source_message_id=ctx.record.id, **context,
            )  # fmt: skip
            note += f"; review asked of {len(reviewers)}"
        else:
            note += "; no scribe to review it (mailbot kb list --drafts)"
    return note


def tell_not_applied(ctx: Context, thread: Thread, control: str, problem: str, **details: Any) -> None:
    """Reply to the sender that `control` (as written: "#accept 5") was not applied, and why.
    `problem`: no-such-answer | no-answer-yet | no-entry-yet."""
    reply_to_sender(
        ctx,
        "control-not-applied",
        "control-not-applied",
        thread=_thread_view(ctx, thread),
        control=control,
        problem=problem,
        **details,
    )


def _thread_view(ctx: Context, thread: Thread) -> dict[str, Any]:
    assert ctx.community is not None
    tag = tag_for(ctx.community.thread_tag, thread.number)
    # The subject a reply to the thread carries: the mail's links fill it in, so it joins the thread.
    reply_subject = list_subject(f"Re: {thread.subject}", ctx.community.prefix, tag)
    return {"number": thread.number, "subject": thread.subject, "reply_subject": reply_subject}


def _takes_mail(ctx: Context, address: str) -> bool:
    assert ctx.community_row is not None
    status = ctx.session.scalar(
        select(Member.status).where(
            Member.community_id == ctx.community_row.id, Member.email == address.lower()
        )
    )
    return status in (None, "active")  # not a member (answered from outside) is still thanked


def _reviewers(ctx: Context, *, exclude: str) -> list[str]:
    """Active members who may publish a draft (the permission table's publish-knowledge)."""
    assert ctx.community_row is not None
    found = mailing.members(ctx.session, ctx.community_row.id, roles=roles_with("publish-knowledge"))
    return [r.address for r in found if r.address != exclude.lower()]
