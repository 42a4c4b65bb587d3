// DOM helpers. Text always goes in through textContent: nothing from the
// server is ever parsed as HTML.

// el("td", {class: "num", "data-label": "size"}, "12", child...)
export function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "on") for (const [ev, fn] of Object.entries(v)) e.addEventListener(ev, fn);
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  append(e, kids);
  return e;
}

function append(e, kids) {
  for (const k of kids.flat(Infinity)) {
    if (k === undefined || k === null || k === false) continue;
    e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
}

const SVGNS = "http://www.w3.org/2000/svg";
export function svg(tag, attrs, ...kids) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null) continue;
    if (k === "text") e.textContent = v;
    else e.setAttribute(k, String(v));
  }
  append(e, kids);
  return e;
}

// Replaces a container's children. A poll (auto = true) leaves alone a
// container that holds the keyboard focus, so that live updates never pull
// a button or field from under the user.
export function fill(container, ...kids) {
  if (fill.auto && container.contains(document.activeElement) && document.activeElement !== document.body) return;
  container.replaceChildren();
  append(container, kids);
}
fill.auto = false;

export function section(title, ...kids) {
  const id = "h-" + title.toLowerCase().replace(/[^a-z0-9]+/g, "-");
  return el("section", { class: "card", "aria-labelledby": id }, el("h2", { id }, title), ...kids);
}

// A table; rows are arrays of cells (strings, nodes, or {v, class, label}).
export function table(headers, rows, opts = {}) {
  const head = el("tr", {}, headers.map((h) => el("th", { scope: "col", class: h.endsWith("#") ? "num" : null },
    h.replace(/#$/, ""))));
  const body = rows.map((r) => {
    const tr = el("tr", { class: r.class || null });
    (r.cells || r).forEach((c, i) => {
      const label = headers[i].replace(/#$/, "");
      const num = headers[i].endsWith("#");
      tr.append(el("td", { "data-label": label || null, class: num ? "num" : null }, c));
    });
    return tr;
  });
  const t = el("table", { class: opts.stack === false ? null : "stack" },
    opts.caption ? el("caption", { class: "muted" }, opts.caption) : null,
    el("thead", {}, head), el("tbody", {}, body));
  if (!rows.length && opts.empty) return el("p", { class: "muted" }, opts.empty);
  // A wide table scrolls inside its box; the box takes the focus so that the keyboard scrolls it too.
  return el("div", { class: "table-wrap", tabindex: "0" }, t);
}

// Timestamps: the server speaks RFC 3339 UTC or Unix milliseconds; the
// viewer reads them in their own time zone.
const dtf = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
const tf = new Intl.DateTimeFormat(undefined, { timeStyle: "medium" });
export function toDate(t) {
  if (t === null || t === undefined || t === "") return null;
  const d = typeof t === "number" ? new Date(t) : new Date(t);
  return isNaN(d) ? null : d;
}
export function when(t) {
  const d = toDate(t);
  if (!d) return el("span", { class: "muted" }, "—");
  return el("time", { datetime: d.toISOString(), title: d.toISOString() }, dtf.format(d));
}
export const clock = (d) => tf.format(d);
export const timeZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone || "local time";

export function num(n, digits = 0) {
  if (n === null || n === undefined || isNaN(n)) return "—";
  return Number(n).toLocaleString(undefined, { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

export function badge(text) {
  return el("span", { class: "badge " + String(text).toLowerCase().replace(/[^a-z]+/g, "-") }, text);
}

export function msg(text, kind) {
  return el("p", { class: "msg" + (kind ? " " + kind : ""), role: kind === "error" ? "alert" : "status" }, text);
}

// A "not in this build" note for an admin route that answered 404.
export function gap(what) {
  return el("p", { class: "gap" }, `${what} is not served by this build of trustbox yet.`);
}

export function copyButton(getText, label = "Copy") {
  const b = el("button", { type: "button", class: "secondary" }, label);
  b.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(typeof getText === "function" ? getText() : getText);
      b.textContent = "Copied";
    } catch {
      b.textContent = "Select and copy";
    }
    setTimeout(() => { b.textContent = label; }, 1500);
  });
  return b;
}

export function recipe(title, text) {
  const id = "r-" + title.toLowerCase().replace(/[^a-z0-9]+/g, "-");
  return el("div", { class: "recipe" },
    el("div", { class: "recipe-head" }, el("h3", { id }, title), copyButton(() => text, "Copy " + title)),
    el("pre", { "aria-labelledby": id, tabindex: "0" }, text));
}

export function b64ToBytes(s) {
  const bin = atob(s.replace(/-/g, "+").replace(/_/g, "/").replace(/\s+/g, ""));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
export function bytesToB64(b) {
  let s = "";
  for (const x of b) s += String.fromCharCode(x);
  return btoa(s);
}
export const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
export function pem(der, label = "CERTIFICATE") {
  const b = bytesToB64(der).replace(/(.{64})/g, "$1\n").replace(/\n$/, "");
  return `-----BEGIN ${label}-----\n${b}\n-----END ${label}-----\n`;
}
