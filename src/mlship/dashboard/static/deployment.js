// The deployment page of one model: the live traffic split, the running step and its countdown,
// each step's analysis (stable against candidate), the timeline, and the rollout buttons.
import { postAdmin } from "./api.js";
import { setSplit, splitBar } from "./charts.js";
import { badge, card, clock, empty, h, num, pct, table, update, when } from "./dom.js";

const CHECKS = {
  error_rate: {
    label: "Error rate",
    side: (v) => pct(v, 2),
    value: (v) => (v === null ? "\u2013" : `${v >= 0 ? "+" : ""}${num(v * 100, 2)} pts`),
  },
  latency_p95: {
    label: "Latency p95",
    side: (v) => (v === null ? "\u2013" : `${num(v, 2)} ms`),
    value: (v) => (v === null ? "\u2013" : `${num(v, 2)}\u00d7`),
  },
  divergence: { label: "Prediction divergence", side: (v) => num(v, 3), value: (v) => num(v, 3) },
  live_metric: { label: "Live metric", side: (v) => num(v, 4), value: (v) => num(v, 4) },
};

const ACTIONS = {
  promote: {
    label: "Promote",
    allowed: (d) => ["canary", "paused", "shadow"].includes(d.state),
    explain: (d) =>
      d.state === "shadow"
        ? `A canary of v${d.candidate_version} starts, with the default steps.`
        : `v${d.candidate_version} becomes stable now and the production alias moves to it; ` +
          "the remaining steps are skipped.",
  },
  pause: {
    label: "Pause",
    allowed: (d) => d.state === "canary",
    explain: () => "The canary holds at its current step until it is resumed.",
  },
  resume: {
    label: "Resume",
    allowed: (d) => d.state === "paused",
    explain: () => "The canary continues at its current step (the step's clock restarts).",
  },
  rollback: {
    label: "Roll back",
    allowed: (d, to) => to !== null && to !== undefined,
    explain: (d, to) =>
      d.candidate_version !== null
        ? `All traffic goes back to v${to} at once; v${d.candidate_version} stops serving.`
        : `All traffic goes back from v${d.stable_version} to v${to} at once.`,
  },
};

const STATUS_LABELS = {
  rolled_back: "rolled back",
};

function stepStatus(status) {
  const tone = { passed: "pass", failed: "fail", running: "running", paused: "inconclusive" };
  return badge(tone[status] || "skip", STATUS_LABELS[status] || status);
}

function checkRow(check) {
  const format = CHECKS[check.name] || { label: check.name, side: num, value: num };
  const cell = (col, value, text) =>
    h("td", { class: "num", "data-col": col, "data-value": value ?? "" }, text);
  return h(
    "tr",
    { "data-check": check.name },
    h("th", { scope: "row", title: check.reason }, format.label),
    cell("stable", check.stable, format.side(check.stable)),
    cell("candidate", check.candidate, format.side(check.candidate)),
    cell("value", check.value, format.value(check.value)),
    cell("threshold", check.threshold, format.value(check.threshold)),
    h("td", {}, badge(check.status)),
    h("td", { class: "reason" }, check.reason),
  );
}

function stepCard(step) {
  const a = step.analysis;
  const times = [
    step.started_at ? `started ${when(step.started_at)}` : null,
    step.ended_at ? `ended ${when(step.ended_at)}` : null,
  ].filter(Boolean);
  return h(
    "section",
    { class: `step step-${step.status}`, "data-step": step.step },
    h(
      "h3",
      {},
      `Step ${step.step + 1}: ${step.percent} % `,
      stepStatus(step.status),
      step.live ? h("span", { class: "muted" }, " live figures of the step so far") : null,
    ),
    times.length ? h("p", { class: "muted" }, times.join(", ")) : null,
    a
      ? [
          h(
            "p",
            { class: "verdict" },
            "Analysis: ",
            badge(a.verdict),
            " ",
            h("span", {}, a.reason || ""),
          ),
          table(
            ["Check", "Stable", "Candidate", "Compared", "Threshold", "Result", "Why"],
            a.checks.map(checkRow),
            { class: "checks" },
          ),
        ]
      : null,
  );
}

