// DNS: local zones and their records (add and delete go through the server's
// RFC 2136 write path), cache figures and flush, the opt-in query log, and a
// resolve box that shows the answer, its DNSSEC status and any EDE.
import { el, fill, section, table, when, num, msg, badge, gap } from "../util.js";
import * as api from "../api.js";

const TYPES = ["A", "AAAA", "TXT", "CNAME", "MX", "NS", "SRV", "CAA", "PTR", "TLSA", "HTTPS", "SVCB"];

// How names outside the local zones are resolved, from GET /api/v1/dns/cache.
function resolution(c) {
  const how = c.iterate
    ? `Iterating from ${c.root_hints === "built-in" ? "the built-in root hints" : c.root_hints}` + (c.forward_zones ? " and forward zones" : "")
    : c.forward_zones ? "Forward zones only" : "Local zones only (iterate = false)";
  const nta = c.negative_trust_anchors || [];
  const sec = c.dnssec === "validate"
    ? `DNSSEC validated from ${c.trust_anchors === "built-in" ? "the built-in root anchors" : c.trust_anchors}` +
      (nta.length ? `; not checked below ${nta.join(", ")}` : "")
    : "DNSSEC validation off";
  return `${how}; ${sec}.`;
}

export default {
  title: "DNS",
  async mount(main, ctx) {
    const zonesBox = el("div"), recBox = el("div"), recMsg = el("div", { "aria-live": "polite" });
    const cacheBox = el("div"), qlogBox = el("div"), resolveOut = el("div", { id: "resolve-result", "aria-live": "polite" });
    const zoneSel = el("select", { id: "dns-zone" });
    const rName = el("input", { id: "rec-name", required: true, placeholder: "www or www.lab.test." });
    const rType = el("select", { id: "rec-type" }, TYPES.map((t) => el("option", { value: t }, t)));
    const rTtl = el("input", { id: "rec-ttl", type: "number", min: "0", value: "60", inputmode: "numeric" });
    const rData = el("input", { id: "rec-data", required: true, placeholder: '"some text" or 192.0.2.1' });
    const qName = el("input", { id: "resolve-name", required: true, placeholder: "www.lab.test" });
    const qType = el("select", { id: "resolve-type" }, ["A", "AAAA", "TXT", "MX", "NS", "SOA", "CAA", "CNAME", "DS", "DNSKEY", "HTTPS"].map((t) => el("option", { value: t }, t)));
    const qlogToggle = el("input", { id: "qlog-enabled", type: "checkbox" });
    let zones = [];

    const zone = () => zones.find((z) => z.name === zoneSel.value);
    const zpath = (z) => `/api/v1/dns/zones/${encodeURIComponent(z.name)}/records`;

    async function loadRecords() {
      const z = zone();
      if (!z) { fill(recBox, el("p", { class: "muted" }, "No local zone.")); return; }
      const recs = await api.list(zpath(z), 500);
      fill(recBox,
        el("p", { class: "muted" }, `${z.name}: serial ${z.serial}, ${num(z.records)} records, `,
          z.writable ? "open to changes" : "read-only (only the lab zone and zones a TSIG key may update can change)"),
        table(["name", "type", "TTL#", "data", ""], recs.map((r) => [
          el("code", {}, r.name), r.type, String(r.ttl), el("code", {}, r.data),
          z.writable && r.type !== "SOA" ? el("button", { type: "button", class: "danger", "aria-label": `Delete ${r.name} ${r.type} ${r.data}`,
            on: { click: () => del(z, r) } }, "Delete") : ""]), { empty: "No records." }));
    }

    async function change(what, fn) {
      fill(recMsg, msg(what + "…"));
      try {
        const r = await fn();
        fill(recMsg, msg(`${what}: done${r && r.serial !== undefined ? `, zone serial now ${r.serial}` : ""}.`, "ok"));
      } catch (e) {
        fill(recMsg, msg(`${what}: refused. ${api.describe(e)}`, "error"));
      }
      await view.refresh();
    }

    function del(z, r) {
      const q = new URLSearchParams({ name: r.name, type: r.type, data: r.data });
      return change(`Delete ${r.name} ${r.type}`, () => api.write("DELETE", `${zpath(z)}?${q}`));
    }

    async function resolve() {
      fill(resolveOut, msg("resolving…"));
      try {
        const r = await api.get(`/api/v1/dns/resolve?name=${encodeURIComponent(qName.value.trim())}&type=${qType.value}`);
        fill(resolveOut,
          el("p", {}, "RCODE ", el("strong", { id: "resolve-rcode" }, r.rcode), " · DNSSEC ", badge(r.dnssec || "indeterminate"),
            r.authoritative ? " · authoritative" : "", r.truncated ? " · truncated" : ""),
          (r.ede || []).length ? el("ul", { class: "ede" }, r.ede.map((e) => el("li", {}, `EDE ${e.code}${e.text ? ": " + e.text : ""}`))) : null,
          el("h3", {}, "Answer"),
          table(["name", "type", "TTL#", "data"], (r.answer || []).map((a) => [el("code", {}, a.name), a.type, String(a.ttl), el("code", {}, a.data)]), { empty: "No answer records." }),
          (r.authority || []).length ? [el("h3", {}, "Authority"),
            table(["name", "type", "TTL#", "data"], r.authority.map((a) => [el("code", {}, a.name), a.type, String(a.ttl), el("code", {}, a.data)]))] : null);
      } catch (e) {
        fill(resolveOut, e instanceof api.ApiError && e.missing ? gap("The resolve API") : msg(api.describe(e), "error"));
      }
    }

    main.append(
      el("h1", {}, "DNS"),
      el("p", { class: "sub" }, "Local zones, the cache, the query log, and resolution through the server's own path."),
      section("Zones", zonesBox),
      section("Records",
        el("form", { class: "row", on: { submit: (e) => e.preventDefault() } }, el("label", { for: "dns-zone" }, "Zone", zoneSel)),
        recBox,
        el("h3", {}, "Add a record"),
        el("form", { class: "row", id: "rec-add", on: { submit: (e) => {
          e.preventDefault();
          const z = zone();
          if (!z) return;
          change(`Add ${rName.value} ${rType.value}`, () => api.write("POST", zpath(z),
            { name: rName.value.trim(), type: rType.value, ttl: Number(rTtl.value), data: rData.value.trim() }));
        } } },
          el("label", { for: "rec-name" }, "Name", rName), el("label", { for: "rec-type" }, "Type", rType),
          el("label", { for: "rec-ttl" }, "TTL", rTtl), el("label", { for: "rec-data" }, "Data", rData),
          el("button", { type: "submit", id: "rec-add-button" }, "Add record")),
        recMsg),
      section("Resolve",
        el("form", { class: "row", id: "resolve-form", on: { submit: (e) => { e.preventDefault(); resolve(); } } },
          el("label", { for: "resolve-name" }, "Name", qName), el("label", { for: "resolve-type" }, "Type", qType),
          el("button", { type: "submit" }, "Resolve")),
        resolveOut),
      el("div", { class: "grid" }, section("Cache", cacheBox),
        section("Query log", el("p", {}, el("label", { class: "inline", for: "qlog-enabled" }, qlogToggle, "Record queries (until restart)")), qlogBox)));

    zoneSel.addEventListener("change", () => { ctx.setParams({ zone: zoneSel.value }); loadRecords().catch((e) => fill(recBox, msg(api.describe(e), "error"))); });
    qlogToggle.addEventListener("change", async () => {
      try { await api.write("PUT", "/api/v1/dns/querylog", { enabled: qlogToggle.checked }); }
      catch (e) { qlogToggle.checked = !qlogToggle.checked; fill(qlogBox, msg(api.describe(e), "error")); return; }
      view.refresh();
    });

    const view = {
      async refresh() {
        try {
          zones = await api.list("/api/v1/dns/zones");
        } catch (e) {
          fill(zonesBox, e instanceof api.ApiError && e.missing ? gap("The DNS admin API") : msg(api.describe(e), "error"));
          return;
        }
        fill(zonesBox, table(["zone", "serial#", "records#", "source", "writable"], zones.map((z) =>
          [el("code", {}, z.name), String(z.serial), num(z.records), z.source, z.writable ? "yes" : "no"]), { empty: "No local zones." }));
        const names = zones.map((z) => z.name).join(",");
        if (zoneSel.dataset.names !== names) {
          const keep = zoneSel.value || ctx.params.get("zone");
          zoneSel.replaceChildren(...zones.map((z) => el("option", { value: z.name }, z.name)));
          zoneSel.dataset.names = names;
          const w = zones.find((z) => z.name === keep) || zones.find((z) => z.writable) || zones[0];
          if (w) zoneSel.value = w.name;
        }
        await loadRecords();
        try {
          const c = await api.get("/api/v1/dns/cache");
          const total = c.hits + c.misses;
          fill(cacheBox, el("p", { class: "sub", id: "dns-resolution" }, resolution(c)),
            el("div", {}, [["entries", num(c.entries)], ["bytes", num(c.bytes)], ["hits", num(c.hits)], ["misses", num(c.misses)],
              ["hit ratio", total ? num((100 * c.hits) / total, 1) + "%" : "—"]].map(([k, v]) => el("span", { class: "stat" }, el("b", {}, v), k))),
            el("button", { type: "button", class: "secondary", on: { click: async () => {
              try { const r = await api.write("POST", "/api/v1/dns/cache/flush", {}); fill(cacheBox, msg(`Flushed ${r.flushed} entries.`, "ok")); }
              catch (e) { fill(cacheBox, msg(api.describe(e), "error")); }
            } } }, "Flush the cache"));
        } catch (e) { fill(cacheBox, msg(api.describe(e), "error")); }
        try {
          const q = await api.get("/api/v1/dns/querylog?limit=50");
          qlogToggle.checked = !!q.enabled;
          fill(qlogBox, q.enabled || (q.items || []).length
            ? table(["time", "client", "transport", "name", "type", "rcode", "ms#"], (q.items || []).map((x) =>
              [when(x.time), el("code", {}, x.client), x.transport, x.name ? el("code", {}, x.name) : "—", x.type, x.rcode, num(x.ms, 2)]),
            { empty: "No queries since the log was turned on." })
            : el("p", { class: "muted" }, `Off (a ring of the last ${num(q.size)} queries when on).`));
        } catch (e) { fill(qlogBox, msg(api.describe(e), "error")); }
      },
      onParams() { return view.refresh(); },
    };
    return view;
  },
};
