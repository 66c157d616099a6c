"""Raw RFC 5322 bytes to one immutable ParsedMessage; never raises, records defects instead.

Parsed once with the stdlib email package (mail-parser is built on it); mail-parser's hardened
address and date helpers read the headers, our own code decodes charsets and bodies.
"""

from __future__ import annotations

import base64
import binascii
import email
import email.errors
import email.message
import email.parser
import email.utils
import functools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from types import MappingProxyType

from mailparser.dates import parse_mail_date
from mailparser.utils import get_addresses

from mailbot.mail import boundaries
from mailbot.mail.charsets import decode_bytes
from mailbot.mail.quotes import split_reply

boundaries.install()  # multipart boundaries without a regular expression compiled per message

MAX_DEPTH = 20  # MIME nesting levels read; deeper parts are skipped with a defect
MAX_PARTS = 500  # MIME parts read per message
MAX_ID_LEN = 998  # RFC 5322 line limit; longer "ids" are garbage
MAX_IDS = 500  # References entries kept


@dataclass(frozen=True)
class Address:
    name: str  # decoded display name, '' if none
    email: str  # addr-spec, lower-cased, '' if unparseable


@dataclass(frozen=True)
class Attachment:
    filename: str | None
    content_type: str
    size: int  # decoded bytes (message/* parts: encoded size of their leaves)


@dataclass(frozen=True)
class ParsedMessage:
    raw: bytes
    message: email.message.Message = field(compare=False, repr=False)
    message_id: str | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    subject: str
    from_: Address | None
    sender: Address | None
    reply_to: tuple[Address, ...]
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    delivered_to: tuple[str, ...]
    date: datetime | None
    headers: Mapping[str, tuple[str, ...]] = field(hash=False, repr=False)
    text: str
    html: str | None = field(repr=False)
    new_text: str
    quoted_text: str = field(repr=False)
    signature: str
    attachments: tuple[Attachment, ...]
    size: int
    defects: tuple[str, ...]

    def header(self, name: str) -> str | None:
        """First decoded value of header `name` (case-insensitive), or None."""
        values = self.headers.get(name.lower())
        return values[0] if values else None

    @property
    def sender_email(self) -> str:
        return self.from_.email if self.from_ else ""


# ---------------------------------------------------------------- header decoding

_EW = re.compile(r"=\?([^?\s]{1,75})\?([bBqQ])\?([^?\s]*)\?=")
_FOLD = re.compile(r"[ \t]*\r?\n[ \t]*|[ \t]*\r[ \t]*")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_ANGLE_ID = re.compile(r"<([^<>\s]{1,998})>")
_BARE_ID = re.compile(r"^[^\s<>()\",;]+@[^\s<>()\",;]+$")
_ADDR_SPEC = re.compile(r"[^\s<>(),;:\"]+@[^\s<>(),;:\"]+")


