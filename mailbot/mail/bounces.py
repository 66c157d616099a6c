"""Recognise bounces (DSNs, MTA failure notices, ARF reports) and auto-replies in inbound mail.

Cheap header checks run first; the DSN parsing and flufl.bounce heuristics only run on mail that looks
like a delivery report, because classify_bounce() sees every inbound message.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from dataclasses import dataclass
from email.header import Header, decode_header, make_header
from email.message import Message
from email.utils import getaddresses, parseaddr
from typing import NamedTuple

from flufl.bounce import all_failures

# flufl.bounce logs a traceback for each detector that trips over a hostile message; we already
# treat that as "no answer", so its log lines would only be noise on every such message.
logging.getLogger("flufl.bounce").setLevel(logging.CRITICAL)

KIND_BOUNCE = "bounce"
KIND_AUTO_REPLY = "auto-reply"
KIND_NONE = "none"

# How much decoded body text the heuristics look at: failure notices put the reason up front.
_TEXT_LIMIT = 32_000
_WALK_LIMIT = 200  # MIME parts; a bomb of nested parts must stay cheap


@dataclass(frozen=True)
class BounceVerdict:
    kind: str  # 'bounce' | 'auto-reply' | 'none'
    addresses: tuple[str, ...] = ()  # failed recipients found, lower-cased
    permanent: bool | None = None  # True: 5.x.x-class failure; False: transient (4.x.x, full, delay)
    spam_policy: bool = False  # rejected as spam / policy / blocklist: never a hard bounce
    status: str | None = None  # best DSN status code found, e.g. '5.1.1'
    reason: str = ""  # kebab-case, for logs

    @property
    def hard(self) -> bool:
        """A bounce that should count against the address: permanent and not a spam/policy block."""
        return self.kind == KIND_BOUNCE and self.permanent is True and not self.spam_policy


NOT_A_BOUNCE = BounceVerdict(KIND_NONE)

# --- header cues ---------------------------------------------------------------------------------

_DAEMON_LOCALS = {
    "mailer-daemon",
    "mailer_daemon",
    "mailerdaemon",
    "mail-daemon",
    "maildaemon",
    "postmaster",
    "mdaemon",
    "mail.delivery.system",
    "mail-delivery-system",
    "mail-delivery-subsystem",
    "nobody",
    "bounce",
    "bounces",
    "mailer",
    "mail_delivery_system",
    "mail-notifier",
    "post_master",
    "ndr",
    "microsoftexchange329e71ec88ae4615bbc36ab6ce41109e",
}
_DAEMON_NAME_RE = re.compile(
    r"mail delivery (sub)?system|mailer[- _]?daemon|postmaster|mail administrator|"
    r"delivery status notification|mail delivery service",
    re.IGNORECASE,
)
_FAILURE_SUBJECT_RE = re.compile(
    r"undeliver|undelivered|not delivered|non[- ]?deliver|delivery (status )?(notification|failure|"
    r"report|problem|failed|has failed)|delivery[- ]fail|failure notice|failed delivery|"
    r"returned mail|returned to sender|mail delivery failed|mail system error|"
    r"could not (be )?deliver|couldn't be delivered|can ?not be delivered|delivery delay|"
    r"warning: (could not|message)|delayed mail|message (delivery )?(delay|status)|"
    r"mail could not|rejected|bounce|unzustellbar|non remis|no entregado|non recapitabile|"
    r"error sending|mail error|delivery error|envoi impossible|nicht zugestellt|"
    r"mail failure|unable to deliver|permanent (error|failure)|temporary (error|failure)|"
    r"\bdsn\b|notification d'état|delivery warning|could not send|errors from|"
    r"complaint about message|配信|エラー|不能|ไม่สามารถส่ง",
    re.IGNORECASE,
)
_NOTICE_SUBJECT_RE = re.compile(
    r"^\s*(undeliver|mail (error|could not be delivered|delivery failed)|delivery (status )?"
    r"(notification|failure)|failure notice|returned mail|non[- ]?delivery|メールエラー)",
    re.IGNORECASE,
)
_AUTO_SUBJECT_RE = re.compile(
    r"^\s*"
    r"(?:out of (?:the )?office\b|automatic reply\s*:|auto\s*:|auto[- ]?reply\b|auto[- ]?response\b|"
    r"autoresponder\b|abwesenheitsnotiz|r[ée]ponse automatique|risposta automatica|"
    r"respuesta autom[áa]tica|resposta autom[áa]tica|automatisch antwoord|"
    r"automatische antwort|odpowied[źz] automatyczna|automatyczna odpowied[źz]|away\s*:|on vacation\b|vacation reply|"
    r"ตอบกลับอัตโนมัติ|ไม่อยู่ที่สำนักงาน|自動応答|自动回复)"
    r"|\bis out of (?:the )?office\b",
    re.IGNORECASE,
)
_AUTO_PRECEDENCE = {"bulk", "junk", "list", "auto_reply", "auto-reply"}
_DAEMON_TEXT_RE = re.compile(r"mailer-daemon|postmaster|post_master", re.I)

# --- body cues -----------------------------------------------------------------------------------

_STATUS_RE = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_SMTP_REPLY_RE = re.compile(r"(?<![\d.])([45])[0-5]\d(?:[ -]|$)", re.MULTILINE)
_FAILURE_TEXT_RE = re.compile(
    r"could not be delivered|couldn't be delivered|was not delivered|undeliverable|"
    r"delivery (has )?failed|delivery to the following recipients? (failed|has been delayed)|"
    r"permanent(ly)? (error|fatal|failure)|fatal errors?|user unknown|unknown user|"
    r"no such (user|mailbox|address|recipient)|mailbox (unavailable|not found|is full|full)|"
    r"recipient address rejected|address rejected|does not exist|delivery status notification|"
    r"returned to sender|the following addresses? had permanent|message could not be|"
    r"not be delivered|unable to deliver|i'm sorry to have to inform you|"
    r"this is the mail system|failed permanently|has not yet been delivered|"
    r"over ?quota|quota exceeded|host unknown|relay(ing)? denied|temporary failure|"
    r"delivery (is )?delayed|delivery attempts will continue|will be retried|"
    r"message (was )?rejected|returned mail|had delivery errors|transcript of session|"
    r"invalid (user|recipient|address)|550[ -]|554[ -]|553[ -]|552[ -]|5\.\d\.\d",
    re.IGNORECASE,
)
_SPAM_POLICY_RE = re.compile(
    r"spam|black ?list|block ?list|blocked|\brbl\b|dnsbl|spamhaus|spamcop|sorbs|barracuda|"
    r"reputation|\bpolicy\b|policies|dmarc|\bspf\b|dkim|content (rejected|filter)|"
    r"message content|rejected (due to|for) (content|security)|virus|malware|phishing|junk mail|"
    r"prohibited|unsolicited|abuse|not authori[sz]ed to send|sender (address )?rejected|"
    r"relay(ing)? (access )?(denied|not permitted)|(not configured|unable|not allowed) to relay|"
    r"unauthenticated|authentication (required|failed)|violation|bulk mail|mail refused|reject(ed)? by .*filter|listed (at|in|on)",
    re.IGNORECASE,
)
_FULL_RE = re.compile(
    r"mailbox (is |was )?full|mail ?box full|over ?quota|quota (exceeded|full)|exceeded (the )?(storage|quota)|"
    r"insufficient (system )?storage|(out of|not enough) (disk )?space|storage (space )?(limit|full)|"
    r"too many messages|mailfolder is full|user is over|full mailbox",
    re.IGNORECASE,
)
_PLAIN_ADDRESS_RE = re.compile(r"[^\s\"'<>(),;:\[\]{}@]+@[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?")
_LIST_REJECT_RE = re.compile(
    r"not (a )?member|non-?member|loop alert|posting (is )?(not allowed|rejected)|moderat", re.I
)
_TRANSIENT_TEXT_RE = re.compile(
    r"will (continue to )?(be )?retr(y|ied)|delivery attempts will continue|has not yet been delivered|"
    r"not yet been delivered|delivery (is |has been )?delayed|temporar(y|ily)|try again later|"
    r"still trying|message will be retried|warning: message|advisory-only|postponed",
    re.IGNORECASE,
)


def _decode_header_value(value: object) -> str:
    """A header as text: RFC 2047 words decoded, undecodable bytes replaced, never raising."""
    if value is None:
        return ""
    if isinstance(value, Header):
        # compat32 wraps raw 8-bit header bytes as 'unknown-8bit'; most such headers are UTF-8.
        try:
            text = "".join(
                _decode_8bit(chunk) if isinstance(chunk, bytes) and charset in (None, "unknown-8bit")
                else chunk.decode(charset or "ascii", errors="replace") if isinstance(chunk, bytes)
                else chunk
                for chunk, charset in decode_header(value)
            )
        except Exception:
            text = str(value)
        return " ".join(text.split())
    raw = str(value)
    if "=?" not in raw:  # no encoded word: decoding would give the same text back, at a cost
        return " ".join(raw.split())
    try:
        text = str(make_header(decode_header(raw)))
    except Exception:
        text = raw
    return " ".join(text.split())


def _decode_8bit(data: bytes) -> str:
    """Undeclared 8-bit text: UTF-8 if it is valid UTF-8, else Thai Windows-874, else Latin-1."""
    for charset in ("utf-8", "cp874"):
        try:
            return data.decode(charset)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _header(msg: Message, name: str) -> str:
    try:
        return _decode_header_value(msg.get(name))
    except Exception:
        return ""


class _From(NamedTuple):
    """The From header decoded once: its text, display name and lower-case address."""

    text: str
    name: str
    addr: str


def _from(msg: Message) -> _From:
    text = _header(msg, "from")
    if len(text) > 1000:  # long values are rarely repeated: not kept in memory
        return _read_from.__wrapped__(text)
    return _read_from(text)


# Remembered, as parse.py remembers addresses: the same From comes on post after post, and the
# stdlib's parseaddr was a third of checking an ordinary post for bounce cues (measured).
@functools.lru_cache(maxsize=4096)
def _read_from(text: str) -> _From:
    name, addr = parseaddr(text)
    return _From(text, name, addr.lower())


def _is_daemon_sender(sender: _From) -> bool:
    text, name, addr = sender
    local = addr.rpartition("@")[0] if "@" in addr else addr
    if local in _DAEMON_LOCALS or local.startswith(("mailer-daemon", "postmaster", "mailerdaemon")):
        return True
    if _DAEMON_NAME_RE.search(name) or (not addr and "<>" in text):
        return True  # 'From: "Mail System" <>' is a null sender too
    # Mangled From fields ('<Postmaster\\@host@relay>') defeat parseaddr; the raw text still tells.
    return bool(_DAEMON_TEXT_RE.search(text))


def _null_return_path(msg: Message) -> bool:
    value = msg.get("return-path")
    if value is None:
        return False
    return str(value).strip().strip("<>").strip() in ("", "MAILER-DAEMON", "mailer-daemon")


def _content_type(msg: Message) -> str:
    try:
        return msg.get_content_type()
    except Exception:
        return "text/plain"


def _walk(msg: Message, *, into_attached: bool = False) -> list[Message]:
    """Parts of the report itself, not of an attached original (unless asked), bounded in number."""
    parts: list[Message] = []
    stack = [msg]
    while stack and len(parts) < _WALK_LIMIT:
        part = stack.pop()
        parts.append(part)
        ctype = _content_type(part)
        if ctype in ("message/rfc822", "message/global") and part is not msg and not into_attached:
            continue
        payload = part.get_payload()
        if isinstance(payload, list) and ctype != "message/delivery-status":
            stack.extend(reversed([p for p in payload if isinstance(p, Message)]))
    return parts


def _names(msg: Message) -> frozenset[str]:
    """The lower-cased names of the headers present. Asking for an absent header walks the whole
    header list (compat32), and most cues are headers an ordinary post does not carry."""
    return frozenset(name.lower() for name in msg)  # iterating a Message yields its header names


def looks_like_report(msg: Message, names: frozenset[str], subject: str | None = None) -> bool:
    """Cheap gate: only these messages get the full DSN parse and the flufl.bounce scan.
    `names`, `subject`: the message's `_names` and decoded Subject, read once by classify_bounce."""
    ctype = _content_type(msg)
    if ctype == "multipart/report":
        return True
    sender = _from(msg)
    if ("return-path" in names and _null_return_path(msg)) or _is_daemon_sender(sender):
        return True
    if "x-failed-recipients" in names or "x-mlserver" in names:
        return True
    if sender.addr.endswith(("@sns.amazonaws.com", "amazonses.com")):
        return True
    if _FAILURE_SUBJECT_RE.search(_header(msg, "subject") if subject is None else subject):
        return True
    if msg.is_multipart():
        for part in _walk(msg):
            if _content_type(part) in (
                "message/delivery-status",
                "message/global-delivery-status",
                "message/feedback-report",
            ):
                return True
    return False


