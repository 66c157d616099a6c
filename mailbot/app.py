"""Composition root: builds the database, pipeline, sources, delivery loop and scheduler from Settings."""

from __future__ import annotations

import functools
import logging
import smtplib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from mailbot.classify.chain import RuleChain
from mailbot.classify.facts import FactsHook
from mailbot.classify.loader import load_rules
from mailbot.clock import Clock, SystemClock
from mailbot.config import CommunitySettings, Settings
from mailbot.deliver import Deliverer
from mailbot.faults import checkpoint
from mailbot.handlers import HANDLERS
from mailbot.jobs import policy as schedule_policy
from mailbot.jobs import start_scheduler
from mailbot.knowledge.synonyms import SynonymError, load_synonyms
from mailbot.knowledge.threads import thread_facts
from mailbot.knowledge.topics import TopicError, load_topics
from mailbot.mail.contracts import IngestResult
from mailbot.mail.identity import match_address
from mailbot.mail.imap import ImapSource
from mailbot.mail.inbound_smtp import INLINE_MAX_BYTES, InboundSmtpServer
from mailbot.mail.smtp import Sender, make_sender
from mailbot.moderation.facts import moderation_facts_hook
from mailbot.pipeline import Pipeline
from mailbot.render import Renderer
from mailbot.store.db import make_engine, make_session_factory, transaction, upgrade
from mailbot.store.queries import DbWatermarks, sync_communities
from mailbot.store.sqlite_driver import describe
from mailbot.store.wal_checkpoint import start_checkpointer

log = logging.getLogger("mailbot")

# Extra facts hooks and background services registered by feature modules (knowledge, jobs).
# Kept as explicit lists here rather than discovered, so the wiring is readable in one place.
FACTS_HOOKS: list[FactsHook] = [thread_facts]
SERVICES: list[Callable[[App, threading.Event], threading.Thread | None]] = [start_scheduler]


def routing_rules(settings: Settings) -> RuleChain:
    """The classification chain the app runs: rules/routing.toml (or the configured rules dir)."""
    return load_rules(settings.paths.resolved_rules_dir() / "routing.toml", HANDLERS.keys())


class StartupError(RuntimeError):
    """A data file (rules, topics, synonyms, templates, schedules) is invalid: the bot refuses to start."""


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str


