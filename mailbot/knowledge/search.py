"""Thai-aware knowledge search: segmented text in SQLite FTS5 (bm25) or a PostgreSQL tsvector (ranked
by a RUM index where the rum extension is installed, else by ts_rank).

One query shape for both: all words must match (stop words dropped), else any word; solved entries
rank above open threads, then title > accepted answer > body. Index rows are written in the
caller's transaction (triggers / a generated column keep the full-text side in step).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Select, delete, select, text
from sqlalchemy.orm import Session

from mailbot.knowledge.models import KbDoc, KbEntry, Thread
from mailbot.knowledge.segment import segment, tokens
from mailbot.knowledge.synonyms import NO_SYNONYMS, Alternatives, Synonyms
from mailbot.store import direct
from mailbot.store.id_lists import id_in, ids_param

# Field weights. SQLite bm25 takes one per column; PostgreSQL ts_rank takes {D, C, B, A}.
_BM25 = "bm25(kb_fts, 10.0, 4.0, 1.0)"
_PG_WEIGHTS = "'{0.1, 0.2, 0.4, 1.0}'"
# SQLite: matches scored by FTS5 alone before any is joined to kb_docs (see _ranked_sqlite_top).
_CANDIDATES = 100
# bm25 as FTS5 gives it (lower is better), negated only in Python: sorting on -bm25 in SQL cost about
# 0.2 ms more per query at 100,000 entries. Named bm, as FTS5 has a hidden column `rank`. The LIMIT
# inside keeps SQLite from joining before it has cut (a subquery with LIMIT is never flattened).
_SQLITE_CANDIDATES = text(
    f"SELECT c.rowid, c.bm, d.kind, d.ref_id, d.solved, d.community_id, d.visible FROM "
    f"(SELECT rowid, {_BM25} AS bm FROM kb_fts WHERE kb_fts MATCH :q ORDER BY bm, rowid DESC LIMIT :k) AS c "
    "LEFT JOIN kb_docs d ON d.id = c.rowid"  # LEFT: every candidate counts, as the cut is judged on them
)
PAGE = 10  # results a search returns unless asked for another number
MAX_WORDS = 32  # words of a query that count; a pasted page is not 500 terms
_EN_STOP = frozenset(
    ["a", "an", "the", "to", "of", "is", "are", "was", "be", "in", "on", "at", "for", "with", "and", "or", "my", "me", "i", "we", "you", "it", "this", "that", "how", "what", "why", "when", "where", "do", "does", "can", "could", "please"]
)


@lru_cache(maxsize=1)
def _thai_stop() -> frozenset[str]:
    from pythainlp.corpus import thai_stopwords

    return frozenset(thai_stopwords())


@dataclass(frozen=True)
class Hit:
    kind: str  # entry | thread
    ref_id: int
    number: int  # entry number, or thread number for an open thread
    title: str
    excerpt: str
    topic: str
    status: str  # entry status (published/draft/stale) or 'open' for a thread
    solved: bool
    score: float


def query_words(query: str, synonyms: Synonyms = NO_SYNONYMS) -> tuple[list[Alternatives], list[Alternatives]]:
    """The distinct words of `query` as written, and the same widened with their synonyms' token
    phrases (rules/synonyms.toml; equal when none applies), at most MAX_WORDS each. Stop words go
    unless nothing else is left ('ไม่' alone works); a word with synonyms is never a stop word."""
    toks = tokens(query)
    return _content(NO_SYNONYMS.expand(toks))[:MAX_WORDS], _content(synonyms.expand(toks))[:MAX_WORDS]


def _content(expanded: list[Alternatives]) -> list[Alternatives]:
    words = list(dict.fromkeys(expanded))
    content = [w for w in words if len(w) > 1 or len(w[0]) > 1 or not is_stop(w[0][0])]
    return content or words


def is_stop(token: str) -> bool:
    return token in _EN_STOP or token in _thai_stop()


# -- index maintenance -------------------------------------------------------------------------
def _upsert(session: Session, community_id: int, kind: str, ref_id: int, **fields: object) -> None:
    doc = session.scalar(select(KbDoc).where(KbDoc.kind == kind, KbDoc.ref_id == ref_id))
    if doc is None:
        doc = KbDoc(community_id=community_id, kind=kind, ref_id=ref_id)
        session.add(doc)
    for key, value in fields.items():
        setattr(doc, key, value)
    session.flush()


def index_entry(session: Session, entry: KbEntry) -> None:
    """(Re)index an entry; drafts are indexed but hidden from members' searches."""
    _upsert(
        session,
        entry.community_id,
        "entry",
        entry.id,
        solved=True,
        visible=entry.status != "draft",
        title_seg=segment(entry.title),
        answer_seg=segment(entry.answer),
        body_seg=segment(f"{entry.question}\n{entry.topic}"),
    )


