"""A community with history, inserted in bulk: members, a year of messages, threads and answers.

Used by the summary case (1,000,000 messages) and the startup case (100,000 messages).
"""

from __future__ import annotations

import hashlib
import random
from datetime import datetime, timedelta

from sqlalchemy import func, insert, select

from bench import setup
from mailbot.app import App
from mailbot.knowledge.models import Answer, Thread
from mailbot.store.models import Member, Message
from mailbot.store.queries import community_row

BATCH = 20_000


def fill(app: App, *, members: int, messages: int, end: datetime, weeks: int = 52) -> None:
    """`messages` rows spread over `weeks` before `end`: 60% posts, 10% questions, 30% answers."""
    setup.add_members(app, members)
    rng = random.Random(messages)
    span = timedelta(weeks=weeks).total_seconds()
    with app.sessions.begin() as session:
        cid = community_row(session, "km-it").id
        first_member = int(session.scalar(select(func.min(Member.id)).where(Member.community_id == cid)) or 0)
    thread_no = 0
    msg_id = 0
    for start in range(0, messages, BATCH):
        rows, threads, answers = [], [], []
        for _ in range(start, min(messages, start + BATCH)):
            msg_id += 1
            when = end - timedelta(seconds=rng.random() * span)
            member = first_member + rng.randrange(members)
            r = rng.random()
            kind = "post" if r < 0.6 else ("question" if r < 0.7 else "answer")
            thread_id = None
            if kind == "question":
                thread_no += 1
                thread_id = thread_no
                threads.append({
                    "id": thread_no, "community_id": cid, "number": thread_no, "subject": f"คำถาม {thread_no}",
                    "status": "solved" if rng.random() < 0.5 else "open", "topic": "it",
                    "question_text": "ไวไฟหลุดบ่อย", "root_message_id": f"<q{thread_no}@bench>",
                    "asker_member_id": member, "asker_email": setup.member_email(member - first_member),
                    "asker_name": "", "answer_count": 0, "created_at": when, "updated_at": when,
                    "solved_at": when + timedelta(hours=5),
                })  # fmt: skip
            elif kind == "answer" and thread_no:
                thread_id = rng.randint(max(1, thread_no - 50), thread_no)
                answers.append({
                    "thread_id": thread_id, "number": msg_id, "message_id": f"<m{msg_id}@bench>",
                    "member_id": member, "author_email": "", "author_name": "", "text": "ลองรีสตาร์ทเราเตอร์",
                    "accepted": False, "helpful": False, "created_at": when,
                })  # fmt: skip
            mid = f"<m{msg_id}@bench>"
            rows.append({
                "community_id": cid, "source": "imap", "source_ref": "", "message_id": mid,
                "content_hash": hashlib.sha256(mid.encode()).hexdigest(), "raw": b"", "size": 5000,
                "received_at": when, "from_email": "", "from_name": "", "subject": "s", "address_role": "post",
                "kind": kind, "rule": kind, "status": "processed", "reason": "", "member_id": member,
                "thread_id": thread_id, "body_text": "", "defects": "",
            })  # fmt: skip
        with app.sessions.begin() as session:
            if threads:
                session.execute(insert(Thread), threads)
            if answers:
                session.execute(insert(Answer), answers)
            session.execute(insert(Message), rows)
    with app.engine.connect() as conn:  # fresh statistics, as a long-running database would have
        conn.exec_driver_sql("ANALYZE")
        conn.commit()
