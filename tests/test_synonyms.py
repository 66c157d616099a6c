"""Search synonyms (rules/synonyms.toml): a query finds entries written with another spelling or in the
other language, by e-mail and on the CLI, on SQLite and PostgreSQL; a broken file stops start-up."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from mailbot.app import StartupError
from mailbot.knowledge import search
from mailbot.knowledge.models import KbEntry
from mailbot.knowledge.search import index_entry
from mailbot.knowledge.synonyms import SynonymError, Synonyms, load_synonyms, synonyms_for
from mailbot.store.db import transaction
from mailbot.store.queries import community_row
from tests.helpers import START, make_app, settings_for
from tests.test_commands_support import make_bot

REPO = Path(__file__).resolve().parent.parent
SHIPPED = synonyms_for(str(REPO / "rules"))

ENTRIES = [
    # (title, question, answer): each written one way only
    ("เครื่องพิมพ์ชั้น 3 ใช้งานไม่ได้", "สั่งงานแล้วไม่ออก", "ลบงานค้างในคิว แล้วรีสตาร์ทเครื่อง"),
    ("ต่อไวไฟไม่ได้", "โน้ตบุ๊กหาสัญญาณไม่เจอ", "ลืมเครือข่ายแล้วเชื่อมต่อใหม่ ใส่รหัสผ่านอีกครั้ง"),
    ("Outlook keeps asking for my password", "After the update Outlook prompts every hour", "Remove the saved e-mail credentials and sign in again"),
    ("อัพเดทโปรแกรมไม่ผ่าน", "ขึ้นข้อความผิดพลาด", "ดาวน์โหลดตัวติดตั้งใหม่จากหน้าเว็บฝ่ายไอที"),
]


@pytest.fixture
def kb(db_url: str, tmp_path: Path) -> Any:
    app = make_app(settings_for(db_url, tmp_path))
    with transaction(app.sessions) as s:
        cid = community_row(s, "km-it").id
        for n, (title, question, answer) in enumerate(ENTRIES, 1):
            e = KbEntry(
                community_id=cid, number=n, title=title, question=question, answer=answer,
                status="published", topic="", created_at=START, updated_at=START,
            )  # fmt: skip
            s.add(e)
            s.flush()
            index_entry(s, e)
    app.cid = cid  # type: ignore[attr-defined]
    yield app
    app.engine.dispose()


def _found(app: Any, query: str, synonyms: Synonyms = SHIPPED, **kw: Any) -> set[int]:
    with app.sessions() as s:
        return {h.number for h in search.search(s, app.cid, query, synonyms=synonyms, **kw)}


def test_another_spelling_or_language_finds_the_entry(kb: Any) -> None:
    assert _found(kb, "printer") == {1}  # written เครื่องพิมพ์
    assert _found(kb, "ปริ้นเตอร์") == {1}
    assert _found(kb, "wi-fi") == {2}  # two tokens, matched as a phrase against ไวไฟ
    assert _found(kb, "wifi") == {2}
    assert _found(kb, "laptop") == {2}  # โน้ตบุ๊ก
    assert _found(kb, "restart") == {1}  # รีสตาร์ท
    assert _found(kb, "อัปเดต") == {3, 4}  # อัพเดท in Thai, update in English
    assert _found(kb, "รหัสผ่าน") == {2, 3}  # password in English
    assert _found(kb, "อีเมล") == {3}  # e-mail, a phrase in the entry


def test_without_the_file_only_the_words_as_written_match(kb: Any) -> None:
    none = Synonyms()
    assert _found(kb, "printer", none) == set()
    assert _found(kb, "wi-fi", none) == set()
    assert _found(kb, "อัปเดต", none) == set()
    assert _found(kb, "อัพเดท", none) == {4}


def test_a_query_that_fills_the_page_as_written_is_not_widened(kb: Any) -> None:
    # Its first results, and its cost, stay what they were without synonyms.
    assert _found(kb, "รหัสผ่าน", limit=1) == {2}
    assert _found(kb, "รหัสผ่าน", limit=2) == {2, 3}  # one as written: widened to fill the page


def test_every_word_still_has_to_match_first(kb: Any) -> None:
    # Both words through their synonyms, in one entry: only that one, not the "any word" fallback.
    assert _found(kb, "wifi password") == {2}
    assert _found(kb, "password update") == {3}


def test_longest_phrase_of_a_group_wins_and_other_words_stand_alone() -> None:
    syn = Synonyms((("wi-fi", "ไวไฟ"), ("wi", "wireless")))
    words = syn.expand(["wi", "fi", "หลุด", "wi"])
    assert words == [(("wi", "fi"), ("ไวไฟ",)), (("หลุด",),), (("wi",), ("wireless",))]
    # A word with synonyms is never dropped as a stop word; a plain stop word is.
    assert search.query_words("the printer", SHIPPED)[1][0][-1] == ("printer",)
    assert len(search.query_words("the printer", SHIPPED)[1]) == 1


def test_two_groups_sharing_a_phrase_are_named_in_the_log(caplog: pytest.LogCaptureFixture) -> None:
    # Different text, the same tokens: only segmenting tells, which start-up does not do.
    syn = Synonyms((("wi-fi", "ไวไฟ"), ("wi fi", "wireless")))
    with caplog.at_level("WARNING", logger="mailbot.search"):
        assert syn.expand(["wi", "fi"]) == [(("wi", "fi"), ("ไวไฟ",))]
    assert "'wi fi' (group #2) is also in group #1" in caplog.text


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('[[group]]\nwords = ["wifi", "wi-fi"]\n[[group]]\nwords = ["WiFi", "ไวไฟ"]\n', "'wifi' is already in group #1"),
        ('[[group]]\nwords = ["printer"]\n', "at least two different words"),
        ('[[group]]\nwords = ["printer", "PRINTER"]\n', "at least two different words"),
        ('[[group]]\nwords = ["printer", "!!"]\n', "no letters or digits"),
        ('[[group]]\nwords = "printer, ปริ้นเตอร์"\n', "words must be a list"),
        ('[[group]]\nwords = ["a", "b"]\nweight = 2\n', "only `words"),
        ('[[synonym]]\nwords = ["a", "b"]\n', "unknown keys"),
        ("[[group]\n", "not valid TOML"),
    ],
)
def test_a_wrong_file_is_refused_with_the_reason(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "synonyms.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SynonymError, match=problem):
        load_synonyms(path)


def test_shipped_file_is_valid_and_each_word_is_found_by_the_others(tmp_path: Path) -> None:
    groups = load_synonyms(REPO / "rules" / "synonyms.toml").groups
    assert len(groups) >= 20
    assert load_synonyms(tmp_path / "absent.toml").groups == ()
    # Every word of every group expands to its whole group: nothing is shadowed by a longer phrase.
    from mailbot.knowledge.segment import tokens

    for words in groups:
        group = SHIPPED.expand(tokens(words[0]))
        assert len(group) == 1 and len(group[0]) == len(words), words
        for w in words:
            assert SHIPPED.expand(tokens(w)) == group, w


def test_search_by_email_uses_the_synonyms(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bot = make_bot(db_url, tmp_path, monkeypatch)
    try:
        bot.member("suda@example.net", name="Suda")
        with transaction(bot.app.sessions) as s:
            cid = community_row(s, "km-it").id
            e = KbEntry(
                community_id=cid, number=1, title="ต่อไวไฟชั้น 4 ไม่ได้", question="หาสัญญาณไม่เจอ",
                answer="ลืมเครือข่ายแล้วเชื่อมต่อใหม่", status="published", topic="wifi",
                created_at=START, updated_at=START,
            )  # fmt: skip
            s.add(e)
            s.flush()
            index_entry(s, e)
        bot.outbox()
        bot.command("suda@example.net", "search wi-fi")
        [reply] = bot.outbox("command-search-results")
        assert "ต่อไวไฟชั้น 4 ไม่ได้" in reply.text
    finally:
        bot.app.engine.dispose()


def test_a_broken_synonyms_file_stops_start_up(sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(REPO / "rules", rules)
    (rules / "synonyms.toml").write_text('[[group]]\nwords = ["printer"]\n', encoding="utf-8")
    with pytest.raises(StartupError, match="synonyms: synonyms.toml group #1: needs at least two"):
        make_bot(sqlite_url, tmp_path, monkeypatch, rules_dir=rules)
