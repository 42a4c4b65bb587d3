// HPKE interop driver for the JavaScript stack of the DAP client
// @divviup/dap 0.9.1 (which seals with hpke-js), used by test_hpke_interop.sh.
//
//   node hpke.mjs report <leader-list-hex> <helper-list-hex> <task-id-hex> <sum-value>
//        a real report from @divviup/dap's Task (Prio3Sum bits 8), with the
//        two HpkeConfigLists made by trustbox: prints the Report hex
//   node hpke.mjs seal <config-hex> <info-hex> <aad-hex> <pt-hex>
//        SealBase through @divviup/dap's HpkeConfig.seal: HpkeCiphertext hex
//   node hpke.mjs open <sk-hex> <info-hex> <aad-hex> <ciphertext-hex> [kem aead]
//        OpenBase through hpke-js (default X25519, HKDF-SHA256, AES-128-GCM)
//        of an HpkeCiphertext: the plaintext hex, exit 1 when opening fails
//   node hpke.mjs info <role>
//        the client's own InputShareInfo for a server role, hex
//
// @divviup/dap exports only Task, TaskId and HpkeConfig; the report and
// HPKE config list classes are loaded from the package's files.
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const modules = join(dirname(fileURLToPath(import.meta.url)), "node_modules");
const dapDir = join(modules, "@divviup", "dap");
const dist = (f) => import(pathToFileURL(join(dapDir, "dist", f)).href);
const { Task, TaskId, HpkeConfig } = await import(pathToFileURL(join(dapDir, "dist", "index.js")).href);
const { HpkeConfigList } = await dist("hpkeConfig.js");
const { InputShareInfo } = await dist("report.js");
// hpke-js as the client resolves it: its own node_modules first, then hoisted.
const hpkeDir = [join(dapDir, "node_modules", "hpke-js"), join(modules, "hpke-js")].find(existsSync);
const { CipherSuite, KemId, KdfId, AeadId } = await import(pathToFileURL(join(hpkeDir, "esm", "mod.js")).href);

const unhex = (s) => Buffer.from(s, "hex");
const hex = (b) => Buffer.from(b).toString("hex");

// HpkeCiphertext { u8 config_id; opaque enc<1..2^16-1>; opaque payload<1..2^32-1>; }
function parseCiphertext(b) {
  const encLen = b.readUInt16BE(1);
  const enc = b.subarray(3, 3 + encLen);
  const payLen = b.readUInt32BE(3 + encLen);
  const payload = b.subarray(7 + encLen, 7 + encLen + payLen);
  if (7 + encLen + payLen !== b.length) throw new Error("ciphertext length");
  return { configId: b[0], enc, payload };
}

const [cmd, ...a] = process.argv.slice(2);
if (cmd === "report") {
  const task = new Task({
    type: "sum", bits: 8, id: new TaskId(unhex(a[2])),
    leader: "http://127.0.0.1:9/", helper: "http://127.0.0.1:9/", timePrecisionSeconds: 3600,
  });
  // What fetchKeyConfiguration would set from the two /hpke_config answers.
  task.aggregators[0].hpkeConfigList = HpkeConfigList.parse(unhex(a[0]));
  task.aggregators[1].hpkeConfigList = HpkeConfigList.parse(unhex(a[1]));
  const report = await task.generateReport(Number(a[3]));
  process.stdout.write(hex(report.encode()) + "\n");
} else if (cmd === "seal") {
  const cfg = HpkeConfig.parse(unhex(a[0]));
  const ct = await cfg.seal(unhex(a[1]), unhex(a[3]), unhex(a[2]));
  process.stdout.write(hex(ct.encode()) + "\n");
} else if (cmd === "open") {
  const suite = new CipherSuite({
    kem: a[4] ? Number(a[4]) : KemId.DhkemX25519HkdfSha256,
    kdf: KdfId.HkdfSha256,
    aead: a[5] ? Number(a[5]) : AeadId.Aes128Gcm,
  });
  const sk = await suite.importKey("raw", unhex(a[0]), false);
  const ct = parseCiphertext(unhex(a[3]));
  try {
    const pt = await suite.open({ recipientKey: sk, enc: ct.enc, info: unhex(a[1]) }, ct.payload, unhex(a[2]));
    process.stdout.write(hex(pt) + "\n");
  } catch (e) {
    process.stderr.write(`node: open failed: ${e.name}\n`);
    process.exit(1);
  }
} else if (cmd === "info") {
  process.stdout.write(hex(new InputShareInfo(Number(a[0])).encode()) + "\n");
} else {
  process.stderr.write("usage: hpke.mjs report|seal|open|info ...\n");
  process.exit(2);
}
