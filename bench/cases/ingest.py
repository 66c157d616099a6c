"""Case 1 (and 6): IMAP fetch -> parse -> classify -> store, from a real Dovecot, against the bare parser.

Beside it, the floor: the same messages through the parts alone (fetch, mail-parser, one commit per
message, move) with no mailbot code, to show how much of the parser's rate the parts leave.
"""

from __future__ import annotations

import threading

import mailparser

from bench import setup
from bench.context import Bench
from bench.corpus import messages
from bench.mailbox import fill
from bench.measure import Figure, timed
from bench.report import Row
from mailbot.config import ImapSettings
from mailbot.store.db import make_engine

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


def floor_once(bench: Bench, raws: list[bytes]) -> float:
    """msgs/s of the parts alone on `raws`: Dovecot FETCH in mailbot's batch size, mail-parser, one
    SQLite INSERT + COMMIT per message (mailbot's pragmas), UID MOVE per batch. No mailbot code."""
    servers = bench.servers
    url = servers.sqlite_url("ingest-floor")
    user, password = servers.imap_user()
    fill(servers.dovecot, user, raws)
    engine = make_engine(url)
    conn = engine.raw_connection()
    try:
        cur = conn.cursor()
        cur.execute("CREATE TABLE m (id INTEGER PRIMARY KEY, message_id TEXT, raw BLOB)")
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
                        raw = bytes(fetched[uid][b"BODY[]"])
                        parsed = mailparser.parse_from_bytes(raw)
                        cur.execute("BEGIN IMMEDIATE")
                        cur.execute("INSERT INTO m (message_id, raw) VALUES (?, ?)", (parsed.message_id, raw))
                        cur.execute("COMMIT")
                    imap.move(chunk, "floor-done")
        if len(uids) != len(raws):
            raise RuntimeError(f"floor saw {len(uids)} of {len(raws)} messages")
        return len(raws) / span.wall
    finally:
        conn.close()
        engine.dispose()
        servers.drop(url)


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
