"""The delivery loop: send due outbox recipients over SMTP, retry 4xx with backoff, fail 5xx per recipient.

A crash after a commit never loses mail (rows stay pending); a crash between the SMTP transaction
and the status update re-sends only that batch. On PostgreSQL several workers share the queue
with `FOR UPDATE SKIP LOCKED`.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import random
import threading
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import (
    Connection,
    Engine,
    Integer,
    Update,
    bindparam,
    literal_column,
    select,
    update,
)
from sqlalchemy.exc import OperationalError

from mailbot.clock import Clock
from mailbot.config import SmtpSettings
from mailbot.faults import checkpoint
from mailbot.mail.smtp import Envelope, Sender, SendResult
from mailbot.mail.verp import verp_sender
from mailbot.outbox import RECIPIENTS
from mailbot.store.direct import as_sqlalchemy_errors, fetch, run
from mailbot.store.id_lists import id_in, ids_param
from mailbot.store.models import Outbox, OutboxRecipient
from mailbot.store.sqlite_writer import begin_immediate

log = logging.getLogger("mailbot.deliver")
# SQLite: delivery rounds read per claim. Claiming costs as much as a round's sending, and only
# the rounds' commits bound re-sends, so several rounds share one claim (each still commits).
_ROUNDS_PER_CLAIM = 32


@dataclass
class DeliveryStats:
    sent: int = 0
    failed: int = 0
    deferred: int = 0
    errors: list[str] = field(default_factory=list)
    more: bool = False  # the claim was full: more may be due now, so do not wait before the next

    @property
    def attempted(self) -> int:
        return self.sent + self.failed + self.deferred


class _Box(NamedTuple):
    """What sending needs of one outbox row (read with Core: the ORM's identity map bought nothing here)."""

    id: int
    verp: bool
    mail_from: str
    data: bytes
    created_at: datetime


class _Claim(NamedTuple):
    """One claim, ready to send: envelopes and, index for index, the recipient rows each carries."""

    envelopes: list[Envelope]
    groups: list[list[_Due]]
    boxes: dict[int, _Box]
    more: bool  # rows may be due beyond this claim: the claim was full, or it left rows over


# A wake-up this soon after a round (in units of smtp.gather_seconds) means posts are coming in a run.
_BUSY = 5


class _Due(NamedTuple):
    """One claimed recipient row (a tuple: a claim builds thousands of them)."""

    id: int
    outbox_id: int
    address: str
    verp_token: str
    attempts: int


# A sent round's outcome not yet committed: its recipient groups, the SMTP results, their outboxes.
_Outcome = tuple[Sequence[list[_Due]], Sequence[SendResult], dict[int, _Box]]

# The claim's statements, built once: building them cost more than running them, and a busy list
# claims once per post. Due = pending and its time has come, oldest first in the order of the
# index of pending rows (next_attempt_at, id), so the database reads just the rows it returns
# (ordering by id alone sorted every pending row on every round: a large fan-out took quadratic
# time). 'pending' is written into the SQL, not bound, so the planner can prove the partial index
# applies, also in PostgreSQL's generic plans of prepared statements (tests/test_migrations.py).
_DUE = (OutboxRecipient.status == literal_column("'pending'"), OutboxRecipient.next_attempt_at <= bindparam("now"))
_DUE_ORDER = (OutboxRecipient.next_attempt_at, OutboxRecipient.id)
_PEEK_VERP = (
    select(Outbox.verp)
    .join(OutboxRecipient, OutboxRecipient.outbox_id == Outbox.id)
    .where(*_DUE)
    .order_by(*_DUE_ORDER)
    .limit(1)
)
_CLAIM = (
    select(
        OutboxRecipient.id,
        OutboxRecipient.outbox_id,
        OutboxRecipient.address,
        OutboxRecipient.verp_token,
        OutboxRecipient.attempts,
    )
    .where(*_DUE)
    .order_by(*_DUE_ORDER)
    .limit(bindparam("limit", type_=Integer))
)
_CLAIM_LOCKED = _CLAIM.with_for_update(skip_locked=True)  # PostgreSQL: other workers skip these rows
_BOXES = select(Outbox.id, Outbox.verp, Outbox.mail_from, Outbox.data, Outbox.created_at).where(
    Outbox.id.in_(bindparam("ids", expanding=True))
)


@functools.lru_cache(maxsize=16)
def _update_by_id(shape: tuple[str, ...]) -> Update:
    """UPDATE outbox_recipients SET <shape> WHERE id = :_id, built once per shape.

    Core executemany by primary key: the ORM's bulk update cost more than the SQL itself, and
    the statement is the same every round."""
    table = RECIPIENTS
    values: dict[str, Any] = {k: bindparam(k) for k in shape if k != "id"}
    return update(table).where(table.c.id == bindparam("_id")).values(values)


@functools.lru_cache(maxsize=32)
def _update_by_ids(shape: tuple[str, ...], dialect: str) -> Update:
    """UPDATE outbox_recipients SET <shape> WHERE id in the bound list, for rows given the same values."""
    table = RECIPIENTS
    values: dict[str, Any] = {k: bindparam(k) for k in shape}
    return update(table).where(id_in(table.c.id, "_ids", dialect)).values(values)


@contextlib.contextmanager
def _sqlite_round(conn: Connection) -> Iterator[None]:
    """One delivery round's write transaction on SQLite, straight on the driver: SQLAlchemy's
    begin and commit cost more than the round's two small updates (every statement inside must
    go through `run`)."""
    driver = conn.connection.driver_connection
    assert driver is not None
    try:
        with as_sqlalchemy_errors("BEGIN IMMEDIATE"):
            begin_immediate(driver)  # the write lock up front, queued as store/db.py's are
        yield
        with as_sqlalchemy_errors("COMMIT"):
            driver.commit()
    except BaseException:
        if driver.in_transaction:
            driver.rollback()
        raise


@functools.lru_cache(maxsize=2)
def _count_attempts(dialect: str) -> Update:
    table = RECIPIENTS
    return update(table).where(id_in(table.c.id, "_ids", dialect)).values(attempts=table.c.attempts + 1)


def backoff(settings: SmtpSettings, attempts: int) -> timedelta:
    """Exponential backoff with a little jitter so a fleet of deferred rows does not retry in step."""
    delay = min(settings.retry_base_seconds * (2 ** max(attempts - 1, 0)), settings.retry_max_seconds)
    return timedelta(seconds=delay * random.uniform(1.0, 1.1))


class Deliverer:
    def __init__(
        self,
        settings: SmtpSettings,
        engine: Engine,
        sender: Sender,
        clock: Clock,
    ) -> None:
        self.settings = settings
        # Core connections, not ORM sessions: delivery loads no objects, and a session's
        # bookkeeping per round cost more than the round's statements.
        self.engine = engine
        self.sender = sender
        self.clock = clock
        # Envelopes sent per round before their outcome is committed: after a crash at most
        # this many are sent again (one or two per parallel connection, i.e. those in flight).
        self.per_round = settings.connections * settings.inflight_per_connection
        self.wake = threading.Event()
        self._unrecorded: _Outcome | None = None

    def _claim(self, conn: Connection, now: datetime, rounds: int = 1) -> _Claim | None:
        """The oldest due recipients, one or more rounds' worth, as envelopes (None: nothing due)."""
        # Peek at the next due row: a VERP fan-out needs one row per envelope, a batched one
        # batch_size rows per envelope. Claiming just one round's worth keeps reads small.
        verp = conn.scalar(_PEEK_VERP, {"now": now})
        if verp is None:
            return None
        limit = (self.per_round if verp else self.per_round * self.settings.batch_size) * rounds
        query = _CLAIM_LOCKED if conn.dialect.name == "postgresql" else _CLAIM
        due = list(map(_Due._make, fetch(conn, query, {"now": now, "limit": limit})))
        if not due:
            return None
        envelopes, groups, boxes = self._envelopes(conn, due, rounds)
        # Rows beyond the rounds' envelopes (many small posts) stay due for the next claim.
        left_over = sum(len(g) for g in groups) < len(due)
        return _Claim(envelopes, groups, boxes, len(due) >= limit or left_over)

    def _envelopes(
        self, conn: Connection, due: Sequence[_Due], rounds: int
    ) -> tuple[list[Envelope], list[list[_Due]], dict[int, _Box]]:
        outbox_ids = sorted({d.outbox_id for d in due})
        boxes = {row.id: _Box(*row) for row in conn.execute(_BOXES, {"ids": outbox_ids})}
        by_box: dict[int, list[_Due]] = defaultdict(list)
        for d in due:
            by_box[d.outbox_id].append(d)
        envelopes: list[Envelope] = []
        groups: list[list[_Due]] = []
        for box_id, rows in by_box.items():
            box = boxes[box_id]
            if box.verp:
                # VERP: each recipient gets its own envelope so a bounce names the member.
                for d in rows:
                    sender = verp_sender(box.mail_from, d.verp_token) if d.verp_token else box.mail_from
                    envelopes.append(Envelope(sender, [d.address], box.data))
                    groups.append([d])
            else:
                size = self.settings.batch_size
                for i in range(0, len(rows), size):
                    chunk = rows[i : i + size]
                    envelopes.append(Envelope(box.mail_from, [d.address for d in chunk], box.data))
                    groups.append(chunk)
        # Rows beyond the rounds asked for stay pending (unlocked at commit) for the next claim.
        n = self.per_round * rounds
        return envelopes[:n], groups[:n], boxes

    def _apply(
        self,
        conn: Connection,
        groups: Sequence[list[_Due]],
        results: Sequence[SendResult],
        boxes: dict[int, _Box],
        now: datetime,
        stats: DeliveryStats,
    ) -> None:
        give_up = timedelta(hours=self.settings.give_up_hours)
        updates: list[dict[str, object]] = []
        sent: dict[int, list[int]] = defaultdict(list)  # attempt number -> ids accepted
        for group, result in zip(groups, results, strict=True):
            if len(result.accepted) == len(group) and not result.temp_failed and not result.perm_failed:
                for d in group:  # the usual case, every recipient taken: no per-address lookups
                    sent[d.attempts + 1].append(d.id)
                stats.sent += len(group)
                continue
            accepted = {a.lower() for a in result.accepted}
            perm = {k.lower(): v for k, v in result.perm_failed.items()}
            temp = {k.lower(): v for k, v in result.temp_failed.items()}
            for d in group:
                key = d.address.lower()
                attempts = d.attempts + 1
                if key in accepted:
                    sent[attempts].append(d.id)
                    stats.sent += 1
                elif key in perm:
                    updates.append(
                        {"id": d.id, "status": "failed", "attempts": attempts, "last_error": perm[key][:1000]}
                    )
                    stats.failed += 1
                else:
                    error = temp.get(key, "no answer for this recipient")
                    if now - boxes[d.outbox_id].created_at > give_up:
                        updates.append(
                            {
                                "id": d.id,
                                "status": "failed",
                                "attempts": attempts,
                                "last_error": f"gave up after {attempts} attempts: {error}"[:1000],
                            }
                        )
                        stats.failed += 1
                    else:
                        updates.append(
                            {
                                "id": d.id,
                                "attempts": attempts,
                                "next_attempt_at": now + backoff(self.settings, attempts),
                                "last_error": error[:1000],
                            }
                        )
                        stats.deferred += 1
                        stats.errors.append(error)
        # Rows given the same values (a round's accepted recipients: sent, now, same attempt)
        # share one UPDATE ... WHERE id IN (...); the rest go by primary key, one executemany
        # per column set. Per-row statements cost more than the database's own work here.
        same: dict[tuple[tuple[str, object], ...], list[object]] = defaultdict(list)
        for attempts, accepted_ids in sent.items():
            same[(("attempts", attempts), ("last_error", ""), ("sent_at", now), ("status", "sent"))] = list(
                accepted_ids
            )
        for u in updates:
            same[tuple(sorted((k, v) for k, v in u.items() if k != "id"))].append(u["id"])
        by_shape: dict[tuple[str, ...], list[dict[str, object]]] = defaultdict(list)
        for values, ids in same.items():
            shape = tuple(k for k, _ in values)
            if len(ids) == 1:
                by_shape[shape].append({"_id": ids[0], **dict(values)})
                continue
            dialect = conn.dialect.name
            run(conn, _update_by_ids(shape, dialect), {"_ids": ids_param(ids, dialect), **dict(values)})
        for shape, params in by_shape.items():
            run(conn, _update_by_id(shape), params)

    def _record(
        self,
        conn: Connection,
        groups: Sequence[list[_Due]],
        results: Sequence[SendResult],
        boxes: dict[int, _Box],
        stats: DeliveryStats,
    ) -> None:
        try:
            with conn.begin():
                self._apply(conn, groups, results, boxes, self.clock.now(), stats)
        except OperationalError:
            # Sent, but the database cannot take the outcome (disk full, locked): keep it in
            # memory and record it first thing next round, so nothing is sent twice because of it.
            self._unrecorded = (groups, results, boxes)
            raise

    def _count_attempt(self, conn: Connection, groups: Sequence[list[_Due]]) -> None:
        # Besides being true, this commit proves the database can still be written before sending.
        sending = [d.id for group in groups for d in group]
        run(conn, _count_attempts(conn.dialect.name), {"_ids": ids_param(sending, conn.dialect.name)})

    def deliver_due(self) -> DeliveryStats:
        """Send one claim of due recipients; returns what happened (0 attempted: nothing was due)."""
        stats = DeliveryStats()
        now = self.clock.now()
        with self.engine.connect() as conn:
            if self._unrecorded is not None:
                # Outcomes of a round whose recording failed: record them before sending more.
                pending_outcome, self._unrecorded = self._unrecorded, None
                self._record(conn, *pending_outcome, stats)
            if conn.dialect.name == "postgresql":
                sent: _Outcome | None = None
                try:
                    # Row locks are held while sending, so other workers skip these rows.
                    with conn.begin():
                        claim = self._claim(conn, now)
                        if claim is None:
                            return stats
                        envelopes, groups, boxes, stats.more = claim
                        checkpoint("deliver-after-claim")
                        results = self.sender.send_many(envelopes)
                        sent = (groups, results, boxes)
                        checkpoint("after-smtp-send")
                        self._apply(conn, groups, results, boxes, self.clock.now(), stats)
                except OperationalError:
                    # Sent, but the server went away before the outcome was committed (restart,
                    # crash): keep it and record it first thing next time, so nothing goes twice.
                    # Recording it again after a commit whose answer was lost changes nothing.
                    if sent is not None:
                        self._unrecorded = sent
                    raise
            else:
                # SQLite has one writer: claim, send outside any write lock, then record briefly.
                # Round by round: one commit records the last round's outcome and counts the next
                # round's attempt, then that round is sent. At most one round is ever sent but
                # unrecorded (the bound on re-sends after a crash), and the attempt is counted
                # before sending: on a full disk nothing is sent whose outcome could not be recorded.
                # The claim's own commit counts the first round's attempt.
                with conn.begin():
                    claim = self._claim(conn, now, _ROUNDS_PER_CLAIM)
                    if claim is None:
                        return stats
                    envelopes, groups, boxes, stats.more = claim
                    self._count_attempt(conn, groups[: self.per_round])
                last: tuple[list[list[_Due]], list[SendResult]] | None = None
                for start in range(0, len(envelopes), self.per_round):
                    envs = envelopes[start : start + self.per_round]
                    grps = groups[start : start + self.per_round]
                    if start:
                        try:
                            with _sqlite_round(conn):
                                if last is not None:
                                    self._apply(conn, last[0], last[1], boxes, self.clock.now(), stats)
                                self._count_attempt(conn, grps)
                        except OperationalError:
                            if last is not None:
                                self._unrecorded = (last[0], last[1], boxes)
                            raise
                    last = None
                    checkpoint("deliver-after-claim")
                    results = self.sender.send_many(envs)
                    checkpoint("after-smtp-send")  # sent, status not yet recorded
                    last = (grps, results)
                    if not any(r.accepted or r.perm_failed for r in results):
                        stats.more = False  # nothing got through (relay down?): leave the rest for later
                        break
                if last is not None:
                    self._record(conn, last[0], last[1], boxes, stats)
        checkpoint("deliver-after-record")
        if stats.deferred:
            log.warning("deferred %d recipients: %s", stats.deferred, stats.errors[0])
        log.debug("delivered sent=%d failed=%d deferred=%d", stats.sent, stats.failed, stats.deferred)
        return stats

    def drain(self, max_rounds: int = 10_000) -> DeliveryStats:
        """Deliver until nothing is due now (deferred rows wait for their retry time)."""
        total = DeliveryStats()
        for _ in range(max_rounds):
            stats = self.deliver_due()
            total.sent += stats.sent
            total.failed += stats.failed
            total.deferred += stats.deferred
            total.errors += stats.errors
            if stats.attempted == 0 or stats.sent + stats.failed == 0:
                break
        return total

    def run_forever(self, stop: threading.Event) -> None:
        while not stop.is_set():
            # Cleared before claiming: rows committed after this point set it again, so none is
            # missed, and rows this claim already took do not cause an empty claim after it.
            self.wake.clear()
            try:
                stats = self.deliver_due()
            except Exception:  # noqa: BLE001 - database or network trouble: wait and try again
                log.exception("delivery round failed; retrying")
                stats = DeliveryStats()
                stop.wait(min(self.settings.poll_seconds * 5, 30))
            if stats.attempted == 0 or stats.sent + stats.failed == 0 or not stats.more:
                waiting_since = time.monotonic()
                woke = self.wake.wait(self.settings.poll_seconds)
                gather = self.settings.gather_seconds
                if woke and stats.attempted and time.monotonic() - waiting_since < _BUSY * gather:
                    # Posts are arriving about as fast as rounds go out: a moment's wait lets the
                    # next few join this round, so one claim and one outcome commit serve several
                    # posts instead of one each (BENCHMARKS.md, seventh pass). A list that was
                    # quiet (no round just sent, or a long wait for this wake-up) is not delayed.
                    stop.wait(gather)
