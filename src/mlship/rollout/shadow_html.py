"""The shadow report as one self-contained HTML page: inline CSS and SVG plots, no scripts.

Plots: the histogram of score differences (numeric outputs) or the most frequent class pairs
(classifiers), latency p50/p95/p99 of stable and shadow side by side, and the disagreement per
slice of the most uneven input features.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from mlship.rollout.shadow_report import RoleSummary, ScoreDifferences, ShadowReport
    from mlship.rollout.shadow_slices import FeatureSlices

_STABLE = "#4c78a8"
_SHADOW = "#f58518"
_MAX_FEATURES = 6
_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:960px;
color:#222;padding:0 1rem}
h1{font-size:1.5rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin-top:2rem;
border-bottom:1px solid #ddd;padding-bottom:.2rem}
.sub{color:#666;margin-top:0}table{border-collapse:collapse;margin:.5rem 0}
td,th{padding:.25rem .8rem;border-bottom:1px solid #eee;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f6f6f6}
.note{color:#666;font-size:.9rem}svg text{font-size:11px;fill:#333}
.legend span{display:inline-block;width:.8rem;height:.8rem;margin:0 .3rem 0 1rem}
"""


def render_html(report: ShadowReport) -> str:
    """The page for ``report`` (a string; write it to a ``.html`` file)."""
    title = (
        f"Shadow report: {report.model} v{report.shadow_version} against v{report.stable_version}"
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f'<p class="sub">{escape(_window(report))}</p>',
        "<h2>Summary</h2>",
        _summary(report),
        "<h2>Outputs</h2>",
        _outputs(report),
        "<h2>Latency (ms, on the same requests)</h2>",
        _latency(report.stable, report.shadow),
        "<h2>Disagreement per slice</h2>",
        _all_slices(report.slices),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _window(report: ShadowReport) -> str:
    mirror = f", mirroring {report.mirror_percent:g} % of requests" if report.mirror_percent else ""
    more = " (most recent shadow predictions only)" if report.truncated else ""
    since = report.since.strftime("%Y-%m-%d %H:%M:%S")
    until = report.until.strftime("%Y-%m-%d %H:%M:%S")
    return f"{since} to {until} UTC{mirror}{more}; outputs: {report.output_kind}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2%}"


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    cells = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>"


def _summary(report: ShadowReport) -> str:
    rows = [
        ["requests compared", f"{report.paired_requests:,}"],
        ["rows compared", f"{report.rows_compared:,}"],
        [
            "agreement" + ("" if report.score_differences is None else " (within 1e-6)"),
            _pct(report.agreement),
        ],
    ]
    head = _table(["", "value"], rows)
    roles = []
    for role in (report.stable, report.shadow):
        latency = role.latency_ms or {}
        roles.append(
            [
                f"{role.role} v{role.version}",
                f"{role.requests:,}",
                f"{role.errors:,}",
                _pct(role.error_rate),
                _ms(latency.get("p50")),
                _ms(latency.get("p95")),
                _ms(latency.get("p99")),
            ]
        )
    by_role = _table(["role", "requests", "errors", "error rate", "p50", "p95", "p99"], roles)
    return head + by_role


def _outputs(report: ShadowReport) -> str:
    diffs = report.score_differences
    if diffs is not None:
        q = diffs.quantiles
        text = (
            f"Shadow minus stable on {diffs.count:,} rows: mean {diffs.mean:+.4g}, mean absolute "
            f"{diffs.mean_abs:.4g}, p5 {q['p5']:+.4g}, median {q['p50']:+.4g}, "
            f"p95 {q['p95']:+.4g}."
        )
        return f"<p>{escape(text)}</p>" + _histogram(diffs)
    if report.class_pairs:
        total = sum(n for _, _, n in report.class_pairs)
        bars = [
            (f"{a} → {b}", n / total, f"{n:,}", _STABLE if a == b else _SHADOW)
            for a, b, n in report.class_pairs
        ]
        note = "Rows per (stable class → shadow class); orange bars are disagreements."
        return f'<p class="note">{escape(note)}</p>' + _bars(bars)
    return '<p class="note">No rows were answered by both versions yet.</p>'


def _histogram(diffs: ScoreDifferences) -> str:
    width, height, pad = 900, 220, 30
    counts = diffs.counts
    top = max(counts) or 1
    step = (width - 2 * pad) / len(counts)
    rects = []
    for i, count in enumerate(counts):
        h = (height - 2 * pad) * count / top
        x, y = pad + i * step, height - pad - h
        low, high = diffs.edges[i], diffs.edges[i + 1]
        rects.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(step - 1, 1):.1f}" height="{h:.1f}" '
            f'fill="{_SHADOW}"><title>[{low:.4g}, {high:.4g}): {count:,} rows</title></rect>'
        )
    labels = (
        f'<text x="{pad}" y="{height - 10}">{diffs.edges[0]:.4g}</text>'
        f'<text x="{width - pad}" y="{height - 10}" text-anchor="end">{diffs.edges[-1]:.4g}</text>'
        f'<text x="{pad}" y="{pad - 10}">{top:,} rows</text>'
    )
    zero = ""
    if diffs.edges[0] < 0 < diffs.edges[-1]:
        x = pad + (width - 2 * pad) * (0 - diffs.edges[0]) / (diffs.edges[-1] - diffs.edges[0])
        zero = (
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{pad}" y2="{height - pad}" stroke="#999" '
            f'stroke-dasharray="4 3"/><text x="{x:.1f}" y="{height - 10}" '
            'text-anchor="middle">0</text>'
        )
    axis = (
        f'<line x1="{pad}" x2="{width - pad}" y1="{height - pad}" y2="{height - pad}" '
        'stroke="#999"/>'
    )
    return _svg(width, height, "".join(rects) + axis + zero + labels, "score differences")


