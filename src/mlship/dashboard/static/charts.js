// Inline SVG charts of the mlship dashboard: plain SVG built from the JSON, no library.
import { h, num, pct, s, sig } from "./dom.js";

function scaleMax(values) {
  const finite = values.filter((v) => typeof v === "number" && Number.isFinite(v));
  return Math.max(...finite, 1e-9);
}

/** The text-anchor of a tick at `i` of `n` (the end ticks stay inside the chart). */
function anchor(i, n) {
  if (i === 0) return "start";
  return i >= n ? "end" : "middle";
}

function short(text, limit = 14) {
  const t = String(text);
  return t.length > limit ? `${t.slice(0, limit - 1)}\u2026` : t;
}

/**
 * Two distributions on one axis: reference bars and current bars side by side per bin (a
 * numeric histogram's `edges` or a categorical one's `labels`).
 */
export function pairedHistogram(hist, title) {
  const width = 640;
  const height = 240;
  const left = 48;
  const bottom = 46;
  const top = 10;
  const bins = hist.reference.length;
  const plotW = width - left - 10;
  const plotH = height - top - bottom;
  const max = scaleMax([...hist.reference, ...hist.current]);
  const step = plotW / Math.max(bins, 1);
  const y = (v) => top + plotH - (v / max) * plotH;
  const nodes = [];
  for (let i = 0; i < bins; i++) {
    const x = left + i * step;
    const ref = hist.reference[i] || 0;
    const cur = hist.current[i] || 0;
    nodes.push(
      s("rect", {
        class: "bar-reference",
        "data-side": "reference",
        x: x + step * 0.08,
        y: y(ref),
        width: step * 0.42,
        height: top + plotH - y(ref),
      }, s("title", {}, `reference ${pct(ref)}`)),
      s("rect", {
        class: hist.new && hist.new[i] ? "bar-current bar-new" : "bar-current",
        "data-side": "current",
        x: x + step * 0.5,
        y: y(cur),
        width: step * 0.42,
        height: top + plotH - y(cur),
      }, s("title", {}, `current ${pct(cur)}`)),
    );
  }
  const ticks = [];
  if (hist.kind === "numeric" && hist.edges.length) {
    const every = Math.max(1, Math.ceil(bins / 6));
    for (let i = 0; i <= bins; i += every) {
      ticks.push(
        s(
          "text",
          { x: left + i * step, y: height - bottom + 16, class: "tick", "text-anchor": anchor(i, bins) },
          sig(hist.edges[i]),
        ),
      );
    }
  } else {
    hist.labels.forEach((label, i) => {
      ticks.push(
        s("text", {
          x: left + (i + 0.5) * step, y: height - bottom + 16, class: "tick", "text-anchor": "middle",
        }, short(label, Math.max(4, Math.floor(step / 7)))),
      );
    });
  }
  const axis = [0, 0.5, 1].map((f) =>
    s("text", { x: left - 6, y: y(max * f) + 4, class: "tick", "text-anchor": "end" }, pct(max * f, 0)),
  );
  return s(
    "svg",
    {
      class: "chart histogram",
      viewBox: `0 0 ${width} ${height}`,
      role: "img",
      "aria-label": title,
      "data-feature": hist.name || "",
    },
    s("line", { x1: left, x2: width - 10, y1: top + plotH, y2: top + plotH, class: "axis" }),
    ...axis,
    ...nodes,
    ...ticks,
  );
}

/** A histogram of counts over `edges` (the shadow's score differences). */
export function countHistogram(edges, counts, title) {
  const width = 640;
  const height = 220;
  const left = 48;
  const bottom = 30;
  const top = 10;
  const plotW = width - left - 10;
  const plotH = height - top - bottom;
  const max = scaleMax(counts);
  const step = plotW / Math.max(counts.length, 1);
  const y = (v) => top + plotH - (v / max) * plotH;
  const bars = counts.map((c, i) =>
    s("rect", {
      class: "bar-current", x: left + i * step + 1, y: y(c), width: Math.max(step - 2, 1),
      height: top + plotH - y(c), "data-count": c,
    }, s("title", {}, `${sig(edges[i])} to ${sig(edges[i + 1])}: ${c} rows`)),
  );
  const ticks = [0, Math.floor(counts.length / 2), counts.length].map((i) =>
    s(
      "text",
      { x: left + i * step, y: height - 10, class: "tick", "text-anchor": anchor(i, counts.length) },
      sig(edges[i]),
    ),
  );
  return s(
    "svg",
    { class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title },
    s("line", { x1: left, x2: width - 10, y1: top + plotH, y2: top + plotH, class: "axis" }),
    s("text", { x: left - 6, y: top + 8, class: "tick", "text-anchor": "end" }, String(max)),
    ...bars,
    ...ticks,
  );
}

