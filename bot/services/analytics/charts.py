"""Charts as PNG bytes, from figures to image and nothing else (no database, no Discord).

Each function is CPU work for a thread (`asyncio.to_thread`): it builds its own `Figure` on the Agg canvas and never
touches pyplot's global state, so charts may render in several threads at once. Every chart is titled, its axes are
labelled with their units, and it is drawn on an opaque light card with dark text, so it reads the same on Discord's
dark and light themes. Colours come from the Okabe-Ito palette, which stays distinct under every common form of
colour blindness; bars also carry their value as text, so no figure depends on colour alone.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

# Okabe & Ito (2008), "Color Universal Design".
BLUE, ORANGE, GREEN, VERMILLION, SKY = "#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9"
CARD, INK, GRID = "#FFFFFF", "#23272A", "#D0D4D9"
WIDTH_INCHES, HEIGHT_INCHES, DPI = 8.0, 4.5, 100
SIZE = (int(WIDTH_INCHES * DPI), int(HEIGHT_INCHES * DPI))  # pixels of every chart
NAME_CHARACTERS = 28  # longer module and concept names are cut, so they fit the room on the left
LABELLED_LEFT = 0.3  # the room on the left for those names


def _figure() -> tuple[Figure, Axes]:
    figure = Figure(figsize=(WIDTH_INCHES, HEIGHT_INCHES), dpi=DPI, facecolor=CARD)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.set_facecolor(CARD)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    axes.tick_params(colors=INK)
    axes.grid(axis="y", color=GRID, linewidth=0.8)
    axes.set_axisbelow(True)
    return figure, axes


def _png(figure: Figure, axes: Axes, *, title: str, x_label: str, y_label: str, left: float = 0.09) -> bytes:
    """Title, axis labels, and the PNG. Fixed margins (`left` room for the y labels) instead of an automatic layout,
    which would measure every text and cost a third of the rendering."""
    axes.set_title(title, color=INK, fontsize=13, loc="left")
    axes.set_xlabel(x_label, color=INK)
    axes.set_ylabel(y_label, color=INK)
    figure.subplots_adjust(left=left, right=0.97, top=0.9, bottom=0.13)
    buffer = io.BytesIO()
    # Light compression: these flat images stay small, and encoding was the costliest single step.
    figure.savefig(buffer, format="png", facecolor=CARD, pil_kwargs={"compress_level": 1})
    return buffer.getvalue()


def _short(text: str, limit: int = NAME_CHARACTERS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _empty(axes: Axes, message: str) -> None:
    axes.text(0.5, 0.5, message, ha="center", va="center", color=INK, transform=axes.transAxes)


def active_students(days: Sequence[tuple[date, int, int]], *, course: str) -> bytes:
    """Active students per day as bars, against the class size as a line; `days` holds (day, active, enrolled)."""
    figure, axes = _figure()
    labels = [day.strftime("%d %b") for day, _, _ in days]
    positions = range(len(days))
    axes.bar(positions, [active for _, active, _ in days], color=BLUE, label="active")
    axes.plot(positions, [total for _, _, total in days], color=ORANGE, linewidth=2, label="enrolled")
    step = max(1, len(days) // 10)
    axes.set_xticks(list(positions)[::step], labels[::step])
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylim(bottom=0)
    axes.legend(frameon=False, labelcolor=INK, loc="lower right", bbox_to_anchor=(1, 1), ncols=2)
    return _png(figure, axes, title=f"{course}: active students per day", x_label="Day", y_label="Students")


def completion_funnel(modules: Sequence[tuple[str, float]], *, course: str) -> bytes:
    """Share of the class that completed each module, in course order, top to bottom."""
    return _percent_bars(
        [(name, 100 * share, f"{100 * share:.0f}%") for name, share in modules],
        empty="No published modules yet",
        color=GREEN,
        x_max=110,
        title=f"{course}: completion by module",
        x_label="Students who completed it (%)",
        y_label="Module",
    )


def lowest_mastery(concepts: Sequence[tuple[str, float, int]], *, course: str) -> bytes:
    """Mean mastery confidence of the weakest concepts, lowest at the top."""
    return _percent_bars(
        [(name, 100 * mean, f"{100 * mean:.0f}% ({count})") for name, mean, count in concepts],
        empty="No concept mastery recorded yet",
        color=VERMILLION,
        x_max=115,
        title=f"{course}: concepts with the lowest mastery",
        x_label="Mean mastery confidence (%), students in brackets",
        y_label="Concept",
    )


def _percent_bars(
    rows: Sequence[tuple[str, float, str]],
    *,
    empty: str,
    color: str,
    x_max: float,
    title: str,
    x_label: str,
    y_label: str,
) -> bytes:
    """Horizontal bars of (name, percent, label at the bar's end), the first row at the top; `empty` says why a
    chart without rows is empty."""
    figure, axes = _figure()
    if not rows:
        _empty(axes, empty)
    top_down = rows[::-1]
    bars = axes.barh([_short(name) for name, _, _ in top_down], [value for _, value, _ in top_down], color=color)
    axes.bar_label(bars, labels=[label for _, _, label in top_down], color=INK, padding=3)
    axes.set_xlim(0, x_max)
    axes.xaxis.set_major_formatter(PercentFormatter())
    axes.grid(axis="y", visible=False)
    axes.grid(axis="x", color=GRID, linewidth=0.8)
    return _png(figure, axes, title=title, x_label=x_label, y_label=y_label, left=LABELLED_LEFT)


def score_distribution(scores: Sequence[float], *, passing: float, course: str) -> bytes:
    """Quiz scores in ten-point bins, with the passing score marked."""
    figure, axes = _figure()
    if not scores:
        _empty(axes, "No quiz submitted in this period")
    bins = [10 * step for step in range(11)]
    counts = [0] * 10
    for score in scores:
        counts[min(9, int(score // 10))] += 1
    bars = axes.bar([edge + 5 for edge in bins[:-1]], counts, width=9, color=SKY, edgecolor=BLUE)
    axes.bar_label(bars, labels=[str(count) if count else "" for count in counts], color=INK)
    axes.axvline(passing, color=VERMILLION, linestyle="--", linewidth=2, label=f"passing score ({passing:.0f}%)")
    axes.set_xticks(bins)
    axes.set_xlim(0, 100)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.legend(frameon=False, labelcolor=INK, loc="lower right", bbox_to_anchor=(1, 1), ncols=2)
    return _png(figure, axes, title=f"{course}: quiz scores", x_label="Score (%)", y_label="Attempts")
