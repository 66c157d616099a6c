"""E-mail commands to <list>-request over the real pipeline and database (SQLite and PostgreSQL)."""

from __future__ import annotations

import re

import pytest

from tests.test_commands_support import Bot

pytest_plugins = ("tests.test_commands_support",)  # the `bot` fixture

pytestmark = pytest.mark.timeout(120)


def _token(subject: str) -> str:
    m = re.search(r"confirm ([a-z0-9]{16})", subject)
    assert m, subject
    return m[1]


def test_help_lists_every_command_in_both_spellings(bot: Bot) -> None:
    bot.command("suda@example.net", "help")
    [sent] = bot.outbox()
    assert sent.kind == "command-help" and sent.to == ["suda@example.net"]
    for word in ("subscribe / สมัคร", "unsubscribe / ยกเลิก", "profile / ประวัติ", "who / ใคร", "search / ค้นหา"):
        assert word in sent.text
    assert "approve" not in sent.text  # members do not see facilitator commands


def test_help_also_says_how_to_ask_answer_and_accept_in_the_group(bot: Bot) -> None:
    bot.command("suda@example.net", "help")
    [member] = bot.outbox()
    for words in ('"Q:"', "#Q12", "reply to the question's mail", '"#solved"', '"#accept 2"', '"#tip <title>"'):
        assert words in member.text, words
    assert "(the asker) reply" in member.text and "#kb" not in member.text  # filing is not a member's
    html = member.msg.get_body(("html",))
    assert html is not None and "#solved</code>" in str(html.get_content())
    bot.command("somchai@example.net", "help")
    [facilitator] = bot.outbox()
    assert "(the asker, or you) reply" in facilitator.text and '"#kb"' in facilitator.text


def test_thai_help_spelling_from_a_non_member(bot: Bot) -> None:
    bot.command("stranger@example.com", "ช่วยเหลือ")
    [sent] = bot.outbox()
    assert sent.kind == "command-help" and sent.to == ["stranger@example.com"]


def test_subscribe_round_trip_with_single_use_token(bot: Bot) -> None:
    bot.command("new@example.com", subject="subscribe")
    [confirm] = bot.outbox()  # the confirmation is the whole answer: one mail, as list servers send
    assert confirm.kind == "confirm-subscribe" and confirm.to == ["new@example.com"]
    assert bot.get("new@example.com") is None  # nothing happens before the reply
    assert _token(confirm.subject)  # a code in the subject, so a plain reply carries it back
    # The MUA's reply: "Re:" + subject, body quoting our mail (which itself says "unsubscribe").
    body = "> Someone asked to add new@example.com\n> write unsubscribe to leave\n"
    bot.command("new@example.com", body, subject=f"Re: {confirm.subject}")
    member = bot.get("new@example.com")
    assert member is not None and member.status == "active"
    # One mail: the welcome says it and how to take part; no command reply repeating "welcome".
    assert [s.kind for s in bot.outbox()] == ["welcome"]
    # Replaying the same confirmation does nothing more.
    bot.command("new@example.com", subject=f"Re: {confirm.subject}")
    [again] = bot.outbox()
    assert "already used" in again.text


def test_thai_subscribe_and_unsubscribe(bot: Bot) -> None:
    bot.command("nid@example.com", "สมัคร")
    confirm = bot.outbox("confirm-subscribe")[0]
    bot.command("nid@example.com", "", subject=f"ตอบกลับ: {confirm.subject}")
    assert bot.get("nid@example.com").status == "active"  # type: ignore[union-attr]
    bot.outbox()
    bot.command("nid@example.com", "ยกเลิก")
    confirm = bot.outbox("confirm-unsubscribe")[0]
    assert bot.get("nid@example.com").status == "active"  # type: ignore[union-attr]
    bot.command("nid@example.com", "ok", subject=f"RE: {confirm.subject}")
    assert bot.get("nid@example.com").status == "left"  # type: ignore[union-attr]


