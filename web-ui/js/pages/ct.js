// CT: each log's checkpoint, its growth, an entry browser that decodes the
// (pre)certificates in the browser, and a proof checker that recomputes the
// root from an inclusion proof with WebCrypto and compares it with the
// checkpoint's. The entries and the checkpoint are read from the log's own
// public endpoints (RFC 6962 get-entries, static-ct-api checkpoint), so the
// check needs nothing the log does not publish; the proof comes from the
// log's RFC 6962 get-proof-by-hash or, by choice, the admin API's inclusion
// route (the two must agree).
import { el, fill, section, table, when, num, msg, b64ToBytes, bytesToB64, pem, gap } from "../util.js";
import { lineChart } from "../chart.js";
import * as api from "../api.js";
import { parseLeaf } from "../der.js";
import { leafHash, rootFromInclusionProof, verifyConsistency, equal } from "../merkle.js";
import { ctLogs } from "./common.js";

const PAGE = 20;
const GROWTH = 256;

// The signed note of a checkpoint (c2sp.org/tlog-checkpoint): origin, size, root.
function parseCheckpoint(text) {
  const lines = text.split("\n");
  const size = Number(lines[1]);
  if (!lines[0] || !/^\d+$/.test(lines[1] || "") || !lines[2]) throw new Error("not a checkpoint");
  return { origin: lines[0], size, root: b64ToBytes(lines[2]), text };
}

async function checkpoint(log) {
  return parseCheckpoint(await api.text(`${log.mpath || log.path}/checkpoint`));
}

// The logs: from the admin API (which knows each log's monitoring prefix, which may differ
// from its submission prefix), else from the status document's submission URLs.
async function listLogs(status) {
  try {
    const logs = await api.list("/api/v1/ct/logs");
    const p = (u) => new URL(u, location.href).pathname.replace(/\/$/, "");
    return logs.map((l) => ({ name: l.name, url: l.url, path: p(l.url), mpath: p(l.monitoring_url || l.url) }));
  } catch (e) {
    if (!(e instanceof api.ApiError)) throw e;
    return ctLogs(status);
  }
}

async function entries(log, start, end) {
  const out = [];
  while (start <= end) {
    const r = await api.get(`${log.path}/ct/v1/get-entries?start=${start}&end=${end}`);
    if (!r.entries || !r.entries.length) break;
    r.entries.forEach((e, i) => {
      const leaf = b64ToBytes(e.leaf_input);
      let d;
      try { d = parseLeaf(leaf, e.extra_data ? b64ToBytes(e.extra_data) : null); } catch (err) { d = { error: String(err.message) }; }
      out.push({ index: start + i, leaf, ...d });
    });
    start += r.entries.length;
  }
  return out;
}

// The audit path for entry index in the tree of size: from the log's public
// RFC 6962 API (what any monitor would use), or from the admin API.
async function proof(log, index, size, lh, source) {
  if (source === "admin") {
    const p = await api.get(`/api/v1/ct/logs/${encodeURIComponent(log.name)}/proof/inclusion?index=${index}&tree_size=${size}`);
    return { source: "the admin API's inclusion route", proof: p.proof.map(b64ToBytes) };
  }
  const p = await api.get(`${log.path}/ct/v1/get-proof-by-hash?hash=${encodeURIComponent(bytesToB64(lh))}&tree_size=${size}`);
  if (p.leaf_index !== index) throw new Error(`the log placed this leaf at index ${p.leaf_index}`);
  return { source: "the log's get-proof-by-hash", proof: p.audit_path.map(b64ToBytes) };
}

