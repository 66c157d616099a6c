"""Thai-aware knowledge search: one set of tests, run on SQLite (FTS5) and on PostgreSQL twice: ranked
by the RUM index (migration 0008) and, with that index dropped, by ts_rank over the GIN index."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from mailbot.knowledge import search
from mailbot.knowledge.entries import edit_entry
from mailbot.knowledge.models import KbDoc, KbEntry, Thread
from mailbot.knowledge.search import index_entry, index_thread
from mailbot.knowledge.segment import segment, tokens
from mailbot.knowledge.synonyms import synonyms_for
from mailbot.store.db import make_engine, transaction, upgrade
from mailbot.store.queries import community_row
from tests.helpers import START, make_app, settings_for

ENTRIES = [
    # (title, question, answer, status)
    ("เครื่องพิมพ์ชั้น 3 ใช้งานไม่ได้", "สั่งพิมพ์แล้วไม่ออก", "ลบงานค้างในคิว แล้วรีสตาร์ทเครื่อง", "published"),
    ("ต่อไวไฟไม่ได้", "โน้ตบุ๊กหาสัญญาณไม่เจอ", "ลืมเครือข่ายแล้วเชื่อมต่อใหม่ ใส่รหัสผ่านอีกครั้ง", "published"),
    ("Printers on floor 5 jam", "Paper jams every morning", "Use 80 gsm paper and clean the rollers", "published"),
    ("วิธีทำ AAR", "ทำ AAR หลังโครงการอย่างไร", "ถามสี่คำถาม คาดหวังอะไร เกิดอะไรขึ้น ต่างกันเพราะอะไร ครั้งหน้าทำอย่างไร", "published"),
    ("สแกนเอกสารเป็น PDF", "สแกนแล้วได้ไฟล์ภาพ", "ตั้งค่าเครื่องให้บันทึกเป็น pdf และใช้ ocr", "draft"),
    ("ปริ้นสีไม่ออก", "ปริ้นงานสีออกมาเป็นขาวดำ", "เปลี่ยนตลับหมึกสีแล้วล้างหัวพิมพ์", "published"),
]


@pytest.fixture(params=["sqlite", "postgresql", "postgresql-ts_rank"])
def db_url(request: pytest.FixtureRequest) -> str:
    """SQLite; PostgreSQL as migrated (with the RUM index); PostgreSQL without it (ts_rank)."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    url = str(request.getfixturevalue("pg_url"))
    engine = make_engine(url)
    upgrade(engine)
    with engine.begin() as conn:
        made = conn.execute(text("SELECT to_regclass('ix_kb_docs_tsv_rank') IS NOT NULL")).scalar()
        assert made, "migration 0008 made no RUM index: install postgresql-NN-rum (make install-test does)"
        if request.param == "postgresql-ts_rank":
            conn.execute(text("DROP INDEX ix_kb_docs_tsv_rank"))
    engine.dispose()
    return url


@pytest.fixture
def kb(db_url: str, tmp_path: Path) -> Any:
    app = make_app(settings_for(db_url, tmp_path))
    with transaction(app.sessions) as s:
        cid = community_row(s, "km-it").id
        for n, (title, question, answer, status) in enumerate(ENTRIES, 1):
            e = KbEntry(
                community_id=cid, number=n, title=title, question=question, answer=answer,
                status=status, topic="", created_at=START, updated_at=START,
            )
            s.add(e)
            s.flush()
            index_entry(s, e)
    app.cid = cid  # type: ignore[attr-defined]
    return app


def _numbers(app: Any, query: str, **kw: Any) -> list[int]:
    with app.sessions() as s:
        return [h.number for h in search.search(s, app.cid, query, **kw)]


def test_segment_splits_thai_and_keeps_it_slang_whole() -> None:
    assert segment("เครื่องพิมพ์ที่ชั้น3ปริ้นไม่ออก") == "เครื่องพิมพ์ ที่ ชั้น 3 ปริ้น ไม่ ออก"
    assert "ไวไฟ" in tokens("ต่อไวไฟไม่ได้")
    assert segment("Printers, PRINTING & Wi-Fi!") == "printer print wi fi"
    assert segment("") == "" and segment("  \n ") == ""


def test_thai_word_inside_a_longer_run_is_found(kb: Any) -> None:
    # "เครื่องพิมพ์" appears only inside unspaced Thai ("เครื่องพิมพ์ชั้น 3 ...").
    assert _numbers(kb, "เครื่องพิมพ์") == [1]


