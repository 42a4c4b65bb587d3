// The compose demo's DAP client: uploads measurements with @divviup/dap
// (divviup-ts 0.9.1, installed at image build) to the task `trustbox dap task
// create` printed.   node dap-upload.mjs TASK-JSON MEASUREMENTS-JSON
// Prints "ok" per accepted report; exits 1 on the first failure.
import { readFileSync } from "node:fs";
import { Task } from "/opt/dap/node_modules/@divviup/dap/dist/index.js";

const created = JSON.parse(readFileSync(process.argv[2], "utf8"));
const task = new Task(created.divviup_ts);
for (const m of JSON.parse(process.argv[3])) {
  try {
    await task.sendMeasurement(m);
    console.log("ok");
  } catch (e) {
    console.log(`error ${e && (e.shortType || e.message) || e}`);
    process.exit(1);
  }
}