# --- auto-replies --------------------------------------------------------------------------------


def is_auto_reply(msg: Message, names: frozenset[str] | None = None, subject: str | None = None) -> str | None:
    """Reason string when the message is an automatic reply (RFC 3834 or vendor habits), else None.

    X-Auto-Response-Suppress alone is not a cue: Outlook sets it on ordinary mail.
    """
    try:
        return _auto_reply_reason(msg, _names(msg) if names is None else names, subject)
    except Exception:
        return None


_AUTOREPLY_FLAGS = ("x-autoreply", "x-autorespond", "x-autoresponder", "x-autogenerated")


def _auto_reply_reason(msg: Message, names: frozenset[str], subject: str | None = None) -> str | None:
    if "auto-submitted" in names:
        auto = _header(msg, "auto-submitted").lower()
        if auto and auto.split(";", 1)[0].strip() not in ("no", ""):
            return "auto-submitted"
    for name in _AUTOREPLY_FLAGS:
        if name in names and _header(msg, name).lower() not in ("no", "false", "0"):
            return "x-autoreply"
    if "x-ms-exchange-inbox-rules-loop" in names:
        return "exchange-rules-loop"
    source = "x-ms-exchange-generated-message-source"
    if source in names and _header(msg, source).lower().startswith("mailbox rules"):
        return "exchange-rules-loop"
    precedence = _header(msg, "precedence").lower().strip() if "precedence" in names else ""
    if precedence in _AUTO_PRECEDENCE:
        return "precedence"
    if _AUTO_SUBJECT_RE.search(_header(msg, "subject") if subject is None else subject):
        return "ooo-subject"
    if _content_type(msg) == "multipart/report" and _report_type(msg) == "disposition-notification":
        return "mdn"
    return None


