"""The report's charts: matplotlib figures written as SVG text, byte-for-byte reproducible.

Why these settings:

* ``Figure`` objects with an explicit Agg canvas, never :mod:`matplotlib.pyplot`: no global figure
  registry, no backend switch, nothing that survives one chart and leaks into the next.
* Every chart is drawn inside :func:`matplotlib.rc_context` with a fixed style, so a user's
  ``matplotlibrc`` cannot change the report, and the global rcParams are restored afterwards.
* ``svg.hashsalt`` fixes the ids matplotlib derives for clip paths (otherwise random), and each
  chart gets its own salt so two charts inlined in one HTML page never share an id. ``svg.fonttype =
  none`` writes text as ``<text>`` (small, selectable, rendered with the page's own fonts), and the
  metadata without a date or creator keeps timestamps and versions out of the bytes.
* ``text.parse_math`` is off: asset and exchange codes come from outside and a ``$`` in one must be
  shown, not typeset. matplotlib escapes the text it writes into the SVG.
* Few SVG elements: WeasyPrint styles and draws every element of an inline SVG one by one, which
  dominates the PDF's cost. So the chronology is two filled step paths per asset (not a bar per
  hour), tick marks are off, the x grid is one path per axes (not one per tick), the white axes
  backgrounds (on a white figure) are not drawn, empty ``<g>`` wrappers are dropped, and the
  hour-of-day heatmap's unlabelled cells are one embedded PNG; the exchange heatmap's cells stay
  vector, unclipped (they fill their axes). Style attributes become the equivalent presentation
  attributes and matplotlib's identity ``rotate(-0 ...)`` transforms go: WeasyPrint would parse
  each as CSS or a transform, for every element. (Text is the larger cost: WeasyPrint 70 lays out
  SVG text letter by letter; it stays text all the same, and the exchange heatmap labels its
  cells only up to ``LABELLED_CELLS``, a larger grid pointing to the table that has its figures.
  The PDF step also hands each chart to WeasyPrint as an image of the same SVG, so its elements
  skip the HTML cascade: see reporting/render/pdf.py.)
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from io import StringIO
from typing import Any

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import BoundaryNorm, PowerNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from reporting.errors import RenderError
from reporting.render import formatting as fmt
from reporting.render.model import ChartData, FundingLine, Heatmap, HourlySeries

WIDTH_IN = 7.0  # the A4 text block at 15 mm margins is ~7.1 in; charts are scaled to 100% anyway
# Up to 6 assets: one chart, an inch per asset. More: charts of 10 assets at 0.8 in, each
# under a page (A4 text block ~10 in), so 20 assets take two pages, not four.
CHRONOLOGY_FEW = 6
CHRONOLOGY_PER_CHART = 10
INK = "#1f2933"
MUTED = "#616e7c"
GRID = "#d9dee4"
LONG_COLOUR = "#1f4e79"
SHORT_COLOUR = "#8fb3d9"
MISSING_COLOUR = "#eceff3"
OI_COLOUR = "#c05621"  # open interest: a warm line over the blue liquidations
FUNDING_COLOUR = "#6b46c1"
FUNDING_STYLES: tuple[Any, ...] = (
    "-",
    (0, (3, 1.5)),
    (0, (1, 1.2)),
)  # one per venue, in the legend's order
FUNDING_OFFSET_PT = 34  # the funding scale sits outside the open-interest one
CMAP = "Blues"
HOUR_SHARE_BOUNDS = (0.0, 0.02, 0.04, 0.06, 0.1, 0.2, 1.0)
# The exchange heatmap labels each cell with its USD up to this many cells (6 assets x 10
# exchanges); a larger grid shows a colour scale instead (see labels_cells).
LABELLED_CELLS = 60
RASTER_DPI = 200  # only for parts drawn as pixels (the hour heatmap's cells); vector is unaffected

_STYLE: dict[str, Any] = {
    "svg.fonttype": "none",
    "svg.image_inline": True,
    "font.family": ["DejaVu Sans Condensed", "DejaVu Sans"],
    # The page's font (fonts-dejavu-extra); WeasyPrint's SVG text ignores font-stretch, so the
    # family is named. One font family in the PDF: each extra face costs a font subset.
    "font.stretch": "condensed",
    "font.size": 7.5,
    "text.parse_math": False,
    "text.usetex": False,
    "text.color": INK,
    "axes.edgecolor": MUTED,
    "axes.labelcolor": INK,
    "axes.linewidth": 0.6,
    "axes.titlesize": 8,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "xtick.color": MUTED,
    "ytick.color": MUTED,
    "xtick.labelcolor": INK,
    "ytick.labelcolor": INK,
    "xtick.major.width": 0.5,
    "ytick.major.width": 0.5,
    "legend.frameon": False,
    "legend.fontsize": 7,
    "path.simplify": False,
}
_SVG_METADATA = {"Date": None, "Creator": None, "Format": None, "Type": None}
_PROLOGUE = re.compile(r"\A(?:\s*<\?xml[^>]*\?>|\s*<!DOCTYPE[^>]*>|\s*<!--.*?-->)*\s*", re.S)
# matplotlib names every group after its artist ("figure_1", "axes_1", "text_3"): the same names
# in every chart, so two charts in one page would repeat ids. Nothing refers to them; they go.
# The ids that are referred to (clip paths, markers) are hashed with the chart's own salt.
_ARTIST_ID = re.compile(r' id="[A-Za-z][A-Za-z0-9.]*_[0-9]+"')
# matplotlib sets its default joins with a "*" rule in a <style> element; inlined in HTML, such a
# rule would apply to the whole page. The same defaults go on the <svg> element as attributes.
_STAR_STYLE = re.compile(
    r'\s*<defs>\s*<style type="text/css">\*\{stroke-linejoin: round; stroke-linecap: butt\}</style>'
    r"\s*</defs>"
)

# matplotlib writes ``transform="rotate(-0 x y)"`` on every unrotated text: the identity, which
# WeasyPrint parses and applies all the same (hundreds of times for the labelled heatmap).
_NO_ROTATION = re.compile(r' transform="rotate\(-?0 -?[0-9.]+ -?[0-9.]+\)"')
_STYLE_ATTRIBUTE = re.compile(r' style="([^"<>]*)"')
# The properties matplotlib writes into style attributes, all of them SVG presentation attributes.
_PRESENTATION = frozenset(
    {
        "fill",
        "fill-opacity",
        "fill-rule",
        "opacity",
        "stroke",
        "stroke-dasharray",
        "stroke-dashoffset",
        "stroke-linecap",
        "stroke-linejoin",
        "stroke-miterlimit",
        "stroke-opacity",
        "stroke-width",
        "font-family",
        "font-size",
        "font-stretch",
        "font-style",
        "font-weight",
        "text-anchor",
    }
)


@contextmanager
def _style(salt: str) -> Iterator[None]:
    rc: dict[Any, Any] = {**_STYLE, "svg.hashsalt": salt, "svg.id": salt}
    # findfont finds DejaVu Sans Condensed but warns that its weight (Book) is not "normal".
    fonts = logging.getLogger("matplotlib.font_manager")
    level = fonts.level
    fonts.setLevel(logging.ERROR)
    try:
        with matplotlib.rc_context(rc):
            yield
    finally:
        fonts.setLevel(level)


def _new_figure(height_in: float) -> Figure:
    fig = Figure(figsize=(WIDTH_IN, height_in), dpi=72)
    FigureCanvasAgg(fig)
    return fig


def _grid_figure(
    rows: int, *, row_in: float, bottom_in: float, right: float, top_in: float = 0.1
) -> tuple[Figure, tuple[float, float, float, float]]:
    """A figure for a grid of ``rows`` rows, and its axes box: margins fixed in inches, so the
    labels have the same room whatever the number of assets."""
    grid = row_in * max(rows, 1)
    height = bottom_in + grid + top_in
    left = 0.09
    return _new_figure(height), (left, bottom_in / height, right - left, grid / height)


def _to_svg(fig: Figure, title: str) -> str:
    """The figure as an ``<svg>`` element ready to inline in HTML (no XML prologue)."""
    buffer = StringIO()
    fig.savefig(buffer, format="svg", dpi=RASTER_DPI, metadata={**_SVG_METADATA, "Title": title})
    svg = _PROLOGUE.sub("", buffer.getvalue(), count=1)
    svg, styles = _STAR_STYLE.subn("", svg, count=1)
    if styles:
        svg = svg.replace("<svg ", '<svg stroke-linejoin="round" stroke-linecap="butt" ', 1)
    svg = _NO_ROTATION.sub("", svg)
    svg = _STYLE_ATTRIBUTE.sub(_as_presentation_attributes, svg)
    return _unwrap_bare_groups(_ARTIST_ID.sub("", svg)).strip() + "\n"


def _as_presentation_attributes(match: re.Match[str]) -> str:
    """A ``style`` attribute as the equivalent SVG presentation attributes.

    ``style="fill: #fff; stroke-width: 0.5"`` becomes ``fill="#fff" stroke-width="0.5"``: the same
    paint (nothing in the page's stylesheet targets chart elements, so the lower precedence of a
    presentation attribute changes nothing), but WeasyPrint reads an attribute as it is, where it
    runs a CSS parser over every element's style attribute. A declaration that is not a
    presentation attribute keeps the whole attribute as it was.
    """
    pairs = []
    for declaration in match.group(1).split(";"):
        if not declaration.strip():
            continue
        name, colon, value = declaration.partition(":")
        name, value = name.strip(), value.strip()
        if not colon or name not in _PRESENTATION or not value or '"' in value:
            return match.group(0)
        pairs.append(f' {name}="{value}"')
    return "".join(pairs)


def _unwrap_bare_groups(svg: str) -> str:
    """Drop ``<g>`` elements that have no attributes left (they only carried an artist's name).

    Every element of an inline SVG is styled and drawn by WeasyPrint one by one, so the thousand
    empty groups of a large report cost real time. matplotlib writes one tag per line, a group's
    ``</g>`` closing the innermost open group; if the text is ever not shaped like that, it is
    returned unchanged.
    """
    out: list[str] = []
    stack: list[bool] = []  # for each open <g>: was it dropped?
    for line in svg.split("\n"):
        tag = line.strip()
        if tag == "<g/>":  # an empty group (a grid line not drawn): nothing to keep
            continue
        if tag == "<g>":
            stack.append(True)
            continue
        if tag.startswith("<g ") and not tag.endswith("/>"):
            stack.append(False)
        elif tag == "</g>":
            if not stack:
                return svg
            if stack.pop():
                continue
        out.append(line)
    return svg if stack else "\n".join(out)


def _compact_axis(value: float, _pos: object = None) -> str:
    return fmt.usd_compact(abs(value))


def labels_cells(data: Heatmap) -> bool:
    """Whether the exchange heatmap prints each cell's USD (up to ``LABELLED_CELLS`` cells).

    A larger grid shows the shades and a colour scale only: its figures, each one, are in the
    asset x exchange table that follows the chart, and the chart's caption says so. (Hundreds of
    small numbers in the cells are hard to read, and WeasyPrint lays out SVG text letter by
    letter, which made them the most expensive part of a large report's PDF.)
    """
    return len(data.rows) * len(data.columns) <= LABELLED_CELLS


def exchange_heatmap(data: Heatmap) -> str:
    """Assets (rows) x exchanges (columns), USD; each cell labelled, or a scale for large grids."""
    rows, cols = len(data.rows), len(data.columns)
    labelled = labels_cells(data)
    with _style("liqrisk-exchange-heatmap"):
        fig, box = _grid_figure(rows, row_in=0.3, bottom_in=0.7, right=0.98 if labelled else 0.89)
        ax = fig.add_axes(box)
        values = [list(r) for r in data.values] or [[0.0]]
        peak = max((v for r in values for v in r), default=0.0)
        top = peak if peak > 0 else 1.0
        norm = PowerNorm(gamma=0.5, vmin=0.0, vmax=top)
        mesh = ax.pcolormesh(values, cmap=CMAP, norm=norm, edgecolors="white", linewidth=1.0)
        mesh.set_clip_on(False)  # the cells fill the axes exactly: no clip path per cell
        for i, row in enumerate(values if labelled else ()):
            for j, value in enumerate(row):
                light = peak > 0 and norm(value) > 0.6
                ax.text(
                    j + 0.5,
                    i + 0.5,
                    fmt.usd_compact(value) if value else "–",
                    ha="center",
                    va="center",
                    fontsize=6.5 if cols > 8 else 7,
                    color="white" if light else INK,
                )
        ax.set_xlim(0, max(cols, 1))
        ax.set_ylim(max(rows, 1), 0)
        ax.set_xticks(
            [j + 0.5 for j in range(cols)],
            list(data.labels),
            rotation=30,
            ha="right",
            rotation_mode="anchor",
        )
        ax.set_yticks([i + 0.5 for i in range(rows)], list(data.rows))
        ax.tick_params(length=0, bottom=False, left=False)
        for spine in ax.spines.values():
            spine.set_visible(False)
        if not labelled:
            cax = fig.add_axes((0.91, box[1], 0.015, box[3]))
            bar = fig.colorbar(mesh, cax=cax)
            bar.outline.set_visible(False)
            # Evenly spaced on the square-root scale: 0, 1/16, 1/4, 9/16 and all of the peak.
            bar.set_ticks([top * (k / 4) ** 2 for k in range(5)])
            bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: fmt.usd_compact(v)))
            bar.ax.tick_params(length=2, labelsize=6.5)
            bar.set_label("USD (square-root scale)", fontsize=6.5)
        return _to_svg(fig, "Liquidations by asset and exchange (USD)")


def hour_heatmap(data: Heatmap) -> str:
    """Assets (rows) x hour of day UTC (columns); shade is each asset's own share per hour."""
    rows = len(data.rows)
    with _style("liqrisk-hour-heatmap"):
        fig, box = _grid_figure(rows, row_in=0.26, bottom_in=0.5, right=0.89)
        ax = fig.add_axes(box)
        shares = []
        for row in data.values:
            total = sum(row)
            shares.append([v / total if total else 0.0 for v in row])
        shares = shares or [[0.0] * len(data.columns)]
        # Six shades with round bounds read better in print than a continuous ramp (an even
        # spread is 1/24, about 4%), and the colour bar stays six vector boxes. The cells (24 per
        # asset, unlabelled) are one embedded PNG at RASTER_DPI rather than hundreds of SVG paths,
        # each of which WeasyPrint would style and draw on its own; labels stay vector text.
        norm = BoundaryNorm(HOUR_SHARE_BOUNDS, ncolors=256)
        mesh = ax.pcolormesh(
            shares, cmap=CMAP, norm=norm, edgecolors="white", linewidth=0.6, rasterized=True
        )
        ax.set_xlim(0, len(data.columns))
        ax.set_ylim(max(rows, 1), 0)
        ax.set_xticks([j + 0.5 for j in range(len(data.columns))], list(data.columns))
        ax.set_yticks([i + 0.5 for i in range(rows)], list(data.rows))
        ax.set_xlabel("hour of day (UTC)")
        ax.tick_params(length=0, bottom=False, left=False)
        for spine in ax.spines.values():
            spine.set_visible(False)
        cax = fig.add_axes((0.91, box[1], 0.015, box[3]))
        bar = fig.colorbar(mesh, cax=cax)
        bar.outline.set_visible(False)
        bar.set_ticks(list(HOUR_SHARE_BOUNDS))
        bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: fmt.share(v)))
        bar.ax.tick_params(length=2, labelsize=6.5)
        bar.set_label("share of the asset's USD", fontsize=6.5)
        return _to_svg(fig, "Liquidations by hour of day (UTC) and asset")


