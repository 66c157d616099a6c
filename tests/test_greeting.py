"""Opening salutations left out of what threads and entries keep, and lines that only look like one."""

from __future__ import annotations

import pytest

from mailbot.mail.greeting import is_greeting, without_greeting


@pytest.mark.parametrize(
    "line",
    [
        "Hi all,", "Hello everyone!", "Hi Suda,", "Dear colleagues,", "Dear KM-IT members,", "Good morning all",
        "Hey team", "Dear Mr. Lee,", "Hi there",
        "สวัสดีครับ", "สวัสดีค่ะ ทุกท่าน", "สวัสดีครับทุกท่าน", "สวัสดีครับ คุณสุดา", "สวัสดีค่ะคุณสุดา รักเรียน",
        "เรียน ทุกท่าน", "เรียนพี่ ๆ ทุกคน", "สวัสดีครับพี่ๆ", "สวัสดีตอนเช้าค่ะ", "เรียน สมาชิก KM-IT ทุกท่าน",
        "สวัสดีครับ อาจารย์สมชาย",
    ],
)  # fmt: skip
def test_greetings(line: str) -> None:
    assert is_greeting(line)


@pytest.mark.parametrize(
    "line",
    [
        "Hi all, my printer on floor 3 stopped printing this morning",
        "Hello, does anyone know how to reset the VPN password?",
        "Hi all, quick question",
        "Dear all, the new policy starts Monday and everyone must re-register",
        "High CPU on the file server",
        "Helloworld is the first program",
        "สวัสดีครับ เครื่องพิมพ์ชั้น 3 เสีย",
        "สวัสดีครับ พี่ๆ ใครเคยใช้ VPN บ้าง",
        "เรียนรู้การใช้ VPN ได้ที่ไหน",
        "เรียนภาษาอังกฤษออนไลน์",
        "สวัสดีปีใหม่ 2570 ขอให้ทุกคนมีความสุข แล้วก็ขอถามเรื่องเครื่องพิมพ์ชั้นสามหน่อยครับ",
    ],
)
def test_not_greetings(line: str) -> None:
    assert not is_greeting(line)


def test_the_greeting_line_and_the_blank_under_it_go() -> None:
    text = "Hi all,\n\nMy VPN password expired.\nHow do I reset it?"
    assert without_greeting(text) == "My VPN password expired.\nHow do I reset it?"
    assert without_greeting("\nสวัสดีค่ะ ทุกท่าน\nเปลี่ยนไปใช้คลื่น 5GHz ค่ะ") == "เปลี่ยนไปใช้คลื่น 5GHz ค่ะ"


def test_a_greeting_alone_is_kept_and_only_the_first_line_counts() -> None:
    assert without_greeting("สวัสดีครับ") == "สวัสดีครับ"  # nothing else was said
    text = "Restart the spooler.\nHi all, also check the queue."
    assert without_greeting(text) == text
