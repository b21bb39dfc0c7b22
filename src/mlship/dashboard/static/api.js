// Requests of the mlship dashboard: the read-only JSON under /ui/api and the admin API, with
// the admin token kept for this browser tab only (sessionStorage).

const TOKEN_KEY = "mlship.token";
const hooks = { unauthorized: () => {} };

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** Call `handler` when the server refuses the token of an admin request. */
export function onUnauthorized(handler) {
  hooks.unauthorized = handler;
}

function headers(extra) {
  const found = token();
  return found ? { ...extra, Authorization: `Bearer ${found}` } : extra;
}

async function answer(response) {
  const data = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
  return { ok: response.ok, status: response.status, data };
}

/** GET a JSON path relative to /ui/: {ok, status, data}. */
export async function getJSON(path) {
  const response = await fetch(new URL(path, document.baseURI), {
    headers: headers({ Accept: "application/json" }),
    cache: "no-store",
  });
  return answer(response);
}

/** POST to the admin API (/admin/PATH) with the token: {ok, status, data}. */
export async function postAdmin(path, body) {
  const response = await fetch(new URL(`../admin/${path}`, document.baseURI), {
    method: "POST",
    headers: headers({ "Content-Type": "application/json", Accept: "application/json" }),
    body: JSON.stringify(body),
    cache: "no-store",
  });
  const result = await answer(response);
  if (response.status === 401) hooks.unauthorized();
  return result;
}
