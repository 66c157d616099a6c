"""Scheduled jobs (APScheduler 3.x): daily tip, weekly summary, digests, nudges."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mailbot.app import App


def start_scheduler(app: App, stop: threading.Event) -> threading.Thread | None:
    """Start the scheduler for `app`; returns a thread to join on shutdown (or None)."""
    return None