function eventText(e) {
  const d = e.details || {};
  switch (e.kind) {
    case "canary_started":
      return (
        `canary of v${d.candidate} at ${num((d.share || 0) * 100, 0)} % ` +
        `(steps ${(d.steps || []).join(", ")})`
      );
    case "canary_step":
      return `step ${d.step + 1}: ${num((d.share || 0) * 100, 0)} % on the candidate`;
    case "promoted":
      return `v${d.to} promoted (was v${d.from})`;
    case "rolled_back":
      return d.candidate ? `v${d.candidate} rolled back` : `back from v${d.from} to v${d.to}`;
    case "shadow_started":
      return `shadow v${d.shadow} (${d.mirror_percent} % mirrored)`;
    case "deployed":
      return `v${e.version} deployed (${d.strategy || "direct"})`;
    case "alias_set":
      return `${d.alias} \u2192 v${e.version}`;
    default:
      return e.kind.replaceAll("_", " ");
  }
}

function timeline(events) {
  if (!events.length) return empty("No rollout event yet.");
  return h(
    "ol",
    { class: "timeline" },
    events.map((e) =>
      h(
        "li",
        { "data-kind": e.kind },
        h("time", { datetime: e.at }, when(e.at)),
        " ",
        h("strong", {}, eventText(e)),
        h("span", { class: "muted" }, ` by ${e.actor}`),
        e.reason ? h("span", { class: "reason" }, `: ${e.reason}`) : null,
      ),
    ),
  );
}

