"""Outbound composition: list subjects, the list copy's headers and intact body, bot messages."""

from __future__ import annotations

import base64
import copy
import dataclasses
import email
import random
import re
from email import policy
from email.message import EmailMessage, Message

import pytest

from mailbot.config import CommunitySettings
from mailbot.mail.compose import (
    LOOP_HEADER,
    as_bytes,
    base_subject,
    bot_message,
    list_copy,
    list_subject,
    new_message_id,
    safe_header_value,
)
from mailbot.mail.parse import parse_message
from tests.corpus_files import iter_corpus_raw

KM = CommunitySettings(
    slug="km-it",
    address="km-it@example.org",
    name="ชุมชนนักปฏิบัติ KM-IT",
    subject_prefix="[KM-IT]",
)
P = "[KM-IT]"

THAI_TEXT = "สวัสดีครับ ทุกท่าน\nการจัดการความรู้ในองค์กร\n.บรรทัดที่ขึ้นต้นด้วยจุด\nFrom here on\n"


def _original(
    body: bytes = b"Hello members\n",
    headers: str = "",
    ctype: str = "text/plain; charset=us-ascii",
    cte: str = "7bit",
) -> Message:
    raw = (
        "Return-Path: <somchai@example.com>\n"
        "Received: from mx.example.com by mail.example.org; Mon, 1 Jan 2024 10:00:00 +0700\n"
        "Received: from phone by mx.example.com; Mon, 1 Jan 2024 09:59:59 +0700\n"
        "Delivered-To: km-it@example.org\n"
        "X-Original-To: km-it@example.org\n"
        "DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=s1; h=from:subject; b=abc\n"
        "Disposition-Notification-To: somchai@example.com\n"
        "From: =?utf-8?b?4Liq4Lih4LiK4Liy4LiiIOC5g+C4iOC4lOC4tQ==?= <somchai@example.com>\n"
        "To: km-it@example.org\n"
        "Subject: Re: [KM-IT] question\n"
        "Message-ID: <orig-1@example.com>\n"
        "Date: Mon, 1 Jan 2024 10:00:00 +0700\n"
        "MIME-Version: 1.0\n"
        f"Content-Type: {ctype}\n"
        f"Content-Transfer-Encoding: {cte}\n"
        f"{headers}"
        "\n"
    ).encode("ascii") + body
    return email.message_from_bytes(raw, policy=policy.compat32)


def _copy(original: Message, community: CommunitySettings = KM, **kw: object) -> bytes:
    args: dict[str, object] = {
        "community": community,
        "subject": "Re: [KM-IT] question",
        "from_name": "สมชาย ใจดี",
        "from_email": "somchai@example.com",
    }
    args.update(kw)
    return list_copy(original, **args)  # type: ignore[arg-type]


def _parse(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def _body(raw: bytes) -> bytes:
    return raw.split(b"\r\n\r\n", 1)[1]


def _header_names(raw: bytes) -> list[str]:
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii", "replace")
    return [line.split(":", 1)[0] for line in head.split("\r\n") if line and line[0] not in " \t"]


# --- subjects -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "base"),
    [
        ("Re: [KM-IT] Re: [KM-IT] ถาม: x", "ถาม: x"),
        ("ตอบกลับ: [KM-IT] ตอบกลับ: [KM-IT] x", "x"),
        ("RE: AW: Re: budget 2567", "budget 2567"),
        ("[KM-IT #Q42] Re: how do we tag?", "how do we tag?"),
        ("Re: [km-it #Q7] lower-case prefix", "lower-case prefix"),
        ("[EXT] RE: [KM-IT] FW: ส่งต่อ: เอกสาร", "เอกสาร"),
        ("Re[2]: SV: Antw: VS: Réf : x", "x"),
        ("回复：[KM-IT] 你好", "你好"),
        ("ตอบ: คำถามเรื่อง KM", "คำถามเรื่อง KM"),
        ("Fwd: Re: [KM-IT] y", "y"),
        ("ถาม: Re: kept in the middle", "ถาม: Re: kept in the middle"),
        ("Regarding the plan", "Regarding the plan"),
        ("[KM-HR] other list keeps its tag", "[KM-HR] other list keeps its tag"),
        ("Re: [KM-IT]", ""),
    ],
)
def test_base_subject_strips_leading_markers(subject: str, base: str) -> None:
    assert base_subject(subject, P) == base