def test_short_thai_words_work(kb: Any) -> None:
    assert _numbers(kb, "ปริ้น") == [6]
    assert set(_numbers(kb, "ไม่")) == {1, 2, 6}  # a stop word still finds when it is the whole query


def test_english_is_case_folded_and_stemmed(kb: Any) -> None:
    assert _numbers(kb, "PRINTER") == [3]
    assert _numbers(kb, "jamming rollers") == [3]


def test_all_words_first_then_any_word(kb: Any) -> None:
    assert _numbers(kb, "ไวไฟ รหัสผ่าน") == [2]
    # No entry has both words: fall back to entries with either.
    assert set(_numbers(kb, "ไวไฟ หมึก")) == {2, 6}


def test_drafts_are_hidden_unless_asked(kb: Any) -> None:
    assert _numbers(kb, "pdf") == []
    assert _numbers(kb, "pdf", include_hidden=True) == [5]


def test_title_outranks_body(kb: Any) -> None:
    with transaction(kb.sessions) as s:
        e = KbEntry(community_id=kb.cid, number=7, title="นโยบายรหัสผ่านใหม่", question="", answer="ต้องเปลี่ยนทุก 90 วัน",
                    status="published", topic="", created_at=START, updated_at=START)
        s.add(e)
        s.flush()
        index_entry(s, e)
    # Entry 2 has รหัสผ่าน only in its answer; entry 7 in its title.
    assert _numbers(kb, "รหัสผ่าน") == [7, 2]


def test_solved_entry_outranks_open_thread(kb: Any) -> None:
    with transaction(kb.sessions) as s:
        t = Thread(community_id=kb.cid, number=40, subject="เครื่องพิมพ์ เครื่องพิมพ์ เครื่องพิมพ์ ค้าง",
                   status="open", topic="", question_text="เครื่องพิมพ์ค้างอีกแล้ว", root_message_id="",
                   asker_email="x@example.org", asker_name="x", answer_count=0, created_at=START, updated_at=START)
        s.add(t)
        s.flush()
        index_thread(s, t)
    with kb.sessions() as s:
        hits = search.search(s, kb.cid, "เครื่องพิมพ์")
    assert [(h.kind, h.number) for h in hits] == [("entry", 1), ("thread", 40)]
    assert _numbers(kb, "เครื่องพิมพ์", entries_only=True) == [1]


def test_edit_reindexes_in_the_same_transaction(kb: Any) -> None:
    with transaction(kb.sessions) as s:
        e = s.scalars(select(KbEntry).where(KbEntry.number == 2)).one()
        edit_entry(s, e, now=START, answer="เปิดปิด access point แล้วลองใหม่")
    assert _numbers(kb, "รหัสผ่าน") == []
    assert _numbers(kb, "access point") == [2]
    with kb.sessions() as s:
        assert s.scalar(select(KbDoc.answer_seg).where(KbDoc.kind == "entry", KbDoc.ref_id == e.id)) == segment(
            "เปิดปิด access point แล้วลองใหม่"
        )


def test_other_communities_entries_are_not_found(kb: Any) -> None:
    assert _numbers(kb, "เครื่องพิมพ์") == [1]
    with kb.sessions() as s:
        assert search.search(s, kb.cid + 999, "เครื่องพิมพ์") == []


def test_queries_with_punctuation_and_quotes_never_break(kb: Any) -> None:
    for q in ['"', "AND OR NOT", "*", "'; DROP TABLE kb_docs; --", "NEAR(a b)", "เครื่องพิมพ์\"", "!!!", ""]:
        _numbers(kb, q)  # must not raise
    assert _numbers(kb, "เครื่องพิมพ์\"") == [1]


def test_beginning_of_a_word_is_tried_when_nothing_matches_exactly(db_url: str, tmp_path: Path) -> None:
    app = make_app(settings_for(db_url, tmp_path))
    with transaction(app.sessions) as s:
        cid = community_row(s, "km-it").id
        e = KbEntry(
            community_id=cid, number=1, title="ปริ้นเตอร์ชั้นสองกระดาษติด", question="กระดาษติดบ่อย",
            answer="ใช้กระดาษ 80 แกรม", status="published", topic="", created_at=START, updated_at=START,
        )
        s.add(e)
        s.flush()
        index_entry(s, e)
    app.cid = cid  # type: ignore[attr-defined]
    assert _numbers(app, "ปริ้น") == [1]  # only the beginning of ปริ้นเตอร์
    assert _numbers(app, "ปริ้นเตอร์") == [1]
    assert _numbers(app, "สแกนเนอร์") == []


