"""Threads through the real pipeline: out-of-order arrival, reply-to-reply, tags; and the kb/threads CLI."""

from __future__ import annotations

import email
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from mailbot import cli
from mailbot.knowledge.controls import parse_control
from mailbot.knowledge.models import Answer, Thread
from mailbot.knowledge.threads import clean_title, number_in_subject, tag_pattern
from mailbot.store.models import Message
from tests.helpers import add_members, make_app, member_mail, settings_for

ASKER = ("somchai@example.org", "สมชาย ใจดี")
HELPER = ("suda@example.org", "สุดา รักเรียน")
OTHER = ("anan@example.org", "อนันต์ ช่างคิด")


def _mid(raw: bytes) -> str:
    return str(email.message_from_bytes(raw)["Message-ID"])


def _app(url: str, tmp_path: Path) -> Any:
    app = make_app(settings_for(url, tmp_path))
    add_members(app, ASKER, HELPER, OTHER)
    return app


def test_tags_and_titles() -> None:
    assert number_in_subject("Re: [KM-IT #Q42] printer", "#Q{number}") == 42
    assert number_in_subject("[KM-IT #q7] x", "#Q{number}") == 7
    assert number_in_subject("#Q420abc", "#Q{number}") == 420
    assert number_in_subject("Q42 without hash", "#Q{number}") is None
    assert tag_pattern("[Q-{number}]").search("Re: [Q-9] x") is not None
    assert clean_title("Re: [KM-IT #Q3] ถาม: ต่อ VPN ยังไง", "[KM-IT]") == "ต่อ VPN ยังไง"
    assert clean_title("[Q] Outlook crashes", "[KM-IT]") == "Outlook crashes"


def test_controls_only_from_the_first_new_lines() -> None:
    assert parse_control("#solved").action == "solved"  # type: ignore[union-attr]
    assert parse_control("  #แก้ได้แล้ว ขอบคุณครับ").action == "solved"  # type: ignore[union-attr]
    assert parse_control("#accept 2 3").numbers == (2, 3)  # type: ignore[union-attr]
    assert parse_control("#kb").action == "kb"  # type: ignore[union-attr]
    edit = parse_control("#kb edit\ntitle: ใหม่\n\nคำตอบใหม่\nบรรทัดสอง")
    assert edit is not None and edit.edit == {"title": "ใหม่", "answer": "คำตอบใหม่\nบรรทัดสอง"}
    assert parse_control("one\ntwo\nthree\n#solved") is None  # too far down
    assert parse_control("#solvedness is a word") is None
    assert parse_control("I think it is #solved") is None


def test_reply_arriving_before_its_question_joins_the_thread(sqlite_url: str, tmp_path: Path) -> None:
    app = _app(sqlite_url, tmp_path)
    question = member_mail(ASKER[0], "ต่อ VPN จากบ้านยังไงครับ", "ใช้โปรแกรมอะไร", name=ASKER[1])
    answer = member_mail(HELPER[0], "Re: ต่อ VPN จากบ้านยังไงครับ", "ใช้ FortiClient ค่ะ", in_reply_to=_mid(question))
    # ...and a reply to that answer, also early.
    second = member_mail(OTHER[0], "Re: Re: ต่อ VPN", "ต้องขอสิทธิ์ก่อนด้วยครับ", in_reply_to=_mid(answer))
    assert app.ingest(answer, source="test", source_ref="1").kind == "post"
    assert app.ingest(second, source="test", source_ref="2").kind == "post"
    result = app.ingest(question, source="test", source_ref="3")
    assert result.kind == "question" and "2 earlier replies attached" in result.reason
    late = member_mail(OTHER[0], "Re: ต่อ VPN", "ขอบคุณครับ ได้แล้ว", in_reply_to=_mid(second))
    assert app.ingest(late, source="test", source_ref="4").kind == "answer"
    with app.sessions() as s:
        thread = s.scalars(select(Thread)).one()
        answers = s.scalars(select(Answer).order_by(Answer.number)).all()
        assert [a.text for a in answers] == ["ใช้ FortiClient ค่ะ", "ต้องขอสิทธิ์ก่อนด้วยครับ", "ขอบคุณครับ ได้แล้ว"]
        assert {m.thread_id for m in s.scalars(select(Message))} == {thread.id}