# --- bounce analysis -----------------------------------------------------------------------------


def _report_type(msg: Message) -> str:
    try:
        return str(msg.get_param("report-type", "", header="content-type") or "").strip().lower()
    except Exception:
        return ""


def _part_text(part: Message) -> str:
    try:
        raw = part.get_payload(decode=True)
    except Exception:
        raw = None
    if raw is None:
        payload = part.get_payload()
        return payload if isinstance(payload, str) else ""
    if not isinstance(raw, bytes):
        return str(raw)
    try:
        charset = part.get_content_charset() or "utf-8"
    except Exception:  # a mangled Content-Type parameter
        charset = "utf-8"
    try:
        return raw.decode(charset)
    except (LookupError, UnicodeDecodeError):
        # Mislabelled parts are common in notices (UTF-8 text labelled ISO-2022-JP, ...).
        return _decode_8bit(raw)


def _report_text(msg: Message) -> str:
    """Decoded human-readable text of the report (not of the attached original), bounded."""
    chunks: list[str] = []
    size = 0
    for part in _walk(msg):
        ctype = _content_type(part)
        broken_multipart = ctype.startswith("multipart/") and isinstance(part.get_payload(), str)
        if not broken_multipart and (
            part.is_multipart() or not ctype.startswith("text/") or ctype == "text/rfc822-headers"
        ):
            continue
        text = _part_text(part)
        if ctype == "text/html":
            text = re.sub(r"<[^>]*>", " ", text)
        chunks.append(text)
        size += len(text)
        if size >= _TEXT_LIMIT:
            break
    return "\n".join(chunks)[:_TEXT_LIMIT]