@pytest.mark.parametrize(
    ("subject", "tag", "expected"),
    [
        ("ถาม: ใช้ SharePoint อย่างไร", None, "[KM-IT] ถาม: ใช้ SharePoint อย่างไร"),
        ("Re: [KM-IT] Re: [KM-IT] ถาม: x", None, "Re: [KM-IT] ถาม: x"),
        ("ตอบกลับ: [KM-IT] ตอบกลับ: [KM-IT] x", None, "Re: [KM-IT] x"),
        ("RE: AW: Re: budget", None, "Re: [KM-IT] budget"),
        ("ถาม: x", "#Q42", "[KM-IT #Q42] ถาม: x"),
        ("Re: [KM-IT] ถาม: x", "#Q42", "Re: [KM-IT #Q42] ถาม: x"),
        ("Re: [KM-IT #Q41] x", "#Q42", "Re: [KM-IT #Q42] x"),
        ("Re: [KM-IT #Q42] Re: [KM-IT #Q42] x", "#Q42", "Re: [KM-IT #Q42] x"),
        ("Fwd: newsletter", None, "[KM-IT] Fwd: newsletter"),
    ],
)
def test_list_subject(subject: str, tag: str | None, expected: str) -> None:
    assert list_subject(subject, P, tag) == expected


def test_list_subject_is_stable_over_many_reply_rounds() -> None:
    subject = "ถาม: ระบบคลังความรู้"
    for prefix in ["Re: ", "ตอบกลับ: ", "RE: ", "AW: ", "回复: "] * 3:
        subject = list_subject(prefix + subject, P, "#Q3")
    assert subject == "Re: [KM-IT #Q3] ถาม: ระบบคลังความรู้"


def test_safe_header_value_collapses_line_breaks() -> None:
    assert safe_header_value("a\r\nBcc: x@y\n\tz\x00\u2028w ") == "a Bcc: x@y z w"
    assert "\n" not in new_message_id("example.org\r\nX: y")
    assert re.fullmatch(r"<[^<>@\s]+@example\.org>", new_message_id("example.org"))


# --- the list copy ---------------------------------------------------------------------------


def test_list_copy_has_every_list_header() -> None:
    community = dataclasses.replace(KM, archive_url="https://km.example.org/archive")
    out = _copy(_original(), community)
    msg = _parse(out)
    assert msg["Subject"] == "Re: [KM-IT] question"
    assert str(msg["List-Id"]) == "ชุมชนนักปฏิบัติ KM-IT <km-it.example.org>"
    assert msg["List-Post"] == "<mailto:km-it@example.org>"
    assert msg["List-Help"] == "<mailto:km-it-request@example.org?subject=help>"
    assert msg["List-Unsubscribe"] == "<mailto:km-it-request@example.org?subject=unsubscribe>"
    assert msg["List-Archive"] == "<https://km.example.org/archive>"
    assert msg["Precedence"] == "list"
    assert msg[LOOP_HEADER] == "km-it.example.org"
    assert msg["Sender"].addresses[0].addr_spec == "km-it-bounces@example.org"
    assert msg["Message-ID"] == "<orig-1@example.com>"
    # Removed: inbound-hop traces, the signature we break, read-receipt requests.
    for gone in (
        "Return-Path",
        "Delivered-To",
        "X-Original-To",
        "DKIM-Signature",
        "Disposition-Notification-To",
        "Errors-To",
    ):
        assert gone not in msg, gone
    assert len(msg.get_all("Received") or []) == 2
    # Each header we own appears once; the raw List-Id is an RFC 2047 phrase plus <list id>.
    names = [n.lower() for n in _header_names(out)]
    for name in ("subject", "list-id", "list-post", "precedence", "sender", "reply-to"):
        assert names.count(name) == 1, name
    raw_list_id = re.search(rb"\r\nList-Id: (.*?)\r\n(?! )", out, re.S)
    assert raw_list_id and raw_list_id.group(1).isascii()
    assert raw_list_id.group(1).endswith(b"<km-it.example.org>")


