"""Render every message the bot writes from Jinja2 templates in digests/ (Thai and English).

A template is three files, `<name>.<lang>.{subject,txt,html}.j2`; the HTML part gets its CSS inlined.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from types import TracebackType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import css_inline
import jinja2
from markupsafe import Markup, escape

from mailbot.config import CommunitySettings

LANGS = ("th", "en")
PARTS = ("subject", "txt", "html")
SAMPLES_FILE = "samples.toml"
SHARED_SAMPLE = "_shared"  # samples.toml table merged under every template's own sample table
DEFAULT_THREAD_TAG = "#Q{number}"

_NAME_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_FILE_RE = re.compile(r"^(?P<name>[^._][^.]*)\.(?P<lang>[^.]+)\.(?P<part>[^.]+)\.j2$")
# Tags a plain-text part must never contain (a copy-paste slip from the HTML twin).
_HTML_TAG_RE = re.compile(
    r"<\s*/?\s*(?:html|head|body|p|br|div|span|a|b|i|em|strong|table|tr|td|ul|ol|li|h[1-6]|style)\b[^>]*>",
    re.IGNORECASE,
)
_TH_MONTHS = (
    "ม.ค.", "ก.พ.", "มี.ค.", "เม.ย.", "พ.ค.", "มิ.ย.",
    "ก.ค.", "ส.ค.", "ก.ย.", "ต.ค.", "พ.ย.", "ธ.ค.",
)  # fmt: skip
_EN_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_ELLIPSIS = "…"


@dataclass(frozen=True)
class Rendered:
    subject: str  # one line, stripped
    text: str  # plain-text part
    html: str  # HTML part, CSS inlined


class TemplateError(Exception):
    """A template is missing, does not compile, or cannot render with the given context."""


# --- filters -----------------------------------------------------------------------------------


def format_date(
    value: date | datetime | str | None, lang: str, *, time: bool = False, tz: ZoneInfo | None = None
) -> str:
    """'17 พ.ย. 2569' (Buddhist year) in Thai, '17 Nov 2026' in English; `time` adds HH:MM.
    A moment (datetime) is shown in `tz`, the community's clock; a naive one is UTC, as stored."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        raw = value
        try:
            value = datetime.fromisoformat(raw)
        except ValueError:
            return raw  # show what we were given rather than fail a whole notice
    if isinstance(value, datetime) and tz is not None:
        value = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(tz)
    if lang == "th":
        text = f"{value.day} {_TH_MONTHS[value.month - 1]} {value.year + 543}"
    else:
        text = f"{value.day} {_EN_MONTHS[value.month - 1]} {value.year}"
    if time and isinstance(value, datetime):
        text += f" {value:%H:%M}" + (" น." if lang == "th" else "")
    return text


def excerpt(value: Any, n: int = 160) -> str:
    """Flatten whitespace and shorten to at most `n` characters at a word or Thai-cluster boundary."""
    flat = " ".join(str(value).split())
    if len(flat) <= n:
        return flat
    if n <= 1:
        return _ELLIPSIS
    budget = n - 1  # room for the ellipsis
    cut = _word_boundary(flat, budget)
    if cut < budget // 2:  # one long token (a URL, unspaced Thai the dictionary missed)
        cut = max(cut, _cluster_boundary(flat, budget))
    return flat[: _before_marks(flat, cut)].rstrip() + _ELLIPSIS


def _before_marks(text: str, cut: int) -> int:
    """Move `cut` left so no combining mark (Thai vowel sign, tone mark) loses its base."""
    while 0 < cut < len(text) and unicodedata.category(text[cut]) in ("Mn", "Mc"):
        cut -= 1
    return cut


def _last_fit(tokens: list[str], budget: int) -> int:
    pos = 0
    for token in tokens:
        if pos + len(token) > budget:
            break
        pos += len(token)
    return pos


