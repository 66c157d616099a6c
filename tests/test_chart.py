"""The weekly trend chart: a real PNG of the right size whose Thai labels have real glyphs."""

from __future__ import annotations

import io
import subprocess
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from matplotlib import image as mpimg

from mailbot.jobs.chart import COLORS, HEIGHT_PX, WIDTH_PX, thai_font_path, trend_chart_png
from tests.corpus_files import REPO_ROOT

WEEKS = [f"2026-W{w}" for w in range(40, 48)]
SERIES = {
    "คำถามใหม่": [3, 5, 2, 7, 4, 6, 8, 5],
    "แก้ได้แล้ว": [1, 3, 2, 4, 4, 5, 6, 4],
    "ผู้ร่วมตอบ": [4, 6, 3, 8, 5, 9, 10, 7],
}
TITLE = "แนวโน้มรายสัปดาห์ ชุมชน KM-IT"
LATIN_ONLY_FONT = str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf")


def render_capturing_warnings(**kwargs: object) -> tuple[bytes, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        png = trend_chart_png(WEEKS, SERIES, title=TITLE, lang="th", **kwargs)  # type: ignore[arg-type]
    return png, [str(w.message) for w in caught]


def decode(png: bytes) -> np.ndarray:
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    return np.asarray(mpimg.imread(io.BytesIO(png), format="png"))


def pixels_near(img: np.ndarray, hex_color: str, tol: float = 0.08) -> int:
    rgb = np.array([int(hex_color[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    return int((np.abs(img[..., :3] - rgb).max(axis=-1) < tol).sum())


def test_png_has_the_promised_size() -> None:
    img = decode(trend_chart_png(WEEKS, SERIES, title=TITLE, lang="th"))
    assert img.shape[:2] == (HEIGHT_PX, WIDTH_PX) == (280, 640)


def test_thai_labels_have_glyphs() -> None:
    assert thai_font_path() is not None
    png, messages = render_capturing_warnings()
    assert not [m for m in messages if "missing from font" in m], messages
    assert decode(png).shape[:2] == (280, 640)


def test_missing_glyph_check_catches_a_latin_only_font() -> None:
    # Negative control: the same chart in DejaVu Sans (no Thai) must trip the check above.
    _, messages = render_capturing_warnings(font_path=LATIN_ONLY_FONT)
    assert any("missing from font" in m for m in messages), messages


def test_each_series_is_drawn_in_its_colour() -> None:
    img = decode(trend_chart_png(WEEKS, SERIES, title=TITLE, lang="th"))
    for color in COLORS[:3]:
        assert pixels_near(img, color) > 200, color
    one = decode(trend_chart_png(WEEKS, {"คำถามใหม่": SERIES["คำถามใหม่"]}, title=TITLE, lang="th"))
    assert pixels_near(one, COLORS[1]) == 0  # no second series, no second colour


def test_chart_depends_on_the_data() -> None:
    a = trend_chart_png(WEEKS, SERIES, title=TITLE, lang="th")
    changed = {**SERIES, "คำถามใหม่": [0, 0, 0, 0, 0, 0, 0, 9]}
    assert a != trend_chart_png(WEEKS, changed, title=TITLE, lang="th")


def test_empty_chart_is_a_valid_image() -> None:
    for lang in ("th", "en"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            img = decode(trend_chart_png([], {}, title=TITLE, lang=lang))
        assert img.shape[:2] == (280, 640)
        assert not [w for w in caught if "missing from font" in str(w.message)]


def test_many_weeks_still_fit() -> None:
    weeks = [f"2026-W{w:02d}" for w in range(1, 53)]
    img = decode(trend_chart_png(weeks, {"x": list(range(52))}, title="Year", lang="en"))
    assert img.shape[:2] == (280, 640)


def test_mismatched_series_is_refused() -> None:
    with pytest.raises(ValueError, match="has 2 values for 8 weeks"):
        trend_chart_png(WEEKS, {"คำถามใหม่": [1, 2]}, title=TITLE, lang="th")


def test_threads_render_the_same_bytes() -> None:
    # No pyplot and no global state: concurrent renders must equal a serial one.
    expected = trend_chart_png(WEEKS, SERIES, title=TITLE, lang="th")
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(
            pool.map(lambda _: trend_chart_png(WEEKS, SERIES, title=TITLE, lang="th"), range(8))
        )
    assert all(r == expected for r in results)


def test_falls_back_to_installed_tlwg_font(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from mailbot.jobs import chart

    monkeypatch.setattr(chart, "BUNDLED_FONT", tmp_path / "gone.ttf")
    chart.thai_font_path.cache_clear()
    try:
        path = chart.thai_font_path()
        assert path is not None and "/tlwg/" in path  # Debian's fonts-thai-tlwg
        _, messages = render_capturing_warnings()
        assert not [m for m in messages if "missing from font" in m], messages
    finally:
        chart.thai_font_path.cache_clear()


def test_starting_mailbot_leaves_matplotlib_unloaded_until_a_chart_is_drawn(tmp_path: Path) -> None:
    # In a fresh interpreter (this one has matplotlib loaded): what `mailbot run` does before it
    # serves (import the CLI and the app, validate the data files, migrate, sync), then one chart.
    code = f"""
import sys
import mailbot.cli  # what `mailbot run` imports first
from mailbot.app import App
from mailbot.config import Settings, validate
s = Settings()
s.database.url = "sqlite:///{tmp_path}/mailbot.sqlite"
s.paths.data_dir = "{tmp_path}"
validate(s)
App(s).prepare()
before = "matplotlib" in sys.modules
from mailbot.jobs.chart import trend_chart_png
png = trend_chart_png(["2026-W47"], {{"posts": [3]}}, title="KM", lang="en")
print(before, "matplotlib" in sys.modules, png.startswith(b"\\x89PNG"))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["False", "True", "True"]
