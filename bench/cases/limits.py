"""Case 8, the machine's limits in this run: mail-parser alone, the SMTP sink alone, the database alone."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from sqlalchemy import text

from bench.context import Bench
from bench.corpus import messages
from bench.measure import Figure
from bench.pipelining import PipeliningClient, multiplexed_rate, wire
from bench.report import Row
from mailbot.store.db import make_engine

SENDERS = ["member000001@example.org"]


def parse_rate(raws: Sequence[bytes]) -> float:
    import mailparser

    start = time.perf_counter()
    for raw in raws:
        mailparser.parse_from_bytes(raw)
    return len(raws) / (time.perf_counter() - start)


def sink_rate(host: str, port: int, data: bytes, *, transactions: int, rcpts_per_txn: int, connections: int) -> float:
    """Recipients per second the sink accepts, `connections` clients in parallel."""
    wired = wire(data)
    per_conn = max(1, transactions // connections)
    errors: list[BaseException] = []

    def work(c: int) -> None:
        envs = [
            (f"bounces+{c}.{t}@example.org", [f"r{c}.{t}.{k}@example.org" for k in range(rcpts_per_txn)])
            for t in range(per_conn)
        ]
        try:
            client = PipeliningClient(host, port)
            for mail_from, rcpts in envs:
                client.send(mail_from, rcpts, wired)
            client.close()
        except BaseException as exc:  # noqa: BLE001 - re-raised below in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(c,)) for c in range(connections)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    return per_conn * connections * rcpts_per_txn / elapsed


def insert_rate(url: str, raws: Sequence[bytes]) -> float:
    """Rows/s for one 5 KB row per committed transaction: what storing one message costs at least."""
    engine = make_engine(url)
    blob = "BYTEA" if url.startswith("postgresql") else "BLOB"
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE bench_insert (id INTEGER PRIMARY KEY, msgid TEXT, raw {blob})"))
    start = time.perf_counter()
    with engine.connect() as conn:
        for i, raw in enumerate(raws):
            conn.execute(text("INSERT INTO bench_insert VALUES (:i, :m, :r)"), {"i": i, "m": f"<{i}@b>", "r": raw})
            conn.commit()
    rate = len(raws) / (time.perf_counter() - start)
    engine.dispose()
    return rate


def run(bench: Bench) -> None:
    raws = messages(bench.size(300, 3000), SENDERS, "km-it@example.org")
    fig = Figure()
    for _ in range(bench.runs):
        fig.add(parse_rate(raws))
    bench.limits["parse-msgs-s"] = fig.median
    bench.add(Row("limits", f"mail-parser alone, {len(raws)} msgs of ~5 KB", "msgs/s", fig))

    sink = bench.servers.sink
    one = raws[0]
    shapes = [
        ("sink-msgs-s", "1 rcpt per transaction (VERP shape), 4 connections", 1, bench.size(400, 8000), "msgs/s"),
        ("sink-rcpts-s-100", "100 rcpts per transaction, 4 connections", 100, bench.size(8, 200), "rcpts/s"),
        ("sink-rcpts-s-1000", "1000 rcpts per transaction, 1 connection", 1000, bench.size(2, 60), "rcpts/s"),
    ]
    # The sink's rate is what the leanest client we can write gets from it (one thread, every
    # connection, a message's end and the next envelope in one write). mailbot's own sender
    # outran the simpler client measured here before, which showed that figure was the client's.
    wired = wire(one)
    for key, label, per_txn, txns, metric in shapes:
        fig = Figure()
        conns = 1 if per_txn == 1000 else 4
        for _ in range(bench.runs):
            fig.add(multiplexed_rate(sink.host, sink.port, wired, transactions=txns, rcpts_per_txn=per_txn, connections=conns))
        bench.limits[key] = fig.median
        bench.add(Row("limits", f"{sink.kind}: {label}", metric, fig))
    fig = Figure([sink_rate(sink.host, sink.port, one, transactions=bench.size(400, 8000), rcpts_per_txn=1, connections=4)
                  for _ in range(bench.runs)])  # fmt: skip
    bench.add(Row("limits", f"{sink.kind}: 1 rcpt per transaction, 4 connections, through the earlier client "
                  "(a thread per connection, each message waits for its envelope's replies)", "msgs/s", fig))  # fmt: skip

    for db in ("sqlite", "postgresql"):
        fig = Figure()
        for _ in range(bench.runs):
            url = bench.servers.sqlite_url("insert") if db == "sqlite" else bench.servers.pg_url()
            if url is None:
                bench.report.skipped[f"limits ({db} insert)"] = bench.servers.pg_error
                break
            try:
                fig.add(insert_rate(url, raws[: bench.size(300, 2000)]))
            finally:
                bench.servers.drop(url)
        if fig.runs:
            bench.limits[f"insert-rows-s-{db}"] = fig.median
            bench.add(Row("limits", f"{db}: 5 KB row, one commit per row", "rows/s", fig))
