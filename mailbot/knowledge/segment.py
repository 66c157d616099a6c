"""Turn Thai/English text into space-separated search tokens (PyThaiNLP newmm + IT slang; English
case-folded and lightly stemmed). Index and query go through the same function, on every database.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any

# Words members write that the standard dictionary lacks or splits badly ("ปริ้น" would become
# "ป ริ้น"); a word here is kept whole by newmm.
IT_SLANG: tuple[str, ...] = (
    "ปริ้น", "ปริ้นท์", "ปริ๊น", "ปริ้นเตอร์", "พริ้นเตอร์", "พริ้น", "ไวไฟ", "วายฟาย", "อินทราเน็ต",
    "อินเทอร์เน็ต", "อินเตอร์เน็ต", "เน็ต", "เราเตอร์", "เซิร์ฟเวอร์", "เซิฟเวอร์", "ไวรัส", "แอนตี้ไวรัส",
    "โน้ตบุ๊ก", "โน้ตบุ๊ค", "แล็ปท็อป", "อีบุ๊ก", "อีบุ๊ค", "แอคเคาท์", "แอคเคาต์", "พาสเวิร์ด", "รหัสผ่าน",
    "ล็อกอิน", "ล็อคอิน", "รีสตาร์ท", "รีเซ็ต", "อัปเดต", "อัพเดท", "อัพเดต", "ดาวน์โหลด", "อัปโหลด",
    "อัพโหลด", "ไดรเวอร์", "ไดร์เวอร์", "แฟลชไดรฟ์", "ทัมบ์ไดรฟ์", "สแกนเนอร์", "โปรแกรม", "ซอฟต์แวร์",
    "ฮาร์ดแวร์", "อีเมล", "อีเมล์", "เมล", "เมล์", "แชร์ไฟล์", "โฟลเดอร์", "ไฟล์", "แอป", "แอพ",
)  # fmt: skip

_ASCII_WORD = re.compile(r"^[a-z0-9]+$")
# Only letters, digits and combining marks survive inside a token: both FTS5 unicode61 and the
# PostgreSQL parser then see exactly the same words.
_SPLIT = re.compile(r"[^\w\u0e00-\u0e7f]+|_+")


@lru_cache(maxsize=1)
def _trie() -> Any:
    from pythainlp.corpus import thai_words
    from pythainlp.util import Trie

    return Trie(set(thai_words()) | set(IT_SLANG))


def _stem(word: str) -> str:
    """A deliberately small English suffix stripper: printers/printing/printed -> printer/print."""
    if not _ASCII_WORD.match(word) or word.isdigit() or len(word) <= 3:
        return word
    for suffix, keep in (("ies", "y"), ("sses", "ss"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            if suffix == "es" and not word[:-2].endswith(("sh", "ch", "x", "z", "ss")):
                continue  # "issues" -> "issue" via "s", not "issu"
            if suffix == "s" and word.endswith(("ss", "us", "is")):
                return word
            return word[: len(word) - len(suffix)] + keep
    return word


def _clean_token(token: str) -> list[str]:
    token = unicodedata.normalize("NFC", token).casefold()
    return [p for p in _SPLIT.split(token) if p and any(ch.isalnum() for ch in p)]


def tokens(text: str) -> list[str]:
    """Search tokens of `text`, in order (duplicates kept: they count for ranking)."""
    if not text or not text.strip():
        return []
    from pythainlp.tokenize import word_tokenize

    out: list[str] = []
    # newmm is slow on very long runs; a chunk per line keeps it linear and bounded.
    for line in text.splitlines():
        if not line.strip():
            continue
        for raw in word_tokenize(line[:5000], engine="newmm", custom_dict=_trie(), keep_whitespace=False):
            out.extend(_stem(t) for t in _clean_token(raw))
    return out


def segment(text: str) -> str:
    """Space-joined tokens: what the full-text index stores and what queries are matched against."""
    return " ".join(tokens(text))
