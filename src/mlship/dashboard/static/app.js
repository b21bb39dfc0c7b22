// The mlship dashboard: a hash router over four pages, the admin token (asked once, kept in
// this tab's sessionStorage) and a poller that refreshes the open page every 2 s.
import { getJSON, onUnauthorized, setToken, token } from "./api.js";
import { h, swap, when } from "./dom.js";
import { deploymentPage } from "./deployment.js";
import { driftPage } from "./drift.js";
import { modelsPage } from "./models.js";
import { shadowPage } from "./shadow.js";

const POLL_MS = 2000;
const PAGES = { deployment: deploymentPage, shadow: shadowPage, drift: driftPage };

const main = document.getElementById("main");
const nav = document.getElementById("model-nav");
const banner = document.getElementById("banner");
const updated = document.getElementById("updated");
const forget = document.getElementById("forget-token");

let current = null; // {page, timer, generation}
let generation = 0;

/** Show (or clear, with null) the message above the page. */
function say(message, kind = "error") {
  banner.hidden = !message;
  banner.className = `banner banner-${kind}`;
  banner.textContent = message || "";
}

function stop() {
  if (current) {
    clearTimeout(current.timer);
    if (current.page.destroy) current.page.destroy();
  }
  current = null;
  generation += 1;
}

function parseHash() {
  const [path, query] = (location.hash.replace(/^#\/?/, "") || "models").split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const params = new URLSearchParams(query || "");
  if (parts[0] === "models" && parts.length >= 3 && PAGES[parts[2]]) {
    return { kind: parts[2], model: parts[1], params };
  }
  return { kind: "models", model: null, params };
}

function link(href, text, active) {
  return h("a", { href, "aria-current": active ? "page" : null }, text);
}

function renderNav(route) {
  const items = [link("#/models", "Models", route.kind === "models")];
  if (route.model) {
    const base = `#/models/${encodeURIComponent(route.model)}`;
    items.push(
      h("span", { class: "crumb" }, route.model),
      link(`${base}/deployment`, "Deployment", route.kind === "deployment"),
      link(`${base}/shadow`, "Shadow report", route.kind === "shadow"),
      link(`${base}/drift`, "Drift", route.kind === "drift"),
    );
  }
  swap(nav, items);
}

/** One request of the open page, then the next one in 2 s (one loop per page, never two). */
async function poll(state) {
  if (state.generation !== generation) return;
  clearTimeout(state.timer);
  if (state.busy) {
    state.again = true; // asked while a request is out: poll once more when it is back
    return;
  }
  if (!document.hidden) {
    state.busy = true;
    try {
      const { ok, status, data } = await getJSON(state.page.url());
      if (state.generation !== generation) return;
      if (status === 401) {
        askForToken("refused");
        return;
      }
      if (!ok) {
        say(data.error || `The server answered HTTP ${status}.`);
      } else {
        say(null);
        state.page.update(data);
        updated.textContent = `Updated ${when(new Date().toISOString())}`;
      }
    } catch (exc) {
      if (state.generation !== generation) return;
      say(`The server cannot be reached (${exc.message}); retrying every 2 s.`);
    } finally {
      state.busy = false;
    }
  }
  const delay = state.again ? 0 : POLL_MS;
  state.again = false;
  state.timer = setTimeout(() => poll(state), delay);
}

/** Poll the open page again now (after an action, or a changed option). */
function refresh() {
  if (current) poll(current);
}

function route() {
  stop();
  say(null);
  const found = parseHash();
  renderNav(found);
  const make = found.kind === "models" ? modelsPage : PAGES[found.kind];
  const page = make(found.model, found.params, { refresh, say });
  swap(main, page.root);
  document.title = found.model ? `${found.model}: ${found.kind} \u2013 mlship` : "Models \u2013 mlship";
  current = { page, timer: null, generation, busy: false, again: false };
  poll(current);
}

function askForToken(why) {
  stop();
  setToken(null);
  forget.hidden = true;
  swap(nav, []);
  const message = h("p", { id: "token-message", role: "alert" });
  if (why === "refused") {
    message.className = "token-refused";
    message.textContent =
      "The server refused this token (HTTP 401). Enter the MLSHIP_TOKEN the server was " +
      "started with.";
  }
  const input = h("input", {
    id: "token",
    type: "password",
    autocomplete: "current-password",
    required: true,
    "aria-describedby": "token-help",
  });
  const form = h(
    "form",
    { id: "token-form", class: "card token-form" },
    h("h1", {}, "Admin token"),
    h(
      "p",
      { id: "token-help" },
      "This server protects its models and deployments with a bearer token. Enter it once: it " +
        "is kept for this browser tab only (sessionStorage) and sent with every request.",
    ),
    message,
    h("label", { for: "token" }, "Token"),
    input,
    h("button", { type: "submit" }, "Use token"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    setToken(input.value.trim());
    await start();
  });
  say(null);
  swap(main, form);
  input.focus();
}

async function start() {
  let session;
  try {
    session = (await getJSON("api/session")).data;
  } catch (exc) {
    say(`The server cannot be reached (${exc.message}). Reload the page to retry.`);
    return;
  }
  if (session.token_required && !session.authorized) {
    askForToken(session.token_sent ? "refused" : "needed");
    return;
  }
  forget.hidden = !token();
  route();
}

forget.addEventListener("click", () => askForToken("needed"));
document.querySelector(".skip").addEventListener("click", (event) => {
  event.preventDefault(); // the hash is the router's
  main.focus();
});
onUnauthorized(() => askForToken("refused"));
window.addEventListener("hashchange", () => {
  if (current) route();
});
document.addEventListener("visibilitychange", () => {
  if (!document.hidden) refresh();
});
start();