def _word_boundary(text: str, budget: int) -> int:
    # Thai has no spaces between words: use pythainlp's dictionary tokenizer (imported lazily,
    # it costs most of a second). Look a little past the budget so the last word is judged whole.
    from pythainlp.tokenize import word_tokenize

    window = text[: budget + 40]
    tokens = word_tokenize(window, engine="newmm", keep_whitespace=True)
    if "".join(tokens) != window:  # never trust a tokenizer that changed the text
        tokens = re.split(r"(\s+)", window)
    return _last_fit(tokens, budget)


def _cluster_boundary(text: str, budget: int) -> int:
    # Thai Character Clusters keep a consonant with its vowels and tone marks.
    from pythainlp.tokenize import tcc

    window = text[: budget + 8]
    clusters = tcc.segment(window)
    if "".join(clusters) == window:
        cut = _last_fit(clusters, budget)
        if cut:
            return cut
    return budget  # excerpt() then steps back over combining marks


def nl2br(value: Any) -> Markup:
    """Escape first (member text stays text), then turn line breaks into <br>."""
    escaped = str(escape(value))
    return Markup(re.sub(r"\r\n|\r|\n", "<br>\n", escaped))


def _one_decimal(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def format_hours(hours: Any, lang: str) -> str:
    """A span given in hours, as people say it: "25 นาที", "3.5 ชั่วโมง", "2.5 วัน" (or in English).
    Minutes under an hour ("0.4 hours" reads badly), days from two days on, "-" when unknown."""
    if hours is None:
        return "-"
    h, th = max(float(hours), 0.0), lang == "th"
    if h * 60 < 1:
        return "ไม่ถึง 1 นาที" if th else "under a minute"
    if h < 1:
        m = round(h * 60)
        return f"{m} นาที" if th else f"{m} minute{'' if m == 1 else 's'}"
    if h < 48:
        v = _one_decimal(h)
        return f"{v} ชั่วโมง" if th else f"{v} hour{'' if v == '1' else 's'}"
    v = _one_decimal(h / 24)
    return f"{v} วัน" if th else f"{v} days"


@jinja2.pass_context
def _hours_filter(ctx: jinja2.runtime.Context, value: Any) -> str:
    return format_hours(value, str(ctx.get("lang", "en")))


@jinja2.pass_context
def _thai_date_filter(ctx: jinja2.runtime.Context, value: Any, time: bool = False) -> str:
    return format_date(value, str(ctx.get("lang", "en")), time=time, tz=_community_tz(ctx))


def _community_tz(ctx: jinja2.runtime.Context) -> ZoneInfo | None:
    """The community's time zone from the template's `community` (a dict or the settings object)."""
    community = ctx.get("community")
    name = community.get("timezone") if isinstance(community, dict) else getattr(community, "timezone", None)
    try:
        return ZoneInfo(name) if isinstance(name, str) and name else None
    except (ZoneInfoNotFoundError, ValueError):
        return None


def counted(n: int, noun: str, plural: str = "") -> str:
    """English count and noun: `3|counted("message")` is "3 messages", 1 is "1 message"."""
    return f"{n} {noun if n == 1 else (plural or noun + 's')}"


@jinja2.pass_context
def _thread_tag_filter(ctx: jinja2.runtime.Context, number: Any) -> str:
    """7 -> '#Q7', or whatever the community's configured thread_tag says."""
    community = ctx.get("community")
    tag = None
    if isinstance(community, dict):
        tag = community.get("thread_tag")
    elif community is not None:
        tag = getattr(community, "thread_tag", None)
    if not isinstance(tag, str) or "{number}" not in tag:
        tag = DEFAULT_THREAD_TAG
    return tag.replace("{number}", str(number))


# --- renderer ----------------------------------------------------------------------------------


def community_context(c: CommunitySettings) -> dict[str, str]:
    """The `community` value templates expect, built from configured settings."""
    return {
        "name": c.display_name,
        "slug": c.slug,
        "address": c.address,
        "request_address": c.request_address,
        "owner_address": c.owner_address,
        "prefix": c.prefix,
        "language": c.language,
        "archive_url": c.archive_url,
        "thread_tag": c.thread_tag,
        "timezone": c.timezone,  # dates and times in mail are the community's local ones
    }


def _make_env(templates_dir: Path) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir)),
        # Escaping on for HTML so member text can never become live markup in mail we write;
        # off for subjects and plain text, where entities would show up literally.
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html.j2",), default_for_string=False, default=False
        ),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["thai_date"] = _thai_date_filter
    env.filters["hours"] = _hours_filter
    env.filters["excerpt"] = excerpt
    env.filters["nl2br"] = nl2br
    env.filters["thread_tag"] = _thread_tag_filter
    env.filters["counted"] = counted
    return env


