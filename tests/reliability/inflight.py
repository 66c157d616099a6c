"""Measures what was in flight at each kill: envelopes the SMTP sink accepted whose outbox row is still pending.

Such a send is the only legitimate source of a duplicate (the next run sends it again), so the kill
scenarios compare every duplicate at the sink with what this tracker saw at the kills. Also the
pieces both kill loops share: their small delivery round, the names of kill points, a kill's record.
"""

from __future__ import annotations

import collections
import email.parser
import email.policy
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from mailbot.store.db import make_engine, make_session_factory
from mailbot.store.models import Outbox, OutboxRecipient

# A small delivery round (2 connections x 2 envelopes) against a backlog of several posts: a
# delivery that sent its whole claim before recording would show up as > 4 in flight at a kill.
ROUND_SMTP = "connections = 2\ninflight_per_connection = 2"
WALL_CLOCK = "wall-clock"  # a kill from outside after a random time, not at a checkpoint
# Kills that may land after the relay accepted a copy whose status was not yet recorded.
MID_DELIVERY = ("after-smtp-send", "smtp-mid-transaction", WALL_CLOCK)


@dataclass(frozen=True)
class Kill:
    process: str  # run-once | jobs-run | run (the always-on bot)
    point: str  # the checkpoint it died at, or WALL_CLOCK
    in_flight: int  # envelopes sent whose status this process never recorded
    backlog: int  # outbox recipients pending right after the kill


Key = tuple[str, str]  # (Message-ID of the mail, recipient address, lower case)
_HEADERS = email.parser.BytesParser(policy=email.policy.compat32)


def message_id(data: bytes) -> str:
    """The Message-ID of raw mail, '' when it has none (headers only: cheap for big summaries)."""
    value = _HEADERS.parsebytes(data, headersonly=True)["Message-ID"]
    return " ".join(str(value).split()) if value else ""


class InFlight:
    """Call `at_kill()` right after every killed run; `unrecorded` keeps the per-envelope tally."""

    def __init__(self, db_url: str, sink: Any) -> None:
        self.engine = make_engine(db_url)
        self.sessions = make_session_factory(self.engine)
        self.sink = sink
        self.copies: collections.Counter[Key] = collections.Counter()  # copies at the sink
        self.unrecorded: collections.Counter[Key] = collections.Counter()  # sends with no status
        self._scanned = 0
        self._box_ids: dict[int, str] = {}

    def scan_sink(self) -> collections.Counter[Key]:
        messages = list(self.sink.messages)
        for m in messages[self._scanned :]:
            mid = message_id(m.data)
            for rcpt in m.rcpt_tos:
                self.copies[(mid, rcpt.lower())] += 1
        self._scanned = len(messages)
        return self.copies

    def at_kill(self) -> tuple[int, int]:
        """(envelopes sent since the last kill whose status was never recorded, recipients pending)."""
        with self.sessions() as s:
            pending = s.execute(
                select(OutboxRecipient.outbox_id, OutboxRecipient.address).where(
                    OutboxRecipient.status == "pending"
                )
            ).all()
            missing = {box for box, _ in pending} - self._box_ids.keys()
            if missing:
                for box_id, data in s.execute(select(Outbox.id, Outbox.data).where(Outbox.id.in_(missing))):
                    self._box_ids[box_id] = message_id(data)
        self.scan_sink()
        new = 0
        for box_id, address in pending:
            key = (self._box_ids[box_id], address.lower())
            # Every copy of a still-pending recipient at the sink is a send whose status was lost.
            extra = self.copies[key] - self.unrecorded[key]
            if extra > 0:
                new += extra
                self.unrecorded[key] += extra
        return new, len(pending)

    def unexplained_duplicates(self) -> dict[Key, int]:
        """Extra copies at the sink not accounted for by a send measured in flight at a kill."""
        self.scan_sink()
        return {
            key: n - 1 - self.unrecorded[key]
            for key, n in self.copies.items()
            if n - 1 > self.unrecorded[key]
        }

    def duplicates(self) -> int:
        self.scan_sink()
        return sum(n - 1 for n in self.copies.values() if n > 1)

    def close(self) -> None:
        self.engine.dispose()
