// DAP: the aggregators' tasks with their counters, a create-task form that
// shows the divviup-ts upload snippet (and the collector credential, once),
// a task's jobs, batches and collections, and a collect button that shows
// the aggregate (a bar chart for histograms and vectors).
import { el, fill, section, table, when, num, msg, badge, gap, recipe } from "../util.js";
import { barChart } from "../chart.js";
import * as api from "../api.js";

const short = (id) => id.slice(0, 12) + "…";
const vdafText = (v) => v.type + (v.bits ? ` bits=${v.bits}` : "") + (v.length ? ` length=${v.length}` : "") +
  (v.buckets ? ` buckets=${v.buckets}` : "") + (v.chunk_length ? ` chunk=${v.chunk_length}` : "");
const rejected = (c) => Object.values(c.rejected || {}).reduce((a, b) => a + b, 0);
const unixTime = (s) => new Date(s * 1000).toISOString();

export default {
  title: "DAP",
  async mount(main, ctx) {
    const list = el("div", { id: "dap-tasks" }), detail = el("div", { id: "dap-task", "aria-live": "polite" });
    const created = el("div", { id: "dap-created", "aria-live": "polite" });
    const f = {
      vdaf: el("select", { id: "dap-vdaf" }, ["count", "sum", "sumvec", "histogram"].map((v) => el("option", { value: v }, v))),
      bits: el("input", { id: "dap-bits", type: "number", min: "1", max: "64", value: "8", inputmode: "numeric" }),
      length: el("input", { id: "dap-length", type: "number", min: "1", value: "4", inputmode: "numeric" }),
      chunk: el("input", { id: "dap-chunk", type: "number", min: "1", value: "2", inputmode: "numeric" }),
      query: el("select", { id: "dap-query" }, el("option", { value: "time_interval" }, "time_interval"), el("option", { value: "fixed_size" }, "fixed_size")),
      precision: el("input", { id: "dap-precision", type: "number", min: "1", value: "3600", inputmode: "numeric" }),
      minBatch: el("input", { id: "dap-min-batch", type: "number", min: "1", value: "10", inputmode: "numeric" }),
    };
    const shape = () => {
      const v = f.vdaf.value;
      f.bits.disabled = !(v === "sum" || v === "sumvec");
      f.length.disabled = !(v === "sumvec" || v === "histogram");
      f.chunk.disabled = !(v === "sumvec" || v === "histogram");
    };
    f.vdaf.addEventListener("change", shape);
    f.vdaf.value = "histogram";
    shape();
    let shown = ctx.params.get("task");

    async function create() {
      const vdaf = { type: f.vdaf.value };
      if (!f.bits.disabled) vdaf.bits = Number(f.bits.value);
      if (!f.length.disabled) vdaf.length = Number(f.length.value);
      if (!f.chunk.disabled && f.chunk.value) vdaf.chunk_length = Number(f.chunk.value);
      fill(created, msg("creating…"));
      try {
        const t = await api.write("POST", "/api/v1/dap/tasks", { vdaf, query_type: f.query.value,
          time_precision: Number(f.precision.value), min_batch_size: Number(f.minBatch.value) });
        fill(created,
          msg(`Task ${t.id} created.`, "ok"),
          el("p", {}, "Task id: ", el("code", { id: "dap-new-id" }, t.id)),
          el("div", { id: "dap-snippet" }, recipe("divviup-ts upload", "// npm install @divviup/dap@0.9.1; NODE_EXTRA_CA_CERTS=root.pem node upload.mjs\n" + t.client_snippet)),
          t.client ? el("details", {}, el("summary", {}, "Client parameters (JSON)"), el("pre", { id: "dap-client" }, JSON.stringify(t.client, null, 2))) : null,
          t.collector ? el("details", {}, el("summary", {}, "Collector credential (shown once; the collect button uses the stored copy)"),
            el("pre", {}, JSON.stringify(t.collector, null, 2))) : null);
        shown = t.id;
        ctx.setParams({ task: t.id });
        await view.refresh(false);
      } catch (e) {
        fill(created, msg("Task not created. " + api.describe(e), "error"));
      }
    }

    async function collect(t, out) {
      fill(out, msg("collecting…"));
      let body = {};
      try {
        for (let i = 0; i < 10; i++) {
          const r = await api.write("POST", `/api/v1/dap/tasks/${encodeURIComponent(t.id)}/collect`, body);
          if (r.state === "pending") { body = { job_id: r.job_id }; fill(out, msg(`collection job ${r.job_id} pending, asking again…`)); continue; }
          const agg = Array.isArray(r.aggregate) ? r.aggregate : [r.aggregate];
          const what = `${r.report_count} reports` + (r.interval ? ` from ${new Date(r.interval.start * 1000).toLocaleString()} for ${r.interval.duration} s` : "");
          fill(out, msg(`Collected ${what}.`, "ok"),
            agg.length > 1 ? barChart(`Aggregate of ${r.report_count} reports`, agg.map((_, k) => String(k)), agg.map(Number))
              : el("p", {}, "Aggregate: ", el("strong", { class: "aggregate" }, String(agg[0]))));
          await showTask(t.id).catch(() => {}); // its collections list now has this one
          return;
        }
      } catch (e) {
        fill(out, msg("Collection failed. " + api.describe(e), "error"));
      }
    }

    async function del(t) {
      try {
        await api.write("DELETE", `/api/v1/dap/tasks/${encodeURIComponent(t.id)}`);
        if (shown === t.id) { shown = null; fill(detail); }
        await view.refresh(false);
      } catch (e) {
        fill(created, msg("Task not deleted. " + api.describe(e), "error"));
      }
    }

    async function showTask(id) {
      const t = await api.get(`/api/v1/dap/tasks/${encodeURIComponent(id)}`);
      const out = detail.querySelector("#dap-collect-result") || el("div", { id: "dap-collect-result", "aria-live": "polite" });
      const c = t.counts || {};
      fill(detail, section(`Task ${short(t.id)}`,
        el("dl", { class: "kv" },
          el("dt", {}, "id"), el("dd", {}, el("code", {}, t.id)),
          el("dt", {}, "role"), el("dd", {}, t.role),
          el("dt", {}, "VDAF"), el("dd", {}, vdafText(t.vdaf)),
          el("dt", {}, "query"), el("dd", {}, `${t.query_type}, precision ${t.time_precision} s, min batch ${t.min_batch_size}${t.max_batch_size ? ", max " + t.max_batch_size : ""}`),
          el("dt", {}, "expires"), el("dd", {}, t.expiration ? when(typeof t.expiration === "number" ? unixTime(t.expiration) : t.expiration) : "never"),
          el("dt", {}, "leader"), el("dd", {}, el("code", {}, t.leader_url)),
          el("dt", {}, "helper"), el("dd", {}, el("code", {}, t.helper_url))),
        el("div", {}, [["received", c.received], ["aggregated", c.aggregated], ["collected", c.collected], ["rejected", rejected(c)]]
          .map(([k, v]) => el("span", { class: "stat" }, el("b", {}, num(v)), k))),
        Object.keys(c.rejected || {}).length ? table(["rejected because", "reports#"], Object.entries(c.rejected).map(([k, v]) => [k, num(v)])) : null,
        t.role === "leader" ? el("p", {}, el("button", { type: "button", id: "dap-collect", on: { click: () => collect(t, out) } }, "Collect"),
          t.collector_stored === false ? el("span", { class: "muted" }, " (no stored collector credential: tasks created here have one)") : null) : null,
        out,
        el("h3", {}, "Aggregation jobs"),
        table(["job", "state", "reports#", "created"], (t.aggregation_jobs || []).map((j) => [el("code", {}, j.id), badge(j.state), num(j.reports), when(j.created)]), { empty: "None yet." }),
        el("h3", {}, "Batches"),
        table(["batch", "reports#", "collected#"], (t.batches || []).map((b) => [
          /^\d+$/.test(b.identifier) ? when(unixTime(Number(b.identifier))) : el("code", {}, b.identifier), num(b.reports), num(b.collected)]), { empty: "None yet." }),
        el("h3", {}, "Collections"),
        table(["job", "state", "reports#", "batch", "created"], (t.collections || []).map((x) => [el("code", {}, x.id), badge(x.state), num(x.report_count),
          x.batch && x.batch.start !== undefined ? `${new Date(x.batch.start * 1000).toLocaleString()} + ${x.batch.duration} s` : JSON.stringify(x.batch), when(x.created)]), { empty: "None yet." })));
    }

    main.append(
      el("h1", {}, "DAP"),
      el("p", { class: "sub" }, "The leader's and helper's tasks, uploads from divviup-ts, and collections."),
      section("Tasks", list),
      detail,
      section("Create a task",
        el("p", { class: "muted" }, "A task on this instance's leader and helper, with a collector credential stored for the collect button."),
        el("form", { class: "row", id: "dap-create", on: { submit: (e) => { e.preventDefault(); create(); } } },
          el("label", { for: "dap-vdaf" }, "VDAF", f.vdaf),
          el("label", { for: "dap-bits" }, "Bits", f.bits),
          el("label", { for: "dap-length" }, "Length / buckets", f.length),
          el("label", { for: "dap-chunk" }, "Chunk length", f.chunk),
          el("label", { for: "dap-query" }, "Query", f.query),
          el("label", { for: "dap-precision" }, "Time precision (s)", f.precision),
          el("label", { for: "dap-min-batch" }, "Min batch size", f.minBatch),
          el("button", { type: "submit" }, "Create task")),
        created));

    const view = {
      async refresh() {
        let tasks;
        try {
          tasks = await api.list("/api/v1/dap/tasks");
        } catch (e) {
          fill(list, e instanceof api.ApiError && e.missing ? gap("The DAP admin API") : msg(api.describe(e), "error"));
          return;
        }
        fill(list, table(["task", "role", "VDAF", "received#", "aggregated#", "collected#", "rejected#", ""], tasks.map((t) => ({
          class: t.id === shown && t.role === "leader" ? "sel" : null, cells: [
            el("code", { title: t.id }, short(t.id)), t.role, vdafText(t.vdaf), num(t.counts.received), num(t.counts.aggregated),
            num(t.counts.collected), num(rejected(t.counts)),
            t.role === "leader" ? el("span", {},
              el("button", { type: "button", class: "secondary", "aria-label": `Open task ${t.id}`, on: { click: () => {
                shown = t.id; ctx.setParams({ task: t.id }); showTask(t.id).catch((e) => fill(detail, msg(api.describe(e), "error")));
              } } }, "Open"), " ",
              el("button", { type: "button", class: "danger", "aria-label": `Delete task ${t.id}`, on: { click: () => del(t) } }, "Delete")) : ""] })),
          { empty: "No tasks." }));
        if (shown) await showTask(shown).catch((e) => fill(detail, msg(api.describe(e), "error")));
      },
      onParams() { shown = ctx.params.get("task") || shown; return view.refresh(); },
    };
    return view;
  },
};
