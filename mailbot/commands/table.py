"""The ONE command table: names, Thai and English spellings, one-line help, who may use each.

`help` is generated from it; the handler looks words up in it. Knowledge (search, kb) and jobs
(tip, digest) commands are imported lazily, so a missing feature module answers "not available"
instead of breaking every other command.
"""

from __future__ import annotations

import importlib

from mailbot.commands.base import Command, CommandFn, CommandResult
from mailbot.commands.delivery import cmd_mail, cmd_nomail
from mailbot.commands.membership import cmd_confirm, cmd_subscribe, cmd_unsubscribe
from mailbot.commands.moderate import cmd_approve, cmd_discard, cmd_reject
from mailbot.commands.people import cmd_profile, cmd_stats, cmd_who
from mailbot.commands.util import lang
from mailbot.handlers.base import Context
from mailbot.moderation.roles import can


def _lazy(module: str, attr: str) -> CommandFn:
    def run(ctx: Context, args: str) -> CommandResult:
        try:
            fn = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError):
            return CommandResult("error", f"this command is not available yet ({module}.{attr})")
        result: CommandResult = fn(ctx, args)
        return result

    return run


def cmd_help(ctx: Context, args: str) -> CommandResult:
    th = lang(ctx) == "th"
    rows = [
        {"name": c.name, "aliases": list(c.aliases), "summary": c.summary_th if th else c.summary_en}
        for c in COMMANDS
        if not c.permission or c.permission in ("use-commands",) or _may(ctx, c)
    ]
    # How to take part in the group itself (ask, answer, accept, share), with what this role may add.
    role = ctx.member.role if ctx.member else None
    context = {"commands": rows, "can_file": can(role, "edit-knowledge"), "can_accept_any": can(role, "accept-on-behalf")}
    return CommandResult("done", "help sent" if not th else "ส่งรายการคำสั่งแล้ว",
                         reply_template="help", reply_context=context)


def _may(ctx: Context, c: Command) -> bool:
    return can(ctx.member.role if ctx.member else None, c.permission)


