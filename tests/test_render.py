"""Templates in digests/ and mailbot.render: validation, escaping, Thai output, inlined CSS."""

from __future__ import annotations

import re
import shutil
import tomllib
import unicodedata
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbot.config import DEMO_COMMUNITY
from mailbot.render import (
    LANGS,
    Renderer,
    TemplateError,
    community_context,
    excerpt,
    format_date,
    format_hours,
    nl2br,
)

DIGESTS = Path(__file__).resolve().parent.parent / "digests"
REQUIRED = [
    "nonmember-notice",
    "held-for-moderation",
    "command-reply",
    "help",
    "search-results",
    "kb-entry",
    "accept-refused",
    "related-entries",
    "welcome",
    "confirm",
]
XSS = "<script>alert(1)</script>"
THAI = re.compile(r"[\u0e00-\u0e7f]")
# Real tag names only: plain text legitimately holds "<someone@example.org>" and "kb <number>".
HTML_TAG = re.compile(
    r"</?(?:html|head|body|style|p|br|div|span|a|strong|code|table|tr|td|th|ul|li|h1|h2)\b[^>]*>",
    re.IGNORECASE,
)


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(DIGESTS)


def sample(name: str) -> dict[str, Any]:
    data = tomllib.loads((DIGESTS / "samples.toml").read_text(encoding="utf-8"))
    return {**data["_shared"], **data[name]}


def test_shipped_templates_validate(renderer: Renderer) -> None:
    assert renderer.validate() == []


def test_every_required_template_is_shipped(renderer: Renderer) -> None:
    assert set(REQUIRED) <= set(renderer.names())


@pytest.mark.parametrize("name", REQUIRED)
def test_every_template_renders_in_both_languages(renderer: Renderer, name: str) -> None:
    th = renderer.render(name, "th", **sample(name))
    en = renderer.render(name, "en", **sample(name))
    for out in (th, en):
        assert out.subject and "\n" not in out.subject and out.subject == out.subject.strip()
        assert out.subject.startswith("[KM-IT]")
        assert out.text.strip() and out.html.lstrip().startswith("<!DOCTYPE html>")
        assert not HTML_TAG.search(out.text), out.text
        assert "&lt;" not in out.text and "&amp;" not in out.text  # text is never HTML-escaped
        assert "\n-- \n" in out.text  # signature separator that MUAs strip from replies
    assert th.text != en.text and th.subject != en.subject
    # Each language speaks its own words, not just the sample data's.
    assert "สวัสดี" in th.text or "บันทึกความรู้" in th.text or "เรียน" in th.text
    assert 'lang="th"' in th.html and 'lang="en"' in en.html
    assert "ต้องการความช่วยเหลือ" in th.text and "Help:" in en.text


def test_member_script_is_escaped_in_html(renderer: Renderer) -> None:
    held = dict(sample("held-for-moderation")["held"], subject=XSS, excerpt=f"hi {XSS} bye")
    ctx = {**sample("held-for-moderation"), "held": held}
    for lang in LANGS:
        out = renderer.render("held-for-moderation", lang, **ctx)
        assert "<script" not in out.html.lower()
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out.html
        assert XSS in out.subject  # subjects are not HTML: no entities there
        assert XSS in out.text


def test_member_text_with_newlines_is_escaped_before_line_breaks(renderer: Renderer) -> None:
    entry = dict(sample("kb-entry")["entry"], question=f"line one\n{XSS}\n<b>bold</b> & co")
    out = renderer.render("kb-entry", "th", **{**sample("kb-entry"), "entry": entry})
    assert "<script" not in out.html and "<b>bold</b>" not in out.html
    assert "line one<br>\n&lt;script&gt;alert(1)&lt;/script&gt;<br>\n&lt;b&gt;bold" in out.html
    assert "&amp; co" in out.html
    assert f"{XSS}\n<b>bold</b> & co" in out.text