def _hour_ticks(start: datetime, hours: int) -> tuple[list[float], list[str]]:
    if hours <= 48:
        positions = list(range(0, hours + 1, 3))
        labels = [(start + timedelta(hours=h)).strftime("%H:%M") for h in positions]
    else:
        positions = list(range(0, hours + 1, 24))
        labels = [fmt.short_date(start + timedelta(hours=h))[:-5] for h in positions]
    return [p - 0.5 for p in positions], labels


def _runs(hours: Iterable[int]) -> Iterator[tuple[int, int]]:
    """Consecutive integers grouped as (first, last) runs: 3, 4, 5, 9 -> (3, 5), (9, 9)."""
    run: list[int] = []
    for h in hours:
        if run and h != run[-1] + 1:
            yield run[0], run[-1]
            run = []
        run.append(h)
    if run:
        yield run[0], run[-1]


def chronology(series: Sequence[HourlySeries], start: datetime, end: datetime) -> tuple[str, ...]:
    """Hourly long (up) and short (down) liquidations per asset; several charts if many assets."""
    hours = int((end - start).total_seconds()) // 3600
    charts = []
    few = len(series) <= CHRONOLOGY_FEW
    per_chart = CHRONOLOGY_FEW if few else CHRONOLOGY_PER_CHART
    for n, first in enumerate(range(0, len(series), per_chart)):
        chunk = series[first : first + per_chart]
        charts.append(_chronology_chart(chunk, start, hours, n, row_in=1.0 if few else 0.8))
    return tuple(charts)