def index_thread(session: Session, thread: Thread) -> None:
    """Index an open question so it can be found before anyone files an entry from it."""
    _upsert(
        session,
        thread.community_id,
        "thread",
        thread.id,
        solved=False,
        visible=True,
        title_seg=segment(thread.subject),
        answer_seg="",
        body_seg=segment(f"{thread.question_text}\n{thread.topic}"),
    )


def unindex(session: Session, kind: str, ref_id: int) -> None:
    session.execute(delete(KbDoc).where(KbDoc.kind == kind, KbDoc.ref_id == ref_id))


# -- querying ----------------------------------------------------------------------------------
def _match_sqlite(words: list[Alternatives], any_term: bool, prefix: bool = False) -> str:
    # tokens never contain '"': segment() keeps word chars only. A phrase is its tokens in one quoted
    # string; FTS5 needs AND spelled out after a parenthesised group of alternatives.
    star = " *" if prefix else ""

    def one(word: Alternatives) -> str:
        phrases = [f'"{" ".join(p)}"{star}' for p in word]
        return phrases[0] if len(phrases) == 1 else f"({' OR '.join(phrases)})"

    return (" OR " if any_term else " AND ").join(one(w) for w in words)


def _match_pg(words: list[Alternatives], any_term: bool, prefix: bool = False) -> str:
    suffix = ":*" if prefix else ""

    def phrase(p: tuple[str, ...]) -> str:
        return " <-> ".join(f"'{t}'" for t in p) + suffix

    def one(word: Alternatives) -> str:
        return phrase(word[0]) if len(word) == 1 else f"({' | '.join(phrase(p) for p in word)})"

    return (" | " if any_term else " & ").join(one(w) for w in words)


# Ranking every match, per dialect: (score, where the matches come from, order of the score, the
# MATCH / tsquery text, the sign that turns the score into "higher is better").
_EVERY_MATCH = {
    "postgresql": (
        f"ts_rank({_PG_WEIGHTS}, d.tsv, q)",
        "kb_docs d, to_tsquery('simple', :q) q WHERE d.tsv @@ q",
        "score DESC",
        _match_pg,
        1.0,
    ),
    # bm25 as FTS5 gives it, lower is better: sorted ascending, negated in Python.
    "sqlite": (
        _BM25,
        "kb_fts JOIN kb_docs d ON d.id = kb_fts.rowid WHERE kb_fts MATCH :q",
        "score",
        _match_sqlite,
        -1.0,
    ),
}


@dataclass(frozen=True)
class _Ask:
    """One ranking: the words to match, how, how many rows, and which documents count."""

    community_id: int
    words: list[Alternatives]
    any_term: bool
    limit: int
    entries_only: bool
    include_hidden: bool
    prefix: bool = False

    def where(self) -> str:
        """The filters as SQL on kb_docs `d` (the community is bound as :c)."""
        visible = "" if self.include_hidden else " AND d.visible"
        kind = " AND d.kind = 'entry'" if self.entries_only else ""
        return f" AND d.community_id = :c{visible}{kind}"

    def admits(self, community_id: int, visible: bool, kind: str) -> bool:
        """The same filters, in Python, for rows already read."""
        return (
            community_id == self.community_id
            and (self.include_hidden or visible)
            and (kind == "entry" or not self.entries_only)
        )


def _ranked(session: Session, ask: _Ask) -> list[tuple[str, int, bool, float]]:
    if session.get_bind().dialect.name != "postgresql":
        quick = _ranked_sqlite_top(session, ask)
        if quick is not None:
            return quick
    elif has_rank_index(session):
        return _ranked_by_index(session, ask)
    return _ranked_every_match(session, ask)