def test_list_copy_without_archive_url_has_no_list_archive() -> None:
    assert "List-Archive" not in _parse(_copy(_original()))


def test_reply_to_policy() -> None:
    to_list = _parse(_copy(_original()))
    assert [a.addr_spec for a in to_list["Reply-To"].addresses] == ["km-it@example.org"]
    assert to_list["From"].addresses[0].addr_spec == "somchai@example.com"

    sender = dataclasses.replace(KM, reply_to="sender")
    to_sender = _parse(_copy(_original(), sender))
    assert [a.addr_spec for a in to_sender["Reply-To"].addresses] == ["somchai@example.com"]

    own = _original(headers="Reply-To: Somchai Home <somchai@home.example>\n")
    kept = _parse(_copy(own, sender))
    assert [a.addr_spec for a in kept["Reply-To"].addresses] == ["somchai@home.example"]


def test_dmarc_rewrite_with_thai_display_name() -> None:
    community = dataclasses.replace(KM, dmarc_rewrite=True)
    out = _copy(_original(), community)
    msg = _parse(out)
    (frm,) = msg["From"].addresses
    assert frm.display_name == "สมชาย ใจดี via KM-IT"
    assert frm.addr_spec == "km-it@example.org"
    # The author stays reachable: reply-all includes them.
    assert "somchai@example.com" in [a.addr_spec for a in msg["Cc"].addresses]
    raw_from = re.search(rb"\r\nFrom: (.*?)\r\n(?![ \t])", out, re.S)
    assert raw_from and raw_from.group(1).isascii() and b"=?utf-8?" in raw_from.group(1)

    sender_policy = dataclasses.replace(community, reply_to="sender")
    msg2 = _parse(_copy(_original(), sender_policy))
    assert msg2["From"].addresses[0].addr_spec == "km-it@example.org"
    assert [a.addr_spec for a in msg2["Reply-To"].addresses] == ["somchai@example.com"]


def test_dmarc_rewrite_without_display_name_uses_address() -> None:
    community = dataclasses.replace(KM, dmarc_rewrite=True)
    msg = _parse(_copy(_original(), community, from_name=""))
    assert msg["From"].addresses[0].display_name == "somchai at example.com via KM-IT"


@pytest.mark.parametrize(
    "subject",
    [
        "hello\r\nBcc: victim@example.net",
        "hello\nX-Injected: yes",
        "สวัสดี\r\nBcc: victim@example.net\r\n\r\nbody",
        "=?utf-8?b?aGVsbG8NCkJjYzogdmljdGltQGV4YW1wbGUubmV0?=",
    ],
)
def test_subject_cannot_add_a_header(subject: str) -> None:
    original = _original()
    before = sorted({n.lower() for n in _header_names(_copy(original))})
    out = _copy(original, subject=subject, from_name="x\r\nX-Evil: 1", tag="#Q1\r\nX-Tag: 2")
    after = sorted({n.lower() for n in _header_names(out)})
    assert after == before
    msg = _parse(out)
    assert "Bcc" not in msg and "X-Injected" not in msg and "X-Evil" not in msg
    assert _body(out) == b"Hello members\r\n"


