"""A reply's sign-off is left out of what threads and knowledge entries keep, by the sender's names."""

from __future__ import annotations

import pytest

from mailbot.mail.signoff import without_sign_off

NAMES = ("Suda R.", "สุดา รักเรียน")


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("ลองเปลี่ยนไปใช้คลื่น 5GHz ครับ\n\nสุดา", "ลองเปลี่ยนไปใช้คลื่น 5GHz ครับ"),
        ("ลองเปลี่ยนไปใช้คลื่น 5GHz\nขอบคุณค่ะ\nสุดา รักเรียน", "ลองเปลี่ยนไปใช้คลื่น 5GHz"),
        ("ลองรีสตาร์ทดูค่ะ\n\nขอบคุณค่ะ สุดา", "ลองรีสตาร์ทดูค่ะ"),
        ("ลองรีสตาร์ทดูค่ะ\nคุณสุดา", "ลองรีสตาร์ทดูค่ะ"),
        ("Restart the router.\n\nThanks,\nSuda", "Restart the router."),
        ("Restart the router.\nBest regards, Suda R.", "Restart the router."),
        ("Use the new gateway.\n\nBest regards,\nSuda R.\nIT Support", "Use the new gateway."),
        ("ลองรีสตาร์ท\n\nขอบคุณค่ะ\nสุดา รักเรียน\nส่วนเครือข่าย\nโทร 1234", "ลองรีสตาร์ท"),
    ],
)
def test_a_closing_that_names_the_sender_is_left_out(text: str, kept: str) -> None:
    assert without_sign_off(text, *NAMES) == kept


@pytest.mark.parametrize(
    "text",
    [
        "ให้ติดต่อสุดาที่ส่วนเครือข่าย",  # the name inside the words: what was said
        "Restart it.\nSuda knows the switch room",  # a line that starts with the name but says more
        "Restart it.\nThanks",  # a closing without the name: kept, it may be the point
        "ขอบคุณค่ะ\nสุดา",  # nothing would be left
        "Use the new gateway.\nSuda\nIT Support",  # lines under a bare name: no closing proves a sign-off
        "Restart.\nThanks,\nSuda\nCall me if it fails again, it is usually the cable.",  # a sentence below
        "สุดา",
        "",
    ],
)
def test_anything_else_is_kept_as_written(text: str) -> None:
    assert without_sign_off(text, *NAMES) == text


def test_without_names_nothing_changes_and_short_tokens_never_match() -> None:
    assert without_sign_off("Restart it.\nSuda", "", "") == "Restart it.\nSuda"
    assert without_sign_off("Restart it.\nR", "Suda R.") == "Restart it.\nR"
    # A shared mailbox's name: only a line made of its words goes, never a sentence starting with one.
    assert without_sign_off("It works now.", "IT Support") == "It works now."
    assert without_sign_off("Done.\nIT Support", "IT Support") == "Done."
