"""The drift report as one self-contained HTML page: inline CSS and SVG, no scripts, no links.

Top to bottom: the dataset verdict with both rules' figures (Benjamini-Hochberg and the share of
drifted features), one table row per feature, the effect sizes over time (one line per feature,
from :mod:`mlship.monitoring.timeline`), and one chart per feature overlaying the reference and
current distributions (from :mod:`mlship.monitoring.histograms`). Every text that comes from the
data or the user (feature names, categories, titles) is escaped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from html import escape

from mlship.monitoring.feature_drift import FeatureDrift
from mlship.monitoring.histograms import Histogram
from mlship.monitoring.report import DriftReport
from mlship.monitoring.timeline import DriftTimeline

REFERENCE_COLOUR = "#4c78a8"
CURRENT_COLOUR = "#f58518"
_PALETTE = (
    "#4c78a8",
    "#f58518",
    "#e45756",
    "#72b7b2",
    "#54a24b",
    "#b279a2",
    "#9d755d",
    "#eeca3b",
    "#ff9da6",
    "#79706e",
)
_MAX_LINES = len(_PALETTE)
_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:980px;
color:#222;padding:0 1rem}
h1{font-size:1.5rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin-top:2rem;
border-bottom:1px solid #ddd;padding-bottom:.2rem}h3{font-size:1rem;margin:.2rem 0}
.sub{color:#666;margin-top:0}.note{color:#666;font-size:.9rem}
.verdict{padding:.8rem 1rem;border-radius:6px;margin:1rem 0}
.verdict.drift{background:#fdecea;border:1px solid #e45756}
.verdict.ok{background:#eaf6ea;border:1px solid #54a24b}
.verdict strong{font-size:1.2rem}.verdict p{margin:.3rem 0}
table{border-collapse:collapse;margin:.5rem 0;font-size:.92rem}
td,th{padding:.25rem .7rem;border-bottom:1px solid #eee;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f6f6f6}
.yes{color:#c62828;font-weight:600}.no{color:#2e7d32}.na{color:#888}
.charts{display:flex;flex-wrap:wrap;gap:1rem}
figure{margin:0;border:1px solid #eee;border-radius:6px;padding:.5rem;width:450px}
figcaption{font-size:.85rem;color:#444;margin-bottom:.3rem}
svg text{font-size:11px;fill:#333}
.legend span{display:inline-block;width:.8rem;height:.8rem;margin:0 .3rem 0 1rem;
vertical-align:middle}
"""


def render_html(
    report: DriftReport,
    histograms: Mapping[str, Histogram],
    *,
    title: str,
    subtitle: str = "",
    timeline: DriftTimeline | None = None,
    timeline_note: str | None = None,
) -> str:
    """The page for ``report`` (a string; write it to a ``.html`` file).

    ``histograms`` are the charts, by feature name (the prediction's under its own name);
    ``timeline_note`` is shown instead of the drift-over-time chart when there is no timeline.
    """
    features = _ordered(report.features)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f'<p class="sub">{escape(subtitle)}</p>' if subtitle else "",
        _verdict(report),
        "<h2>Features</h2>",
        _table(report, features),
        "<h2>Drift over time</h2>",
        _timeline(timeline) if timeline is not None else _note(timeline_note or ""),
        "<h2>Distributions: reference against current</h2>",
        _legend([("reference", REFERENCE_COLOUR), ("current", CURRENT_COLOUR)]),
        _charts(report, features, histograms),
        "</body></html>",
    ]
    return "\n".join(p for p in parts if p) + "\n"


def _ordered(features: Mapping[str, FeatureDrift]) -> list[FeatureDrift]:
    """Drifted features first, then by effect size, largest first."""
    return sorted(features.values(), key=lambda f: (not f.drift, -(f.effect or 0.0), f.name))


