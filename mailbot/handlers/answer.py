"""A reply in a thread: store the answer (new text only), apply #solved/#accept/#kb, distribute."""

from __future__ import annotations

from datetime import timedelta

from mailbot.handlers.base import Context, Outcome, author_name, sender_names
from mailbot.handlers.filed import announce_entry, tell_not_applied
from mailbot.handlers.post import distribute, handle_post
from mailbot.knowledge import entries, threads
from mailbot.knowledge.controls import ACCEPT_ROLES, KB_ROLES, Control, parse_control
from mailbot.knowledge.followup import says_solved
from mailbot.knowledge.metoo import is_me_too
from mailbot.knowledge.models import Answer, Thread
from mailbot.mail.signoff import is_courtesy_only, without_framing
from mailbot.moderation.roles import can
from mailbot.notices import reply_to_sender
from mailbot.render import excerpt

REFUSAL_INTERVAL = timedelta(minutes=10)  # one refusal per sender per few minutes, never a storm


def _role(ctx: Context) -> str:
    return ctx.member.role if ctx.member is not None else ""


def is_asker(ctx: Context, thread: Thread) -> bool:
    if ctx.member is not None and thread.asker_member_id == ctx.member.id:
        return True
    return bool(ctx.msg.sender_email) and ctx.msg.sender_email == thread.asker_email


def may_accept(ctx: Context, thread: Thread) -> bool:
    """The asker, or a facilitator, scribe or admin on their behalf."""
    return is_asker(ctx, thread) or _role(ctx) in ACCEPT_ROLES


def _refuse(ctx: Context, thread: Thread) -> None:
    reply_to_sender(
        ctx,
        "accept-refused",
        "accept-refused",
        interval=REFUSAL_INTERVAL,
        thread={"number": thread.number, "subject": thread.subject, "asker_name": thread.asker_name},
    )


def _replied_answer(ctx: Context, answers: list[Answer]) -> Answer | None:
    """The answer this mail replies to, else the latest one."""
    chain = threads.reference_chain(ctx.msg)
    parent = chain[-1] if chain else None
    for a in answers:
        if a.message_id and a.message_id == parent:
            return a
    return answers[-1] if answers else None


def accept(ctx: Context, thread: Thread, control: Control) -> str:
    """Apply #solved / #accept N (also the request address's `accept #Q12 N`): the chosen answer is
    accepted, the thread solved, an entry filed and announced. Returns a note for the outcome."""
    answers = threads.answers_of(ctx.session, thread)
    by_number = {a.number: a for a in answers}
    if control.action == "accept":
        missing = [n for n in control.numbers if n not in by_number]
        if missing or not control.numbers:
            # The reply lists the thread's answers by number: the list copies never show them.
            listed = [{"number": a.number, "author": a.author_name or a.author_email, "excerpt": excerpt(a.text, 90)}
                      for a in answers]  # fmt: skip
            tell_not_applied(ctx, thread, f"#accept {' '.join(map(str, control.numbers))}", "no-such-answer",
                             missing=missing, answers=listed)  # fmt: skip
            return f"#accept: thread has no answer {', '.join(map(str, missing)) or '?'}"
        chosen, helpful = by_number[control.numbers[0]], [by_number[n] for n in control.numbers[1:]]
    else:
        picked = _replied_answer(ctx, answers)
        if picked is None:
            thread.status, thread.solved_at = "solved", ctx.now
            return "marked solved; no answer to file"
        chosen, helpful = picked, [a for a in answers if a.helpful and a.id != picked.id]
    for a in answers:
        a.accepted = a.id == chosen.id
    for a in helpful:
        a.helpful = True
    thread.accepted_answer_id = chosen.id
    thread.status, thread.solved_at, thread.updated_at = "solved", ctx.now, ctx.now
    entry = _file(ctx, thread, chosen, helpful)
    note = announce_entry(ctx, thread, entry, chosen, how="accepted")
    return f"answer {chosen.number} accepted; entry {entry.number} ({entry.status}); {note}"


def _offer_accept(ctx: Context, thread: Thread) -> str:
    """The asker says it works: ask them, privately and once, which answer to file."""
    from mailbot.jobs import accept_offer  # lazily: the jobs package wires the scheduler

    assert ctx.community is not None and ctx.community_row is not None
    return accept_offer.after_thanks(
        ctx.session, ctx.renderer, ctx.community, ctx.community_row, thread, now=ctx.now,
        in_reply_to=ctx.msg.message_id or "",
    )


