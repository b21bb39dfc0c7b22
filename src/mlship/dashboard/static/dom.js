// DOM and formatting helpers of the mlship dashboard. Text always goes in as text nodes (never
// as HTML), and styles only through the CSSOM: the page's CSP forbids inline script and style.

const SVG_NS = "http://www.w3.org/2000/svg";

function fill(node, attrs, children) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "text") node.textContent = String(value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** An HTML element: h("td", {class: "num"}, "1.0"). */
export function h(tag, attrs, ...children) {
  return fill(document.createElement(tag), attrs, children);
}

/** An SVG element. */
export function s(tag, attrs, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), attrs, children);
}

/**
 * Replace the children of `container`, keeping the keyboard focus on the element with the same
 * `data-key` if the focused element was inside (polling must not steal the focus).
 */
export function swap(container, ...nodes) {
  const active = document.activeElement;
  const key = active && container.contains(active) ? active.getAttribute("data-key") : null;
  container.replaceChildren(...nodes.flat(Infinity).filter((n) => n !== null && n !== undefined));
  if (key) {
    const again = container.querySelector(`[data-key="${CSS.escape(key)}"]`);
    if (again) again.focus();
  }
}

/**
 * Render `data` into `container` with `render` only when it changed since the last time (a
 * poll that brings the same figures leaves the DOM, and the focus, alone).
 */
export function update(container, data, render) {
  const text = JSON.stringify(data);
  if (container.dataset.rendered === text) return;
  container.dataset.rendered = text;
  swap(container, render(data));
}

const DASH = "\u2013";

/** A number with `digits` decimals, or a dash. */
export function num(value, digits = 2) {
  return typeof value === "number" && Number.isFinite(value) ? value.toFixed(digits) : DASH;
}

/** A number with 3 significant digits (small ones in exponent form), or a dash. */
export function sig(value) {
  if (typeof value !== "number" || !Number.isFinite(value)) return DASH;
  if (value !== 0 && Math.abs(value) < 1e-3) return value.toExponential(2);
  return String(Number(value.toPrecision(3)));
}

/** A share (0..1) as a percentage. */
export function pct(value, digits = 1) {
  return typeof value === "number" && Number.isFinite(value)
    ? `${(value * 100).toFixed(digits)} %`
    : DASH;
}

/** A whole number with thousands separators. */
export function int(value) {
  return typeof value === "number" && Number.isFinite(value)
    ? Math.round(value).toLocaleString("en-US")
    : DASH;
}

/** An ISO time as "2024-05-01 14:03:07" in the browser's time zone. */
export function when(iso) {
  if (!iso) return DASH;
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) return String(iso);
  const two = (n) => String(n).padStart(2, "0");
  return (
    `${t.getFullYear()}-${two(t.getMonth() + 1)}-${two(t.getDate())} ` +
    `${two(t.getHours())}:${two(t.getMinutes())}:${two(t.getSeconds())}`
  );
}

/** Seconds as "4:05" (or "1:02:03"). */
export function clock(seconds) {
  const total = Math.max(0, Math.ceil(seconds));
  const two = (n) => String(n).padStart(2, "0");
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  return hours
    ? `${hours}:${two(minutes)}:${two(total % 60)}`
    : `${minutes}:${two(total % 60)}`;
}

/** A status badge: pass, fail, inconclusive, skip, running, ... */
export function badge(status, label) {
  return h("span", { class: `badge badge-${status}`, "data-status": status }, label || status);
}

/** A card: a titled section. */
export function card(title, ...children) {
  return h("section", { class: "card" }, title ? h("h2", {}, title) : null, ...children);
}

/** A table from a header row and body rows (arrays of cells or nodes). */
export function table(headers, rows, attrs = {}) {
  return h(
    "table",
    attrs,
    h("thead", {}, h("tr", {}, headers.map((x) => h("th", { scope: "col" }, x)))),
    h("tbody", {}, rows),
  );
}

/** A paragraph saying there is nothing to show. */
export function empty(text) {
  return h("p", { class: "empty" }, text);
}
