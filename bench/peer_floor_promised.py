"""The peer workload's second floor: the design card's parts doing the statements mailbot promises.

As bench/peer_floor.py (aiosmtpd in, mail-parser, pipelined SMTP out, all on the listener's loop),
but storing through SQLAlchemy 2 Core, a fixed part, on mailbot's own schema, with the statements its
promises need and nothing else: the duplicate probe, the sender's member row, the thread_refs row,
the message, the outbox row, its recipients copied from the members table and their first attempt
counted (one commit, before the sending); the outcome after it (one commit). No mailbot code
runs per post: the schema is made by mailbot's migrations before the port is printed.
Run as `python -m bench.peer_floor_promised SINK_PORT DB_PATH MEMBERS [overlap|lean]`; prints the port.
With `overlap` the post gets its 250 after the first commit, as in mailbot, and a sender thread sends
and records the outcome of up to 8 posts per commit while the listener takes the next posts. `lean` is
`overlap` done the leanest way these parts allow: each message's DATA in one read, and every statement
compiled once and run on the SQLite driver (LeanPromisedStore).
"""

from __future__ import annotations

import hashlib
import queue
import sys
import threading
from datetime import UTC, datetime
from typing import Any, cast

import mailparser
from sqlalchemy import (
    Connection,
    Engine,
    Table,
    bindparam,
    create_engine,
    event,
    insert,
    literal,
    select,
    update,
)

from bench.peer_floor import serve
from bench.pipelining import PipeliningClient, wire
from mailbot.knowledge.models import ThreadRef
from mailbot.store.db import upgrade
from mailbot.store.direct import insert_values, sqlite_form
from mailbot.store.models import Community, Member, Message, Outbox, OutboxRecipient
from mailbot.store.sqlite_driver import dbapi as sqlite_dbapi

MESSAGES, OUTBOX, RCPTS, MEMBERS, REFS = (
    cast(Table, m.__table__) for m in (Message, Outbox, OutboxRecipient, Member, ThreadRef)
)
DUPLICATE = select(MESSAGES.c.id).where(
    (MESSAGES.c.community_id == bindparam("cid")) & (MESSAGES.c.message_id == bindparam("mid"))
    | (MESSAGES.c.content_hash == bindparam("digest"))
).limit(1)
MEMBER = select(MEMBERS.c.id, MEMBERS.c.role, MEMBERS.c.status).where(
    MEMBERS.c.community_id == bindparam("cid"), MEMBERS.c.email == bindparam("email")
)
ADD_REF = insert(REFS)
ADD_MESSAGE = insert(MESSAGES).returning(MESSAGES.c.id)
ADD_OUTBOX = insert(OUTBOX).returning(OUTBOX.c.id)
COPY_MEMBERS = insert(RCPTS).from_select(
    ["outbox_id", "address", "member_id", "verp_token", "status", "attempts", "next_attempt_at", "last_error"],
    select(
        bindparam("box", type_=RCPTS.c.outbox_id.type), MEMBERS.c.email, MEMBERS.c.id, literal(""),
        literal("pending"), literal(0), bindparam("now", type_=RCPTS.c.next_attempt_at.type), literal(""),
    ).where(
        MEMBERS.c.community_id == bindparam("cid"), MEMBERS.c.status == "active", MEMBERS.c.delivery == "each",
        MEMBERS.c.email != bindparam("sender"),
    ),
)  # fmt: skip
CLAIM = (
    update(RCPTS)
    .where(RCPTS.c.outbox_id == bindparam("box"))
    .values(attempts=RCPTS.c.attempts + 1)
    .returning(RCPTS.c.address)
)
RECORD = update(RCPTS).where(RCPTS.c.outbox_id == bindparam("box")).values(status="sent", sent_at=bindparam("at"))


ROUND = 8  # posts sent per outcome commit in the overlapped variant: mailbot's crash bound, in posts


def promised_engine(db_path: str, members: int) -> tuple[Engine, int]:
    """A SQLite engine on mailbot's schema (its migrations) with mailbot's pragmas and BEGIN IMMEDIATE,
    holding the km-it community and `members` active members; returns it and the community's id."""
    engine = create_engine(f"sqlite:///{db_path}", module=sqlite_dbapi)  # the library mailbot uses
    upgrade(engine)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi: Any, _record: Any) -> None:
        dbapi.isolation_level = None
        dbapi.execute("PRAGMA journal_mode=WAL")
        dbapi.execute("PRAGMA synchronous=NORMAL")

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    engine.dispose()  # connections from here on get the pragmas above
    now = datetime.now(UTC)
    with engine.begin() as conn:
        cid = conn.execute(insert(Community.__table__).returning(Community.__table__.c.id),
                           {"slug": "km-it", "name": "KM-IT", "address": "km-it@example.org",
                            "created_at": now}).scalar_one()  # fmt: skip
        conn.execute(insert(MEMBERS), [
            {"community_id": cid, "email": f"member{i:06d}@example.org", "name": "", "section": "",
             "role": "member", "status": "active", "delivery": "each", "joined_at": now,
             "verp_token": f"t{i}", "bounce_score": 0.0, "disabled_reason": "", "intro": "", "expertise": ""}
            for i in range(members)
        ])  # fmt: skip
    return engine, cid


