"""Find command lines: the subject, then the first lines of the *new* text only.

Quoted text and signatures are already split off by the parser (ParsedMessage.new_text), so a
command inside a quoted mail or a signature is never obeyed. At most `max_lines` body lines are
read; the rest is reported as ignored.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from mailbot.mail.compose import base_subject

_STOP_WORDS = {"end", "stop", "thanks", "จบ"}
_BULLET = re.compile(r"^[\s\-*•·#]+")
MAX_LINE_CHARS = 500  # a "command" longer than this is prose, and we never echo kilobytes back
MAX_BODY_CHARS = 4000  # body text handed to commands that read it (profile)
# Courtesy after a command is not an argument: "ยืนยันค่ะ", "ค้นหา wifi ครับ", "help please". Thai
# particles go from the end of any command line; an English courtesy only when it is all there is
# ("tip Always say please" keeps its title).
_PARTICLES = frozenset({"ครับ", "ค่ะ", "คะ", "ค่า", "นะครับ", "นะคะ", "จ้า", "จ้ะ", "ครับผม"})
_COURTESY = frozenset({"please", "pls", "thanks", "thank you", "ขอบคุณ", "ขอบคุณครับ", "ขอบคุณค่ะ"})
# Thai asks "for me, a little" after the words: "ค้นหา wifi ให้หน่อยครับ" searches for "wifi".
_THAI_ASKING = frozenset({"ให้หน่อย", "หน่อย", "ให้ด้วย", "ด้วย", "ให้ที", "ที"})


# Written onto the last word ("wifiครับ", "หลุดให้หน่อยค่ะ"): endings no Thai word of a query has
# ("ค่า" is left: มูลค่า; bare "ที"/"ด้วย" too: นาที).
_ATTACHED = tuple(sorted(_PARTICLES - {"ค่า"} | {"ให้หน่อย", "หน่อย", "ให้ด้วย", "ให้ที"}, key=len, reverse=True))


def _without_courtesy(args: str) -> str:
    words, changed = args.split(), False
    while words:
        last = words[-1].strip(".!,?")
        if last in _PARTICLES or last in _THAI_ASKING:
            words.pop()
        elif ending := next((e for e in _ATTACHED if last.endswith(e) and len(last) > len(e)), None):
            words[-1] = last[: -len(ending)]
        else:
            break
        changed = True
    if not changed:
        return "" if args.strip().lower().strip(".!,") in _COURTESY else args
    rest = " ".join(words)
    return "" if rest.lower().strip(".!,") in _COURTESY else rest


@dataclass(frozen=True)
class CommandLine:
    word: str  # the command word as matched (lower-case)
    args: str  # the rest of the line (or, for body-taking commands, the lines below it)
    raw: str  # the line as written (clipped)
    where: str  # subject | body


@dataclass(frozen=True)
class ParsedCommands:
    commands: tuple[CommandLine, ...]
    not_understood: tuple[str, ...]
    ignored: tuple[str, ...]


def _clip(text: str, n: int = 120) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


# A request put politely is still the command: "Could you please search for wifi", "please help",
# "ช่วยค้นหา wifi ให้หน่อยครับ", "รบกวนขอ kb 12". Tried only when the line as written is no command.
_POLITE_LEAD = re.compile(
    r"^(?:(?:(?:could|can|would|will)\s+you\s+)?(?:please|pls|kindly)\s+|(?:could|can|would|will)\s+you\s+|"
    r"i(?:'d|’d|\s+would)\s+like\s+to\s+|i\s+want\s+to\s+|"
    r"(?:รบกวน|ช่วย|ขอ|อยาก)(?:ช่วย|ขอ|จะ)?\s*)",
    re.IGNORECASE,
)


def split_word(line: str, is_command: Callable[[str], bool], prefixes: tuple[str, ...]) -> tuple[str, str] | None:
    """(command word, rest) if the line starts with a command, asked plainly or politely; Thai may
    be written without a space."""
    line = _BULLET.sub("", line).strip()
    found = _split_word(line, is_command, prefixes)
    if found is None and (lead := _POLITE_LEAD.match(line)) is not None:
        found = _split_word(line[lead.end() :], is_command, prefixes)
    return found


def _split_word(line: str, is_command: Callable[[str], bool], prefixes: tuple[str, ...]) -> tuple[str, str] | None:
    if not line:
        return None
    first, _, rest = line.partition(" ")
    word = first.strip().lower().rstrip(":：")
    if is_command(word):
        return word, rest.strip()
    for alias in prefixes:  # longest first: 'ค้นหาAAR' -> ('ค้นหา', 'AAR')
        if line.lower().startswith(alias) and len(line) > len(alias):
            return alias, line[len(alias) :].strip()
    return None


def parse_commands(
    subject: str,
    new_text: str,
    *,
    prefix: str,
    is_command: Callable[[str], bool],
    takes_body: Callable[[str], bool],
    max_lines: int,
    no_space_prefixes: tuple[str, ...] = (),
    canonical: Callable[[str], str] = str.lower,
) -> ParsedCommands:
    """`canonical` names the command a word spells (`search` for `ค้นหา`), to tell a subject that
    only titles the body's first command from a command of its own."""
    commands: list[CommandLine] = []
    not_understood: list[str] = []
    ignored: list[str] = []
    base = base_subject(subject or "", prefix)
    hit = split_word(base, is_command, no_space_prefixes) if base else None
    if hit is not None:
        commands.append(CommandLine(hit[0], _clip(_without_courtesy(hit[1]), MAX_LINE_CHARS), _clip(base), "subject"))
    lines = [ln.strip() for ln in (new_text or "").splitlines()]
    lines = [ln for ln in lines if ln]
    if hit is not None and takes_body(hit[0]) and lines:
        under = split_word(lines[0], is_command, no_space_prefixes)
        if under is None or canonical(under[0]) != canonical(hit[0]):
            # "Subject: tip ล้างแคช" (or "profile") over plain text: the text is the command's,
            # not lines of commands to report as not understood.
            body = "\n".join([hit[1], *lines]).strip()
            return ParsedCommands((CommandLine(hit[0], body[:MAX_BODY_CHARS], _clip(base), "subject"),), (), ())
    for i, line in enumerate(lines):
        if i >= max_lines:
            ignored.extend(_clip(x) for x in lines[i : i + 5])
            if len(lines) - i > 5:
                ignored.append(f"… {len(lines) - i - 5} more lines")
            break
        if line.lower().rstrip(".!") in _STOP_WORDS or line in ("--", "-- "):
            ignored.extend(_clip(x) for x in lines[i + 1 : i + 4])
            break
        found = split_word(line, is_command, no_space_prefixes)
        if found is None:
            not_understood.append(_clip(line))
            continue
        word, rest = found
        if takes_body(word):
            # The lines below belong to the command (a self-introduction), not to the parser.
            body = "\n".join([rest, *lines[i + 1 :]]).strip()
            commands.append(CommandLine(word, body[:MAX_BODY_CHARS], _clip(line), "body"))
            break
        commands.append(CommandLine(word, _clip(_without_courtesy(rest), MAX_LINE_CHARS), _clip(line), "body"))
    # The same command in subject and first line runs once: "subscribe" / "subscribe"; a subject
    # that only names the body's command ("search" over "ค้นหา wifi": mail clients ask for a
    # subject); a first line that only repeats the subject's ("ยืนยันค่ะ" under "Re: confirm <code>").
    # Run twice, the bare one would fail for want of words, or find its code already used.
    if len(commands) >= 2 and commands[0].where == "subject":
        title, first = commands[0], commands[1]
        if canonical(title.word) == canonical(first.word):
            if title.args == first.args or not title.args:
                commands.pop(0)
            elif not first.args:
                commands.pop(1)
    return ParsedCommands(tuple(commands), tuple(not_understood), tuple(ignored))