@dataclass
class _Recipient:
    address: str
    action: str
    status: str
    diagnostic: str


def _field_blocks(part: Message) -> list[dict[str, str]]:
    """Header blocks of a delivery-status / feedback-report part, however the parser left it."""
    payload = part.get_payload()
    blocks: list[dict[str, str]] = []
    if isinstance(payload, list):
        for block in payload:
            if isinstance(block, Message):
                blocks.append({k.lower(): _decode_header_value(v) for k, v in block.items()})
                # A missing blank line or a stray line leaves later fields in the block's body.
                body = block.get_payload()
                if isinstance(body, str) and body.strip():
                    blocks.extend(_parse_field_text(body))
        return blocks
    text = _part_text(part)
    return _parse_field_text(text)


def _parse_field_text(text: str) -> list[dict[str, str]]:
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    last = ""
    for line in text.splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
                current, last = {}, ""
            continue
        if line[0] in " \t" and last:
            current[last] += " " + line.strip()
            continue
        name, sep, value = line.partition(":")
        if sep and name.strip() and " " not in name.strip():
            last = name.strip().lower()
            # A new Final-Recipient without a blank line starts a new recipient block.
            new_block = last == "final-recipient" or (last == "original-recipient" and "action" in current)
            if new_block and "final-recipient" in current:
                blocks.append(current)
                current = {}
            current[last] = value.strip()
    if current:
        blocks.append(current)
    return blocks