def store_promised(conn: Connection, cid: int, raw: bytes, source: str) -> int:
    """Parse `raw` with mail-parser and write what mailbot's promises need, in the caller's open
    transaction: the duplicate probe, the sender's member row, the thread_refs row, the message, the
    outbox row (the post's bytes as they came: no list copy is composed) and its recipients copied
    from the members table. Returns the outbox row's id."""
    parsed = mailparser.parse_from_bytes(raw)
    mid = (parsed.message_id or "").strip("<> ")
    frm = parsed.from_[0][1].lower() if parsed.from_ else ""
    at = datetime.now(UTC)
    digest = hashlib.sha256(raw).hexdigest()
    if conn.execute(DUPLICATE, {"cid": cid, "mid": mid, "digest": digest}).first() is not None:
        # Every bench post is new: a hit would skip the work and inflate the floor.
        raise RuntimeError(f"floor: post {mid!r} taken for a duplicate")
    member = conn.execute(MEMBER, {"cid": cid, "email": frm}).first()
    conn.execute(ADD_REF, {"community_id": cid, "message_id": mid, "parent_id": None, "seen": True})
    pk = conn.execute(ADD_MESSAGE, {
        "community_id": cid, "source": source, "source_ref": "floor", "message_id": mid,
        "content_hash": digest, "raw": raw, "size": len(raw), "received_at": at,
        "from_email": frm, "from_name": "", "subject": parsed.subject or "", "address_role": "post",
        "kind": "post", "rule": "", "status": "processed", "reason": "",
        "member_id": member.id if member else None, "thread_id": None, "body_text": parsed.body,
        "defects": "",
    }).scalar_one()  # fmt: skip
    box = conn.execute(ADD_OUTBOX, {
        "community_id": cid, "source_message_id": pk, "kind": "list-copy", "verp": False,
        "mail_from": "km-it-bounces@example.org", "data": raw, "created_at": at,
    }).scalar_one()  # fmt: skip
    conn.execute(COPY_MEMBERS, {"box": box, "now": at, "cid": cid, "sender": frm})
    return int(box)


def main(argv: list[str]) -> None:
    sink_port, db_path, members = int(argv[0]), argv[1], int(argv[2])
    mode = argv[3] if len(argv) > 3 else ""
    overlap, lean = mode in ("overlap", "lean"), mode == "lean"
    engine, cid = promised_engine(db_path, members)
    sender = PipeliningClient("127.0.0.1", sink_port, helo="floor.example.org")
    conn = engine.connect()  # one connection, as one listener loop would hold
    jobs: queue.SimpleQueue[tuple[int, list[str], bytes]] = queue.SimpleQueue()

    def send(rcpts: list[str], raw: bytes) -> None:
        wired = wire(raw)
        for start in range(0, len(rcpts), 100):
            sender.send("km-it-bounces@example.org", rcpts[start : start + 100], wired)

    def deliver() -> None:
        """The overlapped variant's sender: what is queued (up to ROUND posts) is sent, then recorded."""
        out = engine.connect()
        lean_out = LeanPromisedStore(engine, cid) if lean else None
        while True:
            batch = [jobs.get()]
            while len(batch) < ROUND:
                try:
                    batch.append(jobs.get_nowait())
                except queue.Empty:
                    break
            for _box, rcpts, raw in batch:
                send(rcpts, raw)
            if lean_out is not None:
                lean_out.record([box for box, _, _ in batch])
                continue
            at = datetime.now(UTC)
            with out.begin():
                out.execute(RECORD, [{"box": box, "at": at} for box, _, _ in batch])

    if overlap:
        threading.Thread(target=deliver, daemon=True).start()
    lean_in = LeanPromisedStore(engine, cid) if lean else None

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            raw = envelope.original_content or envelope.content
            if lean_in is not None:
                jobs.put((*lean_in.store_and_claim(raw, "smtp"), raw))
                return "250 OK"
            with conn.begin():
                box = store_promised(conn, cid, raw, "smtp")
                # The first attempt is counted in the same commit (one commit fewer than mailbot,
                # whose delivery thread claims what is due in a transaction of its own).
                rcpts = [row.address for row in conn.execute(CLAIM, {"box": box})]
            if overlap:
                jobs.put((box, rcpts, raw))
                return "250 OK"
            send(rcpts, raw)
            with conn.begin():
                conn.execute(RECORD, {"box": box, "at": datetime.now(UTC)})
            return "250 OK"

    serve(Handler(), whole_data=lean)