@pytest.mark.parametrize(
    "subject",
    [
        "เครื่องพิมพ์ชั้น 3 ใช้ไม่ได้",
        "สอบถามวิธีตั้งค่า Wi-Fi ของสำนักงานใหม่ให้ใช้ได้ทั้งโน้ตบุ๊กและโทรศัพท์มือถือของทุกคนในฝ่าย" * 3,
        "x" * 70 + "ก",  # the first character that needs encoding falls on a word's edge
        "café, 😀 and ไทย mixed in one long subject line that has to be folded over several lines",
    ],
)
def test_non_ascii_subject_is_folded_into_whole_character_encoded_words(subject: str) -> None:
    out = _copy(_original(), subject=subject)
    head = out.split(b"\r\n\r\n", 1)[0].decode("ascii")  # every header line ASCII: 7-bit safe
    lines = head.split("\r\n")
    at = next(i for i, line in enumerate(lines) if line.startswith("Subject: "))
    end = next((i for i in range(at + 1, len(lines)) if lines[i][:1] != " "), len(lines))
    folded = lines[at:end]
    assert all(len(line) <= 76 for line in folded), folded
    for word in re.findall(r"=\?utf-8\?b\?([^?]*)\?=", " ".join(folded)):
        base64.b64decode(word).decode("utf-8")  # each word holds whole characters
    assert _parse(out)["Subject"] == f"[KM-IT] {subject}"


def test_subject_with_undecodable_text_is_written_with_a_replacement_character() -> None:
    # A lone surrogate is how Python carries bytes it could not decode; the copy must still go out.
    assert _parse(_copy(_original(), subject="ก\udcff"))["Subject"] == "[KM-IT] ก?"


def test_encoded_word_subject_decoding_to_crlf_cannot_add_a_header() -> None:
    # The decoded value a parser hands us for '=?utf-8?b?...?=' that hides CRLF + "Bcc:".
    decoded = email.header.make_header(
        email.header.decode_header("=?utf-8?b?aGVsbG8NCkJjYzogdmljdGltQGV4YW1wbGUubmV0?=")
    )
    out = _copy(_original(), subject=str(decoded))
    msg = _parse(out)
    assert "Bcc" not in msg
    assert msg["Subject"] == "[KM-IT] hello Bcc: victim@example.net"


def test_tis620_8bit_body_survives_byte_for_byte() -> None:
    body = THAI_TEXT.encode("tis-620").replace(b"\n", b"\r\n")
    assert not body.isascii()
    original = _original(body, ctype="text/plain; charset=TIS-620", cte="8bit")
    out = _copy(original, subject="ถาม: การจัดการความรู้", tag="#Q9")
    assert _body(out) == body  # no re-encoding, no ">From", no re-wrapping
    msg = _parse(out)
    assert msg.get_content() == THAI_TEXT.replace("\n", "\r\n") or msg.get_content() == THAI_TEXT
    assert msg["Subject"] == "[KM-IT #Q9] ถาม: การจัดการความรู้"
    raw_subject = re.search(rb"\r\nSubject: (.*?)\r\n(?![ \t])", out, re.S)
    assert raw_subject and raw_subject.group(1).isascii()
    assert original["Subject"] == "Re: [KM-IT] question"  # the caller's message is untouched


def test_footer_keeps_original_bytes() -> None:
    body = THAI_TEXT.encode("tis-620").replace(b"\n", b"\r\n")
    original = _original(body, ctype="text/plain; charset=TIS-620", cte="8bit")
    msg = _parse(_copy(original, footer_text="ยกเลิกการรับ: ส่งเมลถึง km-it-request"))
    assert msg.get_content_type() == "multipart/mixed"
    parts = msg.get_payload()
    assert isinstance(parts, list) and len(parts) == 2
    first, footer = parts
    assert isinstance(first, EmailMessage) and isinstance(footer, EmailMessage)
    assert first.get_payload(decode=True) == body
    assert first.get_content_charset() == "tis-620"
    assert "ยกเลิกการรับ" in footer.get_content()

    plain = _parse(_copy(_original(b"Hello\r\n"), footer_text="ท้ายจดหมาย"))
    assert plain.get_content_type() == "text/plain"
    assert plain.get_content().replace("\r\n", "\n") == "Hello\n\n-- \nท้ายจดหมาย\n"