def test_nobody_can_subscribe_someone_else(bot: Bot) -> None:
    bot.command("prankster@example.com", "subscribe victim@example.org")
    confirm = bot.outbox("confirm-subscribe", new=False)[0]
    assert confirm.to == ["victim@example.org"]
    # The prankster never sees the code; guessing one or reusing another's fails.
    bot.command("prankster@example.com", f"confirm {_token(confirm.subject)}")
    assert bot.get("victim@example.org") is None
    assert "must be confirmed from victim@example.org" in bot.outbox("command-reply")[-1].text


def test_domain_restricted_joining(db_url, tmp_path, monkeypatch) -> None:
    from tests.test_commands_support import make_bot

    b = make_bot(db_url, tmp_path, monkeypatch, join_policy="domains", allowed_domains=["example.org"])
    b.command("outsider@gmail.com", "subscribe")
    sent = b.outbox()
    assert [s.kind for s in sent] == ["command-reply"]
    assert "open to addresses at example.org only" in sent[0].text
    b.command("insider@example.org", "subscribe")
    assert b.outbox("confirm-subscribe")


def test_join_by_facilitator_approval(db_url, tmp_path, monkeypatch) -> None:
    from tests.test_commands_support import make_bot

    b = make_bot(db_url, tmp_path, monkeypatch, join_policy="approval")
    b.member("somchai@example.net", role="facilitator")
    b.command("new@example.org", "subscribe")
    confirm = b.outbox("confirm-subscribe")[0]
    b.command("new@example.org", subject=f"Re: {confirm.subject}")
    assert b.get("new@example.org") is None
    [held_mail] = b.outbox("held-for-moderation")
    assert held_mail.to == ["somchai@example.net"]
    b.command("somchai@example.net", "approve", subject=f"Re: {held_mail.subject}")
    assert b.get("new@example.org").status == "active"  # type: ignore[union-attr]
    assert b.outbox("welcome")


def test_replies_say_done_not_understood_and_ignored(bot: Bot) -> None:
    body = "\n".join(["who suda", "please fix the printer", *[f"line {i}" for i in range(20)]])
    bot.command("anan@example.net", body)
    [reply] = bot.outbox()
    assert "who: who suda: 1 found" in reply.text
    assert "Not understood" in reply.text and "please fix the printer" in reply.text
    assert "Skipped" in reply.text and "line 19" not in reply.text


def test_profile_and_who_find_by_topic(bot: Bot) -> None:
    body = "profile\nI look after the network at HQ.\nsection: Network\ntopics: wifi, VPN, ไฟร์วอลล์\n\nThanks,\nSuda\n"
    headers = {"Authentication-Results": "mx.example.net; dkim=pass header.d=example.net; dmarc=pass header.from=example.net"}
    bot.command("suda@example.net", body, **headers)
    member = bot.get("suda@example.net")
    assert member is not None and member.section == "Network" and "VPN" in member.expertise
    assert member.intro == "I look after the network at HQ."
    bot.outbox()
    bot.command("anan@example.net", "ใคร ไฟร์วอลล์")
    [reply] = bot.outbox()
    assert "suda@example.net" in reply.text and "somchai" not in reply.text


def test_profile_in_the_subject_takes_the_text_below(bot: Bot) -> None:
    """ "Subject: profile" over a self-introduction: the text is the profile, not lines of unknown commands."""
    headers = {"Authentication-Results": "mx.example.net; dkim=pass header.d=example.net; dmarc=pass header.from=example.net"}
    bot.command("suda@example.net", "ดูแลเครือข่ายที่สำนักงานใหญ่\nส่วนงาน: เครือข่าย", subject="profile", **headers)
    member = bot.get("suda@example.net")
    assert member is not None and member.section == "เครือข่าย" and member.intro == "ดูแลเครือข่ายที่สำนักงานใหญ่"
    [reply] = bot.outbox()
    assert "ยังไม่เข้าใจ" not in reply.text and "not understood" not in reply.text


