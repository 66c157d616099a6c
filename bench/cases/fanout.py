"""Case 2 (and 6): one post to M members, VERP on and off, through the outbox and SMTP to the fast sink."""

from __future__ import annotations

import time

from bench import setup
from bench.context import Bench
from bench.corpus import message
from bench.measure import Figure, timed
from bench.pipelining import rounds_floor, wire
from bench.report import Row
from mailbot.config import SmtpSettings
from mailbot.mail.smtp import Envelope, SmtpSender


def once(bench: Bench, members: int, verp: bool, inflight: int | None = None) -> tuple[float, float, float]:
    """(seconds from ingest to the last recipient accepted, seconds of that spent queuing, CPU s);
    `inflight`: smtp.inflight_per_connection, when not the default."""
    servers = bench.servers
    url = servers.sqlite_url("fanout")
    try:
        settings = setup.settings(url, bench.workdir / "data", smtp_port=servers.sink.port, verp=verp)
        if inflight is not None:
            settings.smtp.inflight_per_connection = inflight
        app = setup.app(settings)
        setup.add_members(app, members)
        raw = message(1, setup.member_email(0), setup.LIST, seed=members)
        with timed() as span:
            with timed() as queued:
                result = app.ingest(raw, source="bench", source_ref="fanout")
            stats = app.deliverer.drain()
        app.sender.close()
        app.engine.dispose()
        if result.status != "processed" or stats.sent != members - 1:
            raise RuntimeError(f"fan-out: {result.status} {result.reason}; sent {stats.sent} of {members - 1}")
        return span.wall, queued.wall, span.cpu
    finally:
        servers.drop(url)


def sender_alone(bench: Bench, count: int, per_call: int) -> float:
    """Envelopes/s of mailbot's SMTP sender alone (no database): `count` VERP envelopes of one
    post, handed over `per_call` at a time, as the delivery rounds do."""
    sender = SmtpSender(SmtpSettings(host="127.0.0.1", port=bench.servers.sink.port, timeout=30))
    data = message(1, setup.member_email(0), setup.LIST, seed=count)
    envelopes = [Envelope(f"km-it-bounces+t{i}@example.org", [setup.member_email(i)], data) for i in range(count)]
    try:
        start = time.perf_counter()
        for i in range(0, count, per_call):
            results = sender.send_many(envelopes[i : i + per_call])
            if any(not r.accepted for r in results):
                raise RuntimeError("the sink refused an envelope")
        return count / (time.perf_counter() - start)
    finally:
        sender.close()


def run(bench: Bench) -> None:
    sizes = bench.growth(100, 1000)
    if not bench.quick and 10_000 not in sizes:
        sizes.append(10_000)
    if bench.large:
        sizes.append(100_000)  # growth: 10x the largest list as well
    for verp in (False, True):
        limit_key = "sink-msgs-s" if verp else "sink-rcpts-s-100"
        limit = bench.limits.get(limit_key)
        for members in sizes:
            secs, queue, cpu, rate = Figure(), Figure(), Figure(), Figure()
            for _ in range(bench.runs):
                wall, q, c = once(bench, members, verp)
                secs.add(wall)
                queue.add(q)
                cpu.add(c)
                rate.add((members - 1) / wall)
            label = f"1 post -> {members} members, VERP {'on' if verp else 'off'}"
            secs_target = "<= 2 s" if not verp and members == 10_000 else ""
            bench.add(Row("fanout", label, "s total", secs, target=secs_target,
                          ok=secs.median <= 2.0 if secs_target else None))  # fmt: skip
            bench.add(Row("fanout", label, "s to queue (ingest)", queue))
            bench.add(Row("fanout", label, "CPU s", cpu))
            lbl = "sink msgs/s (1 rcpt/txn)" if verp else "sink rcpts/s (100/txn)"
            ok = None if limit is None or not verp else rate.median >= 0.5 * limit
            bench.add(Row("fanout", label, "rcpts/s", rate, limit, lbl, ">= 50% of sink" if verp else "", ok))
    # The operator's trade-off, measured: bigger delivery rounds (more envelopes sent per status
    # commit) against more copies sent twice after a crash (at most one round).
    members = bench.size(1000, 10_000)
    smtp = SmtpSettings()  # the defaults: what a deployment delivers with unless configured
    for inflight in (4, 8):
        per_round = smtp.connections * inflight
        rate = Figure([(members - 1) / once(bench, members, True, inflight)[0] for _ in range(bench.runs)])
        bench.add(Row("fanout", f"1 post -> {members} members, VERP on, inflight_per_connection = {inflight} "
                      f"(rounds of {per_round}: up to {per_round} copies re-sent after a crash)", "rcpts/s", rate,
                      bench.limits.get("sink-msgs-s"), "sink msgs/s (1 rcpt/txn)"))  # fmt: skip
    # What the sender alone can do (no database), in the delivery rounds' size and in one call:
    # the rounds are the bound on re-sends after a crash (at most one round sent but unrecorded).
    count = bench.size(200, 10_000)
    per_round = smtp.connections * smtp.inflight_per_connection
    for per_call, what in ((per_round, f"rounds of {per_round} (the delivery default)"), (count, "all in one call")):
        fig = Figure([sender_alone(bench, count, per_call) for _ in range(bench.runs)])
        bench.add(Row("limits", f"mailbot's SMTP sender alone, no database: {count} VERP envelopes, {what}",
                      "envelopes/s", fig, bench.limits.get("sink-msgs-s"), "sink msgs/s (1 rcpt/txn)"))  # fmt: skip
    # The floor under the crash bound: the same rounds through the parts alone (the leanest client,
    # one raw SQLite commit per round recording it and counting the next), no mailbot code.
    data = wire(message(1, setup.member_email(0), setup.LIST, seed=count))
    sink = bench.servers.sink
    for inflight in (smtp.inflight_per_connection, 4, 8):
        per_round = smtp.connections * inflight
        fig = Figure()
        for run in range(bench.runs):
            db = bench.workdir / f"rounds-floor-{per_round}-{run}.sqlite"
            fig.add(rounds_floor(sink.host, sink.port, data, str(db), envelopes=count,
                                 connections=smtp.connections, per_connection=inflight))  # fmt: skip
        bench.add(Row("limits", f"floor: {count} VERP envelopes in rounds of {per_round}, each round committed to "
                      "SQLite before the next (the parts alone: leanest client, raw sqlite3; no mailbot code)",
                      "envelopes/s", fig, bench.limits.get("sink-msgs-s"), "sink msgs/s (1 rcpt/txn)"))  # fmt: skip