class App:
    def __init__(
        self, settings: Settings, *, clock: Clock | None = None, sender: Sender | None = None
    ) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.engine = make_engine(settings.database_url, echo=settings.database.echo)
        self.sessions = make_session_factory(self.engine)
        self.renderer = Renderer(settings.paths.resolved_templates_dir())
        self.rules: RuleChain = routing_rules(settings)
        hooks = [*FACTS_HOOKS, moderation_facts_hook(settings, self.clock, self.rules)]
        self.pipeline = Pipeline(settings, self.sessions, self.rules, self.renderer, self.clock, hooks)
        self.sender: Sender = sender or make_sender(settings)
        self.deliverer = Deliverer(settings.smtp, self.engine, self.sender, self.clock)
        self.watermarks = DbWatermarks(self.sessions, self.clock)
        self._prepared = False

    # -- lifecycle ------------------------------------------------------------------------
    def prepare(self) -> None:
        """Validate the data files, migrate the schema, and sync the configured communities."""
        if self._prepared:
            return
        failed = [f"{r.name}: {r.detail}" for r in self.data_checks() if not r.ok]
        if failed:
            raise StartupError("; ".join(failed))
        upgrade(self.engine)
        with transaction(self.sessions) as session:
            sync_communities(session, self.settings.communities, self.clock)
        self._prepared = True

    def ingest(self, raw: bytes, **kwargs: Any) -> IngestResult:
        result = self.pipeline.ingest(raw, **kwargs)
        checkpoint("after-ingest-commit")  # committed, not yet moved on the IMAP server
        self.deliverer.wake.set()  # new outbox rows: do not wait for the next poll
        return result

    def imap_sources(self, stop: threading.Event) -> list[ImapSource]:
        sources = []
        if self.settings.imap.enabled:
            sources.append(ImapSource(self.settings.imap, self.ingest, self.watermarks, stop=stop))
        for c in self.settings.communities:
            if c.imap and c.imap.enabled:
                ingest = functools.partial(self.ingest, default_community=c.slug)
                sources.append(
                    ImapSource(c.imap, ingest, self.watermarks, stop=stop, name=f"imap-{c.slug}")
                )
        return sources

    def inbound_server(self) -> InboundSmtpServer:
        def accept(address: str) -> bool:
            # RCPT for any of our addresses (group, -request, -bounces+TOKEN, -owner, +tag).
            return match_address(address, self.settings.communities) is not None

        # SQLite has one writer, so ingest in workers only queued behind it: small messages are
        # stored on the listener's thread, saving the hand-off. PostgreSQL stores several at once.
        inline = 0 if self.engine.dialect.name == "postgresql" else INLINE_MAX_BYTES
        return InboundSmtpServer(
            self.settings.inbound_smtp, self.ingest, accept_rcpt=accept, inline_max_bytes=inline
        )

    def run_once(self) -> dict[str, int]:
        """Drain every inbox, run scheduled jobs that are due, deliver everything due (for cron).

        Jobs are keyed by (job, community, period), so running this every few minutes from cron
        sends each tip, digest and summary once, like the long-running scheduler does.
        """
        from mailbot.jobs import JobEnv, catch_up
        from mailbot.moderation.maintenance import tick

        self.prepare()
        stop = threading.Event()
        fetched = 0
        for source in self.imap_sources(stop):
            try:
                fetched += source.drain()
            finally:
                source.close()
        jobs = catch_up(JobEnv.from_app(self), list(self.settings.communities))
        tick(self)
        stats = self.deliverer.drain()
        return {
            "fetched": fetched,
            "jobs": sum(1 for r in jobs if r.status == "done"),
            "sent": stats.sent,
            "failed": stats.failed,
            "deferred": stats.deferred,
        }

    def run(self, stop: threading.Event, ready: Callable[[], None] | None = None) -> None:
        """Run until `stop` is set: IMAP IDLE loops, the SMTP listener, delivery and the scheduler."""
        self.prepare()
        threads: list[threading.Thread] = []
        if self.engine.dialect.name == "sqlite":
            log.info("database: %s", describe())
        checkpoints = start_checkpointer(self.engine, stop)  # before any writer thread starts
        if checkpoints is not None:
            threads.append(checkpoints)
        sources = self.imap_sources(stop)
        for source in sources:
            t = threading.Thread(target=source.run_forever, name=source.name, daemon=True)
            t.start()
            threads.append(t)
        server = None
        if self.settings.inbound_smtp_enabled:
            server = self.inbound_server()
            server.start()
            log.info(
                "SMTP listener on %s:%s", self.settings.inbound_smtp.host, self.settings.inbound_smtp.port
            )
        delivery = threading.Thread(
            target=self.deliverer.run_forever, args=(stop,), name="deliver", daemon=True
        )
        delivery.start()
        threads.append(delivery)
        for start_service in SERVICES:
            service = start_service(self, stop)
            if service is not None:
                threads.append(service)
        if ready:
            ready()
        try:
            stop.wait()
        finally:
            self.deliverer.wake.set()
            if server is not None:
                server.stop()
            for t in threads:
                t.join(timeout=10)
            for source in sources:
                source.close()
            self.sender.close()
            log.info("stopped cleanly")

    # -- `mailbot check` ------------------------------------------------------------------
    def data_checks(self) -> list[CheckResult]:
        """Rules, topics, synonyms, templates and schedules: data files validated before anything runs."""
        results = [CheckResult("rules", True, f"{len(self.rules.rules)} rules in routing.toml")]
        try:
            topics = load_topics(self.settings.paths.resolved_rules_dir() / "topics.toml")
            results.append(CheckResult("topics", True, f"{len(topics.topics)} topics in topics.toml"))
        except TopicError as exc:
            results.append(CheckResult("topics", False, str(exc)))
        try:
            synonyms = load_synonyms(self.settings.paths.resolved_rules_dir() / "synonyms.toml")
            results.append(CheckResult("synonyms", True, f"{len(synonyms.groups)} groups in synonyms.toml"))
        except SynonymError as exc:
            results.append(CheckResult("synonyms", False, str(exc)))
        problems = self.renderer.validate()
        results.append(
            CheckResult(
                "templates", not problems, "; ".join(problems) or f"{len(self.renderer.names())} templates"
            )
        )
        schedule_problems = [p for c in self.settings.communities for p in schedule_policy.problems(c)]
        results.append(
            CheckResult("schedules", not schedule_problems, "; ".join(schedule_problems) or "valid")
        )
        return results

    def check(self, *, network: bool = True) -> list[CheckResult]:
        results = [CheckResult("config", True, self.settings.source_file or "embedded defaults")]
        results += self.data_checks()
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            results.append(CheckResult("database", True, self.engine.url.render_as_string()))
            if self.engine.dialect.name == "postgresql":
                results.append(self._check_search_index())
            results += self._check_roles()
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            results.append(CheckResult("database", False, f"cannot connect: {exc}"))
        if network:
            results += self._check_imap() + self._check_smtp()
        return results

    def _check_roles(self) -> list[CheckResult]:
        """Per community, whether someone holds the roles mail waits for: held posts wait for a
        facilitator, summaries go to sponsors, drafts (scribe_review) wait for a scribe. Advice:
        a new community has no members yet, so a gap never fails the check."""
        return [
            CheckResult(f"roles ({slug})", True,
                        "; ".join([summary, *gaps]) if summary else "no members yet (mailbot members import)")
            for slug, summary, gaps in self.role_advice()
        ]  # fmt: skip

    def role_warnings(self) -> list[str]:
        """The gaps `check` reports, for `run` to log at start: '<slug>: no facilitator: ...'."""
        return [f"{slug}: {gap}" for slug, _summary, gaps in self.role_advice() for gap in gaps]

    def role_advice(self) -> list[tuple[str, str, list[str]]]:
        """(slug, '12 members: 2 facilitators, ...', gaps) per community; [] before the schema exists."""
        from sqlalchemy import func, select

        from mailbot.store.models import Community, Member

        out = []
        try:
            with self.sessions() as session:
                for c in self.settings.communities:
                    counts = dict(
                        session.execute(
                            select(Member.role, func.count(Member.id))
                            .join(Community, Community.id == Member.community_id)
                            .where(Community.slug == c.slug, Member.status == "active")
                            .group_by(Member.role)
                        ).all()
                    )
                    out.append((c.slug, *_roles_advice(c, counts)))
        except Exception:  # noqa: BLE001 - not migrated yet (check runs before `run` creates tables)
            return []
        return out

    def _check_search_index(self) -> CheckResult:
        """PostgreSQL: whether knowledge search ranks in the RUM index; without it search works,
        only slower on large knowledge bases, so this is advice, never a failure."""
        from mailbot.knowledge.search import has_rank_index

        with self.sessions() as session:
            if has_rank_index(session):
                return CheckResult("search index", True, "PostgreSQL ranks knowledge search in the RUM index")
        return CheckResult(
            "search index", True,
            "no RUM index: knowledge search ranks with ts_rank, several times slower on a large knowledge "
            "base; install postgresql-NN-rum on the server (README, Configuration)",
        )  # fmt: skip

    def _check_imap(self) -> list[CheckResult]:
        from imapclient import IMAPClient

        out = []
        targets = [("imap", self.settings.imap)] + [
            (f"imap ({c.slug})", c.imap) for c in self.settings.communities if c.imap
        ]
        for name, imap in targets:
            if not imap.enabled:
                continue
            try:
                client = IMAPClient(imap.host, port=imap.port, ssl=imap.ssl, timeout=imap.timeout)
                if imap.starttls:
                    client.starttls()
                client.login(imap.username, imap.password)
                info = client.select_folder(imap.folder, readonly=True)
                client.logout()
                out.append(CheckResult(name, True, f"{imap.folder}: {info.get(b'EXISTS', 0)} messages"))
            except Exception as exc:  # noqa: BLE001
                out.append(CheckResult(name, False, f"{imap.host}:{imap.port}: {exc}"))
        return out

    def _check_smtp(self) -> list[CheckResult]:
        smtp = self.settings.smtp
        if not smtp.enabled:
            where = self.settings.paths.resolved_outbound_maildir()
            return [CheckResult("smtp", True, f"no relay configured: outbound mail goes to {where}")]
        try:
            cls = smtplib.SMTP_SSL if smtp.ssl else smtplib.SMTP
            with cls(smtp.host, smtp.port, timeout=smtp.timeout) as client:
                client.ehlo()
                if smtp.starttls:
                    client.starttls()
                    client.ehlo()
                if smtp.username:
                    client.login(smtp.username, smtp.password)
                client.noop()
            return [CheckResult("smtp", True, f"{smtp.host}:{smtp.port} answers")]
        except Exception as exc:  # noqa: BLE001
            return [CheckResult("smtp", False, f"{smtp.host}:{smtp.port}: {exc}")]


