"""`accept #Q12 2` / `ยอมรับ #Q12 2` to the request address: the asker (or a facilitator or scribe)
accepts answer 2 of thread 12 without writing to the whole group, as the accept-offer mail asks.
The thread may also come from the subject ("Re: … #Q12 …"), the answer may be left out when
the thread has only one."""

from __future__ import annotations

import re

from mailbot.commands.base import CommandResult
from mailbot.commands.util import lang
from mailbot.handlers.base import Context
from mailbot.knowledge import threads
from mailbot.knowledge.controls import Control

_QUESTION_NUMBER = re.compile(r"^#?q(\d{1,9})$", re.IGNORECASE)


def _thread_number(ctx: Context, words: list[str]) -> tuple[int | None, list[str]]:
    """The thread named in the words (its tag, or Q12), else in the subject; the other words."""
    assert ctx.community is not None
    pattern = threads.tag_pattern(ctx.community.thread_tag)
    for i, word in enumerate(words):
        m = pattern.fullmatch(word) or _QUESTION_NUMBER.match(word)
        if m:
            return int(m.group(1)), words[:i] + words[i + 1 :]
    return threads.number_in_subject(ctx.msg.subject, ctx.community.thread_tag), words


def cmd_accept(ctx: Context, args: str) -> CommandResult:
    # Lazily: the handlers import the command table.
    from mailbot.handlers.answer import accept, may_accept

    th = lang(ctx) == "th"
    if ctx.community is None or ctx.community_row is None:
        return CommandResult("error", "no community")
    number, rest = _thread_number(ctx, args.replace(",", " ").split())
    example = threads.tag_for(ctx.community.thread_tag, 12)
    if number is None:
        return CommandResult("error", f"ยอมรับ <กระทู้> <หมายเลขคำตอบ>: เช่น accept {example} 2" if th
                             else f"accept <thread> <answer number>: for example accept {example} 2")  # fmt: skip
    tag = threads.tag_for(ctx.community.thread_tag, number)
    thread = threads.thread_by_number(ctx.session, ctx.community_row.id, number)
    if thread is None:
        return CommandResult("error", f"ไม่พบกระทู้ {tag}" if th else f"no thread {tag}")
    if not may_accept(ctx, thread):
        return CommandResult("refused", f"{tag}: เฉพาะผู้ถาม คุณอำนวย หรือคุณลิขิตยอมรับคำตอบได้" if th
                             else f"{tag}: only the asker, a facilitator or a scribe may accept an answer")  # fmt: skip
    if thread.status == "solved":
        return CommandResult("error", f"{tag} แก้ได้แล้ว (ยอมรับคำตอบไปแล้ว)" if th else f"{tag} is already solved")
    answers = threads.answers_of(ctx.session, thread)
    numbers = [int(w) for w in rest if w.isdecimal()]  # not isdigit: int("²") raises
    if not answers:
        return CommandResult("error", f"{tag} ยังไม่มีคำตอบ" if th else f"{tag} has no answers yet")
    if not numbers and len(answers) == 1:
        numbers = [answers[0].number]
    known = {a.number for a in answers}
    if not numbers or any(n not in known for n in numbers):
        have = ", ".join(str(a.number) for a in answers)
        return CommandResult("error", f"{tag} มีคำตอบหมายเลข {have}: ระบุหมายเลข เช่น accept {tag} {answers[0].number}" if th
                             else f"{tag} has answers {have}: name one, e.g. accept {tag} {answers[0].number}")  # fmt: skip
    note = accept(ctx, thread, Control("accept", tuple(numbers)))
    # The entry-filed mail (to the sender and the answerer) says what happened: no second reply.
    return CommandResult("done", f"{tag}: {note}", mailed_sender=True)