// Like a monitor: the last checkpoint this tab saw of each log is kept (in
// sessionStorage), and when the tree has grown the browser checks the
// log's consistency proof between the two before taking the new one.
async function consistency(log, cp) {
  const key = "trustbox.ct." + log.name;
  let prev = null;
  try { prev = JSON.parse(sessionStorage.getItem(key) || "null"); } catch { prev = null; }
  const keep = () => sessionStorage.setItem(key, JSON.stringify({ size: cp.size, root: bytesToB64(cp.root), time: Date.now() }));
  if (!prev || prev.size === 0) { keep(); return { text: "first seen in this tab", cls: "" }; }
  const prevRoot = b64ToBytes(prev.root);
  if (prev.size === cp.size) {
    if (equal(prevRoot, cp.root)) return { text: "unchanged", cls: "" };
    return { text: `a different root for the same size ${cp.size}: the log forked`, cls: "bad" };
  }
  if (cp.size < prev.size) return { text: `the tree shrank from ${prev.size} to ${cp.size}`, cls: "bad" };
  const p = await api.get(`${log.path}/ct/v1/get-sth-consistency?first=${prev.size}&second=${cp.size}`);
  const r = await verifyConsistency(prev.size, cp.size, prevRoot, cp.root, (p.consistency || []).map(b64ToBytes));
  if (!r.ok) return { text: `NOT consistent with the tree of ${prev.size} seen before (${r.error})`, cls: "bad" };
  keep();
  return { text: `grew from ${prev.size}: consistency proof checked here`, cls: "good" };
}

const short = (b) => bytesToB64(b).slice(0, 16) + "…";

function decoded(e, log) {
  if (e.error) return msg(`entry ${e.index}: ${e.error}`, "error");
  const f = e.fields;
  return el("div", { id: "ct-entry" },
    el("h3", {}, `Entry ${e.index} of ${log.name}`),
    el("dl", { class: "kv" },
      el("dt", {}, "type"), el("dd", {}, e.type === "precert" ? "precertificate (the log holds its TBSCertificate)" : "certificate"),
      el("dt", {}, "logged"), el("dd", {}, when(e.timestamp)),
      el("dt", {}, "serial"), el("dd", {}, el("code", { class: "serial" }, f.serial)),
      el("dt", {}, "subject"), el("dd", {}, f.subject || "(empty)"),
      el("dt", {}, "SANs"), el("dd", {}, f.sans.join(", ") || "—"),
      el("dt", {}, "issuer"), el("dd", {}, f.issuer),
      el("dt", {}, "valid"), el("dd", {}, when(f.notBefore), " to ", when(f.notAfter)),
      el("dt", {}, "key"), el("dd", {}, f.key)),
    e.precertDer ? el("details", {}, el("summary", {}, "Precertificate (PEM)"), el("pre", {}, pem(e.precertDer)))
      : e.type === "x509" ? el("details", {}, el("summary", {}, "Certificate (PEM)"), el("pre", {}, pem(e.der))) : null);
}