def _verdict(report: DriftReport) -> str:
    d = report.dataset
    decides = {rule: " (decides)" if d.rule == rule else "" for rule in ("bh", "share")}
    head = "Dataset drift detected" if report.dataset_drift else "No dataset drift"
    bh = (
        f"Benjamini-Hochberg at a false discovery rate of {d.alpha:g}{decides['bh']}: "
        f"{len(d.bh_drifted)} of {d.judged} judged features drift"
        + (f": {', '.join(d.bh_drifted)}." if d.bh_drifted else ".")
    )
    share = (
        f"Share of drifted features{decides['share']}: {d.share:.0%} of {d.judged} "
        f"(threshold {d.drift_share:.0%})"
        + (f": {', '.join(d.share_drifted)}." if d.share_drifted else ".")
    )
    lines = [bh, share]
    if report.prediction is not None:
        verdict = "drift" if report.prediction.drift else "no drift"
        lines.append(f"Predictions (kept out of the dataset verdict): {verdict}.")
    lines.append(
        f"Reference: {report.reference_rows:,} rows ({_source(report.reference_source)}); "
        f"current: {report.current_rows:,} rows."
    )
    by_reason: dict[str, list[str]] = {}
    for name, reason in report.skipped.items():
        by_reason.setdefault(reason, []).append(name)
    lines += [f"Not tested: {', '.join(names)} ({reason})." for reason, names in by_reason.items()]
    cls = "drift" if report.dataset_drift else "ok"
    body = "".join(f"<p>{escape(line)}</p>" for line in lines)
    return f'<div class="verdict {cls}" id="verdict"><strong>{escape(head)}</strong>{body}</div>'


def _source(source: str) -> str:
    if source == "profile":
        return "a stored training profile: approximate statistics"
    return "data: exact statistics" if source == "frame" else source


def _table(report: DriftReport, features: Sequence[FeatureDrift]) -> str:
    head = ["feature", "kind", "test", "statistic", "p-value", "BH p-value", "effect", "verdict"]
    rows = [_row(f.name, f) for f in features]
    if report.prediction is not None:
        rows.append(_row(f"{report.prediction.name} (model output)", report.prediction))
    cells = "".join(f"<th>{escape(h)}</th>" for h in head)
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _row(label: str, f: FeatureDrift) -> str:
    if f.drift:
        details = f.details()
        verdict = (
            f'<td class="yes">DRIFT{escape(": " + "; ".join(details) if details else "")}</td>'
        )
    elif f.reason is not None:
        verdict = f'<td class="na">not judged: {escape(f.reason)}</td>'
    else:
        verdict = '<td class="no">no drift</td>'
    effect = "-" if f.effect is None else f"{f.effect:.3g} {f.effect_name} (≥ {f.threshold:g})"
    values = [label, f.kind, f.test, _num(f.statistic), _p(f.p_value), _p(f.p_value_adjusted)]
    cells = "".join(f"<td>{escape(v)}</td>" for v in [*values, effect])
    return f"<tr>{cells}{verdict}</tr>"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _p(value: float | None) -> str:
    if value is None:
        return "-"
    return "< 1e-16" if value < 1e-16 else f"{value:.3g}"


def _note(text: str) -> str:
    return f'<p class="note">{escape(text)}</p>'


def _legend(items: Sequence[tuple[str, str]]) -> str:
    spans = "".join(
        f'<span style="background:{colour}"></span>{escape(label)}' for label, colour in items
    )
    return f'<p class="legend">{spans}</p>'


# --------------------------------------------------------------------------- drift over time


