// The shadow report of one model: agreement, score differences, disagreement per slice, latency.
import { countHistogram, labelledBars } from "./charts.js";
import { card, empty, h, int, num, pct, sig, table, update, when } from "./dom.js";

const MAX_SLICED_FEATURES = 6;

function figure(label, value, id) {
  return h("div", { class: "figure" }, h("span", { class: "figure-label" }, label),
    h("span", { class: "figure-value", id }, value));
}

function summary(r) {
  return [
    h(
      "p",
      { class: "muted" },
      `v${r.shadow_version} (shadow) against v${r.stable_version} (stable), ${r.output_kind}; ` +
        `from ${when(r.since)} to ${when(r.until)}` +
        (r.truncated ? "; only the most recent shadow predictions were read." : "."),
    ),
    h(
      "div",
      { class: "figures" },
      figure("Agreement", pct(r.agreement, 2), "agreement"),
      figure("Paired requests", int(r.paired_requests), "paired"),
      figure("Rows compared", int(r.rows_compared), "rows-compared"),
      figure("Mirrored", r.mirror_percent === null ? "\u2013" : `${r.mirror_percent} %`, "mirror"),
    ),
  ];
}

function latency(r) {
  const row = (role) => {
    const x = r.roles[role];
    const l = x.latency_ms || {};
    return h(
      "tr",
      { "data-role": role },
      h("th", { scope: "row" }, `${role} v${x.version}`),
      h("td", { class: "num" }, int(x.requests)),
      h("td", { class: "num" }, int(x.errors)),
      h("td", { class: "num", "data-col": "error_rate" }, pct(x.error_rate, 2)),
      ["p50", "p95", "p99", "mean"].map((q) =>
        h("td", { class: "num", "data-col": q, "data-value": l[q] ?? "" }, num(l[q], 2)),
      ),
    );
  };
  return table(
    ["Version", "Requests", "Errors", "Error rate", "p50 ms", "p95 ms", "p99 ms", "mean ms"],
    [row("stable"), row("shadow")],
    { class: "latency" },
  );
}

function differences(r) {
  const d = r.score_differences;
  if (!d) return empty("No numeric outputs or logged probabilities to compare.");
  return [
    h(
      "p",
      {},
      `Shadow minus stable over ${int(d.count)} rows: mean ${sig(d.mean)}, mean absolute ` +
        `${sig(d.mean_abs)}, p5 ${sig(d.quantiles.p5)}, p95 ${sig(d.quantiles.p95)}.`,
    ),
    countHistogram(d.histogram.edges, d.histogram.counts, "Histogram of score differences"),
  ];
}

function pairs(r) {
  if (!r.class_pairs.length) return null;
  return [
    h("h3", {}, "Class pairs"),
    table(
      ["Stable", "Shadow", "Rows"],
      r.class_pairs.slice(0, 12).map((p) =>
        h("tr", { class: p.stable === p.shadow ? "" : "disagree" }, h("td", {}, String(p.stable)),
          h("td", {}, String(p.shadow)), h("td", { class: "num" }, int(p.rows))),
      ),
    ),
  ];
}

function slices(r) {
  if (!r.slices.length) return empty("No input feature to slice by.");
  return r.slices.slice(0, MAX_SLICED_FEATURES).map((f) =>
    h(
      "div",
      { class: "slice", "data-feature": f.feature },
      h("h3", {}, `${f.feature} (${f.kind})`),
      labelledBars(
        f.slices.map((s) => ({
          label: s.label,
          value: f.by_difference ? s.mean_abs_diff : s.disagreement,
          text: f.by_difference
            ? `${sig(s.mean_abs_diff)} (${int(s.rows)} rows)`
            : `${pct(s.disagreement, 1)} (${int(s.rows)} rows)`,
        })),
        `Disagreement per slice of ${f.feature}`,
        f.by_difference ? 1e-9 : 0.01,
      ),
    ),
  );
}

export function shadowPage(model) {
  const body = h("div", { id: "shadow" });
  const root = h("div", {}, h("h1", {}, `${model}: shadow report`), body);
  return {
    root,
    url: () => `api/models/${encodeURIComponent(model)}/shadow`,
    update(data) {
      update(body, data, (d) => {
        if (!d.available) return card(null, empty(d.message));
        const r = d.report;
        return [
          card("Agreement", summary(r), pairs(r)),
          card("Score differences", differences(r)),
          card("Disagreement per slice", slices(r)),
          card("Latency and errors", latency(r)),
        ];
      });
    },
  };
}