def _funding_label(value: float, _pos: object = None) -> str:
    return fmt.pct(value, 3)


def _scale_ticks(low: float, high: float) -> tuple[float, float, list[float]]:
    """Limits and two ticks (the lowest and highest value) for an overlay's own scale."""
    if high - low <= abs(high) * 1e-9:
        pad = abs(high) * 0.05 or 1.0
        return low - pad, high + pad, [high]
    pad = (high - low) * 0.08
    return low - pad, high + pad, [low, high]


def _right_scale(twin: Any, values: Sequence[float], colour: str, label: Any) -> None:
    """An overlay's own right-hand scale: padded limits, two ticks, its colour."""
    low, high, ticks = _scale_ticks(min(values), max(values))
    twin.set_ylim(low, high)
    twin.set_yticks(ticks)
    twin.yaxis.set_major_formatter(FuncFormatter(label))
    twin.tick_params(axis="y", labelsize=6.5, right=False, labelcolor=colour, pad=2)


_FUNDING_LINE: dict[str, Any] = {
    "color": FUNDING_COLOUR,
    "linewidth": 0.8,
    "marker": "o",
    "markersize": 1.8,
}


def _overlay_open_interest(ax: Any, values: Sequence[float]) -> None:
    finite = [v for v in values if not math.isnan(v)]
    if not finite:
        return
    twin = ax.twinx()
    # At the observation time, the start of its hour (the left edge of the hour's bar), as the
    # funding settlements are.
    twin.plot([h - 0.5 for h in range(len(values))], values, color=OI_COLOUR, linewidth=0.9)
    _right_scale(twin, finite, OI_COLOUR, lambda v, _p: fmt.usd_compact(v))


