"""The whole corpus (real-world mail, malformed MIME, bounces, list archives) through the pipeline.

Each message must end processed, held, ignored or failed-with-reason (or be a recognised repeat of
one that did); none vanishes, the loop never crashes, and no bounce or auto-reply reaches members.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import select

from mailbot.store.models import Message, OutboxRecipient
from tests.corpus_files import corpus_root, iter_corpus_raw
from tests.helpers import add_members, make_app, settings_for


def test_every_corpus_message_is_accounted_for(sqlite_url: str, tmp_path: Path, smtp_sink: Any) -> None:
    app = make_app(settings_for(sqlite_url, tmp_path, smtp_port=smtp_sink.port))
    add_members(app, ("member-one@example.org", "One"), ("member-two@example.org", "Two"))
    outcomes: Counter[str] = Counter()
    stored: dict[int, str] = {}
    per_label: dict[str, str] = {}
    items = list(iter_corpus_raw())
    assert len(items) >= 100, f"corpus at {corpus_root()} looks empty"
    for label, raw in items:
        result = app.ingest(raw, source="corpus", source_ref=label)
        assert result.status in {"processed", "held", "ignored", "failed", "duplicate"}, label
        outcomes[result.status] += 1
        per_label[label] = result.kind or result.status
        if result.status == "failed":
            assert result.reason, f"{label}: failed without a reason"
        if result.status != "duplicate":
            assert result.message_pk is not None
            stored[result.message_pk] = hashlib.sha256(raw).hexdigest()
    with app.sessions() as s:
        rows = {m.id: m for m in s.scalars(select(Message))}
        # Nothing vanished: every accepted message has its row with its exact bytes.
        assert set(stored) == set(rows)
        for pk, digest in stored.items():
            assert hashlib.sha256(rows[pk].raw).hexdigest() == digest
            assert rows[pk].status in {"processed", "held", "ignored", "failed"}
        failed = [m for m in rows.values() if m.status == "failed"]
        assert all(m.reason for m in failed)
        # Bounces and auto-replies are never redistributed to members.
        distributed = set(
            s.scalars(
                select(Message.id).where(Message.kind.in_(("bounce", "auto-reply")), Message.status == "processed")
            )
        )
        assert not distributed
        member_rcpts = s.scalars(
            select(OutboxRecipient.address).where(
                OutboxRecipient.address.in_(("member-one@example.org", "member-two@example.org"))
            )
        ).all()
    bounce_labels = [lbl for lbl in per_label if "/bounces/" in f"/{lbl}" and "not-bounces" not in lbl]
    redistributed_bounces = [lbl for lbl in bounce_labels if per_label[lbl] in ("post", "question", "answer")]
    assert redistributed_bounces == []
    # Non-members' mail (almost all of the corpus) is held, so members receive nothing from it.
    assert member_rcpts == []
    # A bug in a handler must show as 'failed'; on this corpus we expect none at all.
    assert outcomes["failed"] == 0, [m.reason for m in failed][:5]
    print(f"\ncorpus: {len(items)} messages from {corpus_root()}: {dict(outcomes)}")


def test_ci_runs_the_whole_shared_corpus() -> None:
    # Corpus tests fall back to the bundled subset (and some skip) on a clone without ../shared;
    # in CI, where ../shared is promised, that fallback would hide missing coverage.
    import os

    from tests.corpus_files import SHARED_CORPUS

    if os.environ.get("CI") == "true":
        assert corpus_root() == SHARED_CORPUS, f"CI must run the full corpus, got {corpus_root()}"
    else:
        assert corpus_root().exists()
