"""The report as one self-contained HTML page: Jinja2 templates, inline CSS, inline SVG charts.

Autoescaping is on for every template, whatever its name: asset codes, exchange codes and check
messages come from outside (an API, a config file) and are never trusted as markup. The only
strings marked safe are the chart SVGs, which matplotlib wrote (and escaped) itself. Undefined
variables are errors rather than empty strings, so a template typo cannot silently drop a figure.
Jinja2's errors are translated here, at the boundary, into :class:`RenderError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from reporting.errors import RenderError
from reporting.render.charts import labels_cells, render_charts
from reporting.render.formatting import FILTERS
from reporting.render.model import ReportModel
from reporting.resources import templates_dir

REPORT_TEMPLATE = "report.html.j2"


@lru_cache(maxsize=4)
def environment(directory: Path | None = None) -> jinja2.Environment:
    """The Jinja2 environment over ``directory`` (the packaged templates by default)."""
    loader = jinja2.FileSystemLoader(str(directory or templates_dir()))
    env = jinja2.Environment(
        loader=loader,
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(FILTERS)
    return env


def render_html(
    report: ReportModel,
    *,
    software_version: str,
    template: str = REPORT_TEMPLATE,
    directory: Path | None = None,
    extra: Mapping[str, Any] | None = None,
) -> str:
    """Render ``report`` to HTML text; the same model always gives the same text."""
    charts = render_charts(report.charts)
    svgs = {
        "exchange_heatmap": Markup(charts["exchange_heatmap"]),  # noqa: S704 (matplotlib output)
        "exchange_heatmap_labelled": labels_cells(report.charts.exchange_heatmap),
        "hour_heatmap": Markup(charts["hour_heatmap"]),  # noqa: S704
        "chronology": tuple(Markup(svg) for svg in charts["chronology"]),  # noqa: S704
    }
    try:
        return (
            environment(directory)
            .get_template(template)
            .render(r=report, charts=svgs, software_version=software_version, **(extra or {}))
        )
    except jinja2.TemplateError as exc:
        where = f" (line {exc.lineno})" if isinstance(exc, jinja2.TemplateSyntaxError) else ""
        raise RenderError(f"report template {template}{where}: {exc}") from exc
