"""Named crash points for the fault-injection tests: `MAILBOT_CRASH_AT=<name>` SIGKILLs the process there.

Costs one dictionary lookup when unset; lets the tests kill the real bot at exact moments
(after a commit, before an IMAP move, between an SMTP send and its status update).
"""

from __future__ import annotations

import os
import signal

_TARGET = os.environ.get("MAILBOT_CRASH_AT", "")


def checkpoint(name: str) -> None:
    if _TARGET and _TARGET == name:
        os.kill(os.getpid(), signal.SIGKILL)
