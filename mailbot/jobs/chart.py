"""The weekly trend chart: a small PNG line chart of weekly counts, with Thai-capable labels.

Uses matplotlib's object API with the Agg canvas (no pyplot, no global backend switch), so it is
safe to call from scheduler threads.
"""

from __future__ import annotations

import io
import logging
import math
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path

# matplotlib (and numpy under it) is imported when the first chart is drawn, inside the functions
# below: importing it took 0.4-0.7 s of every `mailbot run` start-up, for a chart drawn once a week.

log = logging.getLogger(__name__)

WIDTH_PX, HEIGHT_PX, DPI = 640, 280, 100
MAX_TICKS = 13  # more week labels than this overlap at 640 px
# Loma (fonts-tlwg, GPL-2+ with font exception) ships with mailbot so charts look the same on any
# host; Debian's fonts-thai-tlwg families are the fallback when the bundled file is removed.
BUNDLED_FONT = Path(__file__).resolve().parent.parent / "defaults" / "fonts" / "Loma.ttf"
SYSTEM_THAI_FAMILIES = ("Loma", "Garuda", "Umpush", "Norasi", "Sawasdee", "Kinnari", "Waree")
COLORS = ("#1d5c63", "#e07a1f", "#6b7fd7", "#b23a48", "#5a8f29", "#7c3aed")  # first = mail accent
_WEEK_RE = re.compile(r"^(\d{4})-W(\d{1,2})$")
_TEXT = {
    "th": {"week": "สัปดาห์ที่", "no_data": "ยังไม่มีข้อมูล"},
    "en": {"week": "Week", "no_data": "No data yet"},
}


@lru_cache(maxsize=1)
def thai_font_path() -> str | None:
    """Path of a TrueType font with Thai glyphs: the bundled Loma, else an installed TLWG font."""
    if BUNDLED_FONT.is_file():
        return str(BUNDLED_FONT)
    from matplotlib.font_manager import fontManager

    regular = {
        f.name: f.fname
        for f in fontManager.ttflist
        if f.style == "normal" and f.weight in (400, "normal", "regular")
    }
    for family in SYSTEM_THAI_FAMILIES:
        if family in regular:
            return regular[family]
    return None


def _week_label(week: str) -> str:
    m = _WEEK_RE.match(week)
    return str(int(m.group(2))) if m else week


def trend_chart_png(
    weeks: Sequence[str],
    series: Mapping[str, Sequence[int]],
    *,
    title: str,
    lang: str,
    font_path: str | None = None,
) -> bytes:
    """One line per series over `weeks` ('2026-W44', ...); 640x280 PNG bytes.

    `font_path` overrides the Thai font (tests use it to prove missing glyphs are detected).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties
    from matplotlib.ticker import MaxNLocator

    for name, values in series.items():
        if len(values) != len(weeks):
            raise ValueError(f"series {name!r} has {len(values)} values for {len(weeks)} weeks")
    text = _TEXT.get(lang, _TEXT["en"])
    path = font_path or thai_font_path()
    if path is None:
        log.warning("no Thai font found for charts: install fonts-thai-tlwg")
        font = FontProperties(family="DejaVu Sans")
    else:
        font = FontProperties(fname=path)
    small = font.copy()
    small.set_size(9)
    big = font.copy()
    big.set_size(12)

    fig = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI, layout="constrained")
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    xs = list(range(len(weeks)))
    for i, (name, values) in enumerate(series.items()):
        ax.plot(xs, list(values), marker="o", markersize=4, linewidth=2,
                color=COLORS[i % len(COLORS)], label=name)  # fmt: skip
    ax.set_title(title, fontproperties=big, loc="left", pad=22 if series and weeks else 6)
    step = max(1, math.ceil(len(weeks) / MAX_TICKS))
    ax.set_xticks(xs[::step], [_week_label(w) for w in weeks][::step], fontproperties=small)
    ax.set_xlabel(text["week"], fontproperties=small)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts of people and threads
    ax.tick_params(labelsize=9)
    # A quiet week (all zeros) must still show whole-number ticks, not 0.006 steps.
    top = max((max(v) for v in series.values() if len(v)), default=0)
    ax.set_ylim(bottom=0, top=max(top * 1.15, 4))
    if xs:
        ax.set_xlim(-0.3, max(len(xs) - 1, 1) + 0.3)
    ax.grid(axis="y", color="#e5e7eb", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if series and weeks:
        ax.legend(prop=small, loc="lower left", bbox_to_anchor=(0, 1.0), ncols=len(series),
                  frameon=False, borderaxespad=0)  # fmt: skip
    else:
        ax.text(0.5, 0.5, text["no_data"], transform=ax.transAxes, ha="center", va="center",
                fontproperties=big, color="#6b7280")  # fmt: skip
        ax.set_yticks([])

    buf = io.BytesIO()
    canvas.print_png(buf)
    return buf.getvalue()