def _address_of(field: str) -> str:
    value = field.strip()
    if ";" in value:
        value = value.split(";", 1)[1]
    value = value.strip().strip("<>").strip()
    if "@" not in value:
        addr = parseaddr(value)[1]
        return addr.lower() if "@" in addr else ""
    addr = parseaddr(value)[1] or value
    return addr.strip("<> \t").lower()


def _dsn_recipients(msg: Message) -> list[_Recipient] | None:
    """Per-recipient blocks of every delivery-status part, or None when there is no such part."""
    found = False
    recipients: list[_Recipient] = []
    for part in _walk(msg):
        if _content_type(part) not in (
            "message/delivery-status",
            "message/global-delivery-status",
        ):
            continue
        found = True
        for block in _field_blocks(part):
            if "final-recipient" not in block and "original-recipient" not in block:
                continue
            address = _address_of(block.get("original-recipient", "")) or _address_of(
                block.get("final-recipient", "")
            )
            if not address:
                address = _address_of(block.get("final-recipient", ""))
            recipients.append(
                _Recipient(
                    address=address,
                    action=block.get("action", "").strip().lower(),
                    status=_clean_status(block.get("status", "")),
                    diagnostic=block.get("diagnostic-code", ""),
                )
            )
    return recipients if found else None


def _clean_status(value: str) -> str:
    match = _STATUS_RE.search(value)
    return ".".join(match.groups()) if match else ""


def _arf_verdict(msg: Message) -> BounceVerdict:
    addresses: list[str] = []
    for part in _walk(msg):
        if _content_type(part) != "message/feedback-report":
            continue
        for block in _field_blocks(part):
            for name in ("original-rcpt-to", "removal-recipient"):
                addr = _address_of(block.get(name, ""))
                if addr and addr not in addresses:
                    addresses.append(addr)
    # A complaint says the recipient called our mail spam: worth logging, never a hard bounce.
    return BounceVerdict(KIND_BOUNCE, tuple(addresses), None, True, None, "arf-report")


def _mdn_verdict(msg: Message) -> BounceVerdict:
    """A read receipt is an auto-reply; a 'deleted'/'failed' disposition (Sieve reject) is a bounce."""
    for part in _walk(msg):
        if _content_type(part) != "message/disposition-notification":
            continue
        for block in _field_blocks(part):
            disposition = block.get("disposition", "").lower()
            outcome = disposition.split(";", 1)[-1]
            if not any(word in outcome for word in ("deleted", "denied", "failed", "error")):
                continue
            address = _address_of(block.get("original-recipient", "")) or _address_of(
                block.get("final-recipient", "")
            )
            text = _report_text(msg)
            full = _is_full("", text)
            spam = not full and _is_spam_policy("", _diagnostic_lines(text))
            return BounceVerdict(
                KIND_BOUNCE, (address,) if address else (), not full, spam, None, "mdn-rejected"
            )
    return BounceVerdict(KIND_AUTO_REPLY, reason="mdn")


