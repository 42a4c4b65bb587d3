// ACME: orders with a filter, an order's life as a timeline (created ->
// authorizations -> each challenge attempt with its target and result ->
// finalize -> precertificate -> SCTs -> certificate), its certificate
// decoded with its SCTs and a revoke button; rate-limit buckets and the lab
// switches.
import { el, fill, section, table, when, num, msg, badge, gap } from "../util.js";
import * as api from "../api.js";

const REASONS = [[0, "unspecified"], [1, "keyCompromise"], [3, "affiliationChanged"], [4, "superseded"], [5, "cessationOfOperation"]];

function timeline(o) {
  return el("ol", { class: "timeline", id: "acme-timeline", "aria-label": "Order timeline" },
    (o.timeline || []).map((t) => el("li", { class: /invalid|revoked/.test(t.event + " " + (t.detail || "")) ? "bad" : null },
      el("span", { class: "ev" }, t.event), when(t.time), el("div", {}, t.detail || ""))));
}

function authorizations(o) {
  return (o.authorizations || []).map((a) => el("div", {},
    el("h3", {}, `${a.identifier.type}:${a.identifier.value}${a.wildcard ? " (wildcard)" : ""} `, badge(a.status)),
    table(["challenge", "status", "validated", "attempts"], a.challenges.map((c) => [
      c.type, badge(c.status), when(c.validated),
      c.attempts.length ? el("ul", {}, c.attempts.map((t) => el("li", {}, when(t.time), " → ", el("code", {}, t.target), " ",
        badge(t.result), t.problem ? ` ${typeof t.problem === "string" ? t.problem : t.problem.detail || t.problem.type || JSON.stringify(t.problem)}` : ""))) : "—"]))));
}

function certificate(c, onRevoke) {
  const reason = el("select", { id: "revoke-reason" }, REASONS.map(([v, t]) => el("option", { value: v }, t)));
  return el("div", { id: "acme-cert" },
    el("h3", {}, "Certificate ", c.revoked ? badge("revoked") : badge("valid")),
    el("dl", { class: "kv" },
      el("dt", {}, "serial"), el("dd", {}, el("code", { class: "serial" }, c.serial)),
      el("dt", {}, "subject"), el("dd", {}, c.subject || "(empty)"),
      el("dt", {}, "SANs"), el("dd", {}, (c.sans || c.identifiers || []).join(", ")),
      el("dt", {}, "issuer"), el("dd", {}, c.issuer || "—"),
      el("dt", {}, "key"), el("dd", {}, c.key_type || "—"),
      el("dt", {}, "valid"), el("dd", {}, when(c.not_before), " to ", when(c.not_after)),
      el("dt", {}, "profile"), el("dd", {}, c.profile || "—"),
      c.revocation ? [el("dt", {}, "revoked"), el("dd", {}, when(c.revocation.time), ` (reason ${c.revocation.reason})`)] : null),
    el("h3", {}, "SCTs"),
    table(["log", "timestamp", "entry"], (c.scts || []).map((s) => [s.log, when(s.timestamp),
      s.index === null || s.index === undefined ? "—" : el("a", { href: `#/ct?log=${encodeURIComponent(s.log)}&entry=${s.index}` }, `#${s.index} in the CT page`)]),
    { empty: "No SCT." }),
    c.pem ? el("details", {}, el("summary", {}, "PEM"), el("pre", {}, c.pem)) : null,
    c.revoked ? null : el("form", { class: "row", id: "revoke-form", on: { submit: (e) => { e.preventDefault(); onRevoke(Number(reason.value)); } } },
      el("label", { for: "revoke-reason" }, "Reason", reason),
      el("button", { type: "submit", class: "danger", id: "revoke-button" }, "Revoke")));
}

