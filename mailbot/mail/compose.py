"""Outbound mail: list subjects, the redistributed list copy (RFC 2369/2919 headers) and
messages the bot writes itself. Every header this module sets passes `safe_header_value`.
"""

from __future__ import annotations

import binascii
import copy
import functools
import io
import re
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from email import policy as email_policy
from email.generator import BytesGenerator
from email.header import Header, decode_header, make_header
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.utils import formataddr, formatdate, getaddresses

from mailbot.config import CommunitySettings
from mailbot.mail.parse import HEADER_LINE

# Reply and forward markers seen from Outlook/Gmail/phones in the languages our members use.
REPLY_PREFIXES: tuple[str, ...] = (
    "Re",
    "RE",
    "AW",
    "SV",
    "Antw",
    "VS",
    "Réf",
    "ตอบกลับ",
    "ตอบ",
    "回复",
    "答复",
    "回覆",
)
FORWARD_PREFIXES: tuple[str, ...] = ("Fwd", "FW", "Fw", "WG", "TR", "ส่งต่อ", "转发", "轉寄")
# Bracketed tags that corporate gateways paste in front of subjects.
NOISE_TAGS: tuple[str, ...] = ("[EXT]", "[EXTERNAL]", "[External]")
LOOP_HEADER = "X-Mailbot-Loop"

# Headers of the original that must not reach members: delivery traces of the inbound hop,
# list headers of other lists, signatures we are about to break, read-receipt requests that
# would make thousands of clients write to the author, and moderator passwords.
_DROP_ON_COPY = (
    "Return-Path",
    "Delivered-To",
    "X-Original-To",
    "DKIM-Signature",
    "DomainKey-Signature",
    "List-Id",
    "List-Post",
    "List-Help",
    "List-Subscribe",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "List-Archive",
    "List-Owner",
    "Precedence",
    "Sender",
    "Errors-To",
    "Disposition-Notification-To",
    "Return-Receipt-To",
    "X-Confirm-Reading-To",
    "Approved",
    "Approve",
    "Bcc",
    LOOP_HEADER,
)
_DROP_ON_COPY_LOWER = frozenset(name.lower() for name in _DROP_ON_COPY)

_EOL = re.compile(rb"\r\n|\r|\n")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")
_SPACES = re.compile(r"[ \t]+")
_COLON = r"\s*[:：]"
_COUNT = r"(?:\s*[\[(]\d+[\])])?"  # Outlook/Eudora style "Re[2]:" / "Re(2):"


def _alternation(words: Sequence[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True))


_REPLY_RE = re.compile(rf"(?:{_alternation(REPLY_PREFIXES)}){_COUNT}{_COLON}\s*", re.IGNORECASE)
_FORWARD_RE = re.compile(rf"(?:{_alternation(FORWARD_PREFIXES)}){_COUNT}{_COLON}\s*", re.IGNORECASE)
_NOISE_RE = re.compile(rf"(?:{_alternation(NOISE_TAGS)})\s*", re.IGNORECASE)


_MSG_ID = re.compile(r"^<?([!-;=?-~]{1,900}@[!-;=?-~]{1,900})>?$")


def msg_id_token(value: str) -> str:
    """`<id@host>` for a message id taken from member mail, or '' when it is not one.

    Only RFC 5322 msg-id characters survive: no spaces, no angle brackets inside, and no
    encoded-words, which the stdlib would decode (a `=?..?=` decoding to CR/LF is an injection).
    """
    m = _MSG_ID.match(value.strip())
    if not m or "=?" in m.group(1):
        return ""
    return f"<{m.group(1)}>"


def safe_header_value(value: str) -> str:
    """Collapse CR, LF and other control characters into single spaces so no value can
    start a new header line; surrounding whitespace is trimmed."""
    value = _SPACES.sub(" ", _CONTROL.sub(" ", value)).strip()
    # The email policy decodes encoded words inside a str value again, and Python 3.11 then
    # writes a decoded CR/LF raw: "=?x?q?=0AX:_y?=" would become a header. Keep such words inert.
    if "=?" in value and _CONTROL.search(_as_policy_reads(value)):
        value = value.replace("=?", "= ?")
    return value


