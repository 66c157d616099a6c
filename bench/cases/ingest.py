"""Case 1 (and 6): IMAP fetch -> parse -> classify -> store, from a real Dovecot, against the bare parser.

Beside it, two floors: the same messages through the parts alone (fetch, mail-parser, one commit per
message, move) with no mailbot code, to show how much of the parser's rate the parts leave; and the
same with the statements mailbot's promises need in that commit, to show what is left once they are kept.
"""

from __future__ import annotations

import threading

import mailparser
from sqlalchemy import Engine, func, select

from bench import setup
from bench.context import Bench
from bench.corpus import messages
from bench.mailbox import fill
from bench.measure import Figure, timed
from bench.peer_floor_promised import LeanPromisedStore, promised_engine, store_promised
from bench.report import Row
from mailbot.config import ImapSettings
from mailbot.store.db import make_engine
from mailbot.store.models import Message, OutboxRecipient

MEMBERS = 10


def once(bench: Bench, db: str, raws: list[bytes]) -> tuple[float, float, float] | None:
    """(msgs/s, CPU s, peak RSS MiB) for one ingest of `raws` into an empty database."""
    servers = bench.servers
    url = servers.sqlite_url("ingest") if db == "sqlite" else servers.pg_url()
    if url is None:
        return None
    user, password = servers.imap_user()
    fill(servers.dovecot, user, raws)
    imap = setup.imap_settings(servers.dovecot.host, servers.dovecot.port, user, password)
    try:
        app = setup.app(setup.settings(url, bench.workdir / "data", smtp_port=servers.sink.port, imap=imap))
        setup.add_members(app, MEMBERS)
        stop = threading.Event()
        [source] = app.imap_sources(stop)
        with timed() as span:
            count = source.drain()
        source.close()
        app.engine.dispose()
        if count != len(raws):
            raise RuntimeError(f"ingested {count} of {len(raws)} messages")
        return count / span.wall, span.cpu, span.peak_rss_mib
    finally:
        servers.drop(url)


def floor_once(bench: Bench, raws: list[bytes], promised: str = "") -> float:
    """msgs/s of the parts alone on `raws`: Dovecot FETCH in mailbot's batch size, mail-parser, one
    SQLite commit per message (mailbot's pragmas), UID MOVE per batch. No mailbot code.

    Plain, the commit holds one INSERT of the raw bytes. `promised="core"`: what mailbot's promises
    need, through SQLAlchemy Core on mailbot's schema (bench/peer_floor_promised.py's statements:
    the duplicate probe, the sender's member row, the thread ref, the message, the outbox row and its
    recipients copied from the members table), so a message leaves the folder only once nothing of
    it can be lost and its copies are queued. `promised="driver"`: the same statements compiled once
    and run on the SQLite driver's cursor, the leanest way these parts can do it."""
    servers = bench.servers
    url = servers.sqlite_url("ingest-floor")
    user, password = servers.imap_user()
    fill(servers.dovecot, user, raws)
    if promised == "core":
        engine, cid = promised_engine(url[len("sqlite:///") :], MEMBERS)
        conn = engine.connect()

        def store(raw: bytes) -> None:
            with conn.begin():
                store_promised(conn, cid, raw, "imap")

        closing = conn.close
    elif promised == "driver":
        engine, cid = promised_engine(url[len("sqlite:///") :], MEMBERS)
        lean = LeanPromisedStore(engine, cid)

        def store(raw: bytes) -> None:
            lean.store(raw, "imap")

        closing = lean.close
    else:
        engine = make_engine(url)
        raw_conn = engine.raw_connection()
        cur = raw_conn.cursor()
        cur.execute("CREATE TABLE m (id INTEGER PRIMARY KEY, message_id TEXT, raw BLOB)")

        def store(raw: bytes) -> None:
            parsed = mailparser.parse_from_bytes(raw)
            cur.execute("BEGIN IMMEDIATE")
            cur.execute("INSERT INTO m (message_id, raw) VALUES (?, ?)", (parsed.message_id, raw))
            cur.execute("COMMIT")

        closing = raw_conn.close
    try:
        try:
            batch = ImapSettings().fetch_batch
            with servers.dovecot.client(user) as imap:
                if not imap.folder_exists("floor-done"):
                    imap.create_folder("floor-done")
                imap.select_folder("INBOX")
                with timed() as span:
                    uids = sorted(imap.search(["NOT", "DELETED"]))
                    for start in range(0, len(uids), batch):
                        chunk = uids[start : start + batch]
                        fetched = imap.fetch(chunk, ["BODY.PEEK[]"])
                        for uid in chunk:
                            store(bytes(fetched[uid][b"BODY[]"]))
                        imap.move(chunk, "floor-done")
        finally:
            closing()
        if len(uids) != len(raws):
            raise RuntimeError(f"floor saw {len(uids)} of {len(raws)} messages")
        if promised:
            check_promised(engine, len(raws))
        return len(raws) / span.wall
    finally:
        engine.dispose()
        servers.drop(url)


