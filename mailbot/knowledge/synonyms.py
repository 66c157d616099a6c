"""Search synonyms from rules/synonyms.toml: spellings and words that mean the same thing (อัปเดต /
อัพเดท / update, ปริ้นเตอร์ / เครื่องพิมพ์ / printer), so a query finds entries written with any of them.
Query-side only: the index is unchanged, so an edited file takes effect at the next start, with no rebuild.
"""

from __future__ import annotations

import logging
import tomllib
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

log = logging.getLogger("mailbot.search")

# One word of a query: the token phrases any of which may match it (a phrase: consecutive tokens).
Alternatives = tuple[tuple[str, ...], ...]


class SynonymError(ValueError):
    """synonyms.toml is wrong; the message names the group and the problem."""


def _key(word: str) -> str:
    return " ".join(unicodedata.normalize("NFC", word).casefold().split())


@dataclass
class Synonyms:
    """Groups of words that mean the same; turned into token phrases on first use (segmenting needs
    PyThaiNLP's dictionary, which start-up does not load)."""

    groups: tuple[tuple[str, ...], ...] = ()
    _built: tuple[dict[tuple[str, ...], int], list[Alternatives], int] | None = field(
        default=None, repr=False, compare=False
    )

    def _build(self) -> tuple[dict[tuple[str, ...], int], list[Alternatives], int]:
        from mailbot.knowledge.segment import tokens

        phrases: dict[tuple[str, ...], int] = {}
        alternatives: list[Alternatives] = []
        longest = 0
        for i, words in enumerate(self.groups):
            alts = tuple(dict.fromkeys(p for p in (tuple(tokens(w)) for w in words) if p))
            alternatives.append(alts)
            for p in alts:
                first = phrases.setdefault(p, i)
                if first != i:
                    # Two spellings the loader told apart ("wi-fi", "wi fi") segment alike; it could
                    # not see that without the dictionary start-up does not load. The first group wins.
                    log.warning("synonyms: %r (group #%d) is also in group #%d; it widens to group #%d",
                                " ".join(p), i + 1, first + 1, first + 1)  # fmt: skip
                longest = max(longest, len(p))
        # One assignment: threads searching at the same time see all of it or build their own.
        self._built = (phrases, alternatives, longest)
        return self._built

    def expand(self, toks: Sequence[str]) -> list[Alternatives]:
        """A query's tokens as words with their alternatives, in order; the longest phrase of a group
        that the tokens spell wins ('wi fi' before 'wi'); a token in no group stands alone."""
        phrases, alternatives, longest = self._built or self._build()
        out: list[Alternatives] = []
        i = 0
        while i < len(toks):
            for n in range(min(longest, len(toks) - i), 0, -1):
                group = phrases.get(tuple(toks[i : i + n]))
                if group is not None:
                    out.append(alternatives[group])
                    i += n
                    break
            else:
                out.append(((toks[i],),))
                i += 1
        return out


NO_SYNONYMS = Synonyms()


def load_synonyms(path: Path) -> Synonyms:
    """Read and validate synonyms.toml; a missing file means no synonyms."""
    if not path.exists():
        return Synonyms()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SynonymError(f"{path}: not valid TOML: {exc}") from None
    unknown = set(data) - {"group"}
    if unknown:
        raise SynonymError(f"{path.name}: unknown keys {sorted(unknown)} (write [[group]] tables)")
    groups: list[tuple[str, ...]] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(data.get("group", []), start=1):
        if not isinstance(raw, dict) or set(raw) - {"words"}:
            raise SynonymError(f"{path.name} group #{i}: only `words = [...]` is allowed")
        words = raw.get("words")
        if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            raise SynonymError(f"{path.name} group #{i}: words must be a list of strings")
        keys = list(dict.fromkeys(_key(w) for w in words))
        if len(keys) < 2:
            raise SynonymError(f"{path.name} group #{i}: needs at least two different words")
        for k in keys:
            if not any(ch.isalnum() for ch in k):
                raise SynonymError(f"{path.name} group #{i}: {k!r} has no letters or digits")
            if k in seen:
                # A word in two groups would make one query mean two different things.
                raise SynonymError(f"{path.name} group #{i}: {k!r} is already in group #{seen[k]}")
            seen[k] = i
        groups.append(tuple(keys))
    return Synonyms(tuple(groups))


@lru_cache(maxsize=8)
def synonyms_for(rules_dir: str) -> Synonyms:
    return load_synonyms(Path(rules_dir) / "synonyms.toml")