def _timeline(timeline: DriftTimeline) -> str:
    ranked = sorted(
        timeline.effects,
        key=lambda n: (not any(timeline.drift[n]), -max((e or 0.0) for e in timeline.effects[n])),
    )
    shown, hidden = ranked[:_MAX_LINES], ranked[_MAX_LINES:]
    if not shown:
        return _note("No slice of the window had values to judge.")
    width, height, left, right, top, bottom = 940, 300, 56, 20, 16, 44
    t0, t1 = timeline.starts[0], timeline.ends[-1]
    span = (t1 - t0) or 1.0
    values = [e for n in shown for e in timeline.effects[n] if e is not None]
    limits = [timeline.thresholds[n] for n in shown]
    y_top = max([*values, *limits, 1e-9]) * 1.1

    def x(i: int) -> float:
        mid = (timeline.starts[i] + timeline.ends[i]) / 2
        return left + (width - left - right) * ((mid - t0) / span if t1 > t0 else 0.5)

    def y(v: float) -> float:
        return top + (height - top - bottom) * (1 - v / y_top)

    shapes = [
        f'<line x1="{left}" x2="{width - right}" y1="{y(0):.1f}" y2="{y(0):.1f}" stroke="#999"/>',
        f'<line x1="{left}" x2="{left}" y1="{top}" y2="{y(0):.1f}" stroke="#999"/>',
        f'<text x="{left - 6}" y="{y(0) + 4:.1f}" text-anchor="end">0</text>',
        f'<text x="{left - 6}" y="{y(y_top) + 10:.1f}" text-anchor="end">{y_top:.2g}</text>',
        f'<text x="{left}" y="{height - 12}">{escape(_time(t0))}</text>',
        f'<text x="{width - right}" y="{height - 12}" text-anchor="end">'
        f"{escape(_time(t1))} UTC</text>",
    ]
    for limit in sorted(set(limits)):
        shapes.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(limit):.1f}" y2="{y(limit):.1f}" '
            f'stroke="#c62828" stroke-dasharray="5 4"/><text x="{width - right}" '
            f'y="{y(limit) - 4:.1f}" text-anchor="end">threshold {limit:g}</text>'
        )
    for index, name in enumerate(shown):
        colour = _PALETTE[index]
        effects, drifted = timeline.effects[name], timeline.drift[name]
        path, pen = [], "M"
        for i, effect in enumerate(effects):
            if effect is None:
                pen = "M"
                continue
            path.append(f"{pen}{x(i):.1f} {y(effect):.1f}")
            pen = "L"
        if path:
            shapes.append(
                f'<path d="{" ".join(path)}" fill="none" stroke="{colour}" stroke-width="2"/>'
            )
        for i, effect in enumerate(effects):
            if effect is None:
                continue
            tip = (
                f"{name}, {_time(timeline.starts[i])} to {_time(timeline.ends[i])} UTC: "
                f"{timeline.effect_names[name]} {effect:.3g}, {timeline.rows[i]:,} rows"
                + (", drift" if drifted[i] else "")
            )
            ring = ' stroke="#222" stroke-width="1.5"' if drifted[i] else ""
            shapes.append(
                f'<circle cx="{x(i):.1f}" cy="{y(effect):.1f}" r="{5 if drifted[i] else 3}" '
                f'fill="{colour}"{ring}><title>{escape(tip)}</title></circle>'
            )
    chart = _svg(width, height, "".join(shapes), "effect size over time", "timeline")
    legend = _legend(
        [(f"{name} ({timeline.effect_names[name]})", _PALETTE[i]) for i, name in enumerate(shown)]
    )
    rows = f"{sum(timeline.rows):,} rows in {len(timeline.rows)} slices of equal duration"
    text = f"Effect size per slice of the window ({rows}); ringed points drift."
    if hidden:
        text += f" Not drawn (smaller effects): {', '.join(hidden)}."
    return _note(text) + chart + legend


