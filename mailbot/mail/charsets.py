"""Charset labels to real codecs, and bytes to text that never fails (Thai-aware sniffing).

Fallback order for undecodable or unlabelled 8-bit data: UTF-8, then TIS-620/windows-874 when the
bytes look Thai, then windows-1252 (latin-1 for its five holes) with replacement characters.
"""

from __future__ import annotations

import codecs
import re
from functools import lru_cache

# Labels seen in real mail that Python does not know, or knows under a narrower codec than the
# one senders actually use (Outlook writes windows-874 bytes under a TIS-620 label, and so on).
_ALIASES: dict[str, str] = {
    "tis-620": "cp874",
    "tis620": "cp874",
    "tis_620": "cp874",
    "x-tis620": "cp874",
    "tis-620-2533": "cp874",
    "windows-874": "cp874",
    "x-windows-874": "cp874",
    "ms874": "cp874",
    "iso-8859-11": "cp874",
    "iso8859-11": "cp874",
    "iso_8859-11": "cp874",
    "x-mac-thai": "cp874",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "ksc5601": "cp949",
    "euc-kr": "cp949",
    "gb2312": "gb18030",
    "gb_2312-80": "gb18030",
    "gb2312-80": "gb18030",
    "x-gbk": "gb18030",
    "gbk": "gb18030",
    "cn-gb": "gb18030",
    "euc-cn": "gb18030",
    "big5": "big5hkscs",
    "x-big5": "big5hkscs",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "x-sjis": "cp932",
    "sjis": "cp932",
    "iso-8859-8-i": "iso-8859-8",
    "iso-8859-8-e": "iso-8859-8",
    "iso-8859-6-i": "iso-8859-6",
    "iso-8859-6-e": "iso-8859-6",
    "unicode-1-1-utf-7": "utf-7",
    "x-unicode-2-0-utf-7": "utf-7",
    "utf8": "utf-8",
    "x-utf-8": "utf-8",
    # Pure ASCII decodes identically as UTF-8, and 8-bit data under an ASCII label is far more often
    # UTF-8 than anything else; if it is not, the fallback chain records it.
    "us-ascii": "utf-8",
    "ascii": "utf-8",
    "ansi_x3.4-1968": "utf-8",
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "l1": "cp1252",
}

# Labels that say "we do not know": go straight to sniffing, and say so in the defects.
_UNKNOWN = {"", "x-unknown", "unknown", "unknown-8bit", "x-unknown-8bit", "default", "x-user-defined",
            "8bit", "none", "charset", "binary"}

# Codecs Python knows but that are not charsets: never apply them to mail content.
_FORBIDDEN = {"undefined", "unicode-escape", "raw-unicode-escape", "idna", "punycode", "mbcs",
              "oem", "unicode-internal", "string-escape"}

# Single-byte codecs under which valid multi-byte UTF-8 is almost surely a mislabel.
_SINGLE_BYTE = re.compile(r"^(cp12\d\d|cp874|cp437|cp850|cp866|iso8859-\d+|koi8-[ru]|mac-[\w-]+|tis-620)$")

_HIGH = re.compile(rb"[\x80-\xff]")


@lru_cache(maxsize=256)
def codec_for(label: str | None) -> str | None:
    """Python codec name for a MIME charset label, or None when it is unknown/unusable."""
    if label is None:
        return None
    key = label.strip().strip("\"'").strip().lower()
    key = key.split("*", 1)[0]  # RFC 2231 language suffix: utf-8*th
    if key in _UNKNOWN or len(key) > 40:
        return None
    key = _ALIASES.get(key, key)
    try:
        info = codecs.lookup(key)
    except (LookupError, ValueError):
        return None
    if info.name in _FORBIDDEN or not getattr(info, "_is_text_encoding", True):
        return None
    return info.name




def looks_thai(data: bytes) -> bool:
    """True when 8-bit bytes read as TIS-620/windows-874 Thai rather than Latin text.

    Thai text in TIS-620 is mostly high bytes and mostly consonants (0xA1-0xCE); Latin-1 accents
    land in 0xC0-0xFF and are sparse lowercase vowels (0xE0-0xFF), so the consonant share
    separates the two.
    """
    high = _HIGH.findall(data)
    if not high:
        return False
    n = len(high)
    thai = sum(1 for b in high if 0xA1 <= b[0] <= 0xDA or 0xDF <= b[0] <= 0xFB)
    consonants = sum(1 for b in high if 0xA1 <= b[0] <= 0xCE)
    if thai < 0.95 * n or consonants < 0.3 * n:
        return False
    try:
        data.decode("cp874")
    except UnicodeDecodeError:
        return False
    return True


def _is_utf8_multibyte(data: bytes) -> bool:
    if not _HIGH.search(data):
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _fallback(data: bytes) -> tuple[str, str]:
    """Decode unlabelled or undecodable bytes; returns (text, codec actually used)."""
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    if looks_thai(data):
        return data.decode("cp874"), "cp874"
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return data.decode("latin-1", errors="replace"), "latin-1"


def decode_bytes(data: bytes, label: str | None, *, default: str | None = "utf-8") -> tuple[str, str | None]:
    """Decode `data` declared as `label`; returns (text, defect note or None). Never raises.

    `default` is the codec assumed when there is no label at all (no note is recorded when the
    bytes decode under it).
    """
    if not data:
        return "", None
    if label is None or not label.strip():
        if default is not None and not _HIGH.search(data):
            return data.decode("ascii"), None
        text, used = _fallback(data)
        if used == "utf-8":
            return text, None
        return text, f"charset: no charset declared for 8-bit data; decoded as {used}"
    codec = codec_for(label)
    if codec is None:
        text, used = _fallback(data)
        if not _HIGH.search(data):
            return text, None  # an unknown label on plain ASCII changes nothing a user sees
        return text, f"charset: unknown charset {label.strip()[:40]!r}; decoded as {used}"
    if _SINGLE_BYTE.match(codec):
        if _is_utf8_multibyte(data):
            return data.decode("utf-8"), f"charset: declared {label.strip()[:40]!r} but data is UTF-8"
        if codec in ("cp1252", "iso8859-1") and looks_thai(data):
            return data.decode("cp874"), f"charset: declared {label.strip()[:40]!r} but data looks Thai; decoded as cp874"
    try:
        text = data.decode(codec)
    except (UnicodeDecodeError, LookupError, ValueError, TypeError):
        text, used = _fallback(data)
        return text, f"charset: data is not valid {label.strip()[:40]!r}; decoded as {used}"
    if codec == "utf-7" and "\x00" in text:
        text = text.replace("\x00", "")
    return text, None
