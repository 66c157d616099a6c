"""Case 7: N posts to a list of M members, injected over SMTP, delivered to the sink: posts/s and CPU per post.

mailbot runs as its own `mailbot run` process with the SMTP listener. GNU Mailman 3 runs the same workload
(over LMTP, its runners on SQLite, the same sink) only with --with-mailman (bench/mailman.py installs it).
"""

from __future__ import annotations

import os
import smtplib
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

from sqlalchemy import Engine, func, select

from bench import setup
from bench.context import Bench
from bench.corpus import message
from bench.mailman import Run as Mailman
from bench.measure import Figure, FirstSeen, rss_mib, stop_process
from bench.report import Row
from bench.servers import REPO, free_port
from mailbot.store.db import make_engine
from mailbot.store.models import OutboxRecipient
from mailbot.store.sqlite_driver import dbapi as sqlite3


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def any_sent(engine: Engine) -> bool:
    with engine.connect() as conn:
        return conn.scalar(select(OutboxRecipient.id).where(OutboxRecipient.status == "sent").limit(1)) is not None


def mailbot_once(bench: Bench, posts: int, members: int) -> tuple[float, float, float, float]:
    """(posts/s from the first injection to the last copy accepted by the sink, CPU ms per post,
    seconds from the first injection to the first copy sent, RSS MiB at the end)."""
    servers = bench.servers
    url = servers.sqlite_url("peer")
    port = free_port()
    app = setup.app(setup.settings(url, bench.workdir / "data"))
    setup.add_members(app, members)
    app.engine.dispose()
    cfg = bench.workdir / f"peer-{port}.toml"
    cfg.write_text(
        f"""log_level = "WARNING"
[database]
url = "{url}"
[paths]
data_dir = "{bench.workdir / 'data'}"
[inbound_smtp]
enabled = true
port = {port}
[smtp]
host = "127.0.0.1"
port = {servers.sink.port}
{setup.limits_toml()}[[community]]
slug = "km-it"
address = "{setup.LIST}"
subject_prefix = "[KM-IT]"
verp = false
""",
        encoding="utf-8",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "mailbot", "--config", str(cfg), "run"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=dict(os.environ),
    )  # fmt: skip
    engine = make_engine(url)
    watch_engine = make_engine(url)  # the watcher thread's own connections
    raws = [message(i, setup.member_email(i % members), setup.LIST, seed=7) for i in range(posts)]
    first = 0.0
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                client = smtplib.SMTP("127.0.0.1", port, timeout=30)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                    raise RuntimeError(f"mailbot SMTP listener did not come up: {err[-1500:]}") from None
                time.sleep(0.05)
        cpu0 = cpu_seconds(proc.pid)
        # Watched while the posts go in: mailbot delivers each post while taking the next.
        watcher = FirstSeen(lambda: any_sent(watch_engine)).start()
        t0 = time.monotonic()
        for raw in raws:
            client.sendmail(setup.member_email(0), [setup.LIST], raw)
        client.quit()
        first_at = watcher.stop()
        want = posts * (members - 1)
        sent = 0
        while time.monotonic() - t0 < 600:
            with engine.connect() as conn:
                sent = conn.scalar(
                    select(func.count()).select_from(OutboxRecipient).where(OutboxRecipient.status == "sent")
                ) or 0
            if sent and first_at is None:
                first_at = time.monotonic()
            if sent >= want:
                break
            time.sleep(0.02)
        elapsed = time.monotonic() - t0
        cpu = cpu_seconds(proc.pid) - cpu0
        rss = rss_mib(proc.pid)
        if sent < want:
            raise RuntimeError(f"only {sent} of {want} copies were sent")
        first = (first_at or time.monotonic()) - t0
    finally:
        stop_process(proc)
        engine.dispose()
        watch_engine.dispose()
        servers.drop(url)
    return posts / elapsed, cpu * 1000 / posts, first, rss


