"""Case 3: IMAP APPEND to the first copy at the SMTP sink, mailbot running under IDLE, at 1 and 20 msgs/s.

Beside it, Dovecot's own floor: how long a bare IDLE client waits for the EXISTS of an APPEND.
"""

from __future__ import annotations

import re
import threading
import time

from imapclient import IMAPClient

from bench import setup
from bench.context import Bench
from bench.corpus import message
from bench.measure import Figure, percentile
from bench.report import Row
from bench.servers import TimestampSink

TAG = re.compile(rb"lat-(\d+)-")


def idle_floor(bench: Bench, samples: int) -> list[float]:
    """Seconds from APPEND completing to the EXISTS push on another connection in IDLE."""
    dovecot = bench.servers.dovecot
    user, _ = bench.servers.imap_user()
    watcher = dovecot.client(user)
    watcher.select_folder("INBOX")
    out: list[float] = []
    with dovecot.client(user) as appender:
        for i in range(samples):
            watcher.idle()
            time.sleep(0.3)  # let IDLE settle, as a long-waiting client would be
            appender.append("INBOX", message(i, "x@example.org", setup.LIST))
            t0 = time.monotonic()
            while True:
                got = watcher.idle_check(timeout=10)
                if any(isinstance(r, tuple) and r[1:2] == (b"EXISTS",) for r in got):
                    out.append(time.monotonic() - t0)
                    break
                if time.monotonic() - t0 > 10:
                    raise RuntimeError("Dovecot never announced the new message")
            watcher.idle_done()
    watcher.logout()
    return out


def under_idle(bench: Bench, rate: float, seconds: float) -> list[float]:
    """Per-message seconds from APPEND done to the first list copy at the sink, at `rate` msgs/s."""
    servers = bench.servers
    sink = TimestampSink()
    sink.start()
    user, password = servers.imap_user()
    imap = setup.imap_settings(servers.dovecot.host, servers.dovecot.port, user, password)
    url = servers.sqlite_url("latency")
    stop, ready = threading.Event(), threading.Event()
    app = setup.app(setup.settings(url, bench.workdir / "data", smtp_port=sink.port, imap=imap))
    app.settings.smtp.poll_seconds = 1.0
    setup.add_members(app, 3)
    runner = threading.Thread(target=app.run, args=(stop, ready.set), daemon=True)
    runner.start()
    count = max(1, int(rate * seconds))
    appended: dict[int, float] = {}
    try:
        if not ready.wait(30):
            raise RuntimeError("mailbot did not start")
        time.sleep(1.5)  # until the IMAP thread sits in IDLE
        client: IMAPClient = servers.dovecot.client(user)
        t_start = time.monotonic()
        for i in range(count):
            due = t_start + i / rate
            time.sleep(max(0.0, due - time.monotonic()))
            # Tagged in the Message-ID, which the list copy keeps (a Thai subject gets RFC 2047-encoded).
            raw = message(i, setup.member_email(0), setup.LIST).replace(b"Message-ID: <", f"Message-ID: <lat-{i}-".encode(), 1)
            client.append("INBOX", raw)
            appended[i] = time.monotonic()
        client.logout()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            seen = {int(m.group(1)) for _, data in list(sink.arrivals) if (m := TAG.search(data[:8000]))}
            if len(seen) >= count:
                break
            time.sleep(0.1)
    finally:
        stop.set()
        runner.join(30)
        sink.stop()
        app.engine.dispose()
        servers.drop(url)
    first: dict[int, float] = {}
    for when, data in sink.arrivals:
        m = TAG.search(data[:8000])
        if m:
            first.setdefault(int(m.group(1)), when)
    missing = count - len(first)
    if missing:
        raise RuntimeError(f"{missing} of {count} messages never reached the sink")
    return [first[i] - appended[i] for i in range(count)]


def run(bench: Bench) -> None:
    floor = idle_floor(bench, bench.size(3, 15))
    f50, f99 = Figure([percentile(floor, 50)]), Figure([percentile(floor, 99)])
    bench.add(Row("latency", f"Dovecot IDLE notify floor, {len(floor)} APPENDs", "p50 s", f50))
    bench.add(Row("latency", f"Dovecot IDLE notify floor, {len(floor)} APPENDs", "p99 s", f99))
    for rate, seconds in ((1.0, bench.size(3, 20)), (20.0, bench.size(1, 10))):
        p50, p99 = Figure(), Figure()
        samples = 0
        for _ in range(bench.runs):
            lat = under_idle(bench, rate, seconds)
            samples = len(lat)
            p50.add(percentile(lat, 50))
            p99.add(percentile(lat, 99))
        label = f"{rate:g} msgs/s under IDLE, {samples} msgs per run"
        bench.add(Row("latency", label, "p50 s", p50, f50.median, "floor p50",
                      "<= floor + 0.3 s", p50.median <= f50.median + 0.3))  # fmt: skip
        bench.add(Row("latency", label, "p99 s", p99, f99.median, "floor p99",
                      "<= floor + 1 s", p99.median <= f99.median + 1.0))  # fmt: skip
