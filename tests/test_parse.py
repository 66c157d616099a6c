"""parse_message on targeted shapes: Thai charsets, broken encodings, HTML-only mail, hostile input."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbot.mail.charsets import codec_for, decode_bytes
from mailbot.mail.parse import parse_message
from tests.corpus_files import corpus_root


def b64word(data: bytes, charset: str = "utf-8") -> bytes:
    return b"=?" + charset.encode() + b"?B?" + base64.b64encode(data) + b"?="


def msg(headers: str, body: bytes, *, nl: bytes = b"\n") -> bytes:
    return headers.strip().replace("\n", nl.decode()).encode("ascii") + nl + nl + body


def corpus_file(rel: str) -> bytes:
    path = corpus_root() / rel
    if not path.exists():
        pytest.skip(f"{rel} is only in the full corpus (not bundled: no licence)")
    return path.read_bytes()


def test_thai_subject_split_mid_character_across_encoded_words() -> None:
    thai = "เครื่องพิมพ์ชั้น 3 เสีย".encode()
    # Split inside the 3-byte UTF-8 sequence of the second character, as iPhone Mail and Gmail do.
    subject = b"Subject: Re: " + b64word(thai[:4]) + b"\n " + b64word(thai[4:])
    p = parse_message(subject + b"\nFrom: a@example.org\n\nbody\n")
    assert p.subject == "Re: เครื่องพิมพ์ชั้น 3 เสีย"
    assert p.defects == ()


def test_thai_display_name_split_over_two_words() -> None:
    name = "สมชาย ใจดี".encode()
    raw = b"From: " + b64word(name[:7]) + b"\n\t" + b64word(name[7:]) + b" <Somchai@Example.ORG>\n\nhi\n"
    p = parse_message(raw)
    assert p.from_ is not None
    assert p.from_.name == "สมชาย ใจดี"
    assert p.sender_email == "somchai@example.org"


def test_tis620_8bit_signature_decodes_to_thai_date() -> None:
    body = "Thanks!\n\n-- \nOS : Linux 2.4.22 #1 พฤ. ส.ค. 21 18:51:09 ICT 2003\n".encode("cp874")
    raw = msg("From: m@example.org\nContent-Type: text/plain; charset=TIS-620\nContent-Transfer-Encoding: 8bit", body)
    p = parse_message(raw)
    assert "พฤ. ส.ค. 21" in p.text
    assert "พฤ. ส.ค." in p.signature
    assert p.new_text == "Thanks!"
    assert p.defects == ()


def test_tis620_8bit_signature_real_message() -> None:
    p = parse_message(corpus_file("charsets/thai/lkml-2003-mozilla-tis620-8bit-thai-sig.eml"))
    assert "พฤ. ส.ค." in p.text
    assert "พฤ. ส.ค." in p.signature
    assert p.message_id == "3F56AF00.8030002@opentle.org"


def test_windows_874_label_on_latin1_german_text_falls_back_with_defect() -> None:
    body = "Wenn Sie sich für die STIFTUNG interessieren\nGrüße,\n".encode("latin-1")
    raw = msg("From: x@example.org\nContent-type: text/plain; charset=windows-874\nContent-Transfer-Encoding: 8BIT", body)
    p = parse_message(raw)
    assert "für" in p.text and "Grüße" in p.text
    assert any("windows-874" in d for d in p.defects)


def test_windows_874_mislabelled_real_message() -> None:
    p = parse_message(corpus_file("charsets/mislabelled/windows-874-label-on-german-text-thai-relay.eml"))
    assert "Grüße" in p.text
    assert any("windows-874" in d for d in p.defects)


def test_undeclared_tis620_body_is_sniffed_as_thai() -> None:
    body = "ลองรีสตาร์ทเครื่องพิมพ์ดูครับ\n".encode("cp874")
    p = parse_message(msg("From: a@example.org\nSubject: x", body))
    assert p.text.strip() == "ลองรีสตาร์ทเครื่องพิมพ์ดูครับ"
    assert any("cp874" in d for d in p.defects)


def test_latin1_label_on_thai_bytes_is_recognised() -> None:
    body = "ขอบคุณครับ ประชุมวันพฤหัสบดี\n".encode("cp874")
    p = parse_message(msg("From: a@example.org\nContent-Type: text/plain; charset=iso-8859-1", body))
    assert "ขอบคุณครับ" in p.text


def test_utf8_bytes_under_tis620_label_are_read_as_utf8() -> None:
    body = "ขอบคุณครับ\n".encode()
    p = parse_message(msg("From: a@example.org\nContent-Type: text/plain; charset=tis-620", body))
    assert p.text.strip() == "ขอบคุณครับ"


@pytest.mark.parametrize("label", ["x-unknown", "x-user-defined", "garbage!!", "", "ansi_x3.110-1983"])
def test_unknown_charset_label_falls_back_and_records_defect(label: str) -> None:
    body = "naïve café — ข้อความ".encode()
    raw = msg(f'From: a@example.org\nContent-Type: text/plain; charset="{label}"\nContent-Transfer-Encoding: 8bit', body)
    p = parse_message(raw)
    assert p.text == "naïve café — ข้อความ"
    if label:
        assert any("unknown charset" in d for d in p.defects)


@pytest.mark.parametrize(
    ("label", "codec"),
    [("windows-874", "cp874"), ("TIS-620", "cp874"), ("iso-8859-11", "cp874"), ("ks_c_5601-1987", "cp949"),
     ("gb2312", "gb18030"), ("iso-8859-8-i", "iso8859-8"), ("unicode-1-1-utf-7", "utf-7"),
     ("x-unknown", None), ("x-user-defined", None), ("", None), ("rot13", None), ("base64", None),
     ("unicode_escape", None), ('"utf-8"', "utf-8")],
)
def test_charset_labels_map_to_real_codecs(label: str, codec: str | None) -> None:
    assert codec_for(label) == codec


def test_decode_bytes_never_raises_on_any_label() -> None:
    junk = bytes(range(256))
    for label in ["utf-8", "utf-7", "cp874", "iso-2022-jp", "x-unknown", "hz", "utf-16", None]:
        text, _ = decode_bytes(junk, label)
        assert isinstance(text, str)


def test_korean_label_alias_decodes() -> None:
    body = "안녕하세요".encode("cp949")
    p = parse_message(msg("From: a@example.org\nContent-Type: text/plain; charset=ks_c_5601-1987", body))
    assert p.text == "안녕하세요"


def test_html_only_mail_gives_readable_text() -> None:
    html = (
        "<html><head><style>p { color: red }</style><title>ignored title</title></head><body>"
        "<p>สวัสดีครับ &amp; hello&nbsp;world</p><div>line one<br>line two</div>"
        "<script>alert('x')</script><div>On Tue, Nov 17, 2026 at 9:12 Somchai wrote:</div>"
        "<blockquote><p>old question</p></blockquote></body></html>"
    )
    raw = msg("From: a@example.org\nContent-Type: text/html; charset=utf-8", html.encode())
    p = parse_message(raw)
    assert p.html is not None and "<p>" in p.html
    assert "<" not in p.text and "alert" not in p.text and "color" not in p.text and "ignored title" not in p.text
    assert "สวัสดีครับ & hello world" in p.text
    assert "line one\nline two" in p.text
    assert "old question" in p.quoted_text
    assert "old question" not in p.new_text
    assert p.new_text.startswith("สวัสดีครับ")


def test_multipart_alternative_prefers_plain_text() -> None:
    raw = msg(
        'From: a@example.org\nContent-Type: multipart/alternative; boundary="b"',
        b"--b\nContent-Type: text/plain; charset=utf-8\n\nplain words\n--b\n"
        b"Content-Type: text/html; charset=utf-8\n\n<p>html words</p>\n--b--\n",
    )
    p = parse_message(raw)
    assert p.text.strip() == "plain words"
    assert p.html is not None and "html words" in p.html


def test_cr_only_line_endings() -> None:
    raw = msg("From: Somchai <s@example.org>\nSubject: hello\nMessage-ID: <a1@example.org>",
              b"first line\rsecond line\r", nl=b"\r")
    p = parse_message(raw)
    assert p.subject == "hello"
    assert p.sender_email == "s@example.org"
    assert p.message_id == "a1@example.org"
    assert p.text.split("\n")[:2] == ["first line", "second line"]
    assert "\r" not in p.text


def test_crlf_line_endings() -> None:
    p = parse_message(msg("From: s@example.org\nSubject: hi", b"a\r\nb\r\n", nl=b"\r\n"))
    assert p.subject == "hi" and p.text.strip() == "a\nb"


def test_nul_bytes_do_not_reach_text_or_headers() -> None:
    raw = b"From: a@example.org\nSubject: bad\x00subject\n\nbody\x00with nul\n"
    p = parse_message(raw)
    assert "\x00" not in p.subject and "\x00" not in p.text
    assert p.text.strip() == "bodywith nul"


@pytest.mark.parametrize("raw", [b"", b"\x00\xff\xfe", b"\n\n\n", b"garbage without headers", b"From:\n\n"])
def test_degenerate_input(raw: bytes) -> None:
    p = parse_message(raw)
    assert p.size == len(raw)
    assert isinstance(p.subject, str) and isinstance(p.text, str)
    assert p.message_id is None


def test_encoded_word_with_crlf_is_flattened() -> None:
    injected = b64word(b"Hello\r\nBcc: victim@example.org")
    p = parse_message(b"From: a@example.org\nSubject: " + injected + b"\n\nx\n")
    assert "\r" not in p.subject and "\n" not in p.subject
    assert "Bcc: victim@example.org" in p.subject
    assert any("control characters" in d for d in p.defects)


def test_ids_addresses_and_date() -> None:
    raw = msg(
        "From: =?utf-8?B?4Liq4Lih4LiK4Liy4Lii?= <Somchai@Example.org>\n"
        "To: km@example.org, \"Dao, N.\" <dao@example.org>\nCc: <boss@example.org>\n"
        "Reply-To: list@example.org\nMessage-ID:  <abc@mail.example.org> \n"
        "In-Reply-To: <q1@example.org>\nReferences: <r0@example.org>\n <q1@example.org> <q1@example.org>\n"
        "Delivered-To: KM@example.org\nX-Original-To: km+q@example.org\n"
        "Date: Tue, 17 Nov 2026 09:12:00 +0700\nSubject: =?utf-8?q?=E0=B8=96=E0=B8=B2=E0=B8=A1?= question",
        b"hi\n",
    )
    p = parse_message(raw)
    assert p.message_id == "abc@mail.example.org"
    assert p.in_reply_to == ("q1@example.org",)
    assert p.references == ("r0@example.org", "q1@example.org")
    assert p.from_ is not None and p.from_.name == "สมชาย" and p.from_.email == "somchai@example.org"
    assert [a.email for a in p.to] == ["km@example.org", "dao@example.org"]
    assert p.to[1].name == "Dao, N."
    assert [a.email for a in p.cc] == ["boss@example.org"]
    assert [a.email for a in p.reply_to] == ["list@example.org"]
    assert p.delivered_to == ("km@example.org", "km+q@example.org")
    assert p.date == datetime(2026, 11, 17, 2, 12, tzinfo=UTC)
    assert p.subject == "ถาม question"
    assert p.header("SUBJECT") == "ถาม question"
    assert p.headers["references"]


def test_date_without_zone_is_utc_and_garbage_is_none() -> None:
    p = parse_message(b"Date: 17 Nov 2026 09:12:00\n\nx")
    assert p.date is not None and p.date.tzinfo is not None
    q = parse_message(b"Date: yesterday at noon\n\nx")
    assert q.date is None
    assert any("date" in d for d in q.defects)


def test_null_sender_keeps_display_name() -> None:
    p = parse_message(b"From: Mail Delivery System <>\nSubject: Undelivered\n\nx")
    assert p.from_ is not None and p.from_.email == "" and p.from_.name == "Mail Delivery System"
    assert p.sender_email == ""


def test_attachments_metadata_with_thai_filename() -> None:
    payload = bytes(range(256)) * 4
    fname = b64word("รายงาน.pdf".encode())
    raw = msg(
        'From: a@example.org\nContent-Type: multipart/mixed; boundary="b"',
        b"--b\nContent-Type: text/plain; charset=utf-8\n\nsee attached\n--b\n"
        b"Content-Type: application/pdf\nContent-Transfer-Encoding: base64\n"
        b'Content-Disposition: attachment; filename="' + fname + b'"\n\n'
        + base64.encodebytes(payload) + b"--b--\n",
    )
    p = parse_message(raw)
    assert p.text.strip() == "see attached"
    assert len(p.attachments) == 1
    att = p.attachments[0]
    assert (att.filename, att.content_type, att.size) == ("รายงาน.pdf", "application/pdf", 1024)


def test_bad_base64_body_does_not_raise() -> None:
    raw = msg("From: a@example.org\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64",
              b"4Liq4Lin4Lix4Liq4LiU4Li1!!!not base64***\n")
    p = parse_message(raw)
    assert isinstance(p.text, str)
    assert any("mime:" in d for d in p.defects)


def test_missing_boundary_does_not_raise() -> None:
    raw = msg('From: a@example.org\nContent-Type: multipart/mixed; boundary="nothere"', b"just text\n")
    p = parse_message(raw)
    assert any("Boundary" in d for d in p.defects)


def test_deep_nesting_is_capped_and_fast() -> None:
    depth = 200
    head = b"".join(b'Content-Type: multipart/mixed; boundary="b%d"\n\n--b%d\n' % (i, i) for i in range(depth))
    tail = b"".join(b"\n--b%d--\n" % i for i in reversed(range(depth)))
    raw = b"From: a@example.org\n" + head + b"Content-Type: text/plain\n\ndeep text" + tail
    start = time.perf_counter()
    p = parse_message(raw)
    assert time.perf_counter() - start < 5
    assert any("nesting" in d or "not parsed" in d for d in p.defects)


def test_part_count_is_capped() -> None:
    parts = b"".join(b"--b\nContent-Type: text/plain\n\npart %d\n" % i for i in range(1200))
    raw = msg('From: a@example.org\nContent-Type: multipart/mixed; boundary="b"', parts + b"--b--\n")
    p = parse_message(raw)
    assert any("more than" in d for d in p.defects)
    assert "part 0" in p.text


def test_very_long_header_is_parsed() -> None:
    raw = b"From: a@example.org\nSubject: " + b"x" * 200_000 + b"\nX-Long: " + b"=?utf-8?B?4Liq?= " * 20_000 + b"\n\nbody\n"
    start = time.perf_counter()
    p = parse_message(raw)
    assert time.perf_counter() - start < 5
    assert len(p.subject) == 200_000 and p.text.strip() == "body"


def test_parsed_message_is_immutable_and_hashable() -> None:
    p = parse_message(b"From: a@example.org\nSubject: s\n\nx\n")
    with pytest.raises(AttributeError):
        p.subject = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        p.headers["x"] = ("y",)  # type: ignore[index]
    assert hash(p) == hash(parse_message(p.raw))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_never_raises_on_arbitrary_bytes(raw: bytes) -> None:
    p = parse_message(raw)
    assert p.size == len(raw)
    assert "\x00" not in p.text


HEADER_BASE = (b"From: =?utf-8?B?4Liq4Lih?= <a@example.org>\nSubject: =?tis-620?B?tMe5?=\n"
               b'Content-Type: multipart/alternative; boundary="zz"\n\n--zz\nContent-Type: text/plain; '
               b"charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n=E0=B8=AA hi\n--zz\n"
               b"Content-Type: text/html\n\n<p>x</p>\n--zz--\n")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(HEADER_BASE) - 1), st.binary(min_size=0, max_size=8)), max_size=6))
def test_never_raises_on_mutated_message(edits: list[tuple[int, bytes]]) -> None:
    raw = bytearray(HEADER_BASE)
    for pos, junk in edits:
        raw[pos : pos + len(junk)] = junk
    p = parse_message(bytes(raw))
    assert isinstance(p.subject, str) and "\n" not in p.subject


def test_leading_byte_order_mark_does_not_hide_the_first_header() -> None:
    raw = b"\xef\xbb\xbfFrom: Somchai <somchai@example.org>\r\nSubject: hi\r\n\r\nbody\r\n"
    parsed = parse_message(raw)
    assert parsed.sender_email == "somchai@example.org"
    assert parsed.raw == raw  # stored bytes stay exactly as received
    assert any("byte-order mark" in d for d in parsed.defects)