def test_nonmember_notice_subject_from_member_is_escaped(renderer: Renderer) -> None:
    out = renderer.render(
        "nonmember-notice", "en", **{**sample("nonmember-notice"), "subject": XSS}
    )
    assert "<script" not in out.html and "&lt;script&gt;" in out.html


def test_thai_renders_with_buddhist_dates(renderer: Renderer) -> None:
    out = renderer.render("kb-entry", "th", **sample("kb-entry"))
    assert "17 พ.ย. 2569" in out.text and "17 พ.ย. 2569" in out.html
    assert "บันทึกความรู้ #12: ทำ AAR อย่างไรให้ทีมกล้าพูด" in out.subject
    assert "#Q7" in out.text  # the community's thread tag
    en = renderer.render("kb-entry", "en", **sample("kb-entry"))
    assert "17 Nov 2026" in en.text and "2569" not in en.text
    held = renderer.render("held-for-moderation", "th", **sample("held-for-moderation"))
    assert "20 พ.ย. 2569 17:00 น." in held.text


def test_css_is_inlined(renderer: Renderer) -> None:
    out = renderer.render("welcome", "th", **sample("welcome"))
    assert "<style" not in out.html
    assert out.html.count('style="') > 10
    body = re.search(r"<body[^>]*>", out.html)
    assert body and "Sarabun" in body.group(0) and "Leelawadee UI" in body.group(0)
    assert re.search(r'class="wrap"[^>]*style="[^"]*max-width: ?640px', out.html)
    assert "mailto:km-it-request@example.org?subject=help" in out.html  # footer: help by mail


def test_mailto_links_encode_thai_commands(renderer: Renderer) -> None:
    out = renderer.render("nonmember-notice", "th", **sample("nonmember-notice"))
    assert "mailto:km-it-request@example.org?subject=%E0%B8%AA%E0%B8%A1%E0%B8%B1" in out.html


def test_tokens_in_subjects(renderer: Renderer) -> None:
    held = renderer.render("held-for-moderation", "th", **sample("held-for-moderation"))
    assert "moderate k3p9x2m4q7ab" in held.subject
    for action in ("subscribe", "unsubscribe"):
        ctx = {**sample("confirm"), "action": action}
        for lang in LANGS:
            assert "confirm a1b2c3d4e5f6" in renderer.render("confirm", lang, **ctx).subject
    th_unsub = renderer.render("confirm", "th", **{**sample("confirm"), "action": "unsubscribe"})
    assert "เลิกรับ" in th_unsub.subject


def test_command_reply_lists_each_kind_and_optional_extra(renderer: Renderer) -> None:
    ctx = {**sample("command-reply")}
    del ctx["extra_text"]  # optional: absent must not be an error
    out = renderer.render("command-reply", "en", **ctx)
    assert "Results:" in out.text and "Not understood:" in out.text and "  - สมัครรับข่าว" in out.text
    empty = renderer.render(
        "command-reply", "en", **{**ctx, "done": [], "not_understood": [], "ignored": []}
    )
    assert "We found no command" in empty.text and "Results:" not in empty.text


def test_search_without_results_suggests_next_step(renderer: Renderer) -> None:
    out = renderer.render("search-results", "th", **{**sample("search-results"), "results": []})
    assert "ยังไม่พบ" in out.text and "km-it@example.org" in out.text and "(0 รายการ)" in out.subject


def test_community_context_from_settings_renders(renderer: Renderer) -> None:
    out = renderer.render(
        "welcome", "th", community=community_context(DEMO_COMMUNITY), member={"name": "สมหญิง"}
    )
    assert out.subject == "[KM-IT] ยินดีต้อนรับสู่ ชุมชนนักปฏิบัติ KM-IT"
    assert "km-it-request@localhost" in out.text


def test_community_may_be_an_object(renderer: Renderer) -> None:
    out = renderer.render("accept-refused", "en", community=DEMO_COMMUNITY,
                          thread={"number": 9, "subject": "VPN", "asker_name": "Lek"})  # fmt: skip
    assert "#Q9" in out.subject and "km-it@localhost" in out.text