def _overlay_funding(ax: Any, lines: Sequence[FundingLine], styles: dict[str, Any]) -> None:
    values = [y for line in lines for _x, y in line.points]
    if not values:
        return
    twin = ax.twinx()
    twin.spines["right"].set_position(("outward", FUNDING_OFFSET_PT))
    for line in lines:
        if line.points:
            xs, ys = zip(*line.points, strict=True)
            twin.plot(xs, ys, linestyle=styles[line.label], **_FUNDING_LINE)
    _right_scale(twin, values, FUNDING_COLOUR, _funding_label)


def _chronology_chart(
    chunk: Sequence[HourlySeries], start: datetime, hours: int, number: int, *, row_in: float
) -> str:
    venues = sorted({line.label for s in chunk for line in s.funding if line.points})
    styles = {label: FUNDING_STYLES[i % len(FUNDING_STYLES)] for i, label in enumerate(venues)}
    has_oi = any(not math.isnan(v) for s in chunk for v in s.open_interest_usd)
    overlaid = bool(venues) or has_oi
    with _style(f"liqrisk-chronology-{number}"):
        fig = _new_figure(0.85 + row_in * len(chunk) if overlaid else 0.7 + row_in * len(chunk))
        axes = fig.subplots(len(chunk), 1, sharex=True, squeeze=False)[:, 0]
        fig.subplots_adjust(
            left=0.1,
            # Room for the overlays' two right-hand scales (open interest, then funding outside).
            right=1 - 0.95 / WIDTH_IN if overlaid else 0.98,
            top=1 - (0.45 if overlaid else 0.3) / fig.get_figheight(),
            bottom=0.45 / fig.get_figheight(),
            hspace=0.35,
        )
        edges = [h - 0.5 for h in range(hours + 1)]
        ticks, labels = _hour_ticks(start, hours)
        any_missing = False
        for ax, s in zip(axes, chunk, strict=True):
            longs = [0.0 if math.isnan(v) else v for v in s.long_usd]
            shorts = [0.0 if math.isnan(v) else -v for v in s.short_usd]
            # One filled step path per side (not one rectangle per hour): the same picture with
            # a fraction of the SVG nodes, which is what WeasyPrint's time goes on.
            # Inside the axes by construction (x spans the limits, y stays within the +-8% pad),
            # so unclipped: a clip path per element is work for WeasyPrint and changes nothing.
            ax.stairs(longs, edges, fill=True, color=LONG_COLOUR, linewidth=0, clip_on=False)
            ax.stairs(shorts, edges, fill=True, color=SHORT_COLOUR, linewidth=0, clip_on=False)
            for first, last in _runs(h for h, v in enumerate(s.long_usd) if math.isnan(v)):
                any_missing = True
                ax.axvspan(first - 0.5, last + 0.5, color=MISSING_COLOUR, linewidth=0, zorder=0)
            ax.axhline(0, color=MUTED, linewidth=0.5, clip_on=False)
            top = max(longs, default=0.0)
            bottom = min(shorts, default=0.0)
            span = max(top, -bottom, 1.0)
            ax.set_ylim(-span * 1.08, span * 1.08)
            ax.set_yticks([-span, 0, span])
            ax.yaxis.set_major_formatter(FuncFormatter(_compact_axis))
            ax.set_xlim(-0.5, hours - 0.5)
            ax.set_xticks(ticks, labels)
            # The x grid as one path (NaN-separated segments) rather than a path per tick: the
            # same lines, under the data as set_axisbelow would put them.
            grid_x = [x for t in ticks for x in (t, t, math.nan)]
            grid_y = [y for _t in ticks for y in (0.0, 1.0, math.nan)]
            ax.plot(
                grid_x,
                grid_y,
                color=GRID,
                linewidth=0.4,
                transform=ax.get_xaxis_transform(),
                zorder=0.5,
                scalex=False,
                scaley=False,
                clip_on=False,
            )
            ax.patch.set_visible(False)  # white on the white figure: one path less per asset
            ax.set_title(s.asset, loc="left", pad=2)
            ax.tick_params(axis="y", labelsize=6.5, left=False)
            ax.tick_params(axis="x", bottom=False)
            _overlay_open_interest(ax, s.open_interest_usd)
            _overlay_funding(ax, s.funding, styles)
        handles: list[Any] = [
            Patch(color=LONG_COLOUR, label="long liquidations (up)"),
            Patch(color=SHORT_COLOUR, label="short liquidations (down)"),
        ]
        if any_missing:
            handles.append(Patch(color=MISSING_COLOUR, label="no data"))
        if has_oi:
            handles.append(Line2D([], [], color=OI_COLOUR, linewidth=0.9, label="open interest"))
        if venues:
            handles.extend(
                Line2D([], [], linestyle=styles[label], label=f"funding, {label}", **_FUNDING_LINE)
                for label in venues
            )
        axes[0].legend(
            handles=handles,
            loc="lower right",
            bbox_to_anchor=(1.0, 1.0),
            ncol=3 if len(handles) > 4 else len(handles),
            borderaxespad=0.2,
        )
        axes[-1].set_xlabel("UTC")
        title = "Hourly long and short liquidations per asset (USD)"
        if overlaid:
            title += ", with open interest and funding rates"
        return _to_svg(fig, title)


def render_charts(data: ChartData) -> dict[str, Any]:
    """Every chart of a report, as SVG text keyed by name; library errors become RenderError."""
    try:
        return {
            "exchange_heatmap": exchange_heatmap(data.exchange_heatmap),
            "hour_heatmap": hour_heatmap(data.hour_heatmap),
            "chronology": chronology(data.chronology, data.start, data.end),
        }
    except (ValueError, TypeError, RuntimeError, OverflowError) as exc:
        raise RenderError(f"cannot draw the report's charts: {exc}") from exc