def test_list_copy_never_raises_on_corpus_and_keeps_single_part_bodies() -> None:
    checked = compared = 0
    for label, raw in iter_corpus_raw():
        original = email.message_from_bytes(raw, policy=policy.compat32)
        out = _copy(original, subject=str(original.get("Subject", "")), tag="#Q1")
        reparsed = email.message_from_bytes(out, policy=policy.compat32)
        assert reparsed[LOOP_HEADER] == "km-it.example.org", label
        assert not any(
            line.startswith((b"Bcc:", b"X-Injected:"))
            for line in out.split(b"\r\n\r\n")[0].split(b"\r\n")
        ), label
        # Well-formed single-part messages keep their body exactly; malformed ones (no
        # header/body separator, unparseable multiparts) only have to survive. Nested
        # messages are regenerated by the stdlib, so they are not compared here.
        if not original.is_multipart() and not original.defects:
            normalised = re.sub(rb"\r\n|\r|\n", b"\r\n", raw)
            if b"\r\n\r\n" in normalised:
                src_body = normalised.split(b"\r\n\r\n", 1)[1]
                assert _body(out).rstrip(b"\r\n") == src_body.rstrip(b"\r\n"), label
                compared += 1
        checked += 1
    assert checked > 50 and compared > checked // 5, (checked, compared)



def _crlf(raw: bytes) -> bytes:
    return re.sub(rb"\r\n|\r|\n", b"\r\n", raw)


@pytest.mark.parametrize("eol", [b"\r\n", b"\n"], ids=["CRLF", "bare LF"])
def test_list_copy_from_the_members_bytes_keeps_the_body_as_it_came(eol: bytes) -> None:
    """Given the bytes the post was parsed from, the copy's body is those bytes (with CRLF line
    ends), where the generator would rewrite a multipart: here it moved the epilogue ahead of the
    closing boundary and dropped the spaces after a boundary. The headers are the generator's."""
    raw = _crlf(
        b"From: Somchai <somchai@example.com>\nTo: km-it@example.org\nSubject: =?utf-8?b?4LiX4LiU4Liq4Lit4Lia?=\n"
        b"Message-ID: <splice-1@example.com>\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/mixed; boundary="b1"\n\n'
        b"preamble\n--b1  \t\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
        + "สวัสดีครับ\n".encode()
        + b"--b1\nContent-Type: application/octet-stream; name=a.bin\nContent-Transfer-Encoding: base64\n\n"
        b"AAEC\n--b1--\n\nEpilogue\n"
    ).replace(b"\r\n", eol)
    original = email.message_from_bytes(raw, policy=policy.compat32)
    kw = {"message_id": "<fixed@km-it.example.org>"}
    regenerated, kept = _copy(original, **kw), _copy(original, original_raw=raw, **kw)
    sent_body = _crlf(raw.split(eol + eol, 1)[1])
    assert kept.split(b"\r\n\r\n", 1)[1] == sent_body
    assert regenerated.split(b"\r\n\r\n", 1)[1] != sent_body  # what the bytes spare members
    assert kept.split(b"\r\n\r\n", 1)[0] == regenerated.split(b"\r\n\r\n", 1)[0]
    copy_ = _parse(kept)
    assert copy_["List-Id"] and "[KM-IT]" in copy_["Subject"]
    assert [p.get_content_type() for p in copy_.walk()] == ["multipart/mixed", "text/plain", "application/octet-stream"]


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"From: a@example.com\r\nSubject: x\r\n\r\nbody\nmixed\r\n", id="a bare LF in the body"),
        pytest.param(b"From: a@example.com\nSubject: x\n\nbody\rmore\n", id="a bare CR in an LF body"),
        pytest.param(b"\xef\xbb\xbfFrom: a@example.com\r\nSubject: x\r\n\r\nbody\r\n", id="byte order mark"),
        pytest.param(b"From a@example.com Mon Jan  1 00:00:00 2024\r\nFrom: a@example.com\r\n\r\nbody\r\n", id="mbox From line"),
        pytest.param(b"From: a@example.com\r\nthis is no header\r\nSubject: x\r\n\r\nbody\r\n", id="stray line"),
        pytest.param(b" folded: first\r\nFrom: a@example.com\r\n\r\nbody\r\n", id="continuation first"),
        pytest.param(b"From: a@example.com\r\n: no name\r\n\r\nbody\r\n", id="header without a name"),
        pytest.param(b"From: a@example.com\r\nContent-Type: multipart/mixed\r\n\r\n--x\r\n\r\nA\r\n--x--\r\n", id="multipart without boundary"),
        pytest.param(b"From: a@example.com\r\nSubject: no body", id="no empty line"),
    ],
)
def test_list_copy_regenerates_the_body_when_the_header_block_is_not_certain(raw: bytes) -> None:
    """Where the parser may have read a header block other than the bytes' first block of lines,
    the copy is written by the generator, exactly as without the bytes."""
    original = email.message_from_bytes(raw, policy=policy.compat32)
    kw = {"message_id": "<fixed@km-it.example.org>"}
    assert _copy(original, original_raw=raw, **kw) == _copy(original, **kw)