def test_a_nickname_under_the_commands_is_a_signature(bot: Bot) -> None:
    """ "สมัครค่ะ / มะลิ" from someone the member list does not know yet: the name signs, it is not a
    command to report as not understood; a command word alone at the end still runs."""
    bot.command("mali@example.net", "สมัครค่ะ\n\nมะลิ")
    replies = bot.outbox()
    assert any(r.kind == "confirm" for r in replies) or any("mali@example.net" in r.text for r in replies)
    assert not any("มะลิ" in r.text or "ยังไม่เข้าใจ" in r.text for r in replies)
    bot.command("suda@example.net", "nomail\n\nBob", **{"Authentication-Results": "mx.example.net; dmarc=pass header.from=example.net"})
    assert not any("Bob" in r.text for r in bot.outbox())
    bot.command("suda@example.net", "ค้นหา wifi\n\nช่วยเหลือ")
    assert {r.kind for r in bot.outbox()} >= {"command-search-results", "command-help"}


def test_a_confirmation_answered_in_words_gets_only_the_welcome(bot: Bot) -> None:
    """ "yes please" under "Re: confirm <code>" is how people say yes, not a command to report."""
    bot.command("erin@example.com", "subscribe")
    [confirm] = bot.outbox()
    bot.command("erin@example.com", "Yes please!\n\nErin", subject=f"Re: {confirm.subject}")
    assert [s.kind for s in bot.outbox()] == ["welcome"]
    bot.command("fay@example.com", "subscribe")
    [confirm] = bot.outbox()
    bot.command("fay@example.com", "I would also like to get the weekly summary", subject=f"Re: {confirm.subject}")
    sent = bot.outbox()  # more than a yes is still answered: it may be a request
    assert [s.kind for s in sent] == ["welcome", "command-reply"] and "weekly summary" in sent[1].text


@pytest.mark.parametrize("body", ["Please remove me from this list.", "ขอออกจากกลุ่มค่ะ", "ลบชื่อผมออกด้วยครับ"])
def test_asking_to_leave_in_words_is_unsubscribe(bot: Bot, body: str) -> None:
    bot.command("anan@example.net", body, subject="Re: [KM-IT] something")
    [confirm] = bot.outbox()  # the confirmation is the whole answer, as for "unsubscribe"
    assert confirm.kind == "confirm-unsubscribe" and confirm.to == ["anan@example.net"]


@pytest.mark.parametrize("body", ["Please add me to the list", "ขอเข้าร่วมกลุ่มด้วยค่ะ", "ขอเข้ากลุ่มครับ"])
def test_asking_to_join_in_words_is_subscribe(bot: Bot, body: str) -> None:
    bot.command("new@example.com", body, subject="KM group")
    [confirm] = bot.outbox()
    assert confirm.kind == "confirm-subscribe" and confirm.to == ["new@example.com"]


def test_unauthenticated_state_change_waits_for_confirmation(bot: Bot) -> None:
    bot.command("suda@example.net", "nomail")
    assert bot.get("suda@example.net").delivery == "each"  # type: ignore[union-attr]
    [confirm] = bot.outbox()  # the confirmation lists what waits for it: one mail
    assert confirm.kind == "confirm-commands"
    assert confirm.to == ["suda@example.net"] and "nomail" in confirm.text
    bot.command("suda@example.net", "", subject=f"Re: {confirm.subject}")
    assert bot.get("suda@example.net").delivery == "none"  # type: ignore[union-attr]
    bot.command("suda@example.net", "mail", **{
        "Authentication-Results": "mx.example.net; dmarc=pass (p=reject) header.from=example.net"})
    assert bot.get("suda@example.net").delivery == "each"  # type: ignore[union-attr]