# Whether each database has the RUM index (migration 0008), looked up once per engine: an index
# added by hand is used from the next start.
_RANK_INDEX: WeakKeyDictionary[object, bool] = WeakKeyDictionary()


def has_rank_index(session: Session) -> bool:
    """True when PostgreSQL search can rank inside the RUM index `ix_kb_docs_tsv_rank`."""
    bind = session.get_bind()
    engine = getattr(bind, "engine", bind)
    found = _RANK_INDEX.get(engine)
    if found is None:
        found = bool(session.execute(text("SELECT to_regclass('ix_kb_docs_tsv_rank') IS NOT NULL")).scalar())
        _RANK_INDEX[engine] = found
    return found


def _ranked_by_index(session: Session, ask: _Ask) -> list[tuple[str, int, bool, float]]:
    """PostgreSQL with RUM: the index returns matches nearest first (`<=>`, about 1 / rank with the
    same field weights), so a page reads only its own rows; solved entries first, then open threads
    to fill the page. Equal distances come in id order, newest first, among the rows the index gave."""
    # to_tsquery written out each time: with it in FROM, PostgreSQL's generic plan lost the
    # index's order and sorted every match again.
    sql = text(
        "SELECT d.id, d.kind, d.ref_id, d.tsv <=> to_tsquery('simple', :q) AS dist FROM kb_docs d "
        f"WHERE d.tsv @@ to_tsquery('simple', :q){ask.where()} AND d.solved = :s "
        "ORDER BY d.tsv <=> to_tsquery('simple', :q) LIMIT :n"
    )
    q = _match_pg(ask.words, ask.any_term, ask.prefix)
    out: list[tuple[str, int, bool, float]] = []
    for solved in (True, False):
        page = session.execute(sql, {"q": q, "c": ask.community_id, "s": solved, "n": ask.limit - len(out)}).all()
        for _, kind, ref, dist in sorted(page, key=lambda r: (float(r[3]), -int(r[0]))):
            out.append((str(kind), int(ref), solved, 1.0 / float(dist) if dist > 0 else 1e30))
        if len(out) >= ask.limit or ask.entries_only:  # entries are always solved (index_entry)
            break
    return out


def _ranked_every_match(session: Session, ask: _Ask) -> list[tuple[str, int, bool, float]]:
    """Every match joined to kb_docs, filtered, then ranked: PostgreSQL's query without the RUM
    index, and on SQLite the reference that _ranked_sqlite_top must equal (and its fallback)."""
    dialect = "postgresql" if session.get_bind().dialect.name == "postgresql" else "sqlite"
    score, matches, order, match, sign = _EVERY_MATCH[dialect]
    sql = (
        f"SELECT d.kind, d.ref_id, d.solved, {score} AS score FROM {matches}{ask.where()} "
        f"ORDER BY d.solved DESC, {order}, d.id DESC LIMIT :n"
    )
    params = {"q": match(ask.words, ask.any_term, ask.prefix), "c": ask.community_id, "n": ask.limit}
    rows = session.execute(text(sql), params).all()
    return [(str(k), int(r), bool(s), sign * float(sc)) for k, r, s, sc in rows]


def _ranked_sqlite_top(session: Session, ask: _Ask) -> list[tuple[str, int, bool, float]] | None:
    """The rows of _ranked_every_match on SQLite without joining every match to kb_docs; None when
    that cannot be shown exact (then the caller runs the full query).

    FTS5 scores all matches alone (no join) and keeps the best `_CANDIDATES` by (score, id); only
    those are joined and filtered. Any match left out ranks below all of them, so when at least
    `limit` of the kept rows are solved and pass the filters, they are exactly the full query's
    first `limit` rows (solved rows come first there). Joining every match cost as much as scoring it.
    """
    k = max(_CANDIDATES, 4 * ask.limit)
    params: dict[str, object] = {"q": _match_sqlite(ask.words, ask.any_term, ask.prefix), "k": k}
    # One fixed statement, run on the driver: the best k by FTS5 alone, then only those joined to
    # kb_docs; the filters are applied below, in Python, so the statement never changes.
    cands = direct.fetch(session.connection(), _SQLITE_CANDIDATES, params)
    if not cands:
        return []
    rows = sorted(
        (
            (bool(solved), -float(bm), int(doc_id), str(kind), int(ref))
            for doc_id, bm, kind, ref, solved, community, visible in cands
            if ask.admits(community, visible, kind)
        ),
        reverse=True,
    )
    complete = len(cands) < k  # every match was a candidate: the answer is exact as it stands
    if not complete and sum(1 for r in rows if r[0]) < ask.limit:
        return None
    return [(kind, ref, solved, score) for solved, score, _, kind, ref in rows[: ask.limit]]