def _jmrp_verdict(msg: Message) -> BounceVerdict | None:
    """Hotmail/Outlook.com JMRP complaints: a plain message/rfc822 copy, recipient in a header."""
    if not _header(msg, "subject").lower().startswith("complaint about message"):
        return None
    addresses: list[str] = []
    for part in _walk(msg, into_attached=True):
        addr = _address_of(_header(part, "x-hmxmroriginalrecipient"))
        if addr and addr not in addresses:
            addresses.append(addr)
    return BounceVerdict(KIND_BOUNCE, tuple(addresses), None, True, None, "arf-report")


def _list_rejection(msg: Message) -> BounceVerdict | None:
    """A mailing-list manager refusing our mail (not a member, loop alarm): policy, not hard."""
    if msg.get("x-mlserver") is None and msg.get("x-ml-server") is None and msg.get("list-id") is None:
        return None
    if not _LIST_REJECT_RE.search(_header(msg, "subject")):
        return None
    return BounceVerdict(KIND_BOUNCE, (), True, True, None, "list-rejection")


def _ses_notification(msg: Message) -> BounceVerdict | None:
    """Amazon SES bounce/complaint notices delivered as JSON (SNS e-mail subscriptions)."""
    addr = _from(msg).addr
    if not addr.endswith(("amazonaws.com", "amazonses.com")) or msg.is_multipart():
        return None
    try:
        # strict=False: mail transport folds long lines, leaving raw newlines inside JSON strings.
        # raw_decode: an SNS footer ('--\nIf you wish to stop receiving...') follows the JSON.
        decoder = json.JSONDecoder(strict=False)
        data, _end = decoder.raw_decode(_part_text(msg).lstrip())
        if isinstance(data, dict) and isinstance(data.get("Message"), str):
            data, _end = decoder.raw_decode(data["Message"])  # the SNS envelope wraps the SES notice
    except (ValueError, TypeError):
        return None
    if not isinstance(data, dict):
        return None
    kind = str(data.get("notificationType", ""))
    if kind == "Bounce":
        bounce = data.get("bounce") or {}
        rcpts = bounce.get("bouncedRecipients") or []
        addresses = tuple(str(r.get("emailAddress", "")).lower() for r in rcpts if isinstance(r, dict))
        statuses = [_clean_status(str(r.get("status", ""))) for r in rcpts if isinstance(r, dict)]
        status = max(statuses, key=_status_rank) if statuses else None
        diagnostic = " ".join(str(r.get("diagnosticCode", "")) for r in rcpts if isinstance(r, dict))
        permanent = bounce.get("bounceType") == "Permanent" and not _is_full(status or "", diagnostic)
        spam = _is_spam_policy(status or "", diagnostic)
        return BounceVerdict(KIND_BOUNCE, addresses, permanent, spam, status or None, "ses-notification")
    if kind == "Complaint":
        rcpts = (data.get("complaint") or {}).get("complainedRecipients") or []
        addresses = tuple(str(r.get("emailAddress", "")).lower() for r in rcpts if isinstance(r, dict))
        return BounceVerdict(KIND_BOUNCE, addresses, None, True, None, "arf-report")
    if kind == "Delivery":
        return BounceVerdict(KIND_BOUNCE, (), None, False, "2.0.0", "dsn-success")
    return None


def _status_rank(status: str) -> tuple[int, int]:
    """Prefer permanent over transient codes, and specific over generic (x.0.0) ones."""
    if not status:
        return (0, 0)
    klass = {"5": 3, "4": 2, "2": 1}.get(status[0], 0)
    return (klass, 0 if status.endswith(".0.0") else 1)