def test_stats_counts_own_posts(bot: Bot) -> None:
    bot.post("anan@example.net", "Sharing a checklist", "Here is our AAR checklist.")
    bot.post("anan@example.net", "Another one", "And a template.")
    bot.outbox()
    bot.command("anan@example.net", "stats")
    [reply] = bot.outbox()
    assert re.search(r"stats: 2 posts", reply.text), reply.text


def test_members_only_commands_refused_for_strangers(bot: Bot) -> None:
    bot.command("stranger@example.com", "who suda")
    [reply] = bot.outbox()
    assert "only members may use this command" in reply.text
    assert "suda@example.net" not in reply.text


def test_feature_commands_from_the_one_table(bot: Bot) -> None:
    bot.command("suda@example.net", "ค้นหา AAR")
    assert [s.kind for s in bot.outbox()] == ["command-search-results"]
    # digest changes one's delivery: immediate when our server authenticated the sender.
    auth = "mx.example.org; dkim=pass header.d=example.net; dmarc=pass header.from=example.net"
    bot.command("suda@example.net", "digest weekly", Authentication_Results=auth)
    assert bot.get("suda@example.net").delivery == "weekly"  # type: ignore[union-attr]


def test_a_subject_that_names_the_body_command_is_only_its_title(bot: Bot) -> None:
    # Mail clients ask for a subject: "ค้นหา" over "ค้นหา AAR" is one search, answered once.
    bot.command("suda@example.net", "ค้นหา AAR", subject="ค้นหา")
    assert [s.kind for s in bot.outbox()] == ["command-search-results"]
    bot.command("suda@example.net", "ช่วยเหลือ", subject="help")
    assert [s.kind for s in bot.outbox()] == ["command-help"]
    # A subject with words of its own is a command of its own: both searches run.
    bot.command("suda@example.net", "search wifi", subject="search AAR")
    assert [s.kind for s in bot.outbox()] == ["command-search-results", "command-search-results"]


def test_thai_reply_lists_results_in_thai_under_one_heading(db_url, tmp_path, monkeypatch) -> None:
    from tests.test_commands_support import make_bot

    b = make_bot(db_url, tmp_path, monkeypatch, language="th")
    b.member("suda@example.net", name="Suda")
    b.outbox()
    b.command("suda@example.net", "ค้นหา AAR\nkb 99")
    reply = next(s for s in b.outbox() if s.kind == "command-reply")
    assert "ผลของแต่ละคำสั่ง" in reply.text and "ทำเรียบร้อยแล้ว" not in reply.text
    assert "ค้นหา “AAR”: พบ 0 รายการ" in reply.text
    assert "kb: ไม่ได้ทำ: ไม่พบบันทึกความรู้หมายเลข 99" in reply.text
    assert "entries" not in reply.text


def test_stats_count_answers_given_not_the_askers_own_replies(bot: Bot) -> None:
    q = bot.post("anan@example.net", "Q: how do I map the shared drive?", "It asks for a password.").message_id
    a = bot.post("suda@example.net", "Re: [KM-IT #Q1] how do I map the shared drive?", "Use your domain login.",
                 In_Reply_To=f"<{q}>", References=f"<{q}>").message_id  # fmt: skip
    bot.post("anan@example.net", "Re: [KM-IT #Q1] how do I map the shared drive?", "#solved\nThanks, it works.",
             In_Reply_To=f"<{a}>", References=f"<{q}> <{a}>")  # fmt: skip
    bot.outbox()
    bot.command("anan@example.net", "stats")
    [asker] = bot.outbox()
    assert "stats: 2 posts, 1 questions, 0 answers, 0 accepted answers" in asker.text, asker.text
    bot.command("suda@example.net", "stats")
    [helper] = bot.outbox()
    assert "stats: 1 posts, 0 questions, 1 answers, 1 accepted answers" in helper.text, helper.text


