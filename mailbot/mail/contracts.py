"""Interfaces between mail transports and the pipeline: what a source hands over and what it gets back."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class IngestResult:
    status: str  # 'processed' | 'held' | 'ignored' | 'failed' | 'duplicate'
    message_pk: int | None  # database id of the stored message (None for duplicates of nothing)
    kind: str | None  # classified kind, e.g. 'post', 'bounce'
    reason: str | None
    message_id: str = ""  # the message's Message-ID, for log lines (empty when it has none)


class Ingest(Protocol):
    def __call__(
        self, raw: bytes, *, source: str, source_ref: str, envelope_to: Sequence[str] = ()
    ) -> IngestResult: ...

    # Returns only after the database commit. Raises only when the database is unreachable or
    # the write failed: then nothing was stored and the caller must keep the message and retry
    # later (IMAP: leave it in the folder; SMTP: answer 451).


class WatermarkStore(Protocol):
    # get() answers (uidvalidity, last_uid); touch() records the 'last poll' time for `mailbot status`.
    def get(self, account: str, folder: str) -> tuple[int, int] | None: ...

    def set(self, account: str, folder: str, uidvalidity: int, last_uid: int) -> None: ...

    def touch(self, account: str, folder: str) -> None: ...


class MemoryWatermarks:
    """In-memory WatermarkStore for unit tests; production keeps watermarks in the database."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.marks: dict[tuple[str, str], tuple[int, int]] = {}
        self.touched: dict[tuple[str, str], float] = {}

    def get(self, account: str, folder: str) -> tuple[int, int] | None:
        with self._lock:
            return self.marks.get((account, folder))

    def set(self, account: str, folder: str, uidvalidity: int, last_uid: int) -> None:
        with self._lock:
            self.marks[(account, folder)] = (uidvalidity, last_uid)

    def touch(self, account: str, folder: str) -> None:
        with self._lock:
            self.touched[(account, folder)] = time.time()