# --- failures are clear --------------------------------------------------------------------------


@pytest.fixture
def digests_copy(tmp_path: Path) -> Path:
    target = tmp_path / "digests"
    shutil.copytree(DIGESTS, target)
    return target


def test_missing_variable_fails_validation_naming_template_and_variable(digests_copy: Path) -> None:
    path = digests_copy / "welcome.th.txt.j2"
    path.write_text(path.read_text(encoding="utf-8") + "{{ member.nickname }}\n", encoding="utf-8")
    html = digests_copy / "confirm.en.html.j2"
    html.write_text(
        html.read_text(encoding="utf-8").replace("<p>Hello,</p>", "<p>Hello {{ greeting }},</p>"),
        encoding="utf-8",
    )
    problems = Renderer(digests_copy).validate()
    assert len(problems) == 2, problems
    welcome = next(p for p in problems if "welcome.th.txt.j2" in p)
    assert "nickname" in welcome and "samples.toml [welcome]" in welcome
    confirm = next(p for p in problems if "confirm.en.html.j2" in p)
    assert "'greeting' is undefined" in confirm and "confirm.en.html.j2:3" in confirm


def test_missing_variable_in_shared_layout_names_the_layout(digests_copy: Path) -> None:
    layout = digests_copy / "_layout.html.j2"
    layout.write_text(
        layout.read_text(encoding="utf-8").replace(
            "{{ community.name }}</td>", "{{ community.motto }}</td>"
        ),
        encoding="utf-8",
    )
    problems = Renderer(digests_copy).validate()
    assert problems and all("_layout.html.j2" in p and "motto" in p for p in problems)


def test_missing_language_or_part_fails_validation(digests_copy: Path) -> None:
    (digests_copy / "help.en.subject.j2").unlink()
    (digests_copy / "welcome.th.html.j2").unlink()
    problems = Renderer(digests_copy).validate()
    assert any(p.startswith("help.en.subject.j2: missing") for p in problems)
    assert any(p.startswith("welcome.th.html.j2: missing") for p in problems)


def test_syntax_error_and_missing_sample_fail_validation(digests_copy: Path) -> None:
    (digests_copy / "confirm.th.txt.j2").write_text("สวัสดี\n{% if %}\n", encoding="utf-8")
    for part in ("subject", "txt", "html"):
        for lang in LANGS:
            (digests_copy / f"brand-new.{lang}.{part}.j2").write_text("x {{ y }}", encoding="utf-8")
    problems = Renderer(digests_copy).validate()
    assert any("confirm.th.txt.j2:2: syntax error" in p for p in problems), problems
    assert "samples.toml: no [brand-new] table of sample variables" in problems


def test_html_in_text_part_fails_validation(digests_copy: Path) -> None:
    path = digests_copy / "welcome.en.txt.j2"
    path.write_text("<p>Hello {{ member.name }}</p>\n", encoding="utf-8")
    assert Renderer(digests_copy).validate() == [
        "welcome.en.txt.j2: plain-text part contains HTML tags"
    ]


def test_render_errors_are_template_errors(renderer: Renderer) -> None:
    with pytest.raises(
        TemplateError, match=r"nonmember-notice\.th\.subject\.j2.*'subject' is undefined"
    ):
        renderer.render("nonmember-notice", "th", community=sample("welcome")["community"])
    with pytest.raises(TemplateError, match="not found"):
        renderer.render("no-such-template", "th")
    with pytest.raises(TemplateError, match="unknown language"):
        renderer.render("welcome", "fr", **sample("welcome"))
    with pytest.raises(TemplateError, match="kebab-case"):
        renderer.render("../etc/passwd", "th")


def test_missing_templates_folder_is_one_clear_problem(tmp_path: Path) -> None:
    assert Renderer(tmp_path / "nope").validate() == [
        f"{tmp_path / 'nope'}: templates folder not found"
    ]


# --- filters -------------------------------------------------------------------------------------


