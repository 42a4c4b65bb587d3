// Drives the DAP client @divviup/dap 0.9.1 (divviup-ts) against trustbox's
// aggregators for test_dap_upload.sh. Output: one line per upload, "ok" or
// "error <problem type short name> <HTTP status> <taskid from the problem>".
//
//   node client.mjs upload LEADER HELPER TASK VDAF PRECISION MEASUREMENTS [TIME]
//        Task.sendMeasurement for each measurement of the JSON array, with
//        the client's own hpke_config fetches; TIME (Unix seconds) is the
//        report timestamp (default now)
//   node client.mjs replay LEADER HELPER TASK VDAF PRECISION MEASUREMENT
//        one report generated once and sent twice
//   node client.mjs lists LEADER HELPER TASK VDAF PRECISION MEASUREMENT LEADER-LIST HELPER-LIST
//        a report sealed to the given HpkeConfigLists (hex), as a client that
//        cached them would
//   node client.mjs outdated LEADER HELPER TASK VDAF PRECISION MEASUREMENT
//        a report sealed to the leader's key under another HPKE config id
//   node client.mjs raw URL CONTENT-TYPE BODY-HEX
//        a bare PUT: "<status> <problem type> <taskid>"
// VDAF is the client's spec as JSON ({"type":"histogram","length":4,"chunkLength":2}).
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const modules = join(dirname(fileURLToPath(import.meta.url)), "node_modules");
const dist = (f) => import(pathToFileURL(join(process.env.DAP_NODE_MODULES || modules, "@divviup", "dap", "dist", f)).href);
const { Task } = await dist("index.js");
const { HpkeConfig, HpkeConfigList } = await dist("hpkeConfig.js");

const short = (t) => (t || "none").split(":").slice(-1)[0];
function describe(e) {
  if (e && e.shortType) return `error ${e.shortType} ${e.status} ${e.taskId ? e.taskId.toString() : "-"}`;
  return `error other - - ${String(e && e.message || e).replace(/\s+/g, "_")}`;
}
async function attempt(fn) {
  try { await fn(); return "ok"; } catch (e) { return describe(e); }
}

const [cmd, ...a] = process.argv.slice(2);
if (cmd === "raw") {
  const r = await fetch(a[0], { method: "PUT", headers: { "Content-Type": a[1] }, body: Buffer.from(a[2], "hex") });
  let type = "-", tid = "-";
  if ((r.headers.get("content-type") || "").startsWith("application/problem+json")) {
    const j = await r.json();
    type = short(j.type);
    tid = j.taskid || "-";
  }
  console.log(`${r.status} ${type} ${tid}`);
} else {
  const [leader, helper, id, vdaf, precision, arg, when] = a;
  const task = new Task({ ...JSON.parse(vdaf), id, leader, helper, timePrecisionSeconds: Number(precision) });
  const opts = when ? { timestamp: new Date(Number(when) * 1000) } : undefined;
  if (cmd === "upload") {
    for (const m of JSON.parse(arg)) console.log(await attempt(() => task.sendMeasurement(m, opts)));
  } else if (cmd === "replay") {
    const report = await task.generateReport(JSON.parse(arg), opts);
    console.log(await attempt(() => task.sendReport(report)));
    console.log(await attempt(() => task.sendReport(report)));
  } else if (cmd === "lists") {
    // lists ... MEASUREMENT LEADER-LIST-HEX HELPER-LIST-HEX [TIME]: sealed to these configs
    const [, , , , , m, lhex, hhex, t] = a;
    task.aggregators[0].hpkeConfigList = HpkeConfigList.parse(Buffer.from(lhex, "hex"));
    task.aggregators[1].hpkeConfigList = HpkeConfigList.parse(Buffer.from(hhex, "hex"));
    const report = await task.generateReport(JSON.parse(m), t ? { timestamp: new Date(Number(t) * 1000) } : undefined);
    console.log(await attempt(() => task.sendReport(report)));
  } else if (cmd === "outdated") {
    await task.fetchKeyConfiguration();
    const [l] = task.aggregators;
    const c = l.hpkeConfigList.selectConfig();
    const moved = new HpkeConfig((c.id + 1) % 256, c.kemId, c.kdfId, c.aeadId, c.publicKey);
    l.hpkeConfigList = HpkeConfigList.parse(new HpkeConfigList([moved]).encode());
    const report = await task.generateReport(JSON.parse(arg), opts);
    console.log(await attempt(() => task.sendReport(report)));
  } else {
    console.error("usage: client.mjs upload|replay|outdated|raw ...");
    process.exit(2);
  }
}