class LeanPromisedStore:
    """`store_promised`'s statements and commit, each compiled once by SQLAlchemy and run straight
    on the SQLite driver's cursor: the leanest way these parts can keep the promises. Compiled with
    mailbot's `direct.sqlite_form` (once, at start; it refuses a statement that would need values
    SQLAlchemy fills in); each post's values are converted here, with no mailbot code."""

    def __init__(self, engine: Engine, cid: int) -> None:
        self.cid = cid
        self.dbapi_conn = engine.raw_connection()
        self.cur = self.dbapi_conn.cursor()
        d = engine.dialect
        message_cols = ("community_id", "source", "source_ref", "message_id", "content_hash", "raw", "size",
                        "received_at", "from_email", "from_name", "subject", "address_role", "kind", "rule",
                        "status", "reason", "member_id", "thread_id", "body_text", "defects")  # fmt: skip
        outbox_cols = ("community_id", "source_message_id", "kind", "verp", "mail_from", "data", "created_at")
        self.forms = {
            "duplicate": sqlite_form(DUPLICATE, d),
            "member": sqlite_form(MEMBER, d),
            "ref": sqlite_form(insert_values(REFS, ("community_id", "message_id", "parent_id", "seen")), d),
            "message": sqlite_form(insert_values(MESSAGES, message_cols, "id"), d),
            "outbox": sqlite_form(insert_values(OUTBOX, outbox_cols, "id"), d),
            "recipients": sqlite_form(COPY_MEMBERS, d),
            "claim": sqlite_form(CLAIM, d),
            "record": sqlite_form(RECORD, d),
        }

    def _run(self, form: str, values: dict[str, Any]) -> Any:
        sql, order = self.forms[form]
        args = [convert(values.get(n, const)) if convert else values.get(n, const) for n, convert, const in order]
        return self.cur.execute(sql, args)

    def store(self, raw: bytes, source: str) -> int:
        return self.store_and_claim(raw, source, claim=False)[0]

    def store_and_claim(self, raw: bytes, source: str, claim: bool = True) -> tuple[int, list[str]]:
        """As `store`, and with `claim` the first attempt of every recipient counted in the same
        commit (the peer floor's CLAIM); returns the outbox id and the recipients' addresses."""
        parsed = mailparser.parse_from_bytes(raw)
        mid = (parsed.message_id or "").strip("<> ")
        frm = parsed.from_[0][1].lower() if parsed.from_ else ""
        at = datetime.now(UTC)
        digest = hashlib.sha256(raw).hexdigest()
        cid = self.cid
        self.cur.execute("BEGIN IMMEDIATE")
        try:
            if self._run("duplicate", {"cid": cid, "mid": mid, "digest": digest}).fetchone() is not None:
                raise RuntimeError(f"floor: post {mid!r} taken for a duplicate")
            member = self._run("member", {"cid": cid, "email": frm}).fetchone()
            self._run("ref", {"community_id": cid, "message_id": mid, "parent_id": None, "seen": True})
            pk = self._run("message", {
                "community_id": cid, "source": source, "source_ref": "floor", "message_id": mid,
                "content_hash": digest, "raw": raw, "size": len(raw), "received_at": at,
                "from_email": frm, "from_name": "", "subject": parsed.subject or "", "address_role": "post",
                "kind": "post", "rule": "", "status": "processed", "reason": "",
                "member_id": member[0] if member else None, "thread_id": None, "body_text": parsed.body,
                "defects": "",
            }).fetchone()[0]  # fmt: skip
            box = self._run("outbox", {
                "community_id": cid, "source_message_id": pk, "kind": "list-copy", "verp": False,
                "mail_from": "km-it-bounces@example.org", "data": raw, "created_at": at,
            }).fetchone()[0]  # fmt: skip
            self._run("recipients", {"box": box, "now": at, "cid": cid, "sender": frm})
            rcpts = [row[0] for row in self._run("claim", {"box": box}).fetchall()] if claim else []
        except BaseException:
            self.cur.execute("ROLLBACK")
            raise
        self.cur.execute("COMMIT")
        return int(box), rcpts

    def record(self, boxes: list[int]) -> None:
        """The outcome of `boxes`' copies, all sent, in one commit (the peer floor's RECORD)."""
        at = datetime.now(UTC)
        self.cur.execute("BEGIN IMMEDIATE")
        for box in boxes:
            self._run("record", {"box": box, "at": at})
        self.cur.execute("COMMIT")

    def close(self) -> None:
        self.dbapi_conn.close()


if __name__ == "__main__":
    main(sys.argv[1:])