def test_outlook_thai_confirm_reply_confirms_once_and_says_so_in_thai(db_url, tmp_path, monkeypatch) -> None:
    from tests.test_commands_support import make_bot

    b = make_bot(db_url, tmp_path, monkeypatch, language="th")
    b.command("mali@example.com", "สมัครค่ะ")
    confirm = b.outbox("confirm-subscribe")[0]
    b.outbox()
    # Outlook: "RE:" + our subject (with the code), a polite word, our mail below its header block.
    body = f"ยืนยันค่ะ\n\n________________________________\nFrom: KM-IT\nSent: Monday\nSubject: {confirm.subject}\n"
    b.command("mali@example.com", body, subject=f"RE: {confirm.subject}")
    assert b.get("mali@example.com").status == "active"  # type: ignore[union-attr]
    # Confirmed once (a second try would be answered "not done"): the welcome is the only mail.
    assert [s.kind for s in b.outbox()] == ["welcome"]
    # The same reply sent again: told in Thai that the code was used.
    b.command("mali@example.com", "", subject=f"RE: {confirm.subject}")
    [again] = b.outbox()
    assert "รหัสยืนยันนี้ใช้ไปแล้ว" in again.text and "already used" not in again.text


def test_courtesy_after_a_command_is_not_its_argument(bot: Bot) -> None:
    from mailbot.commands.parse import parse_commands
    from mailbot.commands.table import THAI_PREFIXES, lookup

    parsed = parse_commands("", "ค้นหา AAR ครับ\nhelp please\nยืนยันค่ะ", prefix="[KM-IT]",
                            is_command=lambda w: lookup(w) is not None, takes_body=lambda w: False,
                            max_lines=10, no_space_prefixes=THAI_PREFIXES)  # fmt: skip
    assert [(c.word, c.args) for c in parsed.commands] == [("ค้นหา", "AAR"), ("help", ""), ("ยืนยัน", "")]
    titled = parse_commands("", "tip Always say please", prefix="[KM-IT]", is_command=lambda w: lookup(w) is not None,
                            takes_body=lambda w: False, max_lines=10, no_space_prefixes=THAI_PREFIXES)  # fmt: skip
    assert [(c.word, c.args) for c in titled.commands] == [("tip", "Always say please")]  # a title keeps its words
    bot.command("suda@example.net", "ค้นหา AAR ครับ")
    [results] = bot.outbox()
    assert results.kind == "command-search-results" and "ครับ" not in results.subject


def test_who_on_a_topic_names_those_who_answered_it(bot: Bot) -> None:
    q = bot.post("anan@example.net", "Q: the Wi-Fi on floor 5 keeps dropping?", "Every ten minutes.").message_id
    bot.post("suda@example.net", "Re: [KM-IT #Q1] the Wi-Fi on floor 5 keeps dropping?", "Switch to 5 GHz.",
             In_Reply_To=f"<{q}>", References=f"<{q}>")  # fmt: skip
    bot.outbox()
    for query in ("who wifi", "ใคร ไวไฟ"):  # the topic's name, or a keyword of it, in either language
        bot.command("somchai@example.net", query)
        [reply] = bot.outbox()
        assert "Often answers questions on Wi-Fi:" in reply.text, reply.text
        assert "Suda <suda@example.net>" in reply.text and "anan@" not in reply.text
    bot.command("somchai@example.net", "who printer")
    [none] = bot.outbox()
    assert "who printer: nobody found" in none.text


def test_subscribing_someone_else_tells_the_sender_where_the_code_went(bot: Bot) -> None:
    bot.command("suda@example.net", "subscribe friend@example.net")
    sent = bot.outbox()
    assert sorted(s.kind for s in sent) == ["command-reply", "confirm-subscribe"]
    reply = next(s for s in sent if s.kind == "command-reply")
    assert reply.to == ["suda@example.net"] and "confirmation code sent to friend@example.net" in reply.text


