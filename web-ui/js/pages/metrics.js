// Metrics: charts of /metrics over the last minutes, from the samples the
// poll loop keeps (the page parses the Prometheus text itself). Core's HTTP
// and store series get fixed charts; every tb_acme_*, tb_ct_*, tb_dap_* and
// tb_dns_* family gets one chart: counters as rates, histograms as the 95th
// percentile, gauges as values, split by their first label.
import { el, fill, section } from "../util.js";
import { lineChart } from "../chart.js";
import { subsystemOf } from "../prom.js";

const toSeries = (obj, top = 6) => Object.entries(obj)
  .map(([name, points]) => ({ name, points }))
  .sort((a, b) => (b.points.reduce((s, p) => s + p[1], 0) - a.points.reduce((s, p) => s + p[1], 0)) || a.name.localeCompare(b.name))
  .slice(0, top);

function families(history) {
  const fams = new Map();
  for (const s of history.last ? history.last.series : []) {
    if (!/^tb_(acme|ct|dap|dns)_/.test(s.name)) continue;
    let base = s.name, kind = "gauge";
    const m = /^(.*)_(bucket|sum|count)$/.exec(s.name);
    if (m && (s.name.endsWith("_bucket") || history.names().has(m[1] + "_bucket"))) { base = m[1]; kind = "histogram"; }
    else if (s.name.endsWith("_total")) kind = "counter";
    const f = fams.get(base) || { name: base, kind, labels: new Set() };
    for (const k of Object.keys(s.labels)) if (k !== "le") f.labels.add(k);
    fams.set(base, f);
  }
  return [...fams.values()].sort((a, b) => a.name.localeCompare(b.name));
}

function familyChart(h, f, cut, opts) {
  const label = [...f.labels][0];
  const group = label ? (l) => `${label}=${l[label] ?? ""}` : () => f.name.replace(/^tb_/, "");
  // Units come from the name, as Prometheus's conventions put them there.
  const unit = /_seconds(_total)?$/.test(f.name) ? "s" : "";
  if (f.kind === "counter") return lineChart(`${f.name} (per second)`, toSeries(cut(h.rate(f.name, group))), "/s", opts);
  if (f.kind === "histogram") return lineChart(`${f.name} (95th percentile)`, toSeries(cut(h.quantile(f.name, 0.95, group))), unit, opts);
  return lineChart(f.name, toSeries(cut(h.series(f.name, group))), unit, opts);
}

export default {
  title: "Metrics",
  async mount(main, ctx) {
    const core = el("div", { class: "charts" }), subs = el("div", { class: "charts" });
    const windowSel = el("select", { id: "metrics-window" },
      [["5", "last 5 minutes"], ["15", "last 15 minutes"]].map(([v, t]) => el("option", { value: v }, t)));
    windowSel.value = ctx.params.get("window") || "5";
    main.append(
      el("h1", {}, "Metrics"),
      el("p", { class: "sub" }, "Sampled from ", el("a", { href: "/metrics" }, "/metrics"),
        " at every refresh while this tab is open; rates are per second between two samples."),
      el("form", { class: "row", on: { submit: (e) => e.preventDefault() } },
        el("label", { for: "metrics-window" }, "Window", windowSel)),
      section("HTTP and store", core),
      section("Subsystems", subs));
    const view = {
      refresh() {
        const h = ctx.history;
        const from = Date.now() - Number(windowSel.value) * 60000;
        const cut = (obj) => { for (const k of Object.keys(obj)) obj[k] = obj[k].filter((p) => p[0] >= from); return obj; };
        const opts = { from, now: Date.now() };
        const bySub = (l) => subsystemOf(l.route);
        fill(core,
          lineChart("HTTP requests per second by subsystem", toSeries(cut(h.rate("tb_http_requests_total", bySub))), "/s", opts),
          lineChart("HTTP responses per second by status class", toSeries(cut(h.rate("tb_http_requests_total", (l) => l.code))), "/s", opts),
          lineChart("HTTP latency, 50th and 95th percentile", [
            { name: "p50", points: cut(h.quantile("tb_http_request_duration_seconds", 0.5)).all || [] },
            { name: "p95", points: cut(h.quantile("tb_http_request_duration_seconds", 0.95)).all || [] },
          ], "s", opts),
          lineChart("HTTP latency (95th percentile) by subsystem", toSeries(cut(h.quantile("tb_http_request_duration_seconds", 0.95, bySub))), "s", opts),
          lineChart("Store commits per second", toSeries(cut(h.rate("tb_store_commits_total"))), "/s", opts),
          lineChart("Store commit (fsync) latency, 95th percentile", toSeries(cut(h.quantile("tb_store_commit_duration_seconds", 0.95))), "s", opts));
        const fams = families(h);
        if (!fams.length) fill(subs, el("p", { class: "gap" }, "No subsystem series (tb_acme_*, tb_ct_*, tb_dap_*, tb_dns_*) in /metrics yet."));
        else fill(subs, fams.map((f) => familyChart(h, f, cut, opts)));
      },
      onParams() { windowSel.value = ctx.params.get("window") || windowSel.value; view.refresh(); },
    };
    windowSel.addEventListener("change", () => { ctx.setParams({ window: windowSel.value }); view.refresh(); });
    return view;
  },
};