def _is_spam_policy(status: str, diagnostic: str) -> bool:
    """x.7.x security/policy codes, x.1.7/x.1.8 (our sender address refused), or telling words."""
    codes = [status] + [".".join(g) for g in _STATUS_RE.findall(diagnostic)]
    for code in codes:
        if code[2:4] == "7." or code[2:] in ("1.7", "1.8"):
            return True
    return bool(_SPAM_POLICY_RE.search(diagnostic))


def _is_full(status: str, diagnostic: str) -> bool:
    return status in ("4.2.2", "5.2.2") or bool(_FULL_RE.search(diagnostic))


def _flufl(msg: Message) -> tuple[list[str], list[str]]:
    try:
        temporary, permanent = all_failures(msg)
    except Exception:  # flufl's heuristics on hostile input: no answer, not a crash
        return [], []

    def clean(items: frozenset[bytes]) -> list[str]:
        out = []
        for item in items:
            text = item.decode("ascii", errors="replace").strip().strip("<>").lower()
            # flufl's line heuristics sometimes capture a whole JSON or prose fragment.
            if _PLAIN_ADDRESS_RE.fullmatch(text) and text not in out:
                out.append(text)
        return sorted(out)

    return clean(temporary), clean(permanent)


def _failed_recipients_header(msg: Message) -> list[str]:
    values = msg.get_all("x-failed-recipients") or []
    return [a.lower() for _n, a in getaddresses([str(v) for v in values]) if "@" in a]


def _analyse(msg: Message) -> BounceVerdict | None:
    ctype = _content_type(msg)
    report_type = _report_type(msg) if ctype == "multipart/report" else ""
    parts_types = {_content_type(p) for p in _walk(msg)} if msg.is_multipart() else {ctype}
    if report_type == "feedback-report" or "message/feedback-report" in parts_types:
        return _arf_verdict(msg)
    for special in (_jmrp_verdict, _ses_notification):
        verdict = special(msg)
        if verdict is not None:
            return verdict
    if report_type == "disposition-notification" or (
        "message/disposition-notification" in parts_types and "message/delivery-status" not in parts_types
    ):
        return _mdn_verdict(msg)

    text = _report_text(msg)
    recipients = _dsn_recipients(msg)
    failing = [r for r in recipients or [] if r.action.startswith(("fail", "error", "delay"))]
    if not failing and recipients:
        # Action missing or odd (some MTAs): judge by the status class instead.
        failing = [r for r in recipients if r.status[:1] in ("4", "5") or not r.action]
    if failing:
        return _dsn_verdict(failing, text)
    if recipients and all(r.action in ("delivered", "relayed", "expanded") for r in recipients):
        # A success notice: a report, but nothing failed.
        return BounceVerdict(KIND_BOUNCE, (), None, False, "2.0.0", "dsn-success")

    temporary, permanent = _flufl(msg)
    header_failed = _failed_recipients_header(msg)
    addresses = tuple(dict.fromkeys(permanent + temporary + header_failed))
    if not addresses and recipients is None:
        # Only when no failure report names an address: list notices quote bounces too.
        listed = _list_rejection(msg)
        if listed is not None:
            return listed
    daemon = _is_daemon_sender(_from(msg)) or _null_return_path(msg)
    subject = _header(msg, "subject")
    failure_subject = bool(_FAILURE_SUBJECT_RE.search(subject))
    failure_text = bool(_FAILURE_TEXT_RE.search(text))
    if addresses:
        reason = "flufl-bounce" if (permanent or temporary) else "x-failed-recipients"
    elif recipients is not None or report_type == "delivery-status":
        reason = "dsn"
    elif daemon and (failure_subject or failure_text):
        reason = "daemon-notice"
    elif _NOTICE_SUBJECT_RE.search(subject) and failure_text:
        # An odd sender but a notice-shaped subject and failure wording: old gateways. A member's
        # 'Fwd: Returned mail' is a post asking for help, hence the anchored subject.
        reason = "failure-notice"
    else:
        return None

    statuses = sorted((m for m in (".".join(g) for g in _STATUS_RE.findall(text))), key=_status_rank)
    status = statuses[-1] if statuses else None
    permanent_flag: bool | None = None
    if permanent:
        permanent_flag = True
    elif temporary:
        permanent_flag = False
    if status and permanent_flag is None:
        permanent_flag = status.startswith("5")
    if permanent_flag is None:
        codes = {m.group(1) for m in _SMTP_REPLY_RE.finditer(text)}
        if "5" in codes:
            permanent_flag = True
        elif "4" in codes:
            permanent_flag = False
    if _is_full(status or "", text) or (
        permanent_flag is not False and not permanent and _TRANSIENT_TEXT_RE.search(text)
    ):
        permanent_flag = False
    if permanent_flag is False and _TRANSIENT_TEXT_RE.search(text) and not _is_full(status or "", text):
        reason = "delay" if reason in ("daemon-notice", "failure-notice") else reason
    spam = _is_spam_policy(status or "", _diagnostic_lines(text))
    return BounceVerdict(KIND_BOUNCE, addresses, permanent_flag, spam, status, reason)