def _clean(text: str) -> str:
    """Make a str safe for UTF-8 sinks (PostgreSQL rejects NUL and lone surrogates)."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def _unbyte(value: str, notes: list[str], where: str) -> str:
    """Header text carrying raw 8-bit bytes (as surrogate escapes) to real text."""
    if value.isascii():
        return value
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        pass
    text, note = decode_bytes(value.encode("utf-8", "surrogateescape"), None)
    notes.append(f"header {where}: raw 8-bit bytes" + (f" ({note})" if note else ""))
    return text


def _decode_word(charset: str, data: bytes, notes: list[str], where: str) -> str:
    text, note = decode_bytes(data, charset)
    if note:
        notes.append(f"header {where}: {note}")
    return text


def decode_words(value: str, notes: list[str], where: str = "?") -> str:
    """Decode RFC 2047 encoded-words; adjacent words in one charset are joined as bytes first,
    so a character split across two words (iPhone, Gmail) still decodes."""
    if "=?" not in value:
        return value
    out: list[str] = []
    pending_charset: str | None = None
    pending: list[bytes] = []
    pos = 0

    def flush() -> None:
        nonlocal pending_charset
        if pending_charset is not None:
            out.append(_decode_word(pending_charset, b"".join(pending), notes, where))
            pending.clear()
            pending_charset = None

    for m in _EW.finditer(value):
        gap = value[pos : m.start()]
        pos = m.end()
        charset, enc, data = m.group(1), m.group(2).lower(), m.group(3)
        try:
            if enc == "b":
                data = data.rstrip("=")
                raw = base64.b64decode(data + "=" * (-len(data) % 4), validate=False)
            else:
                raw = binascii.a2b_qp(data.encode("utf-8", "surrogateescape"), header=True)
        except (binascii.Error, ValueError):
            notes.append(f"header {where}: bad encoded-word {m.group(0)[:60]!r}")
            flush()
            out.append(gap + m.group(0))
            continue
        if gap and not gap.isspace() or (gap and pending_charset is None):
            flush()
            out.append(gap)
        if pending_charset is not None and pending_charset.lower() != charset.lower():
            flush()
        pending_charset = charset
        pending.append(raw)
    flush()
    out.append(value[pos:])
    return "".join(out)


def _header_text(value: str, notes: list[str], where: str) -> str:
    """Decoded, unfolded, single-line header value."""
    text = _unbyte(value, notes, where)
    text = _FOLD.sub(" ", text)
    if "=?" in text:
        text = decode_words(text, notes, where)
        if _CONTROL.search(text):
            notes.append(f"header {where}: encoded-word decoded to control characters; flattened")
    if _CONTROL.search(text):
        text = _CONTROL.sub(" ", text)
    return _clean(text).strip()


def _ids(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    found = _ANGLE_ID.findall(value)
    if not found:
        bare = value.strip()
        found = [bare] if _BARE_ID.match(bare) and len(bare) <= MAX_ID_LEN else []
    seen: dict[str, None] = {}
    for item in found:
        item = item.strip()
        if item and item not in seen:
            seen[item] = None
            if len(seen) >= MAX_IDS:
                break
    return tuple(seen)


_REMEMBERED_ADDRESS_LEN = 1000


def _addresses(value: str | None, notes: list[str], where: str) -> tuple[Address, ...]:
    if not value or not value.strip():
        return ()
    if len(value) > _REMEMBERED_ADDRESS_LEN:  # long lists are rarely repeated: not kept in memory
        return _parse_addresses(value, notes, where)
    found, found_notes = _read_addresses(value, where)
    notes.extend(found_notes)
    return found


# Remembered: the same From and To values (a member, the list) come on post after post, and
# mail-parser's address parser was a sixth of parsing a message (measured). Pure in its arguments.
@functools.lru_cache(maxsize=4096)
def _read_addresses(value: str, where: str) -> tuple[tuple[Address, ...], tuple[str, ...]]:
    notes: list[str] = []
    return _parse_addresses(value, notes, where), tuple(notes)


def _parse_addresses(value: str, notes: list[str], where: str) -> tuple[Address, ...]:
    value = _FOLD.sub(" ", value)
    diagnostics: list[dict[str, object]] = []
    try:
        pairs = get_addresses(value, defects=diagnostics)
    except Exception as exc:  # noqa: BLE001 - hostile header; fall back to the stdlib
        notes.append(f"address {where}: {type(exc).__name__}")
        pairs = []
    pairs = [(n, a) for n, a in pairs if a]
    if not pairs:
        try:
            pairs = [(n, a) for n, a in email.utils.getaddresses([value]) if "@" in a]
        except Exception:  # noqa: BLE001
            pairs = []
    for diag in diagnostics[:5]:
        if str(diag.get("raw", "")).strip().endswith("<>"):
            continue  # the null reverse-path of bounces is legitimate
        notes.append(f"address {where}: {diag.get('reason')}")
    if not pairs:
        # Keep the display name of an unusable address ("MAILER-DAEMON <>"): classifiers use it.
        name = value.split("<", 1)[0]
        name = decode_words(name, notes, where) if "=?" in name else name
        name = _clean(_CONTROL.sub(" ", name)).strip().strip('"').strip()
        return (Address(name=name[:200], email=""),)
    result = []
    for name, addr in pairs:
        name = decode_words(name, notes, where) if "=?" in name else name
        name = _clean(_CONTROL.sub(" ", name)).strip().strip('"').strip()
        result.append(Address(name=name, email=_clean(addr.strip().lower())))
    return tuple(result)


def _date(value: str | None, notes: list[str]) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = parse_mail_date(value).value
    except Exception:  # noqa: BLE001
        parsed = None
    if parsed is None:
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except Exception:  # noqa: BLE001 - TypeError/ValueError/OverflowError on garbage
            parsed = None
    if parsed is None:
        notes.append(f"header date: unparseable {value.strip()[:60]!r}")
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


# ---------------------------------------------------------------- HTML to text

_SKIP = {"script", "style", "title", "noscript", "template", "xml", "head"}
_BLOCK = {"p", "div", "tr", "li", "ul", "ol", "table", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
          "pre", "section", "article", "header", "footer", "dd", "dt", "dl", "address", "center",
          "blockquote", "form", "fieldset", "caption", "tbody", "thead"}
_PARAGRAPH = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "blockquote", "pre"}
_SPACES = re.compile(r"[ \t\r\n\f\v\u00a0\u200b]+")


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[tuple[int, list[str]]] = [(0, [])]
        self.skip = 0
        self.quote = 0
        self.pre = 0

    def _newline(self, blank: bool = False) -> None:
        depth, parts = self.lines[-1]
        if parts or blank:
            self.lines.append((self.quote, []))
        if blank:
            self.lines.append((self.quote, []))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            # <head> is closed implicitly by <body> in sloppy HTML, so it never nests.
            self.skip = 1 if tag == "head" else self.skip + 1
            return
        if tag == "body":
            self.skip = 0
        if tag == "br":
            self.lines.append((self.quote, []))
            return
        if tag in _BLOCK:
            self._newline()
        if tag == "blockquote":
            self.quote += 1
            self.lines[-1] = (self.quote, self.lines[-1][1]) if not self.lines[-1][1] else self.lines[-1]
        elif tag == "pre":
            self.pre += 1
        elif tag in ("td", "th"):
            self.lines[-1][1].append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("br", "hr"):
            self.lines.append((self.quote, []))
        elif tag in _BLOCK:
            self._newline()

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
            return
        if tag == "blockquote":
            self.quote = max(0, self.quote - 1)
        elif tag == "pre":
            self.pre = max(0, self.pre - 1)
        if tag in _BLOCK:
            self._newline(blank=tag in _PARAGRAPH)

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        if self.pre:
            first, *rest = data.replace("\r\n", "\n").split("\n")
            self._add(first)
            for line in rest:
                self.lines.append((self.quote, []))
                self._add(line)
            return
        self._add(_SPACES.sub(" ", data))

    def _add(self, text: str) -> None:
        if not text:
            return
        depth, parts = self.lines[-1]
        if not parts and depth != self.quote:
            self.lines[-1] = (self.quote, parts)
        parts.append(text)


def html_to_text(html: str) -> str:
    """Convert HTML to plain text; never raises."""
    collector = _Collector()
    try:
        collector.feed(html)
        collector.close()
    except Exception:  # noqa: BLE001 - html.parser is lenient, but a mail body must never crash us
        pass
    out: list[str] = []
    blank = True
    for depth, parts in collector.lines:
        line = _SPACES.sub(" ", "".join(parts)).strip() if not collector.pre else "".join(parts).rstrip()
        if not line:
            if not blank:
                out.append("")
            blank = True
            continue
        out.append(("> " * depth) + line)
        blank = False
    return "\n".join(out).strip()


# ---------------------------------------------------------------- MIME walk

def _walk(root: email.message.Message, notes: list[str]) -> Iterator[tuple[email.message.Message, str]]:
    """Depth-first parts as (part, its content type), within MAX_DEPTH and MAX_PARTS; the type
    is read once here (compat32 finds and splits the header again on every call).

    message/* parts are yielded but not entered: their text is not the sender's body."""
    stack: list[tuple[email.message.Message, int]] = [(root, 0)]
    count = 0
    while stack:
        part, depth = stack.pop()
        count += 1
        if count > MAX_PARTS:
            notes.append(f"mime: more than {MAX_PARTS} parts; the rest was not read")
            return
        ctype = part.get_content_type()
        yield part, ctype
        if ctype.startswith("message/") or not part.is_multipart():
            continue
        children = part.get_payload()
        if not isinstance(children, list):
            continue
        if depth + 1 > MAX_DEPTH:
            notes.append(f"mime: nesting deeper than {MAX_DEPTH} levels; inner parts not read")
            continue
        stack.extend((c, depth + 1) for c in reversed(children) if isinstance(c, email.message.Message))


def _message_size(part: email.message.Message) -> int:
    """Approximate size of an embedded message: the encoded length of its leaves (bounded walk)."""
    total = 0
    stack = [part]
    seen = 0
    while stack and seen < MAX_PARTS:
        p = stack.pop()
        seen += 1
        payload = p.get_payload()
        if isinstance(payload, list):
            stack.extend(x for x in payload if isinstance(x, email.message.Message))
        elif isinstance(payload, str):
            total += len(payload)
    return total


def _param(part: email.message.Message, getter: str) -> str | None:
    try:
        value = getattr(part, getter)()
    except Exception:  # noqa: BLE001 - RFC 2231 values with unknown charsets raise
        return None
    return str(value) if value is not None else None


def _payload_text(part: email.message.Message, notes: list[str], index: int) -> str:
    try:
        data = part.get_payload(decode=True)
    except Exception as exc:  # noqa: BLE001
        notes.append(f"mime: part {index} payload unreadable ({type(exc).__name__})")
        return ""
    if not isinstance(data, bytes | bytearray) or not data:
        return ""
    try:
        label = part.get_param("charset")
    except Exception:  # noqa: BLE001
        label = None
    if isinstance(label, tuple):  # RFC 2231 form
        label = label[2] if len(label) > 2 else None
    text, note = decode_bytes(bytes(data), str(label) if label is not None else None)
    if note:
        notes.append(f"part {index} {part.get_content_type()}: {note}")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _clean(text)


@dataclass
class _Body:
    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)


def _read_parts(root: email.message.Message, notes: list[str]) -> _Body:
    body = _Body()
    mime_notes: dict[str, None] = {}
    visited: list[email.message.Message] = []
    for index, (part, ctype) in enumerate(_walk(root, notes)):
        visited.append(part)
        maintype = ctype.partition("/")[0]
        if maintype == "multipart" and part.is_multipart():
            continue
        disposition = _param(part, "get_content_disposition")
        raw_name = _param(part, "get_filename")
        filename = _header_text(raw_name, notes, "filename") if raw_name else None
        if maintype == "message":
            body.attachments.append(Attachment(filename, ctype, _message_size(part)))
            continue
        is_text_body = maintype == "text" and disposition != "attachment" and (
            filename is None or ctype in ("text/plain", "text/html")
        )
        if not is_text_body:
            try:
                data = part.get_payload(decode=True)
                size = len(data) if isinstance(data, bytes | bytearray) else 0
            except Exception:  # noqa: BLE001
                size = 0
            body.attachments.append(Attachment(filename, ctype, size))
            continue
        text = _payload_text(part, notes, index)
        if ctype == "text/plain":
            body.plain.append(text)
        elif ctype == "text/html":
            body.html.append(text)
        else:
            body.other.append(text)
    # Read defects last: decoding a payload (bad base64, say) adds to them.
    for part in visited:
        for defect in getattr(part, "defects", ()):
            mime_notes[f"mime: {type(defect).__name__} in {part.get_content_type()}"] = None
    notes.extend(mime_notes)
    return body


# A header's first line as the stdlib parser reads one: a non-empty name of printable ASCII but ':'.
HEADER_LINE = re.compile(rb"^[!-9;-~]+:")
_BLANK_LINE = re.compile(rb"\r?\n\r?\n|\r\r")


def _repair_header_block(raw: bytes) -> bytes | None:
    """Header block with stray lines folded into the previous header (or dropped when first).

    The stdlib ends the header block at the first line that is not a header, losing every header
    below it ("quite Delivered-To: ...", a mangled first line); this recovers them."""
    end = _BLANK_LINE.search(raw, 0, 256_000)
    if end is None:
        return None
    lines = re.split(rb"(\r\n|\r|\n)", raw[: end.start()])
    out: list[bytes] = []
    for i in range(0, len(lines), 2):
        line, sep = lines[i], lines[i + 1] if i + 1 < len(lines) else b"\n"
        if HEADER_LINE.match(line) or line[:1] in (b" ", b"\t"):
            out.append(line + sep)
        elif out and line.strip():
            out.append(b" " + line + sep)
    if not out:
        return None
    return b"".join(out) + raw[end.start() :]


def _parse_bytes(raw: bytes, notes: list[str]) -> email.message.Message:
    try:
        msg = email.message_from_bytes(raw)
        if any(isinstance(d, email.errors.MissingHeaderBodySeparatorDefect) for d in msg.defects):
            repaired = _repair_header_block(raw)
            if repaired is not None:
                fixed = email.message_from_bytes(repaired)
                if len(fixed.keys()) > len(msg.keys()):
                    notes.append("header: stray lines inside the header block were folded or dropped")
                    return fixed
        return msg
    except Exception as exc:  # noqa: BLE001 - RecursionError on hostile nesting, and the unforeseen
        notes.append(f"mime: body not parsed ({type(exc).__name__}); headers only")
    try:
        return email.parser.BytesHeaderParser().parsebytes(raw)
    except Exception as exc:  # noqa: BLE001
        notes.append(f"mime: headers not parsed ({type(exc).__name__})")
        return email.message.Message()


def _enriched_to_text(text: str) -> str:
    # text/enriched: drop <commands>, '<<' is a literal '<'.
    return re.sub(r"<(/?[A-Za-z0-9-]+)>", "", text).replace("<<", "<")


def parse_message(raw: bytes) -> ParsedMessage:
    """Parse raw message bytes. Never raises: problems are listed in `defects`."""
    if not isinstance(raw, bytes):
        raw = bytes(raw) if isinstance(raw, bytearray | memoryview) else str(raw).encode("utf-8", "replace")
    try:
        return _parse(raw)
    except Exception as exc:  # noqa: BLE001 - last line of defence; the loop must go on
        return _empty(raw, f"parse failed: {type(exc).__name__}: {str(exc)[:200]}")


def _empty(raw: bytes, note: str) -> ParsedMessage:
    return ParsedMessage(
        raw=raw, message=email.message.Message(), message_id=None, in_reply_to=(), references=(),
        subject="", from_=None, sender=None, reply_to=(), to=(), cc=(), delivered_to=(), date=None,
        headers=MappingProxyType({}), text="", html=None, new_text="", quoted_text="", signature="",
        attachments=(), size=len(raw), defects=(note,),
    )


def _parse(raw: bytes) -> ParsedMessage:
    notes: list[str] = []
    data = raw
    if data.startswith(b"\xef\xbb\xbf"):
        # Some Windows tools save .eml files with a UTF-8 byte-order mark, which would hide the
        # first header; parse without it but keep the raw bytes untouched.
        data = data[3:]
        notes.append("leading UTF-8 byte-order mark ignored")
    msg = _parse_bytes(data, notes)

    headers: dict[str, list[str]] = {}
    raw_all: dict[str, list[str]] = {}
    try:
        for name, value in msg.raw_items():
            key = _clean(str(name)).strip().lower()
            value = str(value)
            raw_all.setdefault(key, []).append(value)
            headers.setdefault(key, []).append(_header_text(value, notes, key))
    except Exception as exc:  # noqa: BLE001
        notes.append(f"header: unreadable ({type(exc).__name__})")

    def first(name: str) -> str | None:
        values = headers.get(name)
        return values[0] if values else None

    def raw_value(name: str, joined: bool = False) -> str | None:
        values = raw_all.get(name)
        if not values:
            return None
        if joined:  # To/Cc may repeat; all occurrences count
            return ", ".join(_unbyte(v, notes, name) for v in values)
        return _unbyte(values[0], notes, name)

    message_ids: tuple[str, ...] = ()
    for value in headers.get("message-id", ()):  # a garbage first value may hide a good second one
        message_ids = _ids(value)
        if message_ids:
            break
    if first("message-id") is not None and not message_ids:
        notes.append("header message-id: unusable value")
    from_ = _addresses(raw_value("from"), notes, "from")
    sender = _addresses(raw_value("sender"), notes, "sender")
    delivered: dict[str, None] = {}
    for name in ("delivered-to", "x-original-to", "envelope-to", "x-envelope-to"):
        for value in headers.get(name, ()):
            for addr in _ADDR_SPEC.findall(value):
                delivered.setdefault(addr.strip(".").lower(), None)

    try:
        body = _read_parts(msg, notes)
    except Exception as exc:  # noqa: BLE001
        notes.append(f"mime: body not read ({type(exc).__name__})")
        body = _Body()

    html = "\n".join(h for h in body.html if h) or None
    text = "\n\n".join(t for t in body.plain if t.strip())
    if not text.strip() and html:
        text = html_to_text(html)
    if not text.strip() and body.other:
        text = _enriched_to_text("\n\n".join(body.other)).strip()
    reply = split_reply(text)

    def unique(items: list[str]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(items))

    return ParsedMessage(
        raw=raw,
        message=msg,
        message_id=message_ids[0] if message_ids else None,
        in_reply_to=_ids(first("in-reply-to")),
        references=_ids(" ".join(headers.get("references", []))),
        subject=first("subject") or "",
        from_=from_[0] if from_ else None,
        sender=sender[0] if sender else None,
        reply_to=_addresses(raw_value("reply-to"), notes, "reply-to"),
        to=_addresses(raw_value("to", joined=True), notes, "to"),
        cc=_addresses(raw_value("cc", joined=True), notes, "cc"),
        delivered_to=tuple(delivered),
        date=_date(raw_value("date"), notes),
        headers=MappingProxyType({k: tuple(v) for k, v in headers.items()}),
        text=text,
        html=html,
        new_text=reply.new,
        quoted_text=reply.quoted,
        signature=reply.signature,
        attachments=tuple(body.attachments),
        size=len(raw),
        defects=unique(notes),
    )