def test_format_date() -> None:
    assert format_date(date(2026, 11, 17), "th") == "17 พ.ย. 2569"
    assert format_date(date(2026, 11, 17), "en") == "17 Nov 2026"
    assert format_date(datetime(2027, 1, 2, 8, 5), "th", time=True) == "2 ม.ค. 2570 08:05 น."
    assert format_date("2026-03-04T10:00:00", "en") == "4 Mar 2026"
    assert format_date(None, "th") == ""
    assert format_date("not a date", "th") == "not a date"


def test_moments_in_mail_are_on_the_community_clock(renderer: Renderer) -> None:
    from datetime import UTC
    from zoneinfo import ZoneInfo

    bkk = ZoneInfo("Asia/Bangkok")
    # 18:06 UTC is 01:06 the next day in Bangkok: the day changes too.
    assert format_date(datetime(2026, 12, 14, 18, 6, tzinfo=UTC), "th", time=True, tz=bkk) == "15 ธ.ค. 2569 01:06 น."
    assert format_date(datetime(2026, 12, 14, 18, 6), "en", tz=bkk) == "15 Dec 2026"  # naive: UTC, as stored
    assert format_date(date(2026, 12, 14), "th", tz=bkk) == "14 ธ.ค. 2569"  # a day stays that day
    ctx = sample("held-for-moderation")
    ctx["held"] = {**ctx["held"], "expires_at": datetime(2026, 12, 14, 18, 6, tzinfo=UTC)}
    out = renderer.render("held-for-moderation", "th", **ctx)
    assert "15 ธ.ค. 2569 01:06 น." in out.text and "18:06" not in out.text


@pytest.mark.parametrize(
    ("hours", "th", "en"),
    [
        (None, "-", "-"),
        (0.005, "ไม่ถึง 1 นาที", "under a minute"),
        (0.42, "25 นาที", "25 minutes"),
        (1 / 60, "1 นาที", "1 minute"),
        (1.0, "1 ชั่วโมง", "1 hour"),
        (5.5, "5.5 ชั่วโมง", "5.5 hours"),
        (47.9, "47.9 ชั่วโมง", "47.9 hours"),
        (72, "3 วัน", "3 days"),
        (50, "2.1 วัน", "2.1 days"),
    ],
)
def test_spans_of_time_read_as_people_say_them(hours: float | None, th: str, en: str) -> None:
    assert (format_hours(hours, "th"), format_hours(hours, "en")) == (th, en)


def test_weekly_summary_shows_a_fast_first_answer_in_minutes(renderer: Renderer) -> None:
    ctx = sample("weekly-summary")
    ctx["summary"] = {**ctx["summary"], "median_first_answer_hours": 0.42}
    out = renderer.render("weekly-summary", "th", **ctx)
    assert "25 นาที" in out.text and "0.42" not in out.text and "25 นาที" in out.html


def test_weekly_summary_names_a_question_solved_without_an_accepted_answer(renderer: Renderer) -> None:
    """Closed by a knowledge entry (`kb 12 ได้ผล`) or by a bare #solved: no dangling "solved: "."""
    ctx = sample("weekly-summary")
    closed = {"number": 44, "subject": "VPN หลุด", "asker": "สุดา", "topic": "vpn", "outcome": "solved", "answers": 0,
              "accepted_excerpt": "", "accepted_author": ""}  # fmt: skip
    ctx["summary"] = {**ctx["summary"], "threads": [closed]}
    th, en = renderer.render("weekly-summary", "th", **ctx), renderer.render("weekly-summary", "en", **ctx)
    assert "#Q44 VPN หลุด — แก้ได้แล้ว\n" in th.text.replace("\r\n", "\n") and "แก้ได้แล้ว:" not in th.html
    assert "#Q44 VPN หลุด — solved\n" in en.text.replace("\r\n", "\n")