def _diagnostic_lines(text: str) -> str:
    """The lines of a notice that carry a remote server's answer, where spam/policy words matter.

    Limiting the search keeps boilerplate ('If you think this is spam...') from counting.
    """
    keep = [
        line
        for line in text.splitlines()
        if _STATUS_RE.search(line) or _SMTP_REPLY_RE.search(line) or "reason" in line.lower()
        or "said:" in line.lower() or "error" in line.lower() or "reject" in line.lower()
    ]
    return "\n".join(keep)


def _recipient_permanent(r: _Recipient) -> bool | None:
    if r.action.startswith("delay"):
        return False
    if _is_full(r.status, r.diagnostic):
        return False  # a full mailbox empties again; 5.2.2 is permanent only by its class digit
    if r.status:
        return r.status.startswith("5")
    codes = {m.group(1) for m in _SMTP_REPLY_RE.finditer(r.diagnostic)}
    if "5" in codes:
        return True
    if "4" in codes:
        return False
    return True if r.action.startswith(("fail", "error")) else None


def _dsn_verdict(failing: list[_Recipient], text: str) -> BounceVerdict:
    addresses = tuple(dict.fromkeys(r.address for r in failing if r.address))
    best = max(failing, key=lambda r: _status_rank(r.status))
    status = best.status or None
    diagnostics = " ".join(r.diagnostic for r in failing)
    if not status:
        found = sorted((".".join(g) for g in _STATUS_RE.findall(diagnostics + "\n" + text)), key=_status_rank)
        status = found[-1] if found else None
    delayed = all(r.action.startswith("delay") for r in failing)
    verdicts = [_recipient_permanent(r) for r in failing]
    permanent = True if True in verdicts else False if False in verdicts else None
    if permanent is None and status:
        permanent = status.startswith("5") and not _is_full(status, text)
    # Only the recipients that failed for good decide whether this was a spam/policy block.
    deciding = [r for r, v in zip(failing, verdicts, strict=True) if v is True] or failing
    spam = any(_is_spam_policy(r.status, r.diagnostic) for r in deciding)
    if not spam and not diagnostics.strip() and not delayed:
        spam = _is_spam_policy(status or "", _diagnostic_lines(text))
    return BounceVerdict(KIND_BOUNCE, addresses, permanent, spam, status, "delay" if delayed else "dsn")


def classify_bounce(msg: Message) -> BounceVerdict:
    """Bounce, auto-reply or neither, with the failed addresses and how bad the failure is.

    Never raises: anything unexpected in a hostile message yields the cheap header verdict.
    """
    names: frozenset[str] | None = None
    subject: str | None = None
    try:
        names = _names(msg)
        subject = _header(msg, "subject")  # both gates read it; decoding a Thai one twice was measurable
        if looks_like_report(msg, names, subject):
            verdict = _analyse(msg)
            if verdict is not None:
                return verdict
    except Exception:
        pass
    reason = is_auto_reply(msg, names, subject)
    if reason:
        return BounceVerdict(KIND_AUTO_REPLY, reason=reason)
    return NOT_A_BOUNCE