export default {
  title: "CT",
  async mount(main, ctx) {
    const logsBox = el("div"), growth = el("div"), list = el("div"), detail = el("div", { "aria-live": "polite" });
    const result = el("div", { id: "proof-result", "aria-live": "polite" });
    const logSel = el("select", { id: "ct-log" });
    const idx = el("input", { id: "proof-index", type: "number", min: "0", inputmode: "numeric", required: true });
    const tamper = el("input", { id: "proof-tamper", type: "checkbox" });
    const src = el("select", { id: "proof-source" },
      el("option", { value: "rfc6962" }, "the log (RFC 6962 get-proof-by-hash)"),
      el("option", { value: "admin" }, "the admin API (inclusion route)"));
    const filter = el("input", { id: "ct-filter", type: "search", placeholder: "serial, name…" });
    let pageStart = null; // null: the newest entries
    let cache = { key: null, items: [] };
    const st = { logs: [], cps: {}, cons: {} };
    let growthFor = null, growthPts = [];

    const log = () => st.logs.find((l) => l.name === logSel.value) || st.logs[0];

    async function check() {
      const l = log();
      fill(result, msg("checking…"));
      try {
        const i = Number(idx.value);
        const cp = await checkpoint(l);
        if (!(i >= 0 && i < cp.size)) throw new Error(`entry ${i} is not in the checkpoint's tree of ${cp.size}`);
        const [e] = await entries(l, i, i);
        const lh = await leafHash(e.leaf);
        const p = await proof(l, i, cp.size, lh, src.value);
        let path = p.proof, leaf = lh;
        if (tamper.checked) {
          // One flipped bit, where it matters: in the first proof hash, or in
          // the leaf itself when the tree has a single entry (an empty proof).
          const flip = (b) => { const c = b.slice(); c[0] ^= 1; return c; };
          if (path.length) path = [flip(path[0]), ...path.slice(1)];
          else leaf = flip(leaf);
        }
        const r = await rootFromInclusionProof(i, cp.size, leaf, path);
        const ok = r.root && equal(r.root, cp.root);
        fill(result,
          el("p", { class: "msg " + (ok ? "ok" : "error"), id: "proof-verdict", "data-verdict": ok ? "match" : "mismatch", role: "status" },
            ok ? `Match: entry ${i} is in the tree of size ${cp.size} whose root the checkpoint signed.`
              : `Mismatch: the recomputed root is not the checkpoint's root${r.error ? " (" + r.error + ")" : ""}.`),
          el("dl", { class: "kv" },
            el("dt", {}, "leaf hash"), el("dd", {}, el("code", {}, bytesToB64(leaf)), tamper.checked && !p.proof.length ? " (tampered)" : ""),
            el("dt", {}, "proof"), el("dd", {}, `${path.length} ${path.length === 1 ? "hash" : "hashes"} from ${p.source}`, tamper.checked && p.proof.length ? " (first one tampered)" : ""),
            path.length ? [el("dt", {}, "steps"), el("dd", {}, el("ol", {}, path.map((h, k) =>
              el("li", {}, el("code", {}, short(h)), ` on the ${r.steps[k] || "?"}`))))] : null,
            el("dt", {}, "recomputed root"), el("dd", {}, el("code", { id: "proof-root" }, r.root ? bytesToB64(r.root) : "—")),
            el("dt", {}, "checkpoint root"), el("dd", {}, el("code", {}, bytesToB64(cp.root)), ` (tree size ${cp.size})`)));
      } catch (e) {
        fill(result, msg("Cannot check: " + api.describe(e), "error"));
      }
    }

    function showEntry(e) {
      fill(detail, decoded(e, log()));
      idx.value = String(e.index);
      ctx.setParams({ log: log().name, entry: e.index });
    }

    async function loadList(size) {
      const l = log();
      const end = pageStart === null ? size - 1 : Math.min(size - 1, pageStart + PAGE - 1);
      const start = Math.max(0, end - PAGE + 1);
      const key = `${l.name}:${start}:${end}`;
      if (size === 0) { cache = { key, items: [] }; return; }
      if (cache.key !== key) cache = { key, items: (await entries(l, start, end)).reverse() };
    }

    function renderList(size) {
      const q = filter.value.trim().toLowerCase();
      const items = cache.items.filter((e) => !q || (e.fields && (e.fields.serial.toLowerCase().includes(q) ||
        e.fields.subject.toLowerCase().includes(q) || e.fields.sans.join(" ").toLowerCase().includes(q))));
      const first = cache.items.length ? cache.items[cache.items.length - 1].index : 0;
      const last = cache.items.length ? cache.items[0].index : -1;
      fill(list,
        table(["index#", "logged", "type", "serial", "names", ""], items.map((e) => [
          String(e.index), when(e.timestamp), e.type || "?", e.fields ? el("code", {}, e.fields.serial) : "—",
          e.fields ? e.fields.sans.join(", ") || e.fields.subject : e.error,
          el("button", { type: "button", class: "secondary", "data-index": e.index, "aria-label": `Show entry ${e.index}`,
            on: { click: () => showEntry(e) } }, "Show")]), { empty: size ? "No entry matches." : "The log is empty." }),
        !size ? null : el("p", {},
          `Entries ${first}–${last} of ${num(size)} `,
          el("button", { type: "button", class: "secondary", disabled: first === 0 || !size,
            on: { click: () => { pageStart = Math.max(0, first - PAGE); cache.key = null; view.refresh(); } } }, "Older"),
          " ",
          el("button", { type: "button", class: "secondary", disabled: pageStart === null,
            on: { click: () => { pageStart = last + 1 > size - PAGE ? null : last + 1; cache.key = null; view.refresh(); } } }, "Newer")));
    }

    main.append(
      el("h1", {}, "Certificate Transparency"),
      el("p", { class: "sub" }, "The log's checkpoint, its entries decoded here in the browser, and inclusion proofs checked here with WebCrypto."),
      section("Checkpoint", logsBox),
      section("Tree growth", growth),
      section("Entries",
        el("form", { class: "row", on: { submit: (e) => e.preventDefault() } },
          el("label", { for: "ct-log" }, "Log", logSel),
          el("label", { for: "ct-filter" }, "Filter this page", filter)),
        list, detail),
      section("Proof checker",
        el("p", { class: "muted" }, "Fetches the entry and an inclusion proof for it, recomputes the Merkle root (RFC 9162 2.1.3.2) ",
          "in this browser and compares it with the root in the log's signed checkpoint."),
        el("form", { class: "row", id: "proof-form", on: { submit: (e) => { e.preventDefault(); check(); } } },
          el("label", { for: "proof-index" }, "Entry index", idx),
          el("label", { for: "proof-source" }, "Proof from", src),
          el("label", { class: "inline", for: "proof-tamper" }, tamper, "Tamper with the proof"),
          el("button", { type: "submit", id: "proof-check" }, "Check inclusion")),
        result));
    filter.addEventListener("input", () => renderList(st.cps[log().name] ? st.cps[log().name].size : 0));
    logSel.addEventListener("change", () => { pageStart = null; cache.key = null; fill(detail); view.refresh(); });

    const view = {
      async refresh() {
        st.logs = await listLogs(ctx.status);
        if (!st.logs.length) { fill(logsBox, gap("A CT log")); return; }
        const names = st.logs.map((l) => l.name).join(",");
        if (logSel.dataset.names !== names) {
          fill.auto = false;
          logSel.replaceChildren(...st.logs.map((l) => el("option", { value: l.name }, l.name)));
          logSel.dataset.names = names;
          if (ctx.params.get("log")) logSel.value = ctx.params.get("log");
        }
        const rows = [];
        for (const l of st.logs) {
          try {
            const [cp, sth] = await Promise.all([checkpoint(l), api.get(`${l.path}/ct/v1/get-sth`)]);
            st.cps[l.name] = cp;
            const seen = `${cp.size}:${bytesToB64(cp.root)}`;
            const c = st.cons[l.name] && st.cons[l.name].seen === seen ? st.cons[l.name].c : await consistency(l, cp);
            st.cons[l.name] = { seen, c };
            rows.push([l.name, num(cp.size), el("code", {}, bytesToB64(cp.root)), when(sth.timestamp),
              el("span", { class: c.cls || null, "data-consistency": c.cls || "info" }, c.text),
              el("details", {}, el("summary", {}, "signed note"), el("pre", {}, cp.text))]);
          } catch (e) {
            rows.push([l.name, "—", api.describe(e), "", "", ""]);
          }
        }
        fill(logsBox, table(["log", "tree size#", "root hash", "STH time", "since last seen", "checkpoint"], rows));
        const cur = st.cps[log().name];
        const size = cur ? cur.size : 0;
        await loadList(size);
        renderList(size);
        // Growth: entry i's timestamp is the moment the tree reached i + 1 entries. The last
        // GROWTH entries are read once per tree size (the log answers them from its tiles).
        if (growthFor !== `${log().name}:${size}`) {
          growthFor = `${log().name}:${size}`;
          growthPts = size ? (await entries(log(), Math.max(0, size - GROWTH), size - 1))
            .filter((e) => e.timestamp).map((e) => [e.timestamp, e.index + 1]).sort((a, b) => a[0] - b[0]) : [];
        }
        const pts = growthPts.slice();
        if (pts.length) pts.push([Math.max(Date.now(), pts[pts.length - 1][0]), size]);
        fill(growth, lineChart(`Tree size of ${log().name}`, [{ name: "entries", points: pts }], "",
          { empty: "no entries yet" }), el("p", { class: "muted" },
          `${num(size)} ${size === 1 ? "entry" : "entries"} in the checkpoint${size > GROWTH ? `; the chart shows the last ${GROWTH}` : ""}.`));
        const want = ctx.params.get("entry");
        if (want !== null && !detail.firstChild) {
          const e = cache.items.find((x) => String(x.index) === want) || (Number(want) < size ? (await entries(log(), Number(want), Number(want)))[0] : null);
          if (e) showEntry(e);
        }
        if (!idx.value && size) idx.value = String(size - 1);
      },
      onParams() { return view.refresh(); },
    };
    return view;
  },
};
