"""Topic tagging from rules/topics.toml: keyword hits in Thai and English, a `#topic` hashtag overrides."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_HASHTAG = re.compile(r"#([^\s#]+)")


class TopicError(ValueError):
    """topics.toml is wrong; the message names the topic and the problem."""


@dataclass(frozen=True)
class Topic:
    name: str
    label_th: str
    label_en: str
    keywords: tuple[str, ...]

    def label(self, lang: str) -> str:
        return self.label_th if lang == "th" else self.label_en


def _keyword_re(word: str) -> re.Pattern[str]:
    word = word.casefold()
    if word.isascii():
        # English keywords are whole words ("lan" must not hit "plan"); Thai has no word gaps.
        return re.compile(rf"(?<![a-z0-9]){re.escape(word)}(?![a-z0-9])")
    return re.compile(re.escape(word))


@dataclass(frozen=True)
class Topics:
    topics: tuple[Topic, ...]

    def get(self, name: str) -> Topic | None:
        return next((t for t in self.topics if t.name == name), None)

    def by_tag(self, tag: str) -> Topic | None:
        """The topic a hashtag names (its name or either label, case-insensitive)."""
        tag = tag.casefold().strip(".,;:!?")
        for t in self.topics:
            if tag in (t.name, t.label_th.casefold(), t.label_en.casefold().replace(" ", "-")):
                return t
        return None

    def override(self, subject: str, first_line: str) -> Topic | None:
        for m in _HASHTAG.finditer(f"{subject} {first_line}"):
            hit = self.by_tag(m.group(1))
            if hit:
                return hit
        return None

    def classify(self, subject: str, body: str) -> str:
        """Topic name for a question: hashtag override, else most keyword hits ('' if none)."""
        first = next((ln.strip() for ln in body.splitlines() if ln.strip()), "")
        forced = self.override(subject, first)
        if forced:
            return forced.name
        text = f"{subject}\n{subject}\n{body}".casefold()  # the subject counts twice
        best, best_hits = "", 0
        for t in self.topics:
            hits = sum(len(_keyword_re(k).findall(text)) for k in t.keywords)
            if hits > best_hits:
                best, best_hits = t.name, hits
        return best


def load_topics(path: Path) -> Topics:
    """Read and validate topics.toml; a missing file means no topics."""
    if not path.exists():
        return Topics(())
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise TopicError(f"{path}: not valid TOML: {exc}") from None
    out: list[Topic] = []
    for i, raw in enumerate(data.get("topic", [])):
        name = raw.get("name", "")
        if not isinstance(name, str) or not _NAME.match(name):
            raise TopicError(f"{path.name} topic #{i + 1}: name {name!r} must be kebab-case")
        keywords = raw.get("keywords", [])
        if not isinstance(keywords, list) or not all(isinstance(k, str) and k for k in keywords):
            raise TopicError(f"{path.name} topic {name!r}: keywords must be a list of words")
        unknown = set(raw) - {"name", "label_th", "label_en", "keywords"}
        if unknown:
            raise TopicError(f"{path.name} topic {name!r}: unknown keys {sorted(unknown)}")
        if any(t.name == name for t in out):
            raise TopicError(f"{path.name} topic {name!r}: name used twice")
        out.append(
            Topic(name, str(raw.get("label_th", name)), str(raw.get("label_en", name)), tuple(keywords))
        )
    return Topics(tuple(out))


@lru_cache(maxsize=8)
def topics_for(rules_dir: str) -> Topics:
    return load_topics(Path(rules_dir) / "topics.toml")


def topic_label(rules_dir: str, name: str, lang: str) -> str:
    """A topic's label in `lang` for mail ("Wi-Fi" for wifi); the name itself when no topic has it."""
    topic = topics_for(rules_dir).get(name) if name else None
    return topic.label(lang) if topic else name
