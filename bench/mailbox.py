"""Filling a Dovecot mailbox fast (MULTIAPPEND in batches), outside any timed block."""

from __future__ import annotations

from collections.abc import Sequence

from tests.servers.dovecot import Dovecot


def fill(dovecot: Dovecot, user: str, raws: Sequence[bytes], folder: str = "INBOX", batch: int = 200) -> None:
    with dovecot.client(user) as c:
        for start in range(0, len(raws), batch):
            c.multiappend(folder, list(raws[start : start + batch]))