export function deploymentPage(model, _params, ctx) {
  const state = h("p", { id: "state" });
  const bar = splitBar();
  const splitText = h("p", { id: "split-text" });
  const stepText = h("p", { id: "step-text" });
  const countdown = h("p", { id: "countdown", "aria-live": "off" });
  const status = h("p", {
    id: "action-status", role: "status", "aria-live": "polite", tabindex: "-1",
  });
  const steps = h("div", { id: "steps" });
  const events = h("div", { id: "timeline" });
  const reason = h("input", { id: "confirm-reason", type: "text", maxlength: 500 });
  const confirmTitle = h("h2", { id: "confirm-title" });
  const confirmText = h("p", { id: "confirm-text" });
  const confirmButton = h("button", { type: "submit", id: "confirm-ok" }, "Confirm");
  const dialog = h(
    "dialog",
    { id: "confirm", "aria-labelledby": "confirm-title" },
    h(
      "form",
      { method: "dialog" },
      confirmTitle,
      confirmText,
      h("label", { for: "confirm-reason" }, "Reason (kept in the ledger, optional)"),
      reason,
      h(
        "p",
        { class: "actions" },
        confirmButton,
        h("button", { type: "button", id: "confirm-cancel", onclick: () => dialog.close() }, "Cancel"),
      ),
    ),
  );
  let deployment = null;
  let rollbackTo = null;
  let acted = false; // an action was sent: keep the keyboard focus if its button gets disabled
  let pending = null;
  let deadline = null; // {judge: ms, pause: ms} on performance.now()'s clock
  let paused = false;

  const buttons = Object.entries(ACTIONS).map(([action, spec]) =>
    h(
      "button",
      {
        type: "button",
        id: `action-${action}`,
        class: action === "rollback" ? "danger" : null,
        disabled: true,
        onclick: () => {
          if (!deployment) return;
          pending = action;
          confirmTitle.textContent = `${spec.label} ${model}?`;
          confirmText.textContent = spec.explain(deployment, rollbackTo);
          confirmButton.textContent = spec.label;
          reason.value = "";
          dialog.showModal();
          reason.focus();
        },
      },
      spec.label,
    ),
  );

  dialog.querySelector("form").addEventListener("submit", async (event) => {
    event.preventDefault();
    dialog.close();
    const action = pending;
    if (!action) return;
    status.textContent = `${ACTIONS[action].label}: sending\u2026`;
    const body = { actor: "dashboard" };
    if (reason.value.trim()) body.reason = reason.value.trim();
    try {
      const { ok, data } = await postAdmin(`models/${encodeURIComponent(model)}/${action}`, body);
      status.textContent = ok
        ? `${ACTIONS[action].label}: done. ${data.model} is ${data.state}.`
        : `${ACTIONS[action].label} refused: ${data.error}`;
      status.className = ok ? "ok" : "error";
    } catch (exc) {
      status.textContent = `${ACTIONS[action].label} failed: ${exc.message}`;
      status.className = "error";
    }
    acted = true;
    ctx.refresh();
  });

  const tick = () => {
    if (!deadline) {
      countdown.textContent = "";
      return;
    }
    if (paused) {
      countdown.textContent = "Paused: waiting for a person to resume, promote or roll back.";
      return;
    }
    const now = performance.now();
    const judge = (deadline.judge - now) / 1000;
    const pause = (deadline.pause - now) / 1000;
    countdown.textContent =
      judge > 0
        ? `Judged in ${clock(judge)}.`
        : "Being judged: it moves on once the analysis is conclusive " +
          `(pauses for a person in ${clock(pause)} if not).`;
  };
  const timer = setInterval(tick, 1000);

  const root = h(
    "div",
    {},
    h("h1", {}, `${model}: deployment`),
    card("Traffic", state, bar, splitText),
    card("Current step", stepText, countdown),
    card("Actions", h("p", { class: "actions" }, buttons), status),
    card("Steps and their analysis", steps),
    card("Timeline", events),
    dialog,
  );

  return {
    root,
    url: () => `api/models/${encodeURIComponent(model)}/deployment`,
    destroy: () => clearInterval(timer),
    update(data) {
      deployment = data.deployment;
      rollbackTo = data.rollback_to;
      const d = deployment;
      if (!d) {
        state.textContent = `${model} has no deployment yet. Deploy it: mlship deploy ${model}@VERSION`;
        setSplit(bar, 0, "stable", "candidate");
        splitText.textContent = "";
      } else {
        const candidate = d.state === "shadow" ? 0 : Math.round(d.traffic * 10000) / 100;
        state.replaceChildren("State: ", badge(d.state === "canary" ? "running" : "skip", d.state));
        setSplit(bar, candidate, `v${d.stable_version}`, `v${d.candidate_version ?? "\u2013"}`);
        splitText.textContent =
          d.state === "shadow"
            ? `v${d.stable_version} answers every request; v${d.candidate_version} gets a ` +
              `copy of ${d.mirror_percent} % of them.`
            : d.candidate_version !== null
              ? `${num(100 - candidate, 0)} % of requests go to v${d.stable_version} (stable), ` +
                `${num(candidate, 0)} % to v${d.candidate_version} (candidate).`
              : `All requests go to v${d.stable_version}.`;
      }
      buttons.forEach((button, i) => {
        const spec = Object.values(ACTIONS)[i];
        button.disabled = !d || !spec.allowed(d, rollbackTo);
      });
      const focused = document.activeElement;
      if (acted && (!focused || focused === document.body || focused.disabled)) status.focus();
      acted = false;
      const c = data.countdown;
      if (c) {
        stepText.textContent =
          `Step ${c.step + 1} of ${c.steps.length}: ${c.percent} % of traffic on the candidate ` +
          `(at least ${c.min_requests ?? "?"} requests per version before a verdict).`;
        const now = performance.now();
        deadline = { judge: now + c.judge_in_s * 1000, pause: now + c.pause_in_s * 1000 };
        paused = c.paused;
      } else {
        stepText.textContent = "No canary is running.";
        deadline = null;
      }
      tick();
      update(steps, { steps: data.steps, error: data.live_error }, ({ steps: list, error }) => [
        error ? h("p", { class: "error" }, error) : null,
        list.length ? list.map(stepCard) : empty("No canary has run for this model."),
      ]);
      update(events, data.events, timeline);
    },
  };
}