export default {
  title: "ACME",
  async mount(main, ctx) {
    const certs = el("div", { id: "acme-certs" });
    const list = el("div"), detail = el("div", { id: "acme-order", "aria-live": "polite" }), limits = el("div"), lab = el("div");
    const fStatus = el("select", { id: "order-status" }, ["", "pending", "ready", "processing", "valid", "invalid"].map((s) => el("option", { value: s }, s || "any")));
    const fIdent = el("input", { id: "order-identifier", type: "search", placeholder: "www.lab.test" });
    fStatus.value = ctx.params.get("status") || "";
    fIdent.value = ctx.params.get("identifier") || "";
    let shown = null, shownState = null;

    async function showOrder(id, force) {
      const o = await api.get(`/api/v1/acme/orders/${encodeURIComponent(id)}`);
      let cert = null;
      if (o.certificate) cert = await api.get(`/api/v1/acme/certificates/${encodeURIComponent(o.certificate)}`);
      const state = JSON.stringify([o, cert]);
      if (!force && state === shownState) return;
      shownState = state;
      shown = id;
      fill(detail, section(`Order ${o.id}`,
        el("p", {}, badge(o.status), ` ${o.identifiers.map((i) => i.value).join(", ")} · account `, el("code", {}, o.account),
          ` · profile ${o.profile || "—"} · expires `, when(o.expires)),
        el("h3", {}, "Timeline"), timeline(o),
        el("h3", {}, "Authorizations"), authorizations(o),
        cert ? certificate(cert, (reason) => revoke(cert.serial, reason)) : el("p", { class: "muted" }, "No certificate yet."),
        el("div", { id: "revoke-msg", "aria-live": "polite" })));
    }

    async function revoke(serial, reason) {
      const out = detail.querySelector("#revoke-msg");
      try {
        await api.write("POST", `/api/v1/acme/certificates/${encodeURIComponent(serial)}/revoke`, { reason });
        await showOrder(shown, true);
        fill(detail.querySelector("#revoke-msg"), msg(`Certificate ${serial} revoked.`, "ok"));
      } catch (e) {
        fill(out, msg("Revocation refused. " + api.describe(e), "error"));
      }
    }

    main.append(
      el("h1", {}, "ACME"),
      el("p", { class: "sub" }, "Orders, their authorizations and validation attempts, and the certificates they produced."),
      section("Orders",
        el("form", { class: "row", on: { submit: (e) => { e.preventDefault(); apply(); } } },
          el("label", { for: "order-status" }, "Status", fStatus),
          el("label", { for: "order-identifier" }, "Identifier", fIdent),
          el("button", { type: "submit" }, "Filter")),
        list),
      detail,
      section("Certificates", certs),
      el("div", { class: "grid" }, section("Rate limits", limits), section("Lab switches", lab)));

    function apply() {
      const p = {};
      if (fStatus.value) p.status = fStatus.value;
      if (fIdent.value.trim()) p.identifier = fIdent.value.trim();
      if (shown) p.order = shown;
      ctx.setParams(p);
      view.refresh();
    }

    async function labSwitches() {
      const l = await api.get("/api/v1/acme/lab");
      const av = el("input", { type: "checkbox", id: "lab-always-valid", checked: l.always_valid });
      const delay = el("input", { type: "number", id: "lab-delay", min: "0", value: String(l.validation_delay_ms), inputmode: "numeric" });
      const nonce = el("input", { type: "number", id: "lab-nonce", min: "0", max: "1", step: "0.05", value: String(l.reject_nonce_fraction) });
      const out = el("div", { "aria-live": "polite" });
      fill(lab,
        el("p", { class: "muted" }, `Policy ${l.policy}. Changes last until the next restart.`),
        el("form", { class: "row", on: { submit: async (e) => {
          e.preventDefault();
          try {
            await api.write("PUT", "/api/v1/acme/lab", { always_valid: av.checked, validation_delay_ms: Number(delay.value), reject_nonce_fraction: Number(nonce.value) });
            fill(out, msg("Lab switches set.", "ok"));
          } catch (err) { fill(out, msg(api.describe(err), "error")); }
        } } },
          el("label", { class: "inline", for: "lab-always-valid" }, av, "every challenge is valid"),
          el("label", { for: "lab-delay" }, "validation delay (ms)", delay),
          el("label", { for: "lab-nonce" }, "fraction of nonces rejected", nonce),
          el("button", { type: "submit" }, "Set")),
        out);
    }

    const view = {
      async refresh(auto) {
        const q = new URLSearchParams();
        if (fStatus.value) q.set("status", fStatus.value);
        if (fIdent.value.trim()) q.set("identifier", fIdent.value.trim());
        let orders;
        try {
          orders = await api.list(`/api/v1/acme/orders${q.toString() ? "?" + q : ""}`, 200);
        } catch (e) {
          fill(list, e instanceof api.ApiError && e.missing ? gap("The ACME admin API") : msg(api.describe(e), "error"));
          return;
        }
        fill(list, el("div", { id: "acme-orders" }, table(["order", "identifiers", "status", "profile", "created", "certificate", ""],
          orders.map((o) => ({ class: o.id === shown ? "sel" : null, cells: [
            el("code", {}, o.id), o.identifiers.map((i) => i.value).join(", "), badge(o.status), o.profile || "—", when(o.created),
            o.certificate ? el("code", {}, o.certificate) : "—",
            el("button", { type: "button", class: "secondary", "aria-label": `Open order ${o.id}`, on: { click: () => {
              ctx.setParams({ ...Object.fromEntries(ctx.params), order: o.id });
              showOrder(o.id, true).catch((e) => fill(detail, msg(api.describe(e), "error")));
            } } }, "Open")] })),
          { empty: "No orders match." })));
        const want = ctx.params.get("order");
        if (want && (!auto || want === shown)) await showOrder(want, !auto).catch((e) => fill(detail, msg(api.describe(e), "error")));
        try {
          const cs = await api.list("/api/v1/acme/certificates", 100);
          fill(certs, table(["serial", "names", "profile", "not after", "state", ""], cs.map((c) => [
            el("code", {}, c.serial), (c.identifiers || []).join(", "), c.profile || "—", when(c.not_after),
            badge(c.revoked ? "revoked" : "valid"),
            c.order ? el("button", { type: "button", class: "secondary", "aria-label": `Open the order of certificate ${c.serial}`, on: { click: () => {
              ctx.setParams({ ...Object.fromEntries(ctx.params), order: c.order });
              showOrder(c.order, true).catch((e) => fill(detail, msg(api.describe(e), "error")));
            } } }, "Order") : ""]), { empty: "No certificates yet." }));
        } catch (e) { fill(certs, msg(api.describe(e), "error")); }
        try {
          const rl = await api.list("/api/v1/acme/ratelimits", 100);
          fill(limits, table(["bucket", "key", "tokens#", "capacity#", "refill (s)#"], rl.map((b) =>
            [b.bucket, el("code", {}, b.key), num(b.tokens, 1), num(b.capacity), num(b.refill)]), { empty: "No bucket in use." }));
        } catch (e) { fill(limits, msg(api.describe(e), "error")); }
        if (!auto || !lab.firstChild) await labSwitches().catch((e) => fill(lab, msg(api.describe(e), "error")));
      },
      onParams() { return view.refresh(false); },
    };
    return view;
  },
};
