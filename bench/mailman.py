"""GNU Mailman 3 beside mailbot (case 7, `--with-mailman`): not automated yet.

What it needs, so the next pass can finish it: `python -m venv bench/.mailman && bench/.mailman/bin/pip
install mailman` (PyPI, own venv, never a project dependency); a mailman.cfg with [database] SQLite,
[mta] smtp_host/smtp_port = the bench sink, lmtp_port = a free loopback port, and incoming =
mailman.mta.null.NullMTA (no Postfix maps); `mailman start` (its runners); `mailman create` the list,
`mailman addmembers` M members; inject N posts over LMTP; count the copies in Mailman's
logs/smtp.log (the C sink keeps no count) until N x M are reported; `mailman stop`.
"""

from __future__ import annotations

from bench.context import Bench

REASON = "Mailman 3 automation is not written yet (see bench/mailman.py for the plan); no Mailman figures"


def run(bench: Bench, workloads: list[tuple[int, int]]) -> dict[tuple[int, int], float]:
    """Posts/s of Mailman 3 per (posts, members) workload; empty when it could not be run."""
    bench.report.skipped["peer (mailman 3)"] = REASON
    return {}