def _template_location(tb: TracebackType | None, templates_dir: Path) -> str:
    """'file.j2:LINE' of the innermost template frame (Jinja rewrites frames to template lines)."""
    where = ""
    root = str(templates_dir.resolve())
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith(".j2") and str(Path(filename).resolve()).startswith(root):
            where = f"{Path(filename).name}:{tb.tb_lineno}"
        tb = tb.tb_next
    return where


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _tidy_text(text: str) -> str:
    # Trailing spaces and piles of blank lines come from template logic, not from meaning.
    # "-- " (with its space) is the signature separator MUAs recognise: keep it exact.
    lines = [line if line == "-- " else line.rstrip() for line in text.strip("\n").splitlines()]
    out: list[str] = []
    for line in lines:
        if not line and out and not out[-1]:
            continue
        out.append(line)
    return "\n".join(out).strip("\n") + "\n"


class Renderer:
    """Renders `<name>` in `th` or `en` to subject, text and CSS-inlined HTML."""

    def __init__(self, templates_dir: Path) -> None:
        self.templates_dir = Path(templates_dir)
        self._env = _make_env(self.templates_dir)
        # Remote stylesheets would mean network access at render time: never.
        self._inliner = css_inline.CSSInliner(load_remote_stylesheets=False)

    def names(self) -> list[str]:
        found = set()
        for path in self.templates_dir.glob("*.j2"):
            m = _FILE_RE.match(path.name)
            if m and m["lang"] in LANGS and m["part"] in PARTS:
                found.add(m["name"])
        return sorted(found)

    def render(self, name: str, lang: str, **context: Any) -> Rendered:
        if not _NAME_RE.match(name):
            raise TemplateError(f"bad template name {name!r}: expected kebab-case")
        if lang not in LANGS:
            raise TemplateError(f"{name}: unknown language {lang!r} (expected one of {LANGS})")
        ctx = {**context, "lang": lang}
        subject = self._render_part(name, lang, "subject", ctx)
        text = self._render_part(name, lang, "txt", ctx)
        html = self._render_part(name, lang, "html", ctx)
        try:
            inlined = self._inliner.inline(html)
        except Exception as exc:  # css_inline.InlineError, bad CSS in a template
            raise TemplateError(f"{name}.{lang}.html.j2: CSS inlining failed: {exc}") from exc
        return Rendered(subject=_one_line(subject), text=_tidy_text(text), html=inlined)

    def _template(self, filename: str) -> jinja2.Template:
        try:
            return self._env.get_template(filename)
        except jinja2.TemplateNotFound as exc:
            raise TemplateError(f"{filename}: template not found in {self.templates_dir}") from exc
        except jinja2.TemplateSyntaxError as exc:
            where = f"{Path(exc.filename or exc.name or filename).name}:{exc.lineno}"
            raise TemplateError(f"{where}: syntax error: {exc.message}") from exc

    def _render_part(self, name: str, lang: str, part: str, ctx: dict[str, Any]) -> str:
        filename = f"{name}.{lang}.{part}.j2"
        template = self._template(filename)
        try:
            return template.render(ctx)
        except jinja2.TemplateSyntaxError as exc:  # an included/extended template is broken
            where = f"{Path(exc.filename or exc.name or filename).name}:{exc.lineno}"
            raise TemplateError(f"{where}: syntax error: {exc.message}") from exc
        except jinja2.UndefinedError as exc:
            where = _template_location(exc.__traceback__, self.templates_dir) or filename
            raise TemplateError(f"{where}: missing variable: {exc.message}") from exc
        except Exception as exc:  # a filter choking on a wrong-typed value, for one
            where = _template_location(exc.__traceback__, self.templates_dir) or filename
            raise TemplateError(f"{where}: {type(exc).__name__}: {exc}") from exc

    # --- validation ----------------------------------------------------------------------------

    def validate(self) -> list[str]:
        """[] when every template is complete, compiles and renders its sample; else problems."""
        if not self.templates_dir.is_dir():
            return [f"{self.templates_dir}: templates folder not found"]
        problems: list[str] = []
        found: dict[str, set[tuple[str, str]]] = {}
        for path in sorted(self.templates_dir.glob("*.j2")):
            if path.name.startswith("_"):  # shared layout/partials: must at least compile
                try:
                    self._template(path.name)
                except TemplateError as exc:
                    problems.append(str(exc))
                continue
            m = _FILE_RE.match(path.name)
            if not m or not _NAME_RE.match(m["name"]) or m["part"] not in PARTS:
                problems.append(f"{path.name}: expected <kebab-name>.<th|en>.<subject|txt|html>.j2")
                continue
            if m["lang"] not in LANGS:
                problems.append(f"{path.name}: unknown language {m['lang']!r} (expected th or en)")
                continue
            found.setdefault(m["name"], set()).add((m["lang"], m["part"]))

        samples, sample_problems = self._load_samples()
        problems.extend(sample_problems)
        for name in sorted(found):
            sample = samples.get(name)
            if sample is None and not sample_problems:
                problems.append(f"{SAMPLES_FILE}: no [{name}] table of sample variables")
            for lang in LANGS:
                for part in PARTS:
                    if (lang, part) not in found[name]:
                        problems.append(
                            f"{name}.{lang}.{part}.j2: missing (needed for every template)"
                        )
                        continue
                    problems.extend(self._check_part(name, lang, part, sample))
        for name in sorted(samples):
            if name not in found:
                problems.append(f"{SAMPLES_FILE}: [{name}] matches no template")
        return problems

    def _load_samples(self) -> tuple[dict[str, dict[str, Any]], list[str]]:
        path = self.templates_dir / SAMPLES_FILE
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}, [f"{SAMPLES_FILE}: not found in {self.templates_dir}"]
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            return {}, [f"{SAMPLES_FILE}: not valid TOML: {exc}"]
        shared = data.pop(SHARED_SAMPLE, {})
        samples: dict[str, dict[str, Any]] = {}
        problems: list[str] = []
        for name, table in data.items():
            if not isinstance(table, dict) or not isinstance(shared, dict):
                problems.append(f"{SAMPLES_FILE}: [{name}] must be a table of variables")
                continue
            samples[name] = {**shared, **table}
        return samples, problems

    def _check_part(
        self, name: str, lang: str, part: str, sample: dict[str, Any] | None
    ) -> list[str]:
        filename = f"{name}.{lang}.{part}.j2"
        try:
            self._template(filename)
            if sample is None:
                return []
            out = self._render_part(name, lang, part, {**sample, "lang": lang})
            if part == "html":
                self._inliner.inline(out)
        except TemplateError as exc:
            return [f"{exc} (sample context: {SAMPLES_FILE} [{name}])"]
        except Exception as exc:  # css_inline.InlineError
            return [f"{filename}: CSS inlining failed: {exc}"]
        if part == "subject" and not out.strip():
            return [f"{filename}: renders an empty subject"]
        if part == "txt" and _HTML_TAG_RE.search(out):
            return [f"{filename}: plain-text part contains HTML tags"]
        return []