COMMANDS: tuple[Command, ...] = (
    Command("help", ("ช่วยเหลือ", "วิธีใช้", "?"), "this list of commands", "รายการคำสั่งทั้งหมด",
            cmd_help, needs_member=False),
    Command("subscribe", ("สมัคร", "join", "add", "เข้าร่วม", "เข้ากลุ่ม"), "join the community (you confirm by reply)",
            "สมัครเป็นสมาชิก (ยืนยันโดยตอบกลับอีเมล)", cmd_subscribe, needs_member=False),
    # "Please remove me", "ขอออกจากกลุ่มค่ะ", "ลบชื่อผมออกด้วย": how people ask to leave, in words.
    Command("unsubscribe", ("ยกเลิก", "เลิก", "leave", "remove", "ออกจากกลุ่ม", "ลบชื่อ"), "leave the community (you confirm by reply)",
            "เลิกเป็นสมาชิก (ยืนยันโดยตอบกลับอีเมล)", cmd_unsubscribe, needs_member=False),
    Command("confirm", ("ยืนยัน",), "confirm <code>: confirm a request (or just reply to the mail)",
            "ยืนยัน <รหัส>: ยืนยันคำขอ (หรือตอบกลับอีเมลยืนยัน)", cmd_confirm, needs_member=False),
    Command("digest", ("สรุป",), "digest daily|weekly|off: one summary mail instead of every post",
            "สรุป daily|weekly|off: รับอีเมลสรุปแทนทุกโพสต์", _lazy("mailbot.jobs.commands", "cmd_digest"),
            changes_state=True),
    Command("nomail", ("หยุดส่ง",), "stop group mail (stay a member)", "หยุดรับอีเมลกลุ่มชั่วคราว",
            cmd_nomail, changes_state=True),
    Command("mail", ("รับอีเมล",), "receive every post again", "กลับมารับทุกโพสต์", cmd_mail, changes_state=True),
    Command("profile", ("ประวัติ",), "profile + lines below: your introduction, section:, topics:",
            "ประวัติ แล้วเขียนแนะนำตัว ส่วนงาน: ความเชี่ยวชาญ: ในบรรทัดถัดไป", cmd_profile,
            changes_state=True, takes_body=True),
    Command("who", ("ใคร",), "who <name or topic>: find members", "ใคร <ชื่อหรือหัวข้อ>: ค้นหาสมาชิก", cmd_who),
    Command("stats", ("สถิติ",), "your posts, answers and accepted answers", "สถิติการมีส่วนร่วมของคุณ", cmd_stats),
    Command("search", ("ค้นหา", "find"), "search <words>: search the knowledge base",
            "ค้นหา <คำ>: ค้นบันทึกความรู้", _lazy("mailbot.knowledge.commands", "cmd_search")),
    Command("kb", ("ความรู้",), "kb <N>: knowledge entry N in full; kb <N> worked: it worked for you "
            "(scribes: kb <N> ok | stale)",
            "kb <N>: บันทึกความรู้หมายเลข N ฉบับเต็ม; kb <N> ได้ผล: บอกว่าใช้ได้ผลกับคุณ (คุณลิขิต: kb <N> ok | stale)",
            _lazy("mailbot.knowledge.commands", "cmd_kb")),
    Command("accept", ("ยอมรับ",), "accept <thread> <answer>: file that answer as knowledge (the asker, "
            "facilitators, scribes), e.g. accept #Q12 2",
            "ยอมรับ <กระทู้> <หมายเลขคำตอบ>: เก็บคำตอบนั้นเป็นบันทึกความรู้ (ผู้ถาม คุณอำนวย คุณลิขิต) เช่น ยอมรับ #Q12 2",
            _lazy("mailbot.knowledge.accept_command", "cmd_accept")),
    # The lines below `tip` are the tip being shared (the daily tip mail invites exactly that).
    Command("tip", ("เกร็ด",), "today's KM tip; tip + your tip on the lines below: share one",
            "เกร็ดความรู้ KM ประจำวัน; เกร็ด แล้วเขียนเคล็ดลับในบรรทัดถัดไป: แบ่งปันเคล็ดลับ",
            _lazy("mailbot.jobs.commands", "cmd_tip"), takes_body=True),
    Command("approve", ("อนุมัติ",), "approve [code]: send a held post (facilitators)",
            "อนุมัติ [รหัส]: ส่งโพสต์ที่รอพิจารณา (คุณอำนวย)", cmd_approve, permission="approve-held"),
    Command("reject", ("ปฏิเสธ",), "reject [code] <reason>: refuse a held post (facilitators)",
            "ปฏิเสธ [รหัส] <เหตุผล>: ไม่อนุมัติโพสต์ (คุณอำนวย)", cmd_reject, permission="approve-held"),
    Command("discard", ("ทิ้ง",), "discard [code]: drop a held post silently (facilitators)",
            "ทิ้ง [รหัส]: ลบโพสต์ที่รอพิจารณาโดยไม่แจ้งผู้ส่ง (คุณอำนวย)", cmd_discard, permission="approve-held"),
)

_BY_WORD: dict[str, Command] = {}
for _c in COMMANDS:
    for _w in (_c.name, *_c.aliases):
        if _w.lower() in _BY_WORD:
            raise RuntimeError(f"command word {_w!r} used twice in the command table")
        _BY_WORD[_w.lower()] = _c

# Thai is written without spaces: 'ค้นหาAAR' still means 'ค้นหา AAR'. Longest first.
THAI_PREFIXES: tuple[str, ...] = tuple(
    sorted((w for w in _BY_WORD if not w.isascii()), key=len, reverse=True)
)


def lookup(word: str) -> Command | None:
    return _BY_WORD.get(word.strip().lower())
