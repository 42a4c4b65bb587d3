// The shell: hash routing between pages, the token field, and the poll loop
// that refreshes the shown page, keeps the /metrics history for the charts
// and shows its state at the top of the page.
import { fill, clock, timeZone } from "./util.js";
import * as api from "./api.js";
import { parse, History } from "./prom.js";
import overview from "./pages/overview.js";
import acme from "./pages/acme.js";
import ct from "./pages/ct.js";
import dap from "./pages/dap.js";
import dns from "./pages/dns.js";
import metrics from "./pages/metrics.js";

const PAGES = { overview, acme, ct, dap, dns, metrics };
const POLL_MS = 5000;

const ctx = {
  status: null,
  history: new History(),
  params: new URLSearchParams(),
  // Changes the page's hash parameters without a new history entry per click.
  setParams(p) {
    const q = new URLSearchParams(p).toString();
    history.replaceState(null, "", `#/${current.name}${q ? "?" + q : ""}`);
    ctx.params = new URLSearchParams(q);
  },
};

let current = { name: null, view: null };
let timer = null;
let busy = false;

const $ = (id) => document.getElementById(id);

function setState(text, cls) {
  const s = $("refresh-state");
  s.textContent = text;
  s.className = cls || "";
}

async function sampleMetrics() {
  const t = Date.now();
  const txt = await api.text("/metrics");
  ctx.history.add(t, parse(txt));
}

async function refresh(auto) {
  if (busy) return;
  busy = true;
  setState("refreshing…", "loading");
  fill.auto = auto;
  try {
    const [st] = await Promise.all([api.get("/api/v1/status"), sampleMetrics()]);
    ctx.status = st;
    $("ver").textContent = st.version ? "v" + st.version : "";
    if (current.view && current.view.refresh) await current.view.refresh(auto);
    setState("updated " + clock(new Date()), "");
  } catch (e) {
    setState("refresh failed: " + api.describe(e), "error");
    if (!auto) console.warn("refresh failed", e);
  } finally {
    fill.auto = false;
    busy = false;
  }
}

function schedule() {
  clearInterval(timer);
  timer = null;
  if ($("live").checked) timer = setInterval(() => { if (!document.hidden) refresh(true); }, POLL_MS);
  else setState("paused", "");
}

async function route() {
  const h = location.hash.replace(/^#\/?/, "");
  const [path, query] = h.split("?");
  const name = PAGES[path] ? path : "overview";
  ctx.params = new URLSearchParams(query || "");
  if (name === current.name) {
    if (current.view && current.view.onParams) await current.view.onParams();
    return;
  }
  const firstLoad = current.name === null;
  if (current.view && current.view.stop) current.view.stop();
  for (const a of document.querySelectorAll("#nav a"))
    if (a.getAttribute("href") === "#/" + name) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  const main = $("main");
  main.replaceChildren();
  const page = PAGES[name];
  document.title = `${page.title} · trustbox`;
  current = { name, view: null };
  current.view = await page.mount(main, ctx);
  if (name === current.name) {
    // After a move between pages the focus goes to the new content (as a page load would put
    // it at the top); on the first load it stays at the start, where Tab finds the skip link.
    if (!firstLoad) main.focus({ preventScroll: true });
    await refresh(false);
  }
}

function initToken() {
  const f = $("token-form"), input = $("token");
  const show = () => {
    const has = !!api.token.get();
    f.classList.toggle("has-token", has);
    input.value = "";
    input.placeholder = has ? "token kept for this tab" : "for changes (trustbox admin token)";
  };
  f.addEventListener("submit", (e) => {
    e.preventDefault();
    api.token.set(input.value.trim());
    show();
  });
  $("token-clear").addEventListener("click", () => { api.token.set(""); show(); });
  show();
}

initToken();
$("tz").textContent = timeZone();
$("live").addEventListener("change", schedule);
$("refresh-now").addEventListener("click", () => refresh(false));
window.addEventListener("hashchange", route);
document.addEventListener("visibilitychange", () => { if (!document.hidden && $("live").checked) refresh(true); });
schedule();
route();