def test_list_copy_from_the_members_bytes_over_the_corpus() -> None:
    """Every corpus message as stored and as it arrives over SMTP or IMAP (CRLF): with the bytes,
    the copy has the generator's headers and the original's body bytes (CRLF), and reads back to the
    same text; most messages are written that way (the rest by the generator, as before)."""
    kept = 0
    checked = 0
    for label, found in [*iter_corpus_raw(), *((f"{label} (CRLF)", _crlf(raw)) for label, raw in iter_corpus_raw())]:
        raw = found
        parsed = parse_message(raw)
        kw = {
            "subject": parsed.subject,
            "from_email": parsed.sender_email,
            "message_id": "<fixed@km-it.example.org>",
        }
        regenerated = _copy(parsed.message, **kw)
        out = _copy(parsed.message, original_raw=parsed.raw, **kw)
        checked += 1
        if _INVENTED_BOUNDARY.sub(b"=B=", out) == _INVENTED_BOUNDARY.sub(b"=B=", regenerated):
            continue  # written by the generator (which invents a boundary where one is empty)
        head, body = out.split(b"\r\n\r\n", 1)
        assert head == regenerated.split(b"\r\n\r\n", 1)[0], label
        sent = raw if b"\r" in raw else raw.replace(b"\n", b"\r\n")
        assert sent.endswith(body) and sent[: len(sent) - len(body)].endswith(b"\r\n\r\n"), label
        assert parse_message(out).new_text == parsed.new_text, label
        kept += 1
    assert checked > 3000 and kept > 300, (checked, kept)


_INVENTED_BOUNDARY = re.compile(rb"={15}\d+==|=_mailbot_[0-9a-f]{24}")


def test_list_copy_leaves_the_members_message_as_it_was_and_copies_it_alike_every_time() -> None:
    """The copy shares the original's body (only its headers are rewritten): writing it must not
    change the parsed original, which later steps read, nor the next copy made from it."""
    from mailbot.mail.compose import _flatten_compat32

    checked = 0
    for label, raw in iter_corpus_raw():
        original = email.message_from_bytes(raw, policy=policy.compat32)
        before = _flatten_compat32(original)
        headers_before = list(original.items())
        for footer in (None, "ท้ายจดหมาย"):  # without a footer the body is shared, with one it is not
            kw = {"message_id": "<fixed@km-it.example.org>", "footer_text": footer}
            first, second = _copy(original, **kw), _copy(original, **kw)
            fresh = _copy(email.message_from_bytes(raw, policy=policy.compat32), **kw)
            # A multipart with an empty boundary gets a random one from the generator, each time;
            # so does the multipart/mixed a footer part is wrapped in.
            first, second, fresh = (_INVENTED_BOUNDARY.sub(b"=B=", x) for x in (first, second, fresh))
            assert first == second == fresh, label
        assert list(original.items()) == headers_before, label
        assert _flatten_compat32(original) == before, label
        checked += 1
    assert checked > 50