def _latency(stable: RoleSummary, shadow: RoleSummary) -> str:
    a, b = stable.latency_ms, shadow.latency_ms
    if a is None or b is None:
        return '<p class="note">No request was answered by both versions yet.</p>'
    bars = []
    for key in ("p50", "p95", "p99"):
        bars.append((f"{key} stable v{stable.version}", a[key], _ms(a[key]), _STABLE))
        bars.append((f"{key} shadow v{shadow.version}", b[key], _ms(b[key]), _SHADOW))
    legend = (
        f'<p class="legend"><span style="background:{_STABLE}"></span>stable'
        f'<span style="background:{_SHADOW}"></span>shadow (its model call; queue wait '
        "excluded)</p>"
    )
    return legend + _bars(bars)


def _all_slices(features: Sequence[FeatureSlices]) -> str:
    if not features:
        return '<p class="note">No inputs to slice by.</p>'
    parts = []
    for feature in features[:_MAX_FEATURES]:
        if feature.by_difference:
            measure = f"mean |shadow - stable|, spread {feature.spread:.4g}"
            bars = [
                (
                    s.label,
                    s.mean_abs_diff or 0.0,
                    f"{s.mean_abs_diff or 0.0:.4g} on {s.rows:,} rows",
                    _SHADOW,
                )
                for s in feature.slices
            ]
            chart = _bars(bars)
        else:
            measure = f"rows where the shadow disagrees, spread {feature.spread:.1%}"
            bars = [
                (s.label, s.disagreement, f"{s.disagreement:.1%} of {s.rows:,}", _SHADOW)
                for s in feature.slices
            ]
            chart = _bars(bars, scale=1.0)
        parts.append(
            f"<h3>{escape(feature.feature)} <small>({feature.kind}; {escape(measure)})"
            "</small></h3>" + chart
        )
    if len(features) > _MAX_FEATURES:
        rest = ", ".join(f.feature for f in features[_MAX_FEATURES:])
        parts.append(f'<p class="note">Also sliced (more even): {escape(rest)}.</p>')
    return "".join(parts)


def _bars(items: Sequence[tuple[str, float, str, str]], *, scale: float | None = None) -> str:
    """Horizontal bars: (label, value, text at the bar's end, colour); lengths are value/scale
    (default: relative to the largest value)."""
    row, left, width = 20, 220, 900
    top = scale or max((v for _, v, _, _ in items), default=1.0) or 1.0
    span = width - left - 140
    shapes = []
    for i, (label, value, text, colour) in enumerate(items):
        y = i * row + 4
        length = max(span * min(value / top, 1.0), 0.0)
        shapes.append(
            f'<text x="{left - 8}" y="{y + 12}" text-anchor="end">{escape(label[:40])}</text>'
            f'<rect x="{left}" y="{y}" width="{length:.1f}" height="{row - 6}" fill="{colour}">'
            f"<title>{escape(label)}: {escape(text)}</title></rect>"
            f'<text x="{left + length + 6:.1f}" y="{y + 12}">{escape(text)}</text>'
        )
    return _svg(width, len(items) * row + 8, "".join(shapes), "bars")


def _svg(width: int, height: int, body: str, label: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}">{body}</svg>'
    )