def _as_policy_reads(value: str) -> str:
    try:
        return str(email_policy.default.header_factory("X-Check", value))
    except Exception:  # unparseable for the policy: it will not decode it either
        return ""


def _prefix_re(prefix: str) -> re.Pattern[str]:
    prefix = prefix.strip()
    if len(prefix) > 2 and prefix.startswith("[") and prefix.endswith("]"):
        # "[KM-IT]" also matches a tagged copy such as "[KM-IT #Q42]".
        inner = re.escape(prefix[1:-1].strip())
        return re.compile(rf"\[\s*{inner}(?:\s+[^\]]*)?\]\s*", re.IGNORECASE)
    return re.compile(rf"{re.escape(prefix)}(?:\s*\[[^\]]*\])?\s*", re.IGNORECASE)


def _strip_leading(subject: str, prefix: str) -> tuple[str, bool, bool]:
    """Strip the leading run of markers; return (rest, saw_reply, saw_forward)."""
    rest = safe_header_value(subject)
    pre = _prefix_re(prefix) if prefix.strip() else None
    saw_reply = saw_forward = False
    while True:
        m = _REPLY_RE.match(rest)
        if m:
            saw_reply = True
        else:
            m = _FORWARD_RE.match(rest)
            if m:
                saw_forward = True
            else:
                m = _NOISE_RE.match(rest) or (pre.match(rest) if pre else None)
        if not m or not m.group(0):
            return rest, saw_reply, saw_forward
        rest = rest[m.end() :]


def base_subject(subject: str, prefix: str) -> str:
    """The subject without reply/forward markers, list prefixes or thread tags in front."""
    return _strip_leading(subject, prefix)[0]


def list_subject(subject: str, prefix: str, tag: str | None = None) -> str:
    """'[KM-IT] base', '[KM-IT #Q42] base'; one 'Re: ' in front when the original was a reply.

    A forward that is not a reply keeps one 'Fwd: ' after the tag so members see what it is.
    """
    base, saw_reply, saw_forward = _strip_leading(subject, prefix)
    prefix = safe_header_value(prefix)
    tag = safe_header_value(tag) if tag else None
    if tag and len(prefix) > 2 and prefix.startswith("[") and prefix.endswith("]"):
        head = f"{prefix[:-1]} {tag}]"
    elif tag:
        head = f"{prefix} [{tag}]".strip()
    else:
        head = prefix
    if saw_forward and not saw_reply:
        base = f"Fwd: {base}".strip()
    out = f"{head} {base}".strip()
    return f"Re: {out}" if saw_reply else out


def new_message_id(domain: str) -> str:
    """A fresh Message-ID on `domain` (no host name or process id leaked)."""
    return f"<{int(time.time() * 1000):x}.{secrets.token_hex(8)}@{safe_header_value(domain)}>"


def _is_ascii(value: str) -> bool:
    return value.isascii()


def _encoded_text(value: str, header_name: str) -> str:
    """Unstructured text, RFC 2047-encoded (and folded) only when it is not ASCII."""
    value = safe_header_value(value)
    if _is_ascii(value):
        return value
    # A lone surrogate (undecodable bytes carried as text) becomes "?": the stdlib's encoder raised.
    return _utf8_b_words(value.encode("utf-8", "replace"), len(header_name))


