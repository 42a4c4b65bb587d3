// Known-answer encodings of the DAP-09 messages the client side of
// @divviup/dap 0.9.1 writes, made with the package's own encoders, for
// tests/unit/test_dap_messages.c. Run from a directory whose node_modules
// holds @divviup/dap 0.9.1; the output is stored as
// tests/vectors/dap-09/divviup_ts_messages.txt ("name hex" per line).
//
//   node messages_kat.mjs [node_modules-dir]
//
// The fixed messages use field values chosen so that every field is
// distinguishable (no two fields share a byte pattern). report_count3 is a
// real Prio3Count report sealed to a fixed HpkeConfigList (ids 7 and 200);
// its shares are random, so only its framing is checked.
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const modules = resolve(process.argv[2] || join(dirname(fileURLToPath(import.meta.url)), "node_modules"));
const dist = (f) => import(pathToFileURL(join(modules, "@divviup", "dap", "dist", f)).href);
const { Task, TaskId } = await dist("index.js");
const { Report, ReportMetadata, PlaintextInputShare, InputShareAad } = await dist("report.js");
const { ReportId } = await dist("reportId.js");
const { HpkeCiphertext } = await dist("ciphertext.js");
const { HpkeConfig, HpkeConfigList } = await dist("hpkeConfig.js");

const seq = (n, start) => Buffer.from(Array.from({ length: n }, (_, i) => (start + i) & 0xff));
const hex = (b) => Buffer.from(b).toString("hex");
const out = (name, b) => process.stdout.write(`${name} ${hex(b)}\n`);

const taskId = new TaskId(seq(32, 0xa0));
const md = new ReportMetadata(new ReportId(seq(16, 0x01)), 1700000000);
const publicShare = seq(7, 0x40);
const ctLeader = new HpkeCiphertext(7, seq(32, 0x60), seq(5, 0x90));
const ctHelper = new HpkeCiphertext(200, seq(32, 0x70), seq(3, 0xb0));

out("report_metadata", md.encode());
out("hpke_ciphertext", ctLeader.encode());
out("plaintext_input_share", new PlaintextInputShare([], seq(9, 0x20)).encode());
out("plaintext_input_share_empty", new PlaintextInputShare([], Buffer.alloc(0)).encode());
out("input_share_aad", new InputShareAad(taskId, md, publicShare).encode());
out("input_share_aad_empty_public_share", new InputShareAad(taskId, md, Buffer.alloc(0)).encode());
out("report", new Report(md, publicShare, ctLeader, ctHelper).encode());
out("report_empty_public_share", new Report(md, Buffer.alloc(0), ctLeader, ctHelper).encode());

// A real report of the client's Task, sealed to two fixed X25519 configs.
const pk1 = Buffer.from("3948cfe0ad1ddb695d780e59077195da6c56506b207329794c2ca1f3b0ac3543", "hex");
const pk2 = Buffer.from("8521f3d8a8fd2f8ba3d0e1b1e2b7adc8a8f7d4e3a1d2c3b4a5968778695a4b3c", "hex");
const list1 = new HpkeConfigList([new HpkeConfig(7, 0x20, 1, 1, pk1)]);
const list2 = new HpkeConfigList([new HpkeConfig(200, 0x20, 1, 1, pk2)]);
out("hpke_config_list_leader", list1.encode());
const task = new Task({ type: "count", id: taskId, leader: "http://127.0.0.1:9/",
  helper: "http://127.0.0.1:9/", timePrecisionSeconds: 3600 });
task.aggregators[0].hpkeConfigList = HpkeConfigList.parse(list1.encode());
task.aggregators[1].hpkeConfigList = HpkeConfigList.parse(list2.encode());
const real = await task.generateReport(true, { timestamp: new Date(1700001234 * 1000) });
out("report_count3", real.encode());