def test_a_new_member_is_named_as_their_mail_signs_them_and_greeted_without_a_blank(db_url, tmp_path, monkeypatch) -> None:
    from tests.test_commands_support import make_bot

    b = make_bot(db_url, tmp_path, monkeypatch, language="th")
    b.command("mali@example.com", "สมัคร")
    confirm = b.outbox("confirm-subscribe")[0]
    b.outbox()
    b.command("มะลิ ใจงาม <mali@example.com>", "", subject=f"RE: {confirm.subject}")
    assert b.get("mali@example.com").name == "มะลิ ใจงาม"  # type: ignore[union-attr]
    [welcome] = b.outbox("welcome")
    assert welcome.text.startswith("สวัสดีคุณมะลิ ใจงาม")
    # A bare address: greeted by the address's local part (held._welcome's fallback), as before.
    b.command("nid@example.com", "สมัคร")
    confirm = b.outbox("confirm-subscribe")[0]
    b.outbox()
    b.command("nid@example.com", "", subject=f"RE: {confirm.subject}")
    [welcome] = b.outbox("welcome")
    assert welcome.text.startswith("สวัสดีคุณnid\r\n"), welcome.text[:40]


def test_a_request_asked_politely_is_the_command(bot: Bot) -> None:
    bot.member("anan@example.net", name="Anan Chang")
    bot.outbox()
    # Subject "search" (the client asked for one), the request in a sentence, a sign-off below.
    bot.command("anan@example.net", "Could you please search for AAR\n\nThanks\nAnan", subject="search")
    [results] = bot.outbox()
    assert results.kind == "command-search-results" and results.subject == '[KM-IT] Search results for "AAR" (0)'
    bot.command("anan@example.net", "รบกวนช่วยค้นหา AAR ให้หน่อยครับ")
    [results] = bot.outbox()
    assert results.subject == '[KM-IT] Search results for "AAR" (0)'
    bot.command("anan@example.net", "ค้นหา AARครับ")  # the particle written onto the word
    assert [s.subject for s in bot.outbox()] == ['[KM-IT] Search results for "AAR" (0)']
    bot.command("anan@example.net", "ขอยกเลิกค่ะ")  # "I'd like to unsubscribe"
    assert [s.kind for s in bot.outbox()] == ["confirm-unsubscribe"]
    # The sign-off is neither a command nor reported back as skipped.
    bot.command("anan@example.net", "stats\n\nThanks,\nAnan")
    [reply] = bot.outbox()
    assert "stats:" in reply.text and "Anan" not in reply.text and "Skipped" not in reply.text, reply.text
    # A line that only starts like a request is still not understood, and said so.
    bot.command("anan@example.net", "Could you tell me who runs the printer")
    [reply] = bot.outbox()
    assert "Not understood" in reply.text and "Could you tell me who runs the printer" in reply.text


def test_a_thank_you_to_the_bot_is_not_answered(bot: Bot) -> None:
    bot.member("anan@example.net", name="Anan Chang")
    bot.outbox()
    # Replies to the bot's own mail that only say thank you: answering "no command found" is noise.
    # Signed with the member list's name, with a nickname it lacks, or not at all.
    for body in ("ขอบคุณค่ะ\n\nอ้อย\n\n> บันทึกความรู้ #2", "Thanks a lot!\nAnan Chang", "ขอบคุณมากครับ"):
        result = bot.command("anan@example.net", body, subject="Re: [KM-IT] Knowledge entry #2 filed")
        assert result.reason == "a thank-you, no command: not answered"
    assert bot.outbox() == []
    # Anything more than thanks is still answered, with what was not understood.
    bot.command("anan@example.net", "Thanks, but I never got the welcome mail")
    [reply] = bot.outbox()
    assert "Thanks, but I never got the welcome mail" in reply.text
    # A request in words is not a thank-you (its answer waits out the once-an-hour limit above).
    result = bot.command("anan@example.net", "Thanks\nplease remove me", subject="Re: hello")
    assert result.reason.startswith("no command found")