/**
 * A small line chart of one feature's effect size per time slice, its threshold dashed;
 * `labels[i]` names slice i (its times) in the point's tooltip.
 */
export function sparkline(effects, drift, threshold, title, labels = []) {
  const width = 260;
  const height = 80;
  const pad = 6;
  const max = scaleMax([...effects, threshold * 1.25]);
  const n = effects.length;
  const x = (i) => pad + (n > 1 ? (i / (n - 1)) * (width - 2 * pad) : (width - 2 * pad) / 2);
  const y = (v) => height - pad - (v / max) * (height - 2 * pad);
  let path = "";
  effects.forEach((v, i) => {
    if (typeof v !== "number" || !Number.isFinite(v)) return;
    path += `${path ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
  });
  const points = effects.map((v, i) =>
    typeof v === "number" && Number.isFinite(v)
      ? s(
          "circle",
          { cx: x(i), cy: y(v), r: 3, class: drift[i] ? "point-drift" : "point-ok" },
          s("title", {}, `${labels[i] || `slice ${i + 1}`}: ${sig(v)}${drift[i] ? " (drift)" : ""}`),
        )
      : null,
  );
  return s(
    "svg",
    { class: "chart sparkline", viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title },
    s("line", { x1: pad, x2: width - pad, y1: y(threshold), y2: y(threshold), class: "threshold" }),
    path ? s("path", { d: path, class: "line" }) : null,
    ...points,
  );
}

/** Horizontal bars with labels: `items` of {label, value, text}. */
export function labelledBars(items, title, max = 1) {
  const rowH = 22;
  const width = 520;
  const labelW = 150;
  const height = items.length * rowH + 4;
  const top = scaleMax([max, ...items.map((i) => i.value)]);
  const rows = items.map((item, i) => {
    const w = ((item.value || 0) / top) * (width - labelW - 70);
    const yy = i * rowH + 2;
    return s(
      "g",
      { "data-label": item.label },
      s("text", { x: labelW - 6, y: yy + 15, class: "tick", "text-anchor": "end" }, short(item.label, 22)),
      s("rect", { x: labelW, y: yy + 3, width: Math.max(w, 0.5), height: rowH - 8, class: "bar-current" }),
      s("text", { x: labelW + w + 6, y: yy + 15, class: "tick" }, item.text),
    );
  });
  return s(
    "svg",
    { class: "chart bars", viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title },
    ...rows,
  );
}

/** The traffic bar: two segments whose widths move (CSS transition) when the split changes. */
export function splitBar() {
  const stable = h("div", { class: "split-stable" }, h("span", { class: "split-label" }));
  const candidate = h("div", { class: "split-candidate" }, h("span", { class: "split-label" }));
  const bar = h("div", { id: "split", class: "split", role: "img" }, stable, candidate);
  return bar;
}

/** Show `candidate` % (0..100) of traffic on the candidate in `bar`. */
export function setSplit(bar, candidate, stableLabel, candidateLabel) {
  const [stable, cand] = bar.children;
  stable.style.width = `${100 - candidate}%`;
  cand.style.width = `${candidate}%`;
  stable.firstChild.textContent = candidate < 100 ? `${stableLabel} ${num(100 - candidate, 0)} %` : "";
  cand.firstChild.textContent = candidate > 0 ? `${candidateLabel} ${num(candidate, 0)} %` : "";
  bar.dataset.candidatePercent = String(candidate);
  bar.setAttribute(
    "aria-label",
    `Traffic: ${num(100 - candidate, 0)} % to ${stableLabel}, ${num(candidate, 0)} % to ${candidateLabel}`,
  );
}
