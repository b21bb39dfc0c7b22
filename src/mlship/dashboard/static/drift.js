// The drift page of one model: per-feature drift over time (a small chart each), the reference
// against current histogram of a chosen feature, and the monitor's alerts.
import { pairedHistogram, sparkline } from "./charts.js";
import { badge, card, empty, h, int, num, update, when } from "./dom.js";

function verdict(f) {
  if (f.drift) return badge("fail", "drift");
  return f.reason ? badge("skip", "not judged") : badge("pass", "no drift");
}

function featureCharts(data, chosen, choose) {
  const series = data.timeline.features;
  const slices = data.timeline.starts.map((start, i) => `${when(start)} to ${when(data.timeline.ends[i])}`);
  return h(
    "div",
    { class: "feature-grid" },
    data.features.map((f) => {
      const s = series[f.name];
      const details = f.details || [];
      const label =
        `${f.name}: ${f.test}, ${f.effect_name} ${num(f.effect, 3)} ` +
        `(threshold ${num(f.threshold, 3)}), ${f.drift ? "drift" : "no drift"}` +
        (details.length ? `: ${details.join("; ")}` : "");
      return h(
        "button",
        {
          type: "button",
          class: "feature-chart",
          "data-feature": f.name,
          "data-key": `feature-${f.name}`,
          "aria-pressed": f.name === chosen ? "true" : "false",
          "aria-label": `${label}. Show its histogram.`,
          onclick: () => choose(f.name),
        },
        h("span", { class: "feature-name" }, f.name, " ", verdict(f)),
        s
          ? sparkline(
              s.effects,
              s.drift,
              s.threshold,
              `${f.effect_name} of ${f.name} per time slice`,
              slices,
            )
          : empty("no slices"),
        h(
          "span",
          { class: "muted" },
          `${f.effect_name} ${num(f.effect, 3)} / ${num(f.threshold, 3)}`,
        ),
        details.length ? h("span", { class: "drift-details" }, details.join("; ")) : null,
      );
    }),
  );
}

function alertsList(alerts) {
  if (!alerts.length) {
    return empty(
      "No alert. The monitor (mlship monitor, or MLSHIP_MONITOR=1 mlship serve) records its " +
        "alerts in the ledger; they appear here.",
    );
  }
  return h(
    "ol",
    { class: "timeline alerts" },
    alerts.map((e) => {
      const d = e.details || {};
      const tone = e.kind === "alert_raised" ? "fail" : e.kind === "alert_resolved" ? "pass" : "skip";
      return h(
        "li",
        { "data-kind": e.kind },
        h("time", { datetime: e.at }, when(e.at)),
        " ",
        badge(tone, e.kind.replaceAll("_", " ")),
        " ",
        h("strong", {}, e.reason || d.title || ""),
        d.summary ? h("span", {}, `: ${d.summary}`) : null,
        d.features && d.features.length
          ? h("span", { class: "muted" }, ` (${d.features.join(", ")})`)
          : null,
      );
    }),
  );
}

export function driftPage(model, params, ctx) {
  let windowLabel = params.get("window") || "24h";
  let feature = params.get("feature");
  const select = h("select", { id: "drift-window" });
  const featureSelect = h("select", { id: "drift-feature" });
  const summary = h("div", { id: "drift-summary" });
  const charts = h("div", { id: "drift-features" });
  const histogram = h("div", { id: "drift-histogram" });
  const alerts = h("div", { id: "alerts" });

  const choose = (name) => {
    feature = name;
    ctx.refresh();
  };
  select.addEventListener("change", () => {
    windowLabel = select.value;
    ctx.refresh();
  });
  featureSelect.addEventListener("change", () => choose(featureSelect.value));

  const root = h(
    "div",
    {},
    h("h1", {}, `${model}: drift`),
    card(
      null,
      h(
        "p",
        { class: "controls" },
        h("label", { for: "drift-window" }, "Window "),
        select,
        " ",
        h("label", { for: "drift-feature" }, "Feature "),
        featureSelect,
      ),
      summary,
    ),
    card("Drift over time, per feature", charts),
    card("Reference against current", histogram),
    card("Alerts", alerts),
  );

  return {
    root,
    url() {
      const q = new URLSearchParams({ window: windowLabel });
      if (feature) q.set("feature", feature);
      return `api/models/${encodeURIComponent(model)}/drift?${q}`;
    },
    update(data) {
      update(select, data.windows, (windows) =>
        windows.map((w) => h("option", { value: w }, `last ${w}`)),
      );
      select.value = data.window;
      update(alerts, data.alerts, alertsList);
      if (!data.available) {
        update(summary, data.message, (m) => empty(m));
        update(charts, null, () => empty("Nothing to chart yet."));
        update(histogram, null, () => empty("Nothing to chart yet."));
        update(featureSelect, [], () => []);
        return;
      }
      update(featureSelect, data.features.map((f) => f.name), (names) =>
        names.map((n) => h("option", { value: n }, n)),
      );
      featureSelect.value = data.feature;
      const src = data.source;
      update(summary, [data.dataset_drift, src, data.reference], () =>
        h(
          "p",
          { id: "dataset-verdict" },
          data.dataset_drift ? badge("fail", "Dataset drift") : badge("pass", "No dataset drift"),
          ` ${int(src.requests)} requests (${int(src.rows)} rows) of the last ${data.window}, ` +
            `versions ${src.versions.join(", ")}, against the training profile of ` +
            `v${data.reference.version} (${int(data.reference.rows)} rows).` +
            (src.truncated ? " Only the most recent requests were read." : ""),
        ),
      );
      update(charts, [data.features, data.timeline, data.feature], () =>
        featureCharts(data, data.feature, choose),
      );
      update(histogram, [data.feature, data.histogram], () => {
        const hist = { ...data.histogram, name: data.feature };
        return [
          h(
            "p",
            { class: "legend" },
            h("span", { class: "swatch swatch-reference" }),
            ` reference (${int(hist.count.reference)} rows) `,
            h("span", { class: "swatch swatch-current" }),
            ` current (${int(hist.count.current)} rows) of ${data.feature}`,
          ),
          pairedHistogram(hist, `Distribution of ${data.feature}: reference against current`),
        ];
      });
    },
  };
}
