"""Case 1 (and 6): IMAP fetch -> parse -> classify -> store, from a real Dovecot, against the bare parser."""

from __future__ import annotations

import threading

from bench import setup
from bench.context import Bench
from bench.corpus import messages
from bench.mailbox import fill
from bench.measure import Figure, timed
from bench.report import Row

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
