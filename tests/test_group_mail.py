"""Group mail end to end through the pipeline and a real SMTP sink, on SQLite and PostgreSQL."""

from __future__ import annotations

import email
import email.policy
import re
import threading
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from mailbot.pipeline import content_hash
from mailbot.store.models import Message, OutboxRecipient
from mailbot.store.sqlite_driver import dbapi as sqlite3
from tests.helpers import add_members, make_app, member_mail, settings_for

MEMBERS = (
    ("somchai@example.org", "สมชาย ใจดี"),
    ("suda@example.org", "สุดา รักเรียน"),
    ("anan@example.org", "Anan C."),
)


def parse(data: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(data, policy=email.policy.default)  # type: ignore[return-value]


def setup(db_url: str, tmp_path: Path, smtp_sink: Any, **community: Any) -> Any:
    app = make_app(settings_for(db_url, tmp_path, smtp_port=smtp_sink.port, **community))
    add_members(app, *MEMBERS)
    return app


def test_post_reaches_every_other_member_with_list_headers(db_url: str, tmp_path: Path, smtp_sink: Any) -> None:
    app = setup(db_url, tmp_path, smtp_sink)
    raw = member_mail("somchai@example.org", "เครื่องพิมพ์ชั้น 3 ใช้ไม่ได้", "แจ้งให้ทราบครับ ช่างจะมาซ่อมบ่ายนี้", name="สมชาย ใจดี")
    result = app.ingest(raw, source="test", source_ref="t1")
    assert (result.status, result.kind) == ("processed", "post")
    # What `mailbot messages` shows for the post: how many members it was queued for.
    assert result.reason == "distributed to 2 members"
    stats = app.deliverer.drain()
    assert stats.sent == 2 and stats.failed == 0

    got = smtp_sink.wait_for(2)
    assert sorted(r for m in got for r in m.rcpt_tos) == ["anan@example.org", "suda@example.org"]
    # VERP: each recipient has its own envelope sender naming its member token.
    for m in got:
        assert m.mail_from.startswith("km-it-bounces+") and m.mail_from.endswith("@example.org")
    assert len({m.mail_from for m in got}) == 2
    copy = parse(got[0].data)
    assert copy["Subject"] == "[KM-IT] เครื่องพิมพ์ชั้น 3 ใช้ไม่ได้"
    assert "km-it.example.org" in copy["List-Id"]
    assert copy["List-Post"] == "<mailto:km-it@example.org>"
    assert "km-it-request@example.org" in copy["List-Help"]
    assert "unsubscribe" in copy["List-Unsubscribe"]
    assert copy["Precedence"] == "list"
    assert copy["X-Mailbot-Loop"]
    assert "km-it@example.org" in copy["Reply-To"]
    assert "แจ้งให้ทราบครับ ช่างจะมาซ่อมบ่ายนี้" in copy.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_members_receive_the_posts_body_bytes_as_the_member_sent_them(
    db_url: str, tmp_path: Path, smtp_sink: Any
) -> None:
    """A phone's multipart post (Thai text, an attachment, spaces after a boundary, an epilogue)
    reaches members with its body byte for byte: only the headers are the list's."""
    app = setup(db_url, tmp_path, smtp_sink)
    body = (
        b"--b1  \r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        + "ไวไฟชั้น 2 หลุดบ่อย ลองเปลี่ยนช่องสัญญาณแล้วดีขึ้นครับ\r\n".encode()
        + b"--b1\r\nContent-Type: image/png; name=wifi.png\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"iVBORw0KGgo=\r\n--b1--\r\n\r\nSent from my phone\r\n"
    )
    raw = (
        b"From: =?utf-8?b?4Liq4Li44LiU4Liy?= <suda@example.org>\r\nTo: km-it@example.org\r\n"
        b"Subject: Wi-Fi tip\r\nMessage-ID: <phone-1@example.org>\r\nDate: Mon, 16 Nov 2026 09:00:00 +0700\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b1"\r\n\r\n' + body
    )
    assert app.ingest(raw, source="test", source_ref="t1").status == "processed"
    assert app.deliverer.drain().sent == 2
    for got in smtp_sink.wait_for(2):
        head, sent_body = got.data.split(b"\r\n\r\n", 1)
        assert sent_body.rstrip(b"\r\n") == body.rstrip(b"\r\n")
        assert b"List-Id:" in head and b"Subject: [KM-IT] Wi-Fi tip" in head


def test_reply_subject_prefix_is_not_repeated(db_url: str, tmp_path: Path, smtp_sink: Any) -> None:
    app = setup(db_url, tmp_path, smtp_sink)
    for i, subject in enumerate(["Re: [KM-IT] Re: [KM-IT] Wi-Fi ชั้น 2", "ตอบกลับ: [KM-IT] ตอบกลับ: Wi-Fi ชั้น 2"]):
        app.ingest(member_mail("suda@example.org", subject, "ลองรีสตาร์ทดูค่ะ"), source="test", source_ref=f"r{i}")
    app.deliverer.drain()
    subjects = {parse(m.data)["Subject"] for m in smtp_sink.wait_for(4)}
    assert subjects == {"Re: [KM-IT] Wi-Fi ชั้น 2"}


def test_echo_and_reply_to_sender_policy(db_url: str, tmp_path: Path, smtp_sink: Any) -> None:
    app = setup(db_url, tmp_path, smtp_sink, echo_to_sender=True, reply_to="sender", verp=False)
    app.ingest(member_mail("anan@example.org", "hello", "hi all"), source="test", source_ref="e1")
    app.deliverer.drain()
    got = smtp_sink.wait_for(1)
    # VERP off: one transaction carries every recipient, including the sender (echo on).
    assert len(got) == 1 and len(got[0].rcpt_tos) == 3
    assert got[0].mail_from == "km-it-bounces@example.org"
    assert "anan@example.org" in parse(got[0].data)["Reply-To"]


def test_non_member_is_held_and_told_once(db_url: str, tmp_path: Path, smtp_sink: Any) -> None:
    app = setup(db_url, tmp_path, smtp_sink)
    first = app.ingest(member_mail("stranger@other.org", "Buy now", "spam?"), source="test", source_ref="n1")
    second = app.ingest(member_mail("stranger@other.org", "Again", "spam?"), source="test", source_ref="n2")
    assert first.status == second.status == "held"
    app.deliverer.drain()
    got = smtp_sink.wait_for(1)
    assert [m.rcpt_tos for m in got] == [["stranger@other.org"]]  # one notice, no storm, no post
    notice = parse(got[0].data)
    assert notice["Auto-Submitted"] in ("auto-replied", "auto-generated")
    assert "km-it-request@example.org" in got[0].data.decode("utf-8", "replace") or notice.is_multipart()


def test_loops_and_auto_replies_are_never_redistributed(db_url: str, tmp_path: Path, smtp_sink: Any) -> None:
    app = setup(db_url, tmp_path, smtp_sink)
    cases = {
        "loop": member_mail("suda@example.org", "x", "y", headers={"X-Mailbot-Loop": "km-it.example.org"}),
        "auto-reply": member_mail(
            "suda@example.org", "Automatic reply: x", "I am away", headers={"Auto-Submitted": "auto-replied"}
        ),
        "own": member_mail("km-it@example.org", "x", "from ourselves"),
    }
    for label, raw in cases.items():
        result = app.ingest(raw, source="test", source_ref=label)
        assert result.status == "ignored", label
    app.deliverer.drain()
    assert smtp_sink.messages == []
    with app.sessions() as s:
        reasons = s.scalars(select(Message.rule).order_by(Message.id)).all()
    assert reasons == ["loop-marker", "auto-reply", "from-own-address"]


def test_repeat_delivery_of_the_same_message_is_absorbed(db_url: str, tmp_path: Path, smtp_sink: Any) -> None:
    app = setup(db_url, tmp_path, smtp_sink)
    raw = member_mail("suda@example.org", "once", "only once please")
    assert app.ingest(raw, source="test", source_ref="d1").status == "processed"
    assert app.ingest(raw, source="test", source_ref="d2").status == "duplicate"
    app.deliverer.drain()
    assert sorted(r for m in smtp_sink.wait_for(2) for r in m.rcpt_tos) == [
        "anan@example.org",
        "somchai@example.org",
    ]


def test_duplicates_are_found_by_message_id_first_then_by_the_bytes(db_url: str, tmp_path: Path, smtp_sink: Any) -> None:
    app = setup(db_url, tmp_path, smtp_sink)
    first = member_mail("suda@example.org", "one", "first text", message_id="<same@example.org>")
    stored = app.ingest(first, source="test", source_ref="m1")
    assert stored.status == "processed"
    # The same Message-ID with other bytes (a client re-sending an edited copy) is the same post.
    again = member_mail("suda@example.org", "one", "edited text", message_id="<same@example.org>")
    found = app.ingest(again, source="test", source_ref="m2")
    assert (found.status, found.message_pk) == ("duplicate", stored.message_pk)
    # Without a Message-ID the bytes decide.
    bare = re.sub(rb"Message-ID: [^\n]*\n", b"", member_mail("anan@example.org", "two", "no id"))
    assert b"Message-ID" not in bare
    kept = app.ingest(bare, source="test", source_ref="b1")
    assert kept.status == "processed"
    found = app.ingest(bare, source="test", source_ref="b2")
    assert (found.status, found.message_pk) == ("duplicate", kept.message_pk)
    # When one stored message has the Message-ID and another the same bytes, the Message-ID wins.
    other = app.ingest(member_mail("anan@example.org", "three", "x"), source="test", source_ref="o1")
    late = member_mail("suda@example.org", "one", "third text", message_id="<same@example.org>")
    with app.sessions() as s, s.begin():
        s.get(Message, other.message_pk).content_hash = content_hash(late)
    found = app.ingest(late, source="test", source_ref="l1")
    assert (found.status, found.message_pk) == ("duplicate", stored.message_pk)


def test_smtp_outage_loses_nothing(db_url: str, tmp_path: Path, smtp_sink: Any) -> None:
    app = setup(db_url, tmp_path, smtp_sink)
    smtp_sink.stop()
    for i in range(3):
        app.ingest(member_mail("somchai@example.org", f"post {i}", "body"), source="test", source_ref=f"o{i}")
    stats = app.deliverer.drain()
    assert stats.sent == 0 and stats.deferred == 6
    app.clock.advance(timedelta(minutes=30))  # still down half an hour later
    assert app.deliverer.drain().sent == 0
    smtp_sink.restart()
    app.clock.advance(timedelta(hours=1))
    stats = app.deliverer.drain()
    assert stats.sent == 6
    got = smtp_sink.wait_for(6)
    pairs = sorted((parse(m.data)["Subject"], r) for m in got for r in m.rcpt_tos)
    assert len(pairs) == len(set(pairs)) == 6  # each post to each member exactly once


def test_permanent_failure_is_per_recipient(db_url: str, tmp_path: Path, smtp_sink: Any) -> None:
    app = setup(db_url, tmp_path, smtp_sink, verp=False)
    smtp_sink.rcpt_responses["anan@example.org"] = (550, "5.1.1 no such user")
    smtp_sink.rcpt_responses["suda@example.org"] = (451, "4.2.0 try later")
    app.ingest(member_mail("somchai@example.org", "x", "y"), source="test", source_ref="p1")
    stats = app.deliverer.drain()
    assert (stats.sent, stats.failed, stats.deferred) == (0, 1, 1)
    del smtp_sink.rcpt_responses["suda@example.org"]
    app.clock.advance(timedelta(hours=1))
    assert app.deliverer.drain().sent == 1
    with app.sessions() as s:
        rows = dict(s.execute(select(OutboxRecipient.address, OutboxRecipient.status)).all())
        assert rows == {"anan@example.org": "failed", "suda@example.org": "sent"}
        assert s.scalar(select(func.count()).select_from(OutboxRecipient).where(OutboxRecipient.status == "pending")) == 0


def test_delivery_writes_times_as_sqlalchemy_does_on_sqlite(sqlite_url: str, tmp_path: Path, smtp_sink: Any) -> None:
    """Delivery writes its rounds straight through the driver on SQLite. Its times must be the text
    SQLAlchemy writes, or "due at or before now" compares wrongly: at a whole second (the test
    clock's) "...:00+00:00" sorts before "...:00.000000", and a copy due then would wait."""
    app = setup(sqlite_url, tmp_path, smtp_sink, verp=False)
    smtp_sink.rcpt_responses["anan@example.org"] = (451, "4.2.0 try later")
    app.ingest(member_mail("somchai@example.org", "x", "y"), source="test", source_ref="t1")
    assert app.deliverer.drain().sent == 1
    assert len(smtp_sink.wait_for(1)) == 1  # the copy to the member who took it
    with closing(sqlite3.connect(sqlite_url.removeprefix("sqlite:///"))) as db:
        written = db.execute("SELECT sent_at, next_attempt_at FROM outbox_recipients").fetchall()
        due = db.execute("SELECT next_attempt_at FROM outbox_recipients WHERE status = 'pending'").fetchone()[0]
    sqlalchemy_form = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}")
    values = [v for row in written for v in row if v is not None]
    assert len(values) == 3  # one sent_at, both recipients' next attempt
    assert all(sqlalchemy_form.fullmatch(v) for v in values), values
    # The deferred copy is claimed again as soon as its retry time comes, not a moment later.
    del smtp_sink.rcpt_responses["anan@example.org"]
    app.clock.advance(datetime.fromisoformat(due).replace(tzinfo=UTC) - app.clock.now())
    assert app.deliverer.drain().sent == 1