def test_an_entry_without_a_topic_leaves_the_topic_out(renderer: Renderer) -> None:
    """No topic matched ("shared drive"): no "Topic: -" in the entry or in search results."""
    entry = {**sample("kb-entry")["entry"], "topic": "", "thread_number": 7}
    for lang, label in (("th", "หัวข้อ:"), ("en", "Topic:")):
        out = renderer.render("kb-entry", lang, **{**sample("kb-entry"), "entry": entry})
        assert label not in out.text and label not in out.html and "#Q7" in out.text
        results = sample("search-results")
        results["results"] = [{**r, "topic": ""} for r in results["results"]]
        found = renderer.render("search-results", lang, **results)
        assert label not in found.text and label not in found.html
        assert ("      สถานะ: " if lang == "th" else "      Status: ") in found.text  # still under its entry
        assert "\n\n  [31]" in found.text.replace("\r\n", "\n")  # a blank line between results


def test_english_counts_agree_with_their_nouns(renderer: Renderer) -> None:
    """ "1 answer", "1 message", "1 thread" in English mail, not "1 answers"."""
    ctx = sample("weekly-summary")
    one = {**ctx["summary"]["threads"][1], "answers": 1}
    contributor = {**ctx["summary"]["top_contributors"][0], "posts": 1}
    ctx["summary"] = {**ctx["summary"], "threads": [one], "top_contributors": [contributor], "messages": 1}
    ctx["summary"]["new_questions"] = 1
    rendered = renderer.render("weekly-summary", "en", **ctx)
    text = rendered.text
    assert rendered.subject.endswith(": 1 new question")
    assert "1 answer, still open" in text and "(1 message)" in text and "— 1 message\n" in text
    assert "answers, still open" not in text and "1 messages" not in text
    digest = sample("member-digest")
    digest["threads"] = digest["threads"][:1]
    digest["message_count"] = 1
    out = renderer.render("member-digest", "en", **digest)
    assert "1 thread, 1 message" in out.subject and "1 thread, 1 message" in out.text


def test_excerpt_cuts_at_thai_word_boundary() -> None:
    text = "การจัดการความรู้ในองค์กรต้องเริ่มจากคน"
    out = excerpt(text, 12)
    assert out.endswith("…") and len(out) <= 12
    assert out == "การจัดการ…"  # not "การจัดการควา…"
    assert excerpt("short", 10) == "short"
    assert excerpt("hello   wonderful\nworld", 14) == "hello…"
    assert excerpt("  a\n b  ", 10) == "a b"


def test_excerpt_long_token_falls_back_to_clusters() -> None:
    out = excerpt("ดู https://example.org/" + "a" * 80, 30)
    assert len(out) <= 30 and out.startswith("ดู https://example.org/aaa")


def test_nl2br_escapes_first() -> None:
    assert nl2br("<i>a</i>\r\nb") == "&lt;i&gt;a&lt;/i&gt;<br>\nb"


@settings(max_examples=150, deadline=None)
@given(
    st.text(alphabet=st.sampled_from("กขคงจเแโใไาำิีึืุู่้๊๋็์ัะ abcXYZ.,\n"), max_size=120),
    st.integers(min_value=2, max_value=60),
)
def test_excerpt_properties(text: str, n: int) -> None:
    out = excerpt(text, n)
    flat = " ".join(text.split())
    assert len(out) <= n
    if len(flat) <= n:
        assert out == flat
    else:
        kept = out.removesuffix("…")
        assert out.endswith("…") and flat.startswith(kept)
        # never strand a tone mark or vowel sign from its consonant
        assert not kept or unicodedata.category(flat[len(kept)]) not in ("Mn", "Mc")


def test_english_search_results_name_an_entry_status_as_members_would(renderer: Renderer) -> None:
    # "stale" and "published" are the database's words; a member reads "may be out of date".
    ctx = sample("search-results")
    ctx["results"] = [{**ctx["results"][0], "status": "stale"}, {**ctx["results"][1], "status": "published"}]
    out = renderer.render("search-results", "en", **ctx)
    assert "Status: may be out of date" in out.text and "Status: current" in out.text
    assert "Status: stale" not in out.text and "Status: may be out of date" in out.html