def test_dropping_the_copys_headers_in_one_pass_removes_what_del_removes_and_keeps_the_order() -> None:
    """The list copy drops 23 headers in one pass over the list; over the corpus (and names in any
    case) it must leave exactly the headers, in the order, that `del msg[name]` for each leaves."""
    from mailbot.mail.compose import _DROP_ON_COPY, _DROP_ON_COPY_LOWER, _drop_headers

    dropped_somewhere = 0
    for label, raw in iter_corpus_raw():
        one_pass = email.message_from_bytes(raw, policy=policy.compat32)
        one_pass["dkim-SIGNATURE"] = "v=1; added in another case"
        by_del = copy.deepcopy(one_pass)
        for name in _DROP_ON_COPY:
            del by_del[name]
        before = len(one_pass.items())
        _drop_headers(one_pass, _DROP_ON_COPY_LOWER)
        assert one_pass.items() == by_del.items(), label
        dropped_somewhere += before > len(one_pass.items())
    assert dropped_somewhere > 50


# --- messages the bot writes ----------------------------------------------------------------

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


def test_bot_message_with_inline_png_is_related_with_text() -> None:
    msg = bot_message(
        KM,
        to=["somchai@example.com"],
        subject="สรุปประจำสัปดาห์ [KM-IT]",
        text="สรุปประจำสัปดาห์\nกระทู้ใหม่ 3 เรื่อง\n",
        html='<p>สรุป</p><img src="cid:chart1@km-it">',
        inline_images=[("chart1@km-it", PNG, "png")],
        in_reply_to="<q1@example.org>",
        references=["<q0@example.org>"],
    )
    raw = as_bytes(msg)
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    assert raw.isascii()  # 7bit clean through any relay
    parsed = _parse(raw)
    assert parsed.get_content_type() == "multipart/related"
    types = [p.get_content_type() for p in parsed.walk()]
    assert types == [
        "multipart/related",
        "multipart/alternative",
        "text/plain",
        "text/html",
        "image/png",
    ]
    text = parsed.get_body(preferencelist=("plain",))
    assert text is not None and "กระทู้ใหม่ 3 เรื่อง" in text.get_content()
    image = next(p for p in parsed.walk() if p.get_content_type() == "image/png")
    assert image["Content-ID"] == "<chart1@km-it>"
    assert image.get_payload(decode=True) == PNG
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert parsed[LOOP_HEADER] == "km-it.example.org"
    assert parsed["Subject"] == "สรุปประจำสัปดาห์ [KM-IT]"
    assert parsed["From"].addresses[0].addr_spec == "km-it-request@example.org"
    assert parsed["From"].addresses[0].display_name == "ชุมชนนักปฏิบัติ KM-IT"
    assert parsed["Message-ID"].endswith("@example.org>")
    assert parsed["In-Reply-To"] == "<q1@example.org>"
    assert parsed["References"] == "<q0@example.org> <q1@example.org>"
    assert parsed["List-Id"] is not None and parsed["Date"] is not None


def _as_a_reader_decodes(value: str) -> str:
    """A header value as RFC 2047 readers show it: unfolded, white space between two encoded words
    dropped (email.header's decoder does that; the stdlib's address parser does not)."""
    from email.header import decode_header, make_header

    return str(make_header(decode_header(value.replace("\r\n", "").replace("\n", ""))))


