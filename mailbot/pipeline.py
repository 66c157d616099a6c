"""One message, one way through: parse, route, dedupe, classify, handle, store — in one transaction.

Every message handed to `Pipeline.ingest` ends processed, held, ignored or failed (with its reason
and raw bytes), or is recognised as a duplicate of one that did. It never raises for bad input.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
import time
import traceback
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, func, select, text
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from mailbot.classify.chain import Decision, RuleChain
from mailbot.classify.facts import Facts, FactsHook, MemberFacts
from mailbot.clock import Clock
from mailbot.config import CommunitySettings, Settings
from mailbot.faults import checkpoint
from mailbot.handlers import HANDLERS
from mailbot.handlers.base import Context, Outcome
from mailbot.mail.bounces import classify_bounce
from mailbot.mail.contracts import IngestResult
from mailbot.mail.identity import Route, own_addresses, route
from mailbot.mail.parse import ParsedMessage, parse_message
from mailbot.render import Renderer
from mailbot.store import direct
from mailbot.store.db import is_postgres
from mailbot.store.models import Community, Member, Message
from mailbot.store.rows import attach, columns_of, insert_row, update_row

log = logging.getLogger("mailbot.pipeline")
CONFLICT_RETRIES = 3



# Statements asked for every message, built once: building them cost more than running them.
def _duplicate_statement(community: str) -> Select[Any]:
    """The stored copy's id: by Message-ID in the community when there is one, else by content hash.

    COALESCE of two scalar subqueries, each an index probe, asks the first before the second in one
    statement; a UNION ALL ordered by a rank column cost SQLite a temporary B-tree, about seven
    times both probes (measured)."""
    by_hash = select(Message.id).where(Message.content_hash == bindparam("digest")).limit(1)
    if community == "none":
        return by_hash
    same_community = (
        Message.community_id == bindparam("community_id") if community == "id" else Message.community_id.is_(None)
    )
    by_id = select(Message.id).where(Message.message_id == bindparam("message_id"), same_community).limit(1)
    return select(func.coalesce(by_id.scalar_subquery(), by_hash.scalar_subquery()))


_DUPLICATE_BY_HASH = _duplicate_statement("none")
_DUPLICATE_IN_COMMUNITY = _duplicate_statement("id")
_DUPLICATE_NO_COMMUNITY = _duplicate_statement("null")
_MEMBER_BY_EMAIL = columns_of(Member).where(
    Member.community_id == bindparam("community_id"), Member.email == bindparam("email")
)


def content_hash(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def _clip(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


class Pipeline:
    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        rules: RuleChain,
        renderer: Renderer,
        clock: Clock,
        facts_hooks: Sequence[FactsHook] = (),
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.rules = rules
        self.renderer = renderer
        self.clock = clock
        self.facts_hooks = tuple(facts_hooks)
        self._own = own_addresses(settings.communities)
        self._community_rows: dict[str, Community] = {}

    # -- the one public entry point -------------------------------------------------------
    def ingest(
        self,
        raw: bytes,
        *,
        source: str,
        source_ref: str,
        envelope_to: Sequence[str] = (),
        default_community: str | None = None,
    ) -> IngestResult:
        """Store and handle one message; returns after commit. Raises only if the database is down."""
        msg = parse_message(raw)
        default = self.settings.community(default_community) if default_community else None
        if default is None and len(self.settings.communities) == 1:
            default = self.settings.communities[0]
        where = route(
            [envelope_to, msg.delivered_to, [a.email for a in msg.to + msg.cc]],
            self.settings.communities,
            default,
        )
        rule = ""
        for attempt in range(1, CONFLICT_RETRIES + 1):
            try:
                result, rule = self._handle(msg, where, source, source_ref)
                break
            except (OperationalError, InterfaceError):
                # Database locked, full or gone: not the message's fault. Propagate so it stays at
                # its source (IMAP folder, SMTP 451) and is retried, rather than stored as failed.
                raise
            except IntegrityError as exc:
                # A concurrent writer (another bot instance, another thread) won a race for the
                # same row; the transaction rolled back whole, so run it again (dedupe may now hit).
                if attempt < CONFLICT_RETRIES:
                    log.warning("database conflict (attempt %d), retrying: %s", attempt, exc.orig)
                    time.sleep(0.05 * attempt)
                    continue
                log.exception("handling failed for message-id=%s", msg.message_id)
                result = self._record_failure(msg, where, source, source_ref, exc)
            except Exception as exc:  # noqa: BLE001 - any failure is recorded, never lost
                log.exception("handling failed for message-id=%s", msg.message_id)
                result = self._record_failure(msg, where, source, source_ref, exc)
                break
        if msg.message_id:
            result = dataclasses.replace(result, message_id=msg.message_id)
        log.info(
            "message-id=<%s> source=%s community=%s kind=%s rule=%s outcome=%s reason=%s",
            msg.message_id or "",
            source_ref,
            where.community.slug if where.community else "-",
            result.kind or "-",
            rule or "-",
            result.status,
            result.reason or "",
        )
        return result

    # -- internals ------------------------------------------------------------------------
    def community_row(self, session: Session, community: CommunitySettings) -> Community:
        """The community's row in this session. Loaded once per process and merged in after that
        without a SELECT: the row only changes at start-up (sync), and every message needs it."""
        cached = self._community_rows.get(community.slug)
        if cached is None:
            found = session.scalar(select(Community).where(Community.slug == community.slug))
            if found is None:
                raise RuntimeError(f"community {community.slug} is not in the database; run sync")
            session.expunge(found)
            self._community_rows[community.slug] = cached = found
        return session.merge(cached, load=False)

    def _duplicate_of(
        self, session: Session, community_id: int | None, msg: ParsedMessage, digest: str
    ) -> int | None:
        """The stored copy of this message: same Message-ID in the community, else same bytes.

        One statement (one round trip on PostgreSQL): both look-ups are index probes, and the
        Message-ID hit wins over a content-hash hit, as when they were asked one after the other.
        """
        conn = session.connection()  # plain rows: the ORM's execution path costs more than the probe
        if not msg.message_id:
            return direct.scalar(conn, _DUPLICATE_BY_HASH, {"digest": digest})
        stmt = _DUPLICATE_IN_COMMUNITY if community_id is not None else _DUPLICATE_NO_COMMUNITY
        params = {"digest": digest, "message_id": msg.message_id[:998], "community_id": community_id}
        return direct.scalar(conn, stmt, params)

    def _new_record(
        self,
        msg: ParsedMessage,
        where: Route,
        community_id: int | None,
        source: str,
        source_ref: str,
        digest: str,
        now: datetime,
    ) -> Message:
        from_ = msg.from_
        return Message(
            community_id=community_id,
            source=source,
            source_ref=_clip(source_ref, 300),
            message_id=msg.message_id[:998] if msg.message_id else None,
            content_hash=digest,
            raw=msg.raw,
            size=msg.size,
            received_at=now,
            from_email=_clip(from_.email if from_ else "", 320),
            from_name=_clip(from_.name if from_ else "", 300),
            subject=msg.subject,
            address_role=where.role,
            status="pending",
            body_text=msg.new_text,
            defects="\n".join(msg.defects),
        )

    def _member(self, session: Session, row: Community | None, msg: ParsedMessage) -> Member | None:
        if row is None or not msg.sender_email:
            return None
        # Read with one Core statement and attached: the ORM's query cost several times the read.
        found = direct.fetch_one(session.connection(), _MEMBER_BY_EMAIL, {"community_id": row.id, "email": msg.sender_email})
        return attach(session, Member, found) if found is not None else None

    def _facts(
        self,
        session: Session,
        row: Community | None,
        msg: ParsedMessage,
        where: Route,
        member: Member | None,
    ) -> Facts:
        facts = Facts(
            route=where,
            member=MemberFacts(member.id, member.role, member.status, member.delivery) if member else None,
            own_addresses=self._own,
            bounce=classify_bounce(msg.message),
            max_message_bytes=self.settings.limits.max_message_bytes,
        )
        if row is not None:
            for hook in self.facts_hooks:
                facts = hook(session, row, msg, facts)
        return facts

    def _run_handler(
        self,
        session: Session,
        row: Community | None,
        member: Member | None,
        msg: ParsedMessage,
        facts: Facts,
        decision: Decision,
        record: Message,
    ) -> Outcome:
        ctx = Context(
            session=session,
            settings=self.settings,
            community=facts.route.community,
            community_row=row,
            member=member,
            msg=msg,
            facts=facts,
            decision=decision,
            record=record,
            clock=self.clock,
            renderer=self.renderer,
            release=functools.partial(self.release, session),
        )
        return HANDLERS[decision.kind](ctx)

    def release(self, session: Session, record: Message) -> Outcome:
        """Handle a held message a facilitator approved, in the caller's transaction.

        It is classified again with the holding rules left out, so an approved question still
        opens a numbered thread and an approved reply still joins its thread.
        """
        msg = parse_message(record.raw)
        row = session.get(Community, record.community_id) if record.community_id else None
        community = next(
            (c for c in self.settings.communities if row is not None and c.slug == row.slug), None
        )
        if row is None or community is None:
            raise ValueError(f"message {record.id} belongs to no configured community")
        where = Route(community, "post", community.address)
        member = self._member(session, row, msg)
        facts = self._facts(session, row, msg, where, member)
        decision = self.rules.classify(msg, facts, skip_kinds=frozenset({"held"}))
        outcome = self._run_handler(session, row, member, msg, facts, decision, record)
        record.kind, record.member_id = decision.kind, member.id if member else None
        record.status, record.reason = outcome.status, _clip(outcome.reason, 2000)
        return outcome

    def _handle(
        self, msg: ParsedMessage, where: Route, source: str, source_ref: str
    ) -> tuple[IngestResult, str]:
        digest = content_hash(msg.raw)
        now = self.clock.now()
        with self.sessions() as session, session.begin():
            row = self.community_row(session, where.community) if where.community else None
            community_id = row.id if row else None
            if is_postgres(session):
                # Two bot instances may hold the same message (a redelivery, a UIDVALIDITY
                # rescan): serialise on its identity so the second one sees the first's commit.
                # (SQLite needs nothing: BEGIN IMMEDIATE already serialises writers.)
                key = f"mailbot-message:{community_id}:{msg.message_id or digest}"
                session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": key})
            dup = self._duplicate_of(session, community_id, msg, digest)
            if dup is not None:
                return IngestResult("duplicate", dup, None, "already stored"), ""
            member = self._member(session, row, msg)
            facts = self._facts(session, row, msg, where, member)
            decision: Decision = self.rules.classify(msg, facts)
            record = self._new_record(msg, where, community_id, source, source_ref, digest, now)
            record.kind, record.rule = decision.kind, decision.rule
            record.member_id = member.id if member else None
            insert_row(session, record)  # handlers need its id; one INSERT, no flush
            outcome = self._run_handler(session, row, member, msg, facts, decision, record)
            update_row(session, record, status=outcome.status, reason=_clip(outcome.reason, 2000))
            checkpoint("pipeline-before-commit")
            return IngestResult(outcome.status, record.id, decision.kind, outcome.reason), decision.rule

    def _record_failure(
        self, msg: ParsedMessage, where: Route, source: str, source_ref: str, exc: BaseException
    ) -> IngestResult:
        """Keep the raw bytes and the reason so the message can be replayed once the bug is fixed."""
        digest = content_hash(msg.raw)
        reason = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        with self.sessions() as session, session.begin():
            row = self.community_row(session, where.community) if where.community else None
            record = self._new_record(
                msg, where, row.id if row else None, source, source_ref, digest, self.clock.now()
            )
            record.status, record.kind, record.reason = "failed", "", _clip(reason, 2000)
            session.add(record)
            session.flush()
            return IngestResult("failed", record.id, None, reason)

    def replay(self, message_pk: int) -> IngestResult:
        """Run a stored (failed or held) message through the pipeline again, as a new attempt."""
        with self.sessions() as session, session.begin():
            old = session.get(Message, message_pk)
            if old is None:
                raise KeyError(f"no message {message_pk}")
            raw, source_ref = old.raw, old.source_ref
            # Free the dedupe slot: the old row stays as history but no longer counts as stored.
            old.message_id = None
            old.content_hash = f"replayed:{old.content_hash}"[:64]
            old.reason = _clip(f"replayed at {self.clock.now().isoformat()}; {old.reason}", 2000)
        return self.ingest(raw, source="replay", source_ref=f"replay:{message_pk}:{source_ref}")