def test_sqlite_candidate_shortcut_ranks_exactly_as_joining_every_match(sqlite_url: str, tmp_path: Path) -> None:
    """SQLite scores matches alone and joins only the best 100 to kb_docs; whatever the filters,
    limits and ties, the rows must be those of joining and filtering every match first."""
    import random

    from mailbot.config import CommunitySettings
    from mailbot.knowledge.search import _Ask, _ranked, _ranked_every_match, _ranked_sqlite_top

    communities = [
        CommunitySettings(slug="km-it", address="km-it@example.org", subject_prefix="[KM-IT]"),
        CommunitySettings(slug="km-net", address="km-net@example.org", subject_prefix="[KM-NET]"),
    ]
    app = make_app(settings_for(sqlite_url, tmp_path, communities=communities))
    words = ["printer", "wifi", "vpn", "driver", "ไวไฟ", "หลุด", "รหัสผ่าน", "ปริ้นเตอร์"]
    rng = random.Random(6)
    with transaction(app.sessions) as s:
        cid, other = community_row(s, "km-it").id, community_row(s, "km-net").id
        for ref in range(1, 601):
            # Few words per field and repeated texts: many equal scores, so ties must break alike.
            fields = [" ".join(rng.choices(words, k=rng.randint(1, 3))) for _ in range(3)]
            if ref % 5 == 0 or ref % 13 == 0:  # open threads lead on "setup": few solved in the best 100
                fields[0 if ref % 5 == 0 else 2] += " setup"
            s.add(KbDoc(
                community_id=cid if ref % 7 else other, kind="entry" if ref % 5 else "thread", ref_id=ref,
                solved=ref % 5 != 0 and ref % 3 != 0, visible=ref % 11 != 0,
                title_seg=segment(fields[0]), answer_seg=segment(fields[1]), body_seg=segment(fields[2]),
            ))  # fmt: skip
        for ref in range(601, 751):  # 150 equal scores across the cut at 100: the newest must win
            s.add(KbDoc(community_id=cid, kind="entry", ref_id=ref, solved=True, visible=True,
                        title_seg="backup", answer_seg="", body_seg=""))  # fmt: skip
    paths = {"shortcut": 0, "full": 0}
    with app.sessions() as s:
        plain = (["printer"], ["wifi", "vpn"], ["ไวไฟ", "หลุด"], ["ปริ้นเตอร์", "driver"], ["รหัสผ่าน"], ["setup"], ["setup", "wifi"], ["backup"])
        shipped = synonyms_for(str(Path(__file__).resolve().parent.parent / "rules"))
        widened = [search.query_words(q, shipped)[1] for q in ("wi-fi รหัสผ่าน", "printer", "setup ไวไฟ")]
        for query in [[((t,),) for t in q] for q in plain] + widened:
            for any_term in (False, True):
                for limit in (1, 10, 40):
                    for entries_only in (False, True):
                        for hidden in (False, True):
                            ask = _Ask(cid, query, any_term, limit, entries_only, hidden)
                            expected = _ranked_every_match(s, ask)
                            assert _ranked(s, ask) == expected, ask
                            paths["full" if _ranked_sqlite_top(s, ask) is None else "shortcut"] += 1
    assert paths["shortcut"] and paths["full"], paths  # both ways were taken and both agreed


