// Overview: the services with their URLs, the root CA, copy-paste recipes
// filled with this instance's URLs and key names, and live request rates.
import { el, fill, section, table, recipe, num } from "../util.js";
import { lineChart } from "../chart.js";
import { subsystemOf } from "../prom.js";
import { endpoints, endpoint, baseUrl } from "./common.js";
import * as api from "../api.js";

// The divviup-ts parameters of a task as the admin API lists it.
function clientOf(t) {
  const v = t.vdaf || {};
  const c = { type: v.type };
  if (v.bits) c.bits = v.bits;
  if (v.length) c.length = v.length;
  if (v.buckets) c.length = v.buckets;
  if (v.chunk_length) c.chunkLength = v.chunk_length;
  return c;
}

function recipes(st, demo) {
  const base = baseUrl(st);
  const dir = endpoint(st, "ACME directory") || base + "/dir";
  const keyFile = endpoint(st, "DNS update key");
  const dnsAddr = endpoint(st, "DNS (udp+tcp)");
  const leader = endpoint(st, "DAP leader");
  const helper = endpoint(st, "DAP helper");
  const task = endpoint(st, "DAP demo task");
  const zone = keyFile ? keyFile.split("/").pop().replace(/\.tsig$/, "") : "lab.test";
  const host = "www." + zone;
  let dnsHost = "127.0.0.1", dnsPort = "5353";
  if (dnsAddr) {
    const m = /^\[?([^\]]*)\]?:(\d+)$/.exec(dnsAddr);
    if (m) { dnsHost = m[1]; dnsPort = m[2]; }
  }
  const out = [];
  out.push(recipe("curl", `curl -o root.pem ${base}/api/v1/root.pem
openssl x509 -in root.pem -noout -fingerprint -sha256   # compare with the fingerprint above
curl --cacert root.pem ${base}/api/v1/status`));
  out.push(recipe("certbot", `# http-01 is checked on port 5002 unless acme.http01_port says otherwise
REQUESTS_CA_BUNDLE=$PWD/root.pem certbot certonly --server ${dir} \\
  --standalone --http-01-port 5002 --http-01-address 127.0.0.1 \\
  --agree-tos -m you@${zone} --no-eff-email -d ${host} \\
  --config-dir ./le/conf --work-dir ./le/work --logs-dir ./le/logs`));
  out.push(recipe("lego", `LEGO_CA_CERTIFICATES=$PWD/root.pem lego --server ${dir} \\
  --email you@${zone} --domains ${host} --http --http.port 127.0.0.1:5002 --path ./lego run`));
  if (keyFile)
    out.push(recipe("nsupdate", `# the TSIG key for ${zone} is in ${keyFile} (algorithm:name:secret)
nsupdate -y "$(cat ${keyFile})" <<'END'
server ${dnsHost} ${dnsPort}
zone ${zone}
update add hello.${zone} 60 TXT "hello from nsupdate"
send
END
dig @${dnsHost} -p ${dnsPort} hello.${zone} TXT +short`));
  if (leader && helper) {
    const c = demo ? clientOf(demo) : { type: "histogram", length: 4, chunkLength: 2 };
    const vdaf = Object.entries(c).map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join(", ");
    const m = c.type === "histogram" ? "1 /* a bucket's index */" : c.type === "count" ? "true" : c.type === "sumvec" ? `[${Array(c.length || 1).fill(1).join(", ")}]` : "42";
    out.push(recipe("divviup-ts", `// npm install @divviup/dap@0.9.1; NODE_EXTRA_CA_CERTS=root.pem node upload.mjs
import { Task } from "@divviup/dap";
const task = new Task({
  ${vdaf},
  id: "${task || "<a task id from the DAP page>"}",
  leader: "${leader}",
  helper: "${helper}",
  timePrecisionSeconds: ${demo ? demo.time_precision : 3600},
});
await task.sendMeasurement(${m});`));
  }
  return out;
}

function rates(ctx) {
  const h = ctx.history;
  const http = h.rate("tb_http_requests_total", (l) => subsystemOf(l.route));
  const series = Object.entries(http).filter(([g]) => g !== "ui" && g !== "core")
    .map(([name, points]) => ({ name: name + " HTTP", points }));
  if (h.names().has("tb_dns_queries_total"))
    series.push({ name: "dns queries", points: h.rate("tb_dns_queries_total").all || [] });
  series.sort((a, b) => a.name.localeCompare(b.name));
  const rows = series.map((s) => {
    const last = s.points[s.points.length - 1];
    return [s.name, last ? num(last[1], 2) : "—"];
  });
  return [
    lineChart("Requests per second by subsystem", series, "/s", { minMax: 1 }),
    table(["series", "now (/s)#"], rows, { empty: "Collecting samples: rates appear after the second poll." }),
  ];
}

export default {
  title: "Overview",
  async mount(main, ctx) {
    const svc = el("div"), root = el("div"), rec = el("div"), live = el("div"), lst = el("div");
    main.append(
      el("h1", {}, "Overview"),
      el("p", { class: "sub" }, "A small, real copy of the Internet's trust infrastructure on this host."),
      el("div", { class: "grid" }, section("Root CA", root), section("Request rates", live)),
      section("Services", svc),
      section("Recipes", el("p", { class: "muted" },
        "Copy-paste commands for this instance. Trust the root per client, never system-wide."), rec),
      section("Listeners", lst));
    let recipesFor = null;
    return {
      async refresh() {
        const st = ctx.status;
        fill(root,
          el("p", {}, "SHA-256 fingerprint: ", el("code", { id: "root-fp" }, st.root_sha256 || "")),
          el("p", {}, el("a", { href: "/api/v1/root.pem", download: "trustbox-root.pem" }, "Download root.pem"),
            " — check the fingerprint against the one ", el("code", {}, "trustbox run"), " printed."));
        fill(svc, table(["subsystem", "what", "where"], endpoints(st).map((e) =>
          [e.subsystem, e.what, /^https?:\/\//.test(e.url) ? el("a", { href: e.url }, el("code", {}, e.url)) : el("code", {}, e.url)])));
        fill(lst, table(["name", "address", "port#", "TLS"], (st.listeners || []).map((l) =>
          [l.name, el("code", {}, l.address), String(l.port), l.tls ? "yes" : "no"])));
        const key = JSON.stringify(st.subsystems);
        if (key !== recipesFor) {
          // The demo task's VDAF comes from the admin API (when this build and listener serve it).
          const demoId = endpoint(st, "DAP demo task");
          let demo = null;
          if (demoId) demo = await api.get(`/api/v1/dap/tasks/${encodeURIComponent(demoId)}`).catch(() => null);
          fill(rec, recipes(st, demo));
          recipesFor = key;
        }
        fill(live, rates(ctx));
      },
    };
  },
};