def test_bot_message_thai_subjects_and_names_keep_every_space() -> None:
    # The stdlib's folder (3.11) put the space of "wifi หลุด" into the fold between two encoded
    # words, where readers drop it: one long Thai subject in eight lost a space, long names too.
    words = [
        "เครื่องพิมพ์", "ชั้น", "3", "ปริ้น", "ไม่ออก", "ทำ", "อย่างไร", "ครับ", "Wi-Fi", "หลุด", "บ่อย", "wifi", "VPN",
        "การ", "ทำงาน", "ที่บ้าน", "ผลการค้นหา", "(1", "รายการ)", "[KM-IT", "#Q12]", "Re:", "สรุป", "ประจำสัปดาห์",
    ]  # fmt: skip
    rng = random.Random(6)
    subjects = ['[KM-IT] ผลการค้นหา "wifi หลุด" (1 รายการ)']
    subjects += [" ".join(rng.choice(words) for _ in range(rng.randint(1, 25))) for _ in range(300)]
    for i, subject in enumerate(subjects):
        name = " ".join(rng.choice(words) for _ in range(rng.randint(1, 12)))
        community = dataclasses.replace(KM, name=name)
        raw = as_bytes(bot_message(community, to=["somchai@example.com"], subject=subject, text="x"))
        head = email.message_from_bytes(raw, policy=policy.compat32)
        assert _as_a_reader_decodes(head["Subject"]) == subject, (i, head["Subject"])
        assert _parse(raw)["Subject"] == subject  # and the stdlib's own reader agrees
        for header, addr in (("From", "km-it-request@example.org"), ("List-Id", "km-it.example.org")):
            shown = _as_a_reader_decodes(head[header])
            assert shown in (f"{name} <{addr}>", f'"{name}" <{addr}>'), (i, header, head[header])


def test_bot_message_english_subjects_start_on_the_subject_line() -> None:
    # The stdlib moved a 70-78 character subject whole onto a second line ("Subject:" alone on the
    # first), and Python's own reader then showed it with a leading space.
    rng = random.Random(7)
    words = ["[HD]", "To", "review:", "knowledge", "entry", "#1", "Outlook", "keeps", "asking", "for", "my",
             "password", "VPN", "drops", "every", "afternoon", "on", "the", "fifth", "floor"]  # fmt: skip
    subjects = ["[HD] To review: knowledge entry #1 Outlook keeps asking for my password"]
    subjects += [" ".join(rng.choice(words) for _ in range(rng.randint(1, 30))) for _ in range(300)]
    for subject in subjects:
        raw = as_bytes(bot_message(KM, to=["bob@example.com"], subject=subject, text="x"))
        assert _parse(raw)["Subject"] == subject, subject
        head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
        assert not re.search(r"^Subject:\r\n", head, re.M), head
        assert max(len(line) for line in head.split("\r\n")) <= 78


def test_bot_message_plain_and_options() -> None:
    msg = bot_message(
        KM,
        to=["a@example.com", "b@example.com"],
        subject="Re: คำสั่ง\r\nBcc: x@y",
        text="done",
        auto_submitted="auto-replied",
        from_address="km-it-owner@example.org",
        list_headers=False,
        extra_headers={"X-Mailbot-Kind": "command-reply\r\nBcc: z@y"},
    )
    parsed = _parse(as_bytes(msg))
    assert parsed.get_content_type() == "text/plain"
    assert parsed["Auto-Submitted"] == "auto-replied"
    assert "List-Id" not in parsed and "Bcc" not in parsed
    assert parsed["X-Mailbot-Kind"] == "command-reply Bcc: z@y"
    assert parsed["From"].addresses[0].addr_spec == "km-it-owner@example.org"
    assert [a.addr_spec for a in parsed["To"].addresses] == ["a@example.com", "b@example.com"]
