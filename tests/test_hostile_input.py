"""Property tests (hypothesis) over hostile MIME structure, headers and charsets.

Through parse_message, the whole pipeline (rules, handlers, outbox on real SQLite) and composition:
nothing raises, nothing in member mail becomes a header of mail the bot writes, and member text
never turns into live HTML in HTML the bot writes.
"""

from __future__ import annotations

import base64
import email
import email.policy
import itertools
import re
import tempfile
import tomllib
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from mailbot.config import CommunitySettings
from mailbot.mail.compose import as_bytes, bot_message, list_copy
from mailbot.mail.parse import parse_message
from mailbot.render import Renderer, TemplateError
from mailbot.store.models import Outbox
from tests.helpers import add_members, make_app, settings_for

REPO = Path(__file__).resolve().parent.parent
FINAL = {"processed", "held", "ignored", "failed", "duplicate"}
INJECTED = "X-Injected"
PAYLOADS = [
    f"\r\n{INJECTED}: yes",
    f"\n{INJECTED}: yes",
    f"\r{INJECTED}: yes",
    "\r\nBcc: victim@evil.example",
    f"=?utf-8?q?a=0D=0A{INJECTED}:_yes?=",
    f"=?utf-8?b?{base64.b64encode(f'a{chr(13)}{chr(10)}{INJECTED}: yes'.encode()).decode()}?=",
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "<a href=\"javascript:alert(1)\">x</a>",
    "{{ 7*7 }}{% for x in range(9) %}",
    "\u202eevil\u202c ไทย",
    "\x00\x1b[31m\x7f",
    "ก" * 300,
]
CHARSETS = ["utf-8", "tis-620", "windows-874", "iso-8859-11", "iso-8859-1", "utf-7", "gb2312",
            "x-unknown", "", "utf-16", "us-ascii"]  # fmt: skip