def test_posts_arriving_together_share_a_delivery_round_and_a_quiet_list_is_not_delayed(
    db_url: str, tmp_path: Path, smtp_sink: Any
) -> None:
    """Under load the delivery loop waits smtp.gather_seconds after a wake-up, so posts that come in
    a run go out together (one claim, one outcome commit); the first post to a quiet list goes at once."""
    app = setup(db_url, tmp_path, smtp_sink, verp=False)
    app.settings.smtp.gather_seconds = 1.0  # long, so the run below surely fits in it
    rounds: list[int] = []  # copies sent by each round that sent any (a post: the 2 other members)
    deliver_due = app.deliverer.deliver_due

    def counted() -> Any:
        stats = deliver_due()
        if stats.attempted:
            rounds.append(stats.attempted)
        return stats

    app.deliverer.deliver_due = counted  # type: ignore[method-assign]
    stop = threading.Event()
    loop = threading.Thread(target=app.deliverer.run_forever, args=(stop,), daemon=True)
    loop.start()
    try:
        app.ingest(member_mail("somchai@example.org", "first", "x"), source="test", source_ref="g0")
        app.deliverer.wake.set()
        # A quiet list: the copies go without the gathering wait (well under its second, and the
        # poll interval is 1 s too, so a slower start would show).
        assert len(smtp_sink.wait_for(1, timeout=0.9)) == 1
        for i in range(1, 5):  # then a run of four posts, each waking the loop as ingest does
            app.ingest(member_mail("somchai@example.org", f"post {i}", "x"), source="test", source_ref=f"g{i}")
            app.deliverer.wake.set()
        assert len(smtp_sink.wait_for(5, timeout=10)) == 5
    finally:
        stop.set()
        app.deliverer.wake.set()
        loop.join(timeout=5)
    assert rounds == [2, 8]  # the first post alone, then the run of four in one round
