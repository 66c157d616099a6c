"""Collects the figures each fault scenario measured; writes them as JSON when MAILBOT_RELIABILITY_OUT is set.

RELIABILITY.md is written from that file, so the report only ever quotes measured numbers.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

_RESULTS: list[dict[str, Any]] = []


@pytest.fixture(scope="session")
def reliability_report() -> Iterator[list[dict[str, Any]]]:
    """Append one dict per scenario run: name, runs, in_flight, lost, duplicates, recovery_s, command."""
    yield _RESULTS
    out = os.environ.get("MAILBOT_RELIABILITY_OUT")
    if out and _RESULTS:
        Path(out).write_text(json.dumps(_RESULTS, indent=2, ensure_ascii=False), encoding="utf-8")