def test_reply_to_a_reply_in_a_thread_is_an_answer(db_url: str, tmp_path: Path) -> None:
    app = _app(db_url, tmp_path)
    q = member_mail(ASKER[0], "Q: Outlook ค้าง", "เปิดแล้วค้าง")
    app.ingest(q, source="test", source_ref="1")
    a = member_mail(HELPER[0], "Re: [KM-IT #Q1] Outlook ค้าง", "ลอง safe mode", in_reply_to=_mid(q))
    app.ingest(a, source="test", source_ref="2")
    raw = member_mail(OTHER[0], "Re: Re: [KM-IT #Q1] Outlook ค้าง", "ลบ add-in ด้วย", in_reply_to=_mid(a))
    raw = raw.replace(b"References: " + _mid(a).encode(), b"References: " + _mid(q).encode() + b" " + _mid(a).encode())
    assert app.ingest(raw, source="test", source_ref="3").kind == "answer"
    with app.sessions() as s:
        assert s.scalars(select(Thread)).one().answer_count == 2


def _cli(app: Any, tmp_path: Path, *argv: str, capsys: pytest.CaptureFixture[str]) -> str:
    config = tmp_path / "mailbot.toml"
    s = app.settings
    config.write_text(
        f'[database]\nurl = "{s.database.url}"\n[paths]\ndata_dir = "{s.paths.data_dir}"\n'
        f'[inbound_smtp]\nenabled = false\n[[community]]\nslug = "km-it"\naddress = "km-it@example.org"\n'
        f'subject_prefix = "[KM-IT]"\n',
        encoding="utf-8",
    )
    capsys.readouterr()
    assert cli.main(["--config", str(config), *argv]) == 0
    return capsys.readouterr().out


def test_cli_threads_and_kb(db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app = _app(db_url, tmp_path)
    q = member_mail(ASKER[0], "เครื่องพิมพ์ชั้น 3 เสียอีกแล้วครับ?", "ไฟกระพริบสีส้ม", name=ASKER[1])
    app.ingest(q, source="test", source_ref="1")
    app.ingest(member_mail(OTHER[0], "ขอไฟล์ AAR ได้ไหมครับ", "ขอบคุณครับ"), source="test", source_ref="x")
    a = member_mail(HELPER[0], "Re: [KM-IT #Q1]", "เปลี่ยนตลับหมึกค่ะ", name=HELPER[1], in_reply_to=_mid(q))
    app.ingest(a, source="test", source_ref="2")

    unanswered = json.loads(_cli(app, tmp_path, "threads", "list", "km-it", "--unanswered", "--format", "json", capsys=capsys))
    assert [t["number"] for t in unanswered] == [2]
    shown = json.loads(_cli(app, tmp_path, "threads", "show", "km-it", "1", "--format", "json", capsys=capsys))
    assert shown["number"] == 1 and shown["status"] == "answered" and shown["topic"] == "printer"
    assert shown["asker"]["email"] == ASKER[0]
    assert [(x["number"], x["text"]) for x in shown["answers"]] == [(1, "เปลี่ยนตลับหมึกค่ะ")]

    app.ingest(member_mail(ASKER[0], "Re: [KM-IT #Q1]", "#solved", in_reply_to=_mid(a)), source="test", source_ref="3")
    listed = json.loads(_cli(app, tmp_path, "kb", "list", "km-it", "--format", "json", capsys=capsys))
    assert [(e["number"], e["status"]) for e in listed] == [(1, "published")]
    found = json.loads(_cli(app, tmp_path, "kb", "search", "km-it", "ตลับหมึก", "--format", "json", capsys=capsys))
    assert [e["number"] for e in found] == [1]
    entry = json.loads(_cli(app, tmp_path, "kb", "show", "km-it", "1", "--format", "json", capsys=capsys))
    assert entry["title"] == "เครื่องพิมพ์ชั้น 3 เสียอีกแล้วครับ?" and entry["answer"] == "เปลี่ยนตลับหมึกค่ะ"
    answer_file = tmp_path / "answer.txt"
    answer_file.write_text("ถอดตลับหมึกแล้วเขย่าเบา ๆ", encoding="utf-8")
    _cli(app, tmp_path, "kb", "edit", "km-it", "1", "--answer-file", str(answer_file), "--status", "stale", capsys=capsys)
    entry = json.loads(_cli(app, tmp_path, "kb", "show", "km-it", "1", "--format", "json", capsys=capsys))
    assert (entry["answer"], entry["status"]) == ("ถอดตลับหมึกแล้วเขย่าเบา ๆ", "stale")
    out = tmp_path / "export"
    _cli(app, tmp_path, "kb", "export", "km-it", str(out), capsys=capsys)
    files = sorted(p.name for p in out.iterdir())
    assert files[0].startswith("00001-") and "entries.json" in files
    assert "ถอดตลับหมึก" in (out / files[0]).read_text(encoding="utf-8")
