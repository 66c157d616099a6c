"""Replies that only say "me too" are not answers; replies that say more are."""

from __future__ import annotations

import pytest

from mailbot.knowledge.metoo import is_me_too


@pytest.mark.parametrize(
    "text",
    [
        "ผมก็เป็นเหมือนกันครับ", "เจอเหมือนกันค่ะ", "+1", "ด้วยคนครับ", "Same here!", "me too", "I have the same problem",
        "ทางนี้ก็โดนครับ", "รอคำตอบด้วยคนค่ะ", "ติดตามครับ", "เป็นเหมือนกันเลยค่ะ 😅", "หนูก็เป็นค่ะ", "same problem here.",
        "Following",
    ],
)  # fmt: skip
def test_me_too(text: str) -> None:
    assert is_me_too(text)


@pytest.mark.parametrize(
    "text",
    [
        "ผมก็เป็นเหมือนกันครับ ลองรีสตาร์ทแล้วหาย", "Same here, restarting the router fixed it for me",
        "เปลี่ยนไปใช้ 5GHz ค่ะ", "ลองรีสตาร์ทครับ", "เป็นเพราะไดรเวอร์เก่าครับ", "Restart the spooler.",
        "เจอเหมือนกัน แก้โดยลบคิวงานพิมพ์", "ติดตั้งไดรเวอร์ใหม่", "ติดต่อ helpdesk 1234 ครับ", "เป็นที่ไดรเวอร์ครับ",
        "", "x" * 100,
    ],
)  # fmt: skip
def test_not_me_too(text: str) -> None:
    assert not is_me_too(text)