def _utf8_b_words(data: bytes, name_len: int) -> str:
    """UTF-8 text as RFC 2047 "B" words, one per line, no line over 76 characters (the first
    shares its line with the header's name), each word ending on a whole character.

    What `Header(value, "utf-8").encode()` writes for Thai, at a fraction of its cost: it fits the
    words by trying lengths character by character (measured, for every Thai subject)."""
    words = []
    start, end_of_data = 0, len(data)
    # Bytes per word: a word is '=?utf-8?b?' + base64 + '?=' (12 characters around the base64).
    room = max(4, (76 - name_len - 2 - 12) // 4 * 3)  # 4: any character fits in a word
    while start < end_of_data:
        end = min(start + room, end_of_data)
        while end < end_of_data and end > start + 1 and data[end] & 0xC0 == 0x80:
            end -= 1  # not inside a character: back to where it starts
        words.append("=?utf-8?b?" + binascii.b2a_base64(data[start:end], newline=False).decode("ascii") + "?=")
        start, room = end, (76 - 1 - 12) // 4 * 3
    return "\r\n ".join(words)


# Remembered: the same members' names and the community's own values are encoded for every post,
# and RFC 2047-encoding a Thai name was the largest single cost of a list copy (measured).
@functools.lru_cache(maxsize=4096)
def _phrase_addr(name: str, addr: str, header_name: str) -> str:
    """`"Name" <addr>` with the display name quoted or RFC 2047-encoded as needed."""
    name, addr = safe_header_value(name), safe_header_value(addr)
    if not name or _is_ascii(name):
        return formataddr((name, addr))
    encoded = Header(name, "utf-8", header_name=header_name).encode(linesep="\r\n", maxlinelen=76)
    # The address on a line of its own when the last word's line has no room for it: a line over
    # 78 would make an EmailMessage refold the whole header (see _set_header).
    _, newline, last = encoded.rpartition("\n")
    line = len(last) if newline else len(header_name) + 2 + len(encoded)  # "From: " shares line one
    return f"{encoded}\r\n <{addr}>" if line + len(addr) + 3 > 78 else f"{encoded} <{addr}>"


def _list_headers(community: CommunitySettings, *, encoded: bool) -> tuple[tuple[str, str], ...]:
    """RFC 2369/2919 headers; `encoded`: RFC 2047 already applied (compat32), else the
    caller's policy encodes (EmailMessage)."""
    return _list_headers_of(
        community.request_address,
        community.display_name,
        community.list_id,
        community.address,
        community.owner_address,
        community.archive_url,
        encoded,
    )


@functools.lru_cache(maxsize=64)  # a community's values change only with its settings
def _list_headers_of(
    request_address: str,
    display_name: str,
    list_id: str,
    address: str,
    owner_address: str,
    archive_url: str,
    encoded: bool,
) -> tuple[tuple[str, str], ...]:
    request = safe_header_value(request_address)
    name, list_id = safe_header_value(display_name), safe_header_value(list_id)
    if encoded or name.isascii():
        list_id_value = _phrase_addr(name, list_id, "List-Id")
    else:
        list_id_value = f"{name} <{list_id}>"
    headers = [
        ("List-Id", list_id_value),
        ("List-Post", f"<mailto:{safe_header_value(address)}>"),
        ("List-Help", f"<mailto:{request}?subject=help>"),
        ("List-Subscribe", f"<mailto:{request}?subject=subscribe>"),
        ("List-Unsubscribe", f"<mailto:{request}?subject=unsubscribe>"),
        ("List-Owner", f"<mailto:{safe_header_value(owner_address)}>"),
    ]
    if archive_url:
        headers.append(("List-Archive", f"<{safe_header_value(archive_url)}>"))
    return tuple(headers)


def _short_name(community: CommunitySettings) -> str:
    short = community.prefix.strip().strip("[]").strip()
    return short or community.display_name


def _replace(msg: Message, name: str, value: str) -> None:
    del msg[name]
    msg[name] = value


def _append_footer(msg: Message, footer: str) -> Message:
    """Add the footer without touching the original body bytes.

    Plain UTF-8/ASCII text in 7bit/8bit gets the footer appended inline; anything else
    (base64, quoted-printable, other charsets, HTML, multiparts) gets it as its own part.
    """
    footer_block = "\n-- \n" + footer.strip("\n") + "\n"
    footer_raw = footer_block.encode("utf-8")
    ctype = msg.get_content_type()
    cte = str(msg.get("Content-Transfer-Encoding", "7bit")).strip().lower()
    charset = str(msg.get_param("charset", "us-ascii") or "us-ascii").lower()
    if (
        ctype == "text/plain"
        and cte in ("7bit", "8bit")
        and charset in ("us-ascii", "utf-8", "utf8")
        and not msg.is_multipart()
    ):
        # For 7bit/8bit, decode=True returns the body bytes exactly as they arrived.
        body = msg.get_payload(decode=True)
        body = body if isinstance(body, bytes) else b""
        if not footer_block.isascii():
            if charset == "us-ascii":
                msg.set_param("charset", "utf-8")
            _replace(msg, "Content-Transfer-Encoding", "8bit")
        sep = b"" if body.endswith(b"\n") or not body else b"\n"
        msg.set_payload((body + sep + footer_raw).decode("ascii", "surrogateescape"))
        return msg
    footer_part = Message()
    footer_part["Content-Type"] = 'text/plain; charset="utf-8"'
    footer_part["Content-Transfer-Encoding"] = "8bit"
    footer_part["Content-Disposition"] = "inline"
    footer_part.set_payload(footer_raw.decode("ascii", "surrogateescape"))
    if ctype == "multipart/mixed" and msg.is_multipart():
        msg.attach(footer_part)
        return msg
    # The untouched original body (with its content headers) becomes the first part.
    inner = copy.deepcopy(msg)
    for name in {n.lower() for n in inner if not n.lower().startswith("content-")}:
        del inner[name]
    for name in {n.lower() for n in msg if n.lower().startswith("content-")}:
        del msg[name]
    msg.preamble = msg.epilogue = None
    msg["Content-Type"] = "multipart/mixed"
    msg.set_payload([inner, footer_part])
    msg.set_boundary(f"=_mailbot_{secrets.token_hex(12)}")
    return msg


def list_copy(
    original: Message,
    *,
    community: CommunitySettings,
    subject: str,
    from_name: str,
    from_email: str,
    tag: str | None = None,
    footer_text: str | None = None,
    message_id: str | None = None,
    original_raw: bytes | None = None,
) -> bytes:
    """The copy of a member's post that goes to every member, as SMTP-ready bytes (CRLF).

    `original` is parsed from bytes with policy compat32; it is not modified. `subject`,
    `from_name` and `from_email` are the decoded values. `message_id` is used only when the
    original has none. DKIM-Signature is removed: the new Subject always breaks it, and a
    failing signature hurts delivery more than no signature does. `original_raw`, the bytes
    `original` was parsed from: without a footer, the copy then keeps the body exactly as it came
    whenever the header block it was parsed from can be told apart for certain (`_body_offset`).
    """
    msg = copy.deepcopy(original) if footer_text else _with_own_headers(original)
    _drop_headers(msg, _DROP_ON_COPY_LOWER)
    _neutralise_line_breaks(msg)
    group = safe_header_value(community.address)
    author_name = safe_header_value(from_name)
    author = safe_header_value(from_email)
    original_reply_to = original.get("Reply-To")

    _replace(msg, "Subject", _encoded_text(list_subject(subject, community.prefix, tag), "Subject"))
    if community.dmarc_rewrite:
        shown = author_name or author.replace("@", " at ")
        _replace(msg, "From", _phrase_addr(f"{shown} via {_short_name(community)}", group, "From"))
    if community.reply_to == "sender":
        if community.dmarc_rewrite or not original_reply_to:
            value = (
                safe_header_value(str(original_reply_to))
                if original_reply_to
                else _phrase_addr(author_name, author, "Reply-To")
            )
            _replace(msg, "Reply-To", value)
    else:
        _replace(msg, "Reply-To", _phrase_addr(community.display_name, group, "Reply-To"))
        if community.dmarc_rewrite and author:
            # From now names the list; Cc keeps "reply all" reaching the author.
            existing = [str(v) for v in msg.get_all("Cc", [])]
            if author.lower() not in {a.lower() for _, a in getaddresses(existing)}:
                # Folded between addresses so a long Cc list never exceeds the line limit.
                value = ",\r\n ".join([*existing, _phrase_addr(author_name, author, "Cc")])
                _replace(msg, "Cc", value)
    if not msg.get("Message-ID"):
        msg["Message-ID"] = safe_header_value(message_id or new_message_id(community.domain))
    for name, value in _list_headers(community, encoded=True):
        msg[name] = value
    msg["Precedence"] = "list"
    msg[LOOP_HEADER] = safe_header_value(community.list_id)
    msg["Sender"] = f"<{safe_header_value(community.bounces_address)}>"
    if footer_text:
        msg = _append_footer(msg, footer_text)
        if "MIME-Version" not in msg:
            msg["MIME-Version"] = "1.0"
        return _flatten_compat32(msg)
    if original_raw is None or (body_at := _body_offset(original_raw, original)) is None:
        return _flatten_compat32(msg)
    # Only the headers changed: write them as the generator would, then the body's own bytes
    # (regenerating the body cost more than the rest of the copy on mail with attachments).
    head = _crlf(b"".join(_FLATTEN_POLICY.fold_binary(name, value) for name, value in msg.raw_items()))
    body = original_raw[body_at:]
    if b"\r" not in original_raw:
        body = body.replace(b"\n", b"\r\n")  # bare LF throughout (smtplib sends bytes as given): SMTP wants CRLF
    return head + b"\r\n" + body



def _body_offset(raw: bytes, parsed: Message) -> int | None:
    """Where the body of `parsed` starts in `raw`, the bytes it was parsed from, or None when that
    is not certain.

    Certain means: every line ends the same way (CRLF, or a bare LF throughout), and the lines
    before the first empty one are all header lines or their continuations, one header line for
    each header the parser kept, so the parser read exactly that block (no BOM, no stray or
    repaired line, no mbox 'From '). A multipart without a boundary is left to the generator too,
    which makes one up.
    """
    crlf = raw.count(b"\r\n")
    if crlf == raw.count(b"\n") == raw.count(b"\r"):
        eol = b"\r\n"
    elif not raw.count(b"\r"):
        eol = b"\n"
    else:
        return None
    end = raw.find(eol + eol)
    if end < 0:
        return None
    starts = 0
    for line in raw[:end].split(eol):
        if HEADER_LINE.match(line):
            starts += 1
        elif not starts or line[:1] not in (b" ", b"\t"):
            return None
    if starts != len(parsed._headers):  # type: ignore[attr-defined]
        return None
    if parsed.get_content_maintype() == "multipart" and not parsed.get_boundary():
        return None
    return end + 2 * len(eol)


def _drop_headers(msg: Message, lowered: frozenset[str]) -> None:
    """Remove every header whose lower-cased name is in `lowered`, in one pass over the list, where
    `del msg[name]` for each of the 23 names walked and rebuilt it 23 times (compat32 keeps a list)."""
    msg._headers = [(k, v) for k, v in msg._headers if k.lower() not in lowered]  # type: ignore[attr-defined]


def _with_own_headers(original: Message) -> Message:
    """A copy with its own header list that shares the body with `original`.

    Without a footer the list copy changes headers only, and deep-copying the whole MIME tree
    cost more than writing it out. Writing changes a shared part only when a malformed multipart
    has an empty boundary (the generator invents one); the original's bytes are kept, not rewritten.
    """
    msg = copy.copy(original)
    msg._headers = list(original._headers)  # type: ignore[attr-defined]
    return msg


class _VerbatimGenerator(BytesGenerator):
    """BytesGenerator that writes an unparsed multipart body (no boundary found) back as the
    raw bytes it came from; the stdlib decodes it to text first and fails on 8-bit bytes."""

    def _handle_multipart(self, msg: Message) -> None:
        payload = msg.__dict__.get("_payload")
        if isinstance(payload, str):
            self._write_lines(payload)  # type: ignore[attr-defined]
            return
        super()._handle_multipart(msg)  # type: ignore[misc]


# Characters str.splitlines() treats as line ends besides CR/LF: the stdlib refuses to write a
# header whose value "contains an embedded header" after splitting on them.
_ODD_LINE_BREAKS = str.maketrans({c: " " for c in "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"})


def _neutralise_line_breaks(msg: Message) -> None:
    """Passed-through headers with odd line-break characters become writable (value kept)."""
    # compat32 keeps headers as a list of (name, raw value); rewriting it in place keeps order
    # and duplicates (Received, ...) exactly, which the public API cannot do.
    headers = msg._headers  # type: ignore[attr-defined]
    for i, (name, value) in enumerate(headers):
        if isinstance(value, str) and value != value.translate(_ODD_LINE_BREAKS):
            headers[i] = (name, value.translate(_ODD_LINE_BREAKS))


class _VerbatimCompat32(email_policy.Compat32):
    """compat32 that writes a plain one-line ASCII header value as is, skipping `Header.encode`.

    With max_line_length=0 that is what `Header.encode` yields for such a value anyway, at a
    tenth of the cost (it was most of the time spent composing a list copy). Anything else
    (non-ASCII, folded, trailing or no content, Header objects) takes the stdlib's path.
    """

    def _fold(self, name: str, value: object, sanitize: bool) -> str:
        if (
            isinstance(value, str)
            and value
            and len(value) < 100_000
            and value.isascii()
            and value[-1] not in " \t"
            and not _NEEDS_STDLIB_FOLD.search(value)
        ):
            return f"{name}: {value}{self.linesep}"
        return str(super()._fold(name, value, sanitize))  # type: ignore[misc]


# Line breaks (any str.splitlines() one) and control characters leave the fast path above.
_NEEDS_STDLIB_FOLD = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")

# max_line_length=0: headers of the original are written as they came (no re-folding),
# ours arrive pre-folded; the body is written back byte for byte (8bit stays 8bit).
_FLATTEN_POLICY = _VerbatimCompat32(linesep="\r\n", max_line_length=0)


def _flatten_compat32(msg: Message) -> bytes:
    pol = _FLATTEN_POLICY
    buf = io.BytesIO()
    _VerbatimGenerator(buf, mangle_from_=False, policy=pol).flatten(msg, unixfrom=False)
    # Unparseable multiparts are written back verbatim, possibly with bare LF: SMTP wants CRLF.
    return _crlf(buf.getvalue())


def _crlf(data: bytes) -> bytes:
    """`data` with every line end CRLF (copied only when some is not)."""
    crlf = data.count(b"\r\n")
    if data.count(b"\n") != crlf or data.count(b"\r") != crlf:
        return _EOL.sub(b"\r\n", data)
    return data


# cte_type 7bit: bodies go out as quoted-printable/base64, safe through any relay.
_BOT_POLICY = email_policy.SMTP.clone(cte_type="7bit", max_line_length=78)


def _wrapped(name: str, value: str, width: int) -> str:
    """ASCII `value` folded at spaces, its first words on the header's own line."""
    lines: list[str] = []
    line, room = "", width - len(name) - 2
    for word in value.split(" "):
        if line and len(line) + 1 + len(word) > room:
            lines.append(line)
            line, room = word, width - 1
        else:
            line = f"{line} {word}" if line else word
    lines.append(line)
    return "\r\n ".join(lines)


def _set_header(msg: EmailMessage, name: str, value: object, shown: str, encoded: Callable[[], str]) -> None:
    """Set a header through msg's policy, unless its folding loses text, then as `encoded()` gives it
    (RFC 2047 words already folded; set_raw: written as is). The stdlib's folder (3.11) can turn a
    space at a fold into the white space between two encoded words, which readers drop (RFC 2047,
    6.2): "wifi หลุด" arrived as "wifiหลุด" in about one long Thai subject in eight. Checked by
    decoding the folded header as a mail reader does; our encoders keep every space inside a word."""
    msg[name] = value
    if shown.isascii():  # no encoded words, nothing to lose; but where it would fit on the next
        # line whole, the stdlib moves it there ("Subject:" alone on line one), and parsers such as
        # Python's own then read a leading space into it: wrapped at spaces from line one instead.
        width = msg.policy.max_line_length or 78
        if len(name) + 2 + len(shown) > width and msg.policy.fold(name, msg[name]).startswith(f"{name}:\r\n"):
            del msg[name]
            msg.set_raw(name, _wrapped(name, shown, width))
        return
    folded = msg.policy.fold(name, msg[name]).split(":", 1)[1].replace("\r\n", "").replace("\n", "").strip()
    if str(make_header(decode_header(folded))) != shown:
        del msg[name]
        msg.set_raw(name, encoded())


def bot_message(
    community: CommunitySettings,
    *,
    to: Sequence[str],
    subject: str,
    text: str,
    html: str | None = None,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    auto_submitted: str = "auto-generated",
    inline_images: Sequence[tuple[str, bytes, str]] = (),
    from_address: str | None = None,
    list_headers: bool = True,
    extra_headers: Mapping[str, str] | None = None,
) -> EmailMessage:
    """A message the bot writes: text (+ HTML, + inline images as cid: parts), UTF-8.

    `inline_images` are (content-id without <>, image bytes, subtype such as 'png'); the HTML
    refers to them as `cid:<content-id>`. The structure is multipart/related around
    multipart/alternative when images are given.
    """
    msg = EmailMessage(policy=_BOT_POLICY)
    sender = safe_header_value(from_address or community.request_address)
    display = safe_header_value(community.display_name)
    from_ = Address(display_name=display, addr_spec=sender)
    _set_header(msg, "From", from_, f"{display} <{sender}>", lambda: _phrase_addr(display, sender, "From"))
    msg["To"] = ", ".join(safe_header_value(a) for a in to if safe_header_value(a))
    subject = safe_header_value(subject)
    _set_header(msg, "Subject", subject, subject, lambda: _encoded_text(subject, "Subject"))
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = new_message_id(community.domain)
    parent = msg_id_token(in_reply_to or "")
    if parent:
        msg["In-Reply-To"] = parent
    refs = [t for t in (msg_id_token(r) for r in references) if t]
    if parent and parent not in refs:
        refs.append(parent)
    if refs:
        msg["References"] = " ".join(refs)
    msg["Auto-Submitted"] = safe_header_value(auto_submitted)
    # Keeps vacation responders from answering the bot.
    msg["Precedence"] = "bulk"
    msg[LOOP_HEADER] = safe_header_value(community.list_id)
    if list_headers:
        encoded = dict(_list_headers(community, encoded=True))
        for header, value in _list_headers(community, encoded=False):
            _set_header(msg, header, value, value, functools.partial(encoded.__getitem__, header))
    for name, value in (extra_headers or {}).items():
        name = safe_header_value(name).replace(" ", "").rstrip(":")
        if name:
            del msg[name]
            msg[name] = safe_header_value(value)
    msg.set_content(text, charset="utf-8")
    if html is not None:
        msg.add_alternative(html, subtype="html", charset="utf-8")
    if inline_images:
        # multipart/related around the multipart/alternative (the stdlib will not nest it so).
        inner = EmailMessage(policy=_BOT_POLICY)
        for name in [n for n in msg if n.lower().startswith("content-")]:
            inner[name] = msg[name]
            del msg[name]
        inner.set_payload(msg.get_payload())
        msg["Content-Type"] = "multipart/related"
        msg.set_payload([inner])
    for cid, data, subtype in inline_images:
        cid = safe_header_value(cid).strip("<>")
        sub = safe_header_value(subtype) or "png"
        msg.add_related(
            data, "image", sub, cid=f"<{cid}>", disposition="inline", filename=f"{cid}.{sub}"
        )
    return msg


def as_bytes(msg: EmailMessage) -> bytes:
    """SMTP-ready bytes with CRLF line endings."""
    buf = io.BytesIO()
    BytesGenerator(buf, mangle_from_=False, policy=msg.policy.clone(linesep="\r\n")).flatten(msg)
    return buf.getvalue()
