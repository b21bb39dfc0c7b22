// The models page: every model with its versions, aliases, key metrics, gate verdict, its
// deployment and the ledger of its alias moves.
import { badge, card, empty, h, num, table, update, when } from "./dom.js";

function deploymentText(d) {
  if (!d) return "not deployed";
  const share = Math.round(d.traffic * 10000) / 100;
  switch (d.state) {
    case "canary":
      return `canary: ${share} % on v${d.candidate_version}, stable v${d.stable_version}`;
    case "paused":
      return `canary paused at ${share} % on v${d.candidate_version}, stable v${d.stable_version}`;
    case "shadow":
      return `shadow v${d.candidate_version} (${d.mirror_percent} % mirrored), stable v${d.stable_version}`;
    default:
      return `${d.state}: v${d.stable_version} serves`;
  }
}

function gateCell(version) {
  if (version.blessed === true) return h("td", { class: "gate" }, badge("pass", "blessed"));
  if (version.blessed === null || version.blessed === undefined) {
    return h("td", { class: "gate" }, badge("skip", "never gated"));
  }
  const failed = (version.gate && version.gate.failed) || [];
  return h(
    "td",
    { class: "gate" },
    badge("fail", "not blessed"),
    failed.length
      ? h(
          "ul",
          { class: "failed-gates" },
          failed.map((f) => h("li", { title: f.message, "data-gate": f.name }, `${f.name} failed`)),
        )
      : h("span", { class: "muted" }, " latest gate failed"),
  );
}

function versionsTable(model) {
  const metrics = model.metric_names;
  return table(
    ["Version", "Registered", "Aliases", "Status", ...metrics, "Gate"],
    model.versions.map((v) =>
      h(
        "tr",
        { "data-version": v.version },
        h("th", { scope: "row" }, `v${v.version}`),
        h("td", {}, when(v.created_at)),
        h("td", {}, v.aliases.map((a) => h("span", { class: "chip" }, a))),
        h("td", {}, v.status),
        metrics.map((m) =>
          h(
            "td",
            { class: "num", "data-metric": m, "data-value": v.metrics[m] ?? "" },
            num(v.metrics[m], 4),
          ),
        ),
        gateCell(v),
      ),
    ),
    { class: "versions" },
  );
}

function movesTable(model) {
  if (!model.alias_moves.length) return empty("No alias was ever set.");
  return table(
    ["When", "Alias", "Move", "Who", "Why"],
    model.alias_moves.map((m) =>
      h(
        "tr",
        {},
        h("td", {}, when(m.at)),
        h("td", {}, h("span", { class: "chip" }, m.alias)),
        h(
          "td",
          {},
          m.kind === "alias_deleted"
            ? `removed (was v${m.version})`
            : `${m.previous_version ? `v${m.previous_version}` : "none"} \u2192 v${m.version}`,
        ),
        h("td", {}, m.actor),
        h("td", {}, m.reason || ""),
      ),
    ),
    { class: "moves" },
  );
}

function modelCard(model) {
  const base = `#/models/${encodeURIComponent(model.name)}`;
  const aliases = Object.entries(model.aliases);
  return h(
    "section",
    { class: "card model", "data-model": model.name },
    h("h2", {}, model.name),
    h(
      "p",
      { class: "summary" },
      h("span", { class: "deployment-state" }, deploymentText(model.deployment)),
      aliases.length ? " \u00b7 " : "",
      aliases.map(([alias, v]) => h("span", { class: "chip" }, `${alias} \u2192 v${v}`)),
    ),
    h(
      "p",
      { class: "links" },
      h("a", { href: `${base}/deployment`, "data-key": `${model.name}-deployment` }, "Deployment"),
      h("a", { href: `${base}/shadow`, "data-key": `${model.name}-shadow` }, "Shadow report"),
      h("a", { href: `${base}/drift`, "data-key": `${model.name}-drift` }, "Drift"),
    ),
    h("h3", {}, "Versions"),
    versionsTable(model),
    h("h3", {}, "Alias moves"),
    movesTable(model),
  );
}

export function modelsPage() {
  const list = h("div", { id: "models" });
  const root = h("div", {}, h("h1", {}, "Models"), list);
  return {
    root,
    url: () => "api/models",
    update(data) {
      update(list, data.models, (models) =>
        models.length
          ? models.map(modelCard)
          : card(null, empty("No model is registered yet: mlship models register NAME FILE")),
      );
    },
  };
}