def _file(ctx: Context, thread: Thread, accepted: Answer | None, helpful: list[Answer]) -> entries.KbEntry:
    assert ctx.community is not None
    return entries.file_entry(
        ctx.session,
        thread,
        title=thread.subject,
        accepted=accepted,
        helpful=helpful,
        filed_by=ctx.msg.sender_email,
        # Review is a scribe's check: what a scribe files needs no second one.
        review=ctx.community.scribe_review and not can(_role(ctx), "publish-knowledge"),
        now=ctx.now,
    )


def _kb(ctx: Context, thread: Thread) -> str:
    answers = threads.answers_of(ctx.session, thread)
    accepted = next((a for a in answers if a.accepted), None) or (answers[-1] if answers else None)
    if accepted is None:
        tell_not_applied(ctx, thread, "#kb", "no-answer-yet")
        return "#kb: the thread has no answer yet"
    helpful = [a for a in answers if a.helpful and a.id != accepted.id]
    entry = _file(ctx, thread, accepted, helpful)
    note = announce_entry(ctx, thread, entry, accepted, how="kb")
    return f"entry {entry.number} filed ({entry.status}); {note}"


def _kb_edit(ctx: Context, thread: Thread, control: Control) -> str:
    assert ctx.community is not None and ctx.community_row is not None
    entry = entries.entry_for_thread(ctx.session, thread.id)
    if entry is None:
        tell_not_applied(ctx, thread, "#kb edit", "no-entry-yet")
        return "#kb edit: no entry filed from this thread yet"
    fields = dict(control.edit or {})
    status = "published" if entry.status == "draft" and can(_role(ctx), "publish-knowledge") else None
    entries.edit_entry(ctx.session, entry, now=ctx.now, status=status, **fields)
    from mailbot.knowledge.topics import topics_for

    topics = topics_for(str(ctx.settings.paths.resolved_rules_dir()))
    view = entries.entry_view_in(ctx.session, entry, topics, ctx.community.language, thread.number)
    reply_to_sender(ctx, "kb-entry", "kb-entry", entry=view)
    return f"entry {entry.number} corrected ({', '.join(sorted(fields)) or 'status'})"


def handle_answer(ctx: Context) -> Outcome:
    community, row, msg = ctx.community, ctx.community_row, ctx.msg
    assert community is not None and row is not None
    number = ctx.facts.thread_number
    thread = threads.thread_by_number(ctx.session, row.id, number) if number is not None else None
    if thread is None:
        return handle_post(ctx)
    ctx.record.thread_id = thread.id
    threads.set_ref_thread(ctx.session, row.id, msg.message_id, thread.id)
    threads.adopt_descendants(ctx.session, thread, msg.message_id, ctx.now)  # replies that overtook it
    tag = threads.tag_for(community.thread_tag, thread.number)
    control = parse_control(msg.new_text)

    if control is None:
        text = without_framing(msg.new_text, *sender_names(ctx))
        if is_asker(ctx, thread):
            note = "asker's follow-up"
            if thread.status != "solved" and (says_solved(text) or is_courtesy_only(msg.new_text, *sender_names(ctx))):
                note += "; " + _offer_accept(ctx, thread)
        elif is_me_too(text):
            note = "a 'me too', not an answer: the question stays unanswered"
        else:
            answer = threads.add_answer(
                ctx.session,
                thread,
                message_pk=ctx.record.id,
                message_id=msg.message_id,
                member_id=ctx.member.id if ctx.member else None,
                author_email=msg.sender_email,
                author_name=author_name(ctx),
                text=text,
                now=ctx.now,
            )
            note = f"answer {answer.number}"
        count = distribute(ctx, tag=tag)
        return Outcome("processed", f"{tag} {note}; distributed to {count} members")

    role = _role(ctx)
    if control.action in ("solved", "accept"):
        if not may_accept(ctx, thread):
            _refuse(ctx, thread)
            count = distribute(ctx, tag=tag)
            return Outcome("processed", f"{tag} #{control.action} refused (not asker/facilitator/scribe); distributed to {count}")
        result = accept(ctx, thread, control)
        count = distribute(ctx, tag=tag)
        return Outcome("processed", f"{tag} {result}; distributed to {count} members")
    # #kb and #kb edit talk to the bot, not the group: they are not redistributed.
    if role not in KB_ROLES:
        _refuse(ctx, thread)
        return Outcome("processed", f"{tag} #{control.action} refused (facilitators and scribes only)")
    result = _kb(ctx, thread) if control.action == "kb" else _kb_edit(ctx, thread, control)
    return Outcome("processed", f"{tag} {result}")