def test_postgresql_rank_index_finds_what_ts_rank_finds(pg_url: str, tmp_path: Path) -> None:
    """The RUM path must apply the same filters and order (solved first, then nearest) as ranking
    every match with ts_rank; for one-word queries its distance is 1 / ts_rank, so the scores agree
    too. (For several words RUM weighs how close they stand, so only the matches are compared.)"""
    import random

    from mailbot.config import CommunitySettings
    from mailbot.knowledge.search import (
        _Ask,
        _ranked,
        _ranked_by_index,
        _ranked_every_match,
        has_rank_index,
    )

    communities = [
        CommunitySettings(slug="km-it", address="km-it@example.org", subject_prefix="[KM-IT]"),
        CommunitySettings(slug="km-net", address="km-net@example.org", subject_prefix="[KM-NET]"),
    ]
    app = make_app(settings_for(pg_url, tmp_path, communities=communities))
    words = ["printer", "wifi", "vpn", "driver", "ไวไฟ", "หลุด", "รหัสผ่าน", "ปริ้นเตอร์", "x", "y"]
    rng = random.Random(8)
    with transaction(app.sessions) as s:
        cid, other = community_row(s, "km-it").id, community_row(s, "km-net").id
        for ref in range(1, 401):
            fields = [" ".join(rng.choices(words, k=rng.randint(1, 5))) for _ in range(3)]
            s.add(KbDoc(
                community_id=cid if ref % 7 else other, kind="entry" if ref % 5 else "thread", ref_id=ref,
                solved=ref % 5 != 0, visible=ref % 11 != 0,
                title_seg=segment(fields[0]), answer_seg=segment(fields[1]), body_seg=segment(fields[2]),
            ))  # fmt: skip
    with app.sessions() as s:
        assert has_rank_index(s)
        for query in (["printer"], ["ไวไฟ"], ["vpn"], ["wifi", "vpn"], ["ไวไฟ", "หลุด"], ["ปริ้นเตอร์", "driver"]):
            q = [((t,),) for t in query]
            for any_term in (False, True):
                for entries_only in (False, True):
                    for hidden in (False, True):
                        ask = _Ask(cid, q, any_term, 1000, entries_only, hidden)
                        assert _ranked(s, ask) == _ranked_by_index(s, ask)
                        every, by_index = _ranked_every_match(s, ask), _ranked_by_index(s, ask)
                        assert every, ask
                        # The same matches, solved ones first, each group nearest first.
                        assert {r[:3] for r in by_index} == {r[:3] for r in every}, ask
                        assert [r[2] for r in by_index] == sorted((r[2] for r in by_index), reverse=True)
                        for solved in (True, False):
                            scores = [r[3] for r in by_index if r[2] is solved]
                            assert scores == sorted(scores, reverse=True)
                        if len(query) == 1:
                            assert [r[3] for r in by_index] == pytest.approx([r[3] for r in every], rel=1e-5)
                        # A short page is the long page's beginning, up to rows of equal score.
                        short = _ranked_by_index(s, _Ask(cid, q, any_term, 7, entries_only, hidden))
                        assert [r[3] for r in short] == [r[3] for r in by_index[:7]]


def test_without_leave_to_create_the_rum_extension_search_ranks_with_ts_rank(pg_url: str, tmp_path: Path) -> None:
    """A role that may not create extensions (a managed server, a shared cluster): the migration
    leaves the RUM index out instead of failing, and search works on ts_rank."""
    import psycopg

    from mailbot.knowledge.search import has_rank_index

    admin, _, rest = pg_url.partition("://")[2].partition("@")
    hostport, _, name = rest.partition("/")
    with psycopg.connect(f"postgresql://{admin}@{hostport}/{name}", autocommit=True) as conn:
        conn.execute(
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'mailbot_plain') "
            "THEN CREATE ROLE mailbot_plain LOGIN NOSUPERUSER; END IF; END $$"
        )
        conn.execute(f'ALTER DATABASE "{name}" OWNER TO mailbot_plain')
        conn.execute("ALTER SCHEMA public OWNER TO mailbot_plain")
        assert conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'rum'").fetchone()
    app = make_app(settings_for(pg_url.replace(f"//{admin}@", "//mailbot_plain@"), tmp_path))
    with transaction(app.sessions) as s:
        cid = community_row(s, "km-it").id
        for n, title in enumerate(["เครื่องพิมพ์ชั้น 3 ใช้งานไม่ได้", "ต่อไวไฟไม่ได้"], 1):
            e = KbEntry(community_id=cid, number=n, title=title, question="", answer="", status="published",
                        topic="", created_at=START, updated_at=START)  # fmt: skip
            s.add(e)
            s.flush()
            index_entry(s, e)
    with app.sessions() as s:
        assert not has_rank_index(s)
        assert s.execute(text("SELECT count(*) FROM pg_extension WHERE extname = 'rum'")).scalar() == 0
        assert [h.number for h in search.search(s, cid, "เครื่องพิมพ์")] == [1]
    # `mailbot check` tells the operator, without failing: search works, only slower at scale.
    advice = [r for r in app.check(network=False) if r.name == "search index"]
    assert len(advice) == 1 and advice[0].ok and "postgresql-NN-rum" in advice[0].detail


def test_check_reports_the_rum_index_on_postgresql_only(db_url: str, tmp_path: Path) -> None:
    app = make_app(settings_for(db_url, tmp_path))
    shown = {r.name: r for r in app.check(network=False)}
    assert all(r.ok for r in shown.values()), shown
    if db_url.startswith("sqlite"):
        assert "search index" not in shown
    else:
        with app.sessions() as s:
            has = s.execute(text("SELECT to_regclass('ix_kb_docs_tsv_rank') IS NOT NULL")).scalar()
        assert ("in the RUM index" in shown["search index"].detail) is bool(has)
