"""The one-process targets: `mailbot run` as a real process with 10,000 members and 100,000 stored messages.

Start to first poll (bounded above by: the message waiting in the inbox has been fetched, committed and
moved), start to the last of its copies accepted by the sink, and steady RSS afterwards.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime

from sqlalchemy import func, select

from bench import history, setup
from bench.context import Bench
from bench.corpus import message
from bench.measure import Figure, rss_mib, stop_process
from bench.report import Row
from bench.servers import REPO
from mailbot.store.db import make_engine
from mailbot.store.models import OutboxRecipient

END = datetime(2026, 11, 16, 2, 0, tzinfo=UTC)


def config(bench: Bench, url: str, user: str, password: str) -> str:
    d = bench.servers.dovecot
    path = bench.workdir / f"startup-{user}.toml"
    path.write_text(
        f"""log_level = "WARNING"
[database]
url = "{url}"
[paths]
data_dir = "{bench.workdir / 'data'}"
[imap]
host = "{d.host}"
port = {d.port}
ssl = false
username = "{user}"
password = "{password}"
[smtp]
host = "127.0.0.1"
port = {bench.servers.sink.port}
{setup.limits_toml()}[[community]]
slug = "km-it"
address = "{setup.LIST}"
subject_prefix = "[KM-IT]"
""",
        encoding="utf-8",
    )
    return str(path)


def once(bench: Bench, url: str, members: int, run_no: int) -> tuple[float, float, float, float]:
    """(s to first poll done, s to all copies sent, steady RSS MiB, peak RSS MiB)."""
    servers = bench.servers
    user, password = servers.imap_user()
    servers.dovecot.append(user, "INBOX", message(run_no, setup.member_email(1), setup.LIST, seed=99))
    engine = make_engine(url)
    with engine.connect() as conn:
        before = conn.scalar(select(func.count()).select_from(OutboxRecipient)) or 0
    cfg = config(bench, url, user, password)
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mailbot", "--config", cfg, "run"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=dict(os.environ),
    )  # fmt: skip
    try:
        polled = delivered = 0.0
        deadline = t0 + 120
        while time.monotonic() < deadline and not delivered:
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                raise RuntimeError(f"mailbot exited: {err[-2000:]}")
            now = time.monotonic()
            if not polled and not servers.dovecot.list_uids(user, "INBOX"):
                polled = now - t0
            if polled:
                with engine.connect() as conn:
                    sent = conn.scalar(
                        select(func.count()).select_from(OutboxRecipient).where(OutboxRecipient.status == "sent")
                    )
                if (sent or 0) - before >= members - 1:
                    delivered = now - t0
            time.sleep(0.05)
        if not delivered:
            raise RuntimeError("the waiting message was not delivered within 120 s")
        time.sleep(3)  # steady state: idle in IDLE with everything loaded
        steady, peak = rss_mib(proc.pid), rss_mib(proc.pid, "VmHWM")
    finally:
        stop_process(proc)
        engine.dispose()
    if proc.returncode != 0:
        raise RuntimeError(f"mailbot did not stop cleanly on SIGTERM (exit {proc.returncode})")
    return polled, delivered, steady, peak


def run(bench: Bench) -> None:
    members, messages = bench.size(200, 10_000), bench.size(2_000, 100_000)
    url = bench.servers.sqlite_url("startup")
    try:
        app = setup.app(setup.settings(url, bench.workdir / "data"))
        history.fill(app, members=members, messages=messages, end=END)
        app.engine.dispose()
        poll, sent, steady, peak = Figure(), Figure(), Figure(), Figure()
        for i in range(bench.runs):
            p, s, r, h = once(bench, url, members, i)
            poll.add(p)
            sent.add(s)
            steady.add(r)
            peak.add(h)
        label = f"`mailbot run`, {members:,} members, {messages:,} stored msgs, sqlite"
        bench.add(Row("startup", label, "s start->first poll done", poll, target="<= 2 s", ok=poll.median <= 2.0,
                      note="upper bound: includes fetching, storing and moving the waiting message"))  # fmt: skip
        bench.add(Row("startup", label, "s start->all copies sent", sent))
        bench.add(Row("startup", label, "steady RSS MiB", steady, target="<= 150 MB", ok=steady.median <= 150 / 1.048576))
        bench.add(Row("startup", label, "peak RSS MiB", peak))
    finally:
        bench.servers.drop(url)