def search(
    session: Session,
    community_id: int,
    query: str,
    *,
    limit: int = PAGE,
    entries_only: bool = False,
    include_hidden: bool = False,
    any_term: bool | None = None,
    synonyms: Synonyms = NO_SYNONYMS,
) -> list[Hit]:
    """Best matches for `query`. any_term None: all words first, any word when that finds nothing.
    `synonyms` (synonyms_for(rules_dir): rules/synonyms.toml): when the words as written find fewer
    than `limit`, each word may match its synonyms too, and all those matches are ranked together."""
    words, wide = query_words(query, synonyms)
    if not words:
        return []
    modes = [any_term] if any_term is not None else ([False, True] if len(words) > 1 else [False])
    ask = _Ask(community_id, words, False, limit, entries_only, include_hidden)
    rows: list[tuple[str, int, bool, float]] = []
    for mode in modes:
        rows = _ranked(session, replace(ask, any_term=mode))
        if len(rows) < limit and wide != words:
            # Widened only then: a broad query that fills the page as written costs what it did,
            # and its first results never change; the widened matches include these rows.
            rows = _ranked(session, replace(ask, words=wide, any_term=mode))
        if rows:
            break
    if not rows and any_term is None:
        # Nothing for the words, nor their synonyms: try them as beginnings of words, so IT slang
        # finds its longer forms (ปริ้น -> ปริ้นเตอร์, wifi -> wifi6). Only here, so ranking of
        # ordinary queries never changes.
        rows = _ranked(session, replace(ask, words=wide, prefix=True))
    return _hits(session, rows)


@lru_cache(maxsize=4)
def _hit_statements(dialect: str) -> tuple[Select[*tuple[Any, ...]], Select[*tuple[Any, ...]]]:
    """The columns a hit shows, for entries and for threads, built once per dialect: the ids bound as
    one parameter, so the SQL never changes and runs on the SQLite driver (an expanding IN list was
    SQL built per search: 0.49 against 0.07 ms for a page of entries at 100,000)."""
    entries = select(
        KbEntry.id, KbEntry.number, KbEntry.title, KbEntry.answer, KbEntry.topic, KbEntry.status
    ).where(id_in(KbEntry.id, "ids", dialect))
    threads = select(
        Thread.id, Thread.number, Thread.subject, Thread.question_text, Thread.topic
    ).where(id_in(Thread.id, "ids", dialect))
    return entries, threads


def _hits(session: Session, rows: list[tuple[str, int, bool, float]]) -> list[Hit]:
    entry_ids = [r for k, r, _, _ in rows if k == "entry"]
    thread_ids = [r for k, r, _, _ in rows if k == "thread"]
    conn = session.connection()
    dialect = conn.dialect.name
    entry_hits, thread_hits = _hit_statements(dialect)
    entries = {r[0]: r for r in direct.fetch(conn, entry_hits, {"ids": ids_param(entry_ids, dialect)})} if entry_ids else {}
    threads = {r[0]: r for r in direct.fetch(conn, thread_hits, {"ids": ids_param(thread_ids, dialect)})} if thread_ids else {}
    out: list[Hit] = []
    for kind, ref, solved, score in rows:
        if kind == "entry" and ref in entries:
            e_id, number, title, answer, topic, status = entries[ref]
            out.append(Hit("entry", e_id, number, title, answer, topic, status, solved, score))
        elif kind == "thread" and ref in threads:
            t_id, number, subject, question, topic = threads[ref]
            out.append(Hit("thread", t_id, number, subject, question, topic, "open", solved, score))
    return out
