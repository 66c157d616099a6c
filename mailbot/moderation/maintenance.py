"""Periodic moderation work: expire held items, run bounce probes. Meant for the scheduler (hourly)."""

from __future__ import annotations

from typing import Any

from mailbot.moderation.bounce_score import run_probes
from mailbot.moderation.held import expire
from mailbot.moderation.policy import policy
from mailbot.store.db import transaction
from mailbot.store.queries import community_row


def tick(app: Any) -> dict[str, int]:
    """One pass over every community, one transaction each; returns summed counts."""
    totals = {"expired": 0, "probed": 0, "re-enabled": 0, "given-up": 0}
    now = app.clock.now()
    for community in app.settings.communities:
        pol = policy(app.settings, community)
        with transaction(app.sessions) as session:
            row = community_row(session, community.slug)
            totals["expired"] += expire(
                session, app.renderer, community=community, community_row=row, pol=pol, now=now
            )
            counts = run_probes(
                session, app.renderer, community=community, community_row=row, pol=pol, now=now
            )
            for key, value in counts.items():
                totals[key] += value
    return totals