def check_promised(engine: Engine, count: int) -> None:
    """A promised floor that skipped its work would look fast: every message and every member's copy
    (each sender is a member, who gets none) must be in the database."""
    with engine.connect() as conn:
        stored = conn.scalar(select(func.count()).select_from(Message))
        copies = conn.scalar(select(func.count()).select_from(OutboxRecipient))
    if stored != count or copies != count * (MEMBERS - 1):
        raise RuntimeError(f"promised floor stored {stored} of {count} messages, {copies} copies")


def run(bench: Bench) -> None:
    senders = [setup.member_email(i) for i in range(MEMBERS)]
    parse_limit = bench.limits.get("parse-msgs-s")
    # PostgreSQL ingests about a fifth as fast (one round trip per statement): at 10,000 messages times
    # three runs it alone would take ten minutes, so it runs at a fifth of the size.
    for db, base in (("sqlite", 10_000), ("postgresql", 2_000)):
        for size in bench.growth(60, base):
            raws = messages(size, senders, setup.LIST, seed=size)
            rate, cpu, rss = Figure(), Figure(), Figure()
            for _ in range(bench.runs):
                got = once(bench, db, raws)
                if got is None:
                    bench.report.skipped[f"ingest ({db})"] = bench.servers.pg_error or "no database"
                    return
                rate.add(got[0])
                cpu.add(got[1] * 1000 / size)
                rss.add(got[2])
            label = f"{size} msgs ~5 KB, {db}"
            ok = None if parse_limit is None else rate.median >= 0.5 * parse_limit
            bench.add(Row("ingest", label, "msgs/s", rate, parse_limit, "parser msgs/s", ">= 50% of parser", ok))
            bench.add(Row("ingest", label, "CPU ms/msg", cpu))
            bench.add(Row("ingest", label, "peak RSS MiB", rss, note="whole bench process"))
            if db == "sqlite":
                floor = Figure([floor_once(bench, raws) for _ in range(bench.runs)])
                bench.add(Row(
                    "ingest", f"floor: the parts alone on the same {size} msgs (IMAP fetch, mail-parser, "
                    "one SQLite commit per message, IMAP move; no mailbot code)", "msgs/s", floor,
                    parse_limit, "parser msgs/s",
                ))  # fmt: skip
                for how, what in (
                    ("core", "stored through SQLAlchemy 2 Core"),
                    ("driver", "the same statements compiled once and run on the SQLite driver"),
                ):
                    fig = Figure([floor_once(bench, raws, promised=how) for _ in range(bench.runs)])
                    bench.add(Row(
                        "ingest", f"floor with the promised statements on the same {size} msgs, {what} "
                        "(mailbot's schema; duplicate probe, member, thread ref, message, outbox + recipients "
                        "in the one commit)", "msgs/s", fig, parse_limit, "parser msgs/s",
                    ))  # fmt: skip
