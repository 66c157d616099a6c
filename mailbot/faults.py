"""Named crash points for the fault-injection tests: `MAILBOT_CRASH_AT=<spec>` SIGKILLs the process there.

Costs one truth test when unset; lets the tests kill the real bot at exact or random moments
(after a commit, before an IMAP move, inside an SMTP transaction, before a send's status, mid-job).
"""

from __future__ import annotations

import os
import random
import signal
import threading
from dataclasses import dataclass

# Every checkpoint name the code base uses, so a harness can aim at each one and a typo in a
# spec is caught (see `parse_spec`). Names are stable kebab-case: they end up in test reports.
CHECKPOINTS = (
    "imap-after-fetch",  # BODY.PEEK[] answered, nothing ingested yet
    "pipeline-before-commit",  # message row and outbox rows flushed, transaction still open
    "after-ingest-commit",  # committed, not yet moved on the IMAP server
    "imap-before-move",  # a batch ingested and committed, MOVE/flag not yet sent
    "imap-after-move",  # moved, watermark not yet advanced
    "deliver-after-claim",  # due recipients read, nothing sent
    "smtp-mid-transaction",  # the relay answered DATA with 354; the message itself not yet sent
    "after-smtp-send",  # sent, status not yet recorded
    "deliver-after-record",  # status recorded for one claim
    "job-before-commit",  # a scheduled job wrote its run row and outbox rows, not committed
)


@dataclass(frozen=True)
class CrashSpec:
    """`name` (first hit), `name@N` (N-th hit), or `random:SEED:P` (each hit dies with chance P)."""

    name: str = ""
    nth: int = 1
    seed: int | None = None
    probability: float = 0.0


def parse_spec(text: str) -> CrashSpec | None:
    """Parse MAILBOT_CRASH_AT; '' means no crash. Raises ValueError for a malformed spec."""
    text = text.strip()
    if not text:
        return None
    if text.startswith("random:"):
        _, seed, prob = text.split(":")
        p = float(prob)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"crash probability {p} not in [0, 1]")
        return CrashSpec(seed=int(seed), probability=p)
    name, _, nth = text.partition("@")
    if name not in CHECKPOINTS:
        raise ValueError(f"unknown checkpoint {name!r}; known: {', '.join(CHECKPOINTS)}")
    n = int(nth) if nth else 1
    if n < 1:
        raise ValueError("the hit number in name@N starts at 1")
    return CrashSpec(name=name, nth=n)


class _Injector:
    def __init__(self, spec: CrashSpec, log_path: str) -> None:
        self.spec = spec
        self.log_path = log_path
        self.hits: dict[str, int] = {}
        self.rng = random.Random(spec.seed)
        self.lock = threading.Lock()  # checkpoints fire from the IMAP and delivery threads at once

    def hit(self, name: str) -> None:
        with self.lock:
            count = self.hits.get(name, 0) + 1
            self.hits[name] = count
            if self.spec.seed is not None:
                die = self.rng.random() < self.spec.probability
            else:
                die = name == self.spec.name and count == self.spec.nth
            if not die:
                return
            if self.log_path:
                # The harness reads this to know where each kill landed; written before dying.
                with open(self.log_path, "a", encoding="utf-8") as f:
                    f.write(f"{name} {count}\n")
            os.kill(os.getpid(), signal.SIGKILL)


_injector: _Injector | None = None


def configure(spec_text: str, log_path: str = "") -> None:
    """(Re)arm the injector; called at import from the environment, and by in-process tests."""
    global _injector
    spec = parse_spec(spec_text)
    _injector = _Injector(spec, log_path) if spec else None


def checkpoint(name: str) -> None:
    if _injector is not None:
        _injector.hit(name)


configure(os.environ.get("MAILBOT_CRASH_AT", ""), os.environ.get("MAILBOT_CRASH_LOG", ""))