def _time(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%d %H:%M")


# --------------------------------------------------------------------------- distributions


def _charts(
    report: DriftReport, features: Sequence[FeatureDrift], histograms: Mapping[str, Histogram]
) -> str:
    figures = []
    judged = list(features) + ([report.prediction] if report.prediction is not None else [])
    for f in judged:
        found = histograms.get(f.name)
        if found is None:
            continue
        chart = _numeric_chart(found) if found.kind == "numeric" else _category_chart(found)
        verdict = "DRIFT" if f.drift else ("not judged" if f.reason else "no drift")
        if f.details():
            verdict += ": " + "; ".join(f.details())
        effect = "" if f.effect is None else f", {f.effect_name} {f.effect:.3g}"
        caption = (
            f"<h3>{escape(f.name)}</h3>{escape(f.kind)}, {escape(f.test)}{escape(effect)}: "
            f'<span class="{"yes" if f.drift else "no"}">{escape(verdict)}</span>; '
            f"{found.reference_count:,} reference and {found.current_count:,} current values"
        )
        figures.append(f"<figure><figcaption>{caption}</figcaption>{chart}</figure>")
    if not figures:
        return _note("No feature to draw.")
    return f'<div class="charts">{"".join(figures)}</div>'


def _numeric_chart(h: Histogram) -> str:
    width, height, left, right, top, bottom = 440, 190, 44, 8, 8, 30
    bins = len(h.reference)
    top_share = max([*h.reference, *h.current, 1e-9])
    step = (width - left - right) / bins
    scale = (height - top - bottom) / top_share
    base = height - bottom
    shapes = []
    for i, share in enumerate(h.reference):
        tall = share * scale
        shapes.append(
            f'<rect x="{left + i * step:.1f}" y="{base - tall:.1f}" '
            f'width="{max(step - 1, 1):.1f}" height="{tall:.1f}" fill="{REFERENCE_COLOUR}" '
            'fill-opacity="0.55" data-side="reference"/>'
        )
    # The current side as a step outline over the reference bars: both stay readable.
    steps = [f"M{left} {base}"]
    for i, share in enumerate(h.current):
        level = base - share * scale
        steps.append(f"L{left + i * step:.1f} {level:.1f} L{left + (i + 1) * step:.1f} {level:.1f}")
    steps.append(f"L{left + bins * step:.1f} {base}")
    shapes.append(
        f'<path d="{" ".join(steps)}" fill="none" '
        f'stroke="{CURRENT_COLOUR}" stroke-width="2" data-side="current"/>'
    )
    for i in range(bins):
        low = "below" if i == 0 else f"{h.edges[i]:.4g}"
        high = "above" if i == bins - 1 else f"{h.edges[i + 1]:.4g}"
        tip = f"{low} to {high}: reference {h.reference[i]:.1%}, current {h.current[i]:.1%}"
        shapes.append(
            f'<rect x="{left + i * step:.1f}" y="{top}" width="{step:.1f}" '
            f'height="{base - top}" fill="transparent"><title>{escape(tip)}</title></rect>'
        )
    shapes += [
        f'<line x1="{left}" x2="{width - right}" y1="{base}" y2="{base}" stroke="#999"/>',
        f'<text x="{left - 4}" y="{top + 10}" text-anchor="end">{top_share:.0%}</text>',
        f'<text x="{left - 4}" y="{base}" text-anchor="end">0</text>',
        f'<text x="{left}" y="{height - 10}">{h.edges[0]:.4g}</text>',
        f'<text x="{(left + width - right) / 2:.1f}" y="{height - 10}" text-anchor="middle">'
        f"{h.edges[bins // 2]:.4g}</text>",
        f'<text x="{width - right}" y="{height - 10}" text-anchor="end">{h.edges[-1]:.4g}</text>',
    ]
    return _svg(width, height, "".join(shapes), f"{h.name}: distributions", "feature-chart", h.name)


def _category_chart(h: Histogram) -> str:
    row, left, width, text_room = 24, 130, 440, 78
    height = row * len(h.labels) + 8
    top_share = max([*h.reference, *h.current, 1e-9])
    span = width - left - text_room
    shapes = []
    for i, label in enumerate(h.labels):
        y = 4 + i * row
        shown = label + (" (new)" if h.new[i] else "")
        ref, cur = h.reference[i], h.current[i]
        tip = f"{shown}: reference {ref:.1%}, current {cur:.1%}"
        shapes.append(
            f"<g><title>{escape(tip)}</title>"
            f'<text x="{left - 6}" y="{y + 14}" text-anchor="end">{escape(_clip(shown))}</text>'
            f'<rect x="{left}" y="{y + 1}" width="{span * ref / top_share:.1f}" height="9" '
            f'fill="{REFERENCE_COLOUR}" data-side="reference"/>'
            f'<rect x="{left}" y="{y + 11}" width="{span * cur / top_share:.1f}" height="9" '
            f'fill="{CURRENT_COLOUR}" data-side="current"/>'
            f'<text x="{left + span + 6}" y="{y + 14}">{ref:.0%} → {cur:.0%}</text></g>'
        )
    return _svg(width, height, "".join(shapes), f"{h.name}: categories", "feature-chart", h.name)


def _clip(text: str, limit: int = 20) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _svg(
    width: int, height: int, body: str, label: str, cls: str, feature: str | None = None
) -> str:
    # No xmlns: inline SVG in HTML needs none, and the page holds no address at all.
    data = "" if feature is None else f' data-feature="{escape(feature)}"'
    return (
        f'<svg class="{cls}"{data} width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}">{body}</svg>'
    )