class _LiveMarkup(HTMLParser):
    """Collects what would run or load in a mail client: script/iframe tags, on* handlers, js: URLs."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "iframe", "object", "embed"):
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            v = (value or "").strip().lower()
            if name.startswith("on") or v.startswith(("javascript:", "vbscript:", "data:text/html")):
                self.found.append(f"<{tag} {name}={value!r}>")
            if tag == "img" and name == "src" and v == "x":  # the payload's own image
                self.found.append("<img src=x>")


def live_markup(html: str) -> list[str]:
    parser = _LiveMarkup()
    parser.feed(html)
    parser.close()
    return parser.found

hostile_text = st.one_of(
    st.text(max_size=80),
    st.sampled_from(PAYLOADS),
    st.tuples(st.text(max_size=20), st.sampled_from(PAYLOADS)).map("".join),
)


def _encode_with(charset: str, text: str) -> bytes:
    try:
        return text.encode(charset or "utf-8", "replace")
    except (LookupError, UnicodeError):
        return text.encode("utf-8", "replace")


def _one_line(data: bytes) -> bytes:
    return data.replace(b"\r", b" ").replace(b"\n", b" ")


@st.composite
def header_value(draw: Any) -> bytes:
    text = draw(hostile_text)
    how = draw(st.sampled_from(["raw", "b", "q", "bytes"]))
    # A literal CR/LF in the raw header block would be a header the sender really wrote, not an
    # injection; the dangerous ones are those that appear only after decoding (b and q words).
    if how == "raw":
        return _one_line(text.encode("utf-8", "surrogatepass"))
    charset = draw(st.sampled_from(CHARSETS))
    data = _encode_with(charset, text)
    if how == "bytes":  # undeclared 8-bit header bytes, as old Thai mailers send
        return _one_line(data)
    if how == "b":
        return f"=?{charset}?b?{base64.b64encode(data).decode()}?=".encode()
    return f"=?{charset}?q?{data.hex()}?=".encode()


@st.composite
def mime_part(draw: Any, depth: int = 0) -> bytes:
    if depth < 3 and draw(st.booleans()):
        boundary = draw(st.sampled_from(["b1", "", "a b", "=_x", "-" * 80, "b1"]))
        declared = draw(st.sampled_from([boundary, boundary, "other", None]))
        children = draw(st.lists(mime_part(depth + 1), min_size=0, max_size=3))
        subtype = draw(st.sampled_from(["mixed", "alternative", "related", "signed", "x-weird"]))
        head = f"Content-Type: multipart/{subtype}"
        head += f'; boundary="{declared}"' if declared is not None else ""
        body = b"".join(b"--" + boundary.encode() + b"\r\n" + c + b"\r\n" for c in children)
        if draw(st.booleans()):
            body += b"--" + boundary.encode() + b"--\r\n"
        return head.encode() + b"\r\n\r\n" + body
    ctype = draw(st.sampled_from(["text/plain", "text/html", "application/octet-stream",
                                  "message/rfc822", "text/x-unknown", "", "text/plain;;;"]))  # fmt: skip
    charset = draw(st.sampled_from(CHARSETS))
    cte = draw(st.sampled_from(["", "7bit", "8bit", "base64", "quoted-printable", "x-uuencode", "b@d"]))
    text = draw(hostile_text)
    data = _encode_with(charset, text)
    if cte == "base64" and draw(st.booleans()):
        data = base64.b64encode(data)
    if draw(st.booleans()):
        data += draw(st.binary(max_size=60))
    head = f"Content-Type: {ctype}; charset={charset}\r\n" if ctype else ""
    head += f"Content-Transfer-Encoding: {cte}\r\n" if cte else ""
    if draw(st.booleans()):
        head += "Content-Disposition: attachment; filename*=utf-8''%E0%B8%81%0D%0A.txt\r\n"
    return head.encode() + b"\r\n" + data


_ids = itertools.count(1)


@st.composite
def raw_message(draw: Any, sender: str | None = None) -> bytes:
    name = draw(header_value())
    addr = sender or draw(st.sampled_from(["somchai@example.org", "stranger@else.org",
                                           '"a\\"b"@x.org', "no-at-sign", ""]))  # fmt: skip
    lines = [
        b"From: " + name + b" <" + addr.encode() + b">",
        b"To: km-it@example.org",
        b"Subject: " + draw(header_value()),
        b"Message-ID: <h" + str(next(_ids)).encode() + b"@hostile.example>",
        b"MIME-Version: 1.0",
    ]
    for _ in range(draw(st.integers(0, 3))):
        hname = draw(st.sampled_from([b"Reply-To", b"Cc", b"In-Reply-To", b"References", b"Date",
                                      b"Auto-Submitted", b"X-Mailer", b"Delivered-To"]))  # fmt: skip
        lines.append(hname + b": " + draw(header_value()))
    if draw(st.booleans()):
        lines.append(b"X-Folded: first\r\n\tsecond\r\n third")
    return b"\r\n".join(lines) + b"\r\n" + draw(mime_part())


def header_names(data: bytes) -> list[str]:
    msg = email.message_from_bytes(data, policy=email.policy.compat32)
    return [k.lower() for k in msg]


def html_parts(data: bytes) -> list[str]:
    msg = email.message_from_bytes(data, policy=email.policy.default)
    out = []
    for part in msg.walk():
        if part.get_content_type() == "text/html":
            out.append(part.get_content())
    return out


# -- parsing -----------------------------------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(raw_message())
def test_parse_never_raises(raw: bytes) -> None:
    msg = parse_message(raw)
    assert isinstance(msg.subject, str) and isinstance(msg.text, str)
    assert msg.size == len(raw)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_parse_never_raises_on_arbitrary_bytes(raw: bytes) -> None:
    assert isinstance(parse_message(raw).text, str)


# -- the whole pipeline: rules, handlers, outbox -----------------------------------------------
_APP: dict[str, Any] = {}


def hostile_app() -> Any:
    """One App on a private SQLite file for all examples (hypothesis reruns the body many times)."""
    if "app" not in _APP:
        tmp = Path(tempfile.mkdtemp(prefix="hostile"))
        app = make_app(settings_for(f"sqlite:///{tmp / 'm.db'}", tmp))
        add_members(app, ("somchai@example.org", "สมชาย"), ("suda@example.org", "สุดา"))
        _APP["app"] = app
    return _APP["app"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(raw_message(sender="somchai@example.org"), raw_message()))
def test_pipeline_never_raises_and_never_lets_member_text_into_our_headers(raw: bytes) -> None:
    app = hostile_app()
    with app.sessions() as s:
        before = s.scalar(select(Outbox.id).order_by(Outbox.id.desc()).limit(1)) or 0
    # A fresh Message-ID and a day later each time: hypothesis replays an example to shrink it,
    # and the replay must not turn into a duplicate or hit the notice rate limit.
    app.clock.advance(timedelta(days=1))
    raw = re.sub(rb"Message-ID: <h\d+@", b"Message-ID: <h%d@" % next(_ids), raw, count=1)
    result = app.ingest(raw, source="cli", source_ref="hostile")
    assert result.status in FINAL, result
    if result.status == "failed":
        assert result.reason
    with app.sessions() as s:
        written = s.execute(select(Outbox.kind, Outbox.data).where(Outbox.id > before)).all()
    for kind, data in written:
        names = header_names(data)
        assert INJECTED.lower() not in names, (kind, data[:2000])
        if kind != "list-copy":
            assert "bcc" not in names
            # HTML we write ourselves never carries the member's markup live.
            for html in html_parts(data):
                assert live_markup(html) == [], (kind, html[:2000])


# -- composition directly ------------------------------------------------------------------------
COMMUNITY = CommunitySettings(slug="km-it", address="km-it@example.org", name="ชุมชน KM-IT",
                              subject_prefix="[KM-IT]")  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(hostile_text, st.emails(), hostile_text, hostile_text)
def test_bot_message_headers_hold_against_any_text(subject: str, to: str, reply: str, html: str) -> None:
    # `to` is always an address the bot parsed or stored; the rest can carry member text.
    msg = bot_message(
        COMMUNITY, to=[to, "somchai@example.org"], subject=subject, text=html, html=None,
        in_reply_to=reply, references=[reply, subject],
        extra_headers={"X-Mailbot-Thread": subject},
    )  # fmt: skip
    data = as_bytes(msg)
    names = header_names(data)
    assert INJECTED.lower() not in names and "bcc" not in names
    assert names.count("subject") == 1


@settings(max_examples=200, deadline=None)
@given(hostile_text, hostile_text, st.sampled_from(["somchai@example.org", "x\r\nBcc: y@z.org"]))
def test_list_copy_headers_hold_against_any_text(subject: str, name: str, addr: str) -> None:
    original = email.message_from_bytes(
        b"From: a@b.org\r\nSubject: s\r\nMessage-ID: <m@b.org>\r\n\r\nbody\r\n", policy=email.policy.compat32
    )
    for dmarc in (False, True):
        community = CommunitySettings(**{**COMMUNITY.__dict__, "dmarc_rewrite": dmarc}) if dmarc else COMMUNITY
        data = list_copy(original, community=community, subject=subject, from_name=name, from_email=addr)
        names = header_names(data)
        assert INJECTED.lower() not in names and "bcc" not in names
        assert names.count("subject") == 1


# -- templates ---------------------------------------------------------------------------------
def _poison(value: Any, payload: str, key: str = "") -> Any:
    """Replace every string that could come from member mail with `payload` (keep structure)."""
    if isinstance(value, dict):
        return {k: v if k.startswith("_") else _poison(v, payload, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_poison(v, payload, key) for v in value]
    if isinstance(value, str) and key not in STRUCTURAL_KEYS:
        return payload
    return value


# Sample keys whose values are chosen by the bot (a status name, a language, a date), never by a
# member; keeping them keeps the template on its real branch.
STRUCTURAL_KEYS = {"status", "lang", "language", "period", "delivery", "role", "kind", "action",
                   "decision", "week", "date", "day", "expires_at", "token", "chart_cid", "cid",
                   "url", "archive_url", "link", "number"}  # fmt: skip


@settings(max_examples=25, deadline=None)
@given(st.sampled_from([p for p in PAYLOADS if "<" in p or "{" in p or "\n" in p]))
def test_member_text_cannot_break_a_template_or_go_live(payload: str) -> None:
    renderer = Renderer(REPO / "digests")
    samples = tomllib.loads((REPO / "digests" / "samples.toml").read_text(encoding="utf-8"))
    shared = samples.get("_shared", {})
    for name in renderer.names():
        ctx = {**shared, **_poison(samples.get(name, {}), payload)}
        for lang in ("th", "en"):
            try:
                out = renderer.render(name, lang, **ctx)
            except TemplateError as exc:
                raise AssertionError(f"member text broke {name}.{lang}: {exc}") from exc
            assert "\n" not in out.subject and "\r" not in out.subject, (name, out.subject)
            assert live_markup(out.html) == [], (name, lang)