def floor_once(
    bench: Bench, posts: int, members: int, floor: str = "bench.peer_floor", overlap: bool = False, lean: bool = False
) -> float:
    """posts/s of the same workload through the parts alone (no mailbot code): bench/peer_floor.py
    (the SMTP listener, the parser, one commit and the sending each post needs at least) or
    bench/peer_floor_promised.py (the same, storing through SQLAlchemy what mailbot's promises need;
    with `overlap`, sending behind the 250 as mailbot does, timed to the last copy recorded as sent)."""
    db = bench.workdir / f"peer-floor-{time.monotonic_ns()}.sqlite"
    proc = subprocess.Popen(
        [sys.executable, "-m", floor, str(bench.servers.sink.port), str(db), str(members)]
        + (["lean"] if lean else ["overlap"] if overlap else []),
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.strip().isdigit():
            err = proc.stderr.read() if proc.stderr else ""
            raise RuntimeError(f"peer floor did not start: {line!r} {err[-1500:]}")
        raws = [message(i, setup.member_email(i % members), setup.LIST, seed=7) for i in range(posts)]
        client = smtplib.SMTP("127.0.0.1", int(line), timeout=60)
        t0 = time.monotonic()
        for raw in raws:  # without overlap each 250 comes after the post was stored and sent to every member
            client.sendmail(setup.member_email(0), [setup.LIST], raw)
        if overlap or lean:  # as mailbot_once: done when every copy is recorded as sent
            wait_sent(db, posts * (members - 1), t0 + 600)
        elapsed = time.monotonic() - t0
        client.quit()
    finally:
        proc.kill()
        proc.wait()
        for pipe in (proc.stdout, proc.stderr):
            if pipe:
                pipe.close()
        db.unlink(missing_ok=True)
    return posts / elapsed


def wait_sent(db: Path, want: int, deadline: float) -> None:
    """Poll the floor's database (its own read connection, as mailbot_once) until `want` copies are sent."""
    with closing(sqlite3.connect(db, timeout=30)) as conn:
        while time.monotonic() < deadline:
            if conn.execute("SELECT count(*) FROM outbox_recipients WHERE status = 'sent'").fetchone()[0] >= want:
                return
            time.sleep(0.02)
    raise RuntimeError(f"the overlapped floor did not send {want} copies in time")


def mailman_rows(
    bench: Bench,
    mm: Mailman,
    posts: int,
    members: int,
    mailbot: Figure,
    floors: list[tuple[str, Figure, str]] | None = None,
) -> None:
    """Mailman's own figures for one workload, then each floor's (name, posts/s, note) and mailbot's
    posts/s as a multiple of Mailman's."""
    peer = mm.results.get((posts, members))
    if peer is None:
        return
    label = f"Mailman {mm.version}: {posts} posts -> {members} members, LMTP in, SQLite, VERP off"
    bench.add(Row("peer", label, "posts/s", peer.rate))
    bench.add(Row("peer", label, "CPU ms/post", peer.cpu_ms))
    bench.add(Row("peer", label, "recipients/s", Figure([x * (members - 1) for x in peer.rate.runs])))
    bench.add(Row("peer", label, "first delivery s", peer.first_s))
    # Paired by run (mailbot's i-th over Mailman's i-th): the spread shows how steady the ratio is.
    ratio = Figure([a / b for a, b in zip(mailbot.runs, peer.rate.runs, strict=False)])
    need = 10 if members <= 10 else 20
    # What the parts alone would score against Mailman: a target above the best floor is beyond the parts.
    for name, floor, note in floors or []:
        floor_ratio = Figure([a / b for a, b in zip(floor.runs, peer.rate.runs, strict=False)])
        bench.add(Row("peer", f"{name} / Mailman {mm.version}: {posts} posts -> {members} members", "x posts/s",
                      floor_ratio, note=note))  # fmt: skip
    bench.add(Row("peer", f"mailbot / Mailman {mm.version}: {posts} posts -> {members} members", "x posts/s",
                  ratio, target=f">= {need}x", ok=ratio.median >= need))  # fmt: skip


def run(bench: Bench) -> None:
    workloads = [(bench.size(10, 200), 10), (bench.size(4, 40), bench.size(100, 1000))]
    mm: Mailman | None = None
    if bench.with_mailman:
        from bench import mailman

        mm = mailman.run(bench, workloads)
    mailbot_rss = Figure()
    for posts, members in workloads:
        rate, cpu, first = Figure(), Figure(), Figure()
        for _ in range(bench.runs):
            r, c, f, m = mailbot_once(bench, posts, members)
            rate.add(r)
            cpu.add(c)
            first.add(f)
            mailbot_rss.add(m)
        label = f"mailbot: {posts} posts -> {members} members, SMTP in, VERP off"
        peer = mm.results.get((posts, members)) if mm else None
        peer_rate = peer.rate.median if peer else None
        need = 10 if members <= 10 else 20
        # Judged once, on the paired ratio row below (mailman_rows), so two rows cannot disagree.
        target = f">= {need}x Mailman" + (" (ratio row)" if peer else "")
        bench.add(Row("peer", label, "posts/s", rate, peer_rate, "Mailman 3 posts/s" if peer else "", target))
        bench.add(Row("peer", label, "CPU ms/post", cpu))
        bench.add(Row("peer", label, "recipients/s", Figure([x * (members - 1) for x in rate.runs]),
                      bench.limits.get("sink-rcpts-s-100"), "sink rcpts/s (100/txn)"))  # fmt: skip
        bench.add(Row("peer", label, "first delivery s", first))
        floor = Figure([floor_once(bench, posts, members) for _ in range(bench.runs)])
        bench.add(Row("peer", f"floor: the parts alone, {posts} posts -> {members} members (aiosmtpd in, mail-parser, "
                      "one SQLite commit, one pipelined SMTP transaction per 100 members; no mailbot code)",
                      "posts/s", floor))  # fmt: skip
        promised = Figure([floor_once(bench, posts, members, "bench.peer_floor_promised") for _ in range(bench.runs)])
        bench.add(Row("peer", f"floor with the promised statements, {posts} posts -> {members} members (as above, "
                      "but stored through SQLAlchemy 2 Core on mailbot's schema: duplicate probe, member, thread ref, "
                      "message, outbox + recipients and their attempt counted in one commit; the outcome in a second)",
                      "posts/s", promised))  # fmt: skip
        overlapped = Figure([floor_once(bench, posts, members, "bench.peer_floor_promised", overlap=True)
                             for _ in range(bench.runs)])  # fmt: skip
        bench.add(Row("peer", f"floor with the promised statements, sending overlapped, {posts} posts -> {members} "
                      "members (as above, but the 250 after the first commit, as mailbot; a sender thread sends and "
                      "records up to 8 posts per commit; timed to the last copy recorded)", "posts/s", overlapped))  # fmt: skip
        lean = Figure([floor_once(bench, posts, members, "bench.peer_floor_promised", lean=True)
                       for _ in range(bench.runs)])  # fmt: skip
        bench.add(Row("peer", f"floor with the promised statements, lean, {posts} posts -> {members} members (as the "
                      "row above, but each message's DATA in one read and every statement compiled once and run on "
                      "the SQLite driver, as mailbot does)", "posts/s", lean))  # fmt: skip
        if mm is not None:
            mailman_rows(bench, mm, posts, members, rate, [
                ("floor (the parts alone)", floor, "no mailbot code: listener, parser, one commit, sending"),
                ("floor with the promised statements", promised,
                 "no mailbot code: SQLAlchemy Core, mailbot's schema, 2 commits per post"),
                ("floor with the promised statements, sending overlapped", overlapped,
                 "no mailbot code: as the row above, 250 after the first commit, sending in a thread"),
                ("floor with the promised statements, lean", lean,
                 "no mailbot code: as the row above, DATA in one read, statements on the SQLite driver"),
            ])  # fmt: skip
    bench.add(Row("peer", "mailbot: its one process, end of each workload run", "RSS MiB", mailbot_rss))
    if mm is not None:
        bench.add(Row("peer", f"Mailman {mm.version}: all {mm.processes} processes, after the workloads",
                      "RSS MiB (sum)", Figure([mm.rss_mib])))  # fmt: skip
        if mm.pss_mib:  # RSS counts the pages the runners share once per process; PSS does not
            bench.add(Row("peer", f"Mailman {mm.version}: all {mm.processes} processes, after the workloads",
                          "PSS MiB (sum)", Figure([mm.pss_mib])))  # fmt: skip
        if mm.start_to_first_s is not None:
            bench.add(Row("peer", f"Mailman {mm.version}: `mailman start` to first delivery", "s",
                          Figure([mm.start_to_first_s])))  # fmt: skip