def _roles_advice(community: CommunitySettings, counts: dict[str, int]) -> tuple[str, list[str]]:
    """('12 members: 2 facilitators, 1 scribe, 1 sponsor', what waits for a missing role); no
    gaps are named while the community has no members at all (a new install)."""
    from mailbot.jobs import policy
    from mailbot.moderation.roles import roles_with

    def held_by(roles: Sequence[str]) -> int:
        return sum(counts.get(r, 0) for r in roles)

    total = sum(counts.values())
    if not total:
        return "", []
    parts = [f"{counts.get(r, 0)} {r}{'' if counts.get(r, 0) == 1 else 's'}" for r in ("facilitator", "scribe", "sponsor")]
    gaps = []
    # Who may do what is the permission table's (moderation.roles), as the jobs that mail them ask.
    if not held_by(roles_with("approve-held")):
        gaps.append("no facilitator: held posts wait until they expire")
    summary_roles = tuple(policy.setting(community, "summary_roles"))
    if not held_by(summary_roles):
        gaps.append(f"nobody receives the weekly summary (summary_roles: {', '.join(summary_roles)})")
    if community.scribe_review and not held_by(roles_with("publish-knowledge")):
        gaps.append("scribe_review is on but nobody is a scribe: entries stay drafts")
    return f"{total} members: {', '.join(parts)}", gaps
