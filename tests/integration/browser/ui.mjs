// Drives Debian's chromium through trustbox's web UI with playwright-core,
// for test_webui_browser.sh. Prints one line per check, "ok: ..." or
// "FAIL: ...", and exits 1 when a check failed. Everything it needs comes
// from the environment the script sets:
//   UI_URL          the UI's base URL (https://localhost:PORT)
//   UI_TOKEN        the admin token
//   UI_SHOTS        folder for the screenshots (an artifact of the build)
//   UI_MODULES      node_modules holding playwright-core and axe-core
//   CERT_SERIAL     `openssl x509 -serial` of certbot's certificate (hex)
//   CERT_NAME       the name it was issued for (www.lab.test)
//   DNS_HOST, DNS_PORT   where dig asks
//   DAP_CLIENT      tests/integration/dap/client.mjs (with DAP_NODE_MODULES set); empty: no DAP check
//   UI_CHECKS       comma-separated subset of pages,acme,ct,dns,dap (default all)
import { execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const env = process.env;
const { chromium } = await import(pathToFileURL(join(env.UI_MODULES, "playwright-core", "index.mjs")).href);
const axeSource = readFileSync(join(env.UI_MODULES, "axe-core", "axe.min.js"), "utf8");
const base = env.UI_URL;
const checks = new Set((env.UI_CHECKS || "pages,acme,ct,dns,dap").split(","));
let failures = 0;
const ok = (m) => console.log("ok: " + m);
const fail = (m) => { failures++; console.log("FAIL: " + m); };
const expect = (cond, m, detail) => (cond ? ok(m) : fail(m + (detail !== undefined ? ` (${detail})` : "")));

const profile = mkdtempSync(join(tmpdir(), "tb-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  // The root is not in chromium's store: this is a loopback test of the UI, not of trust
  // (the clients' tests check trust); the proof check needs a secure context, which https is.
  ignoreHTTPSErrors: true,
  args: ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-gpu", "--no-first-run"],
  viewport: { width: 1280, height: 900 },
  // A time zone that is not UTC and not whole hours away, so that a time shown in UTC stands out.
  timezoneId: "Asia/Kolkata",
  locale: "en-US",
});
const page = context.pages()[0] || await context.newPage();
page.setDefaultTimeout(20000);
const consoleErrors = [];
// Chromium logs every answer >= 400 as an error; the ones a check provokes on purpose (a
// write without the token) are listed here and not counted.
const provoked = [];
page.on("console", (m) => {
  if (m.type() !== "error") return;
  const url = m.location().url || "";
  if (/^Failed to load resource/.test(m.text()) && provoked.some((re) => re.test(url))) return;
  consoleErrors.push(`${m.text()} [${url}]`);
});
page.on("pageerror", (e) => consoleErrors.push("uncaught: " + e.message));
// Nothing may be fetched from anywhere but the UI's own origin.
const foreign = [];
page.on("request", (r) => { if (!r.url().startsWith(base) && !r.url().startsWith("data:")) foreign.push(r.url()); });

async function open(hash) {
  await page.goto(`${base}/#/${hash}`);
  await settled();
}
// Waits until the poll loop has finished a refresh after now.
async function settled() {
  await page.waitForFunction(() => /^updated|failed/.test(document.getElementById("refresh-state").textContent));
}
async function refresh() {
  await page.click("#refresh-now");
  await page.waitForFunction(() => /^updated|failed/.test(document.getElementById("refresh-state").textContent));
}
async function setToken(t) {
  if (t) { await page.fill("#token", t); await page.click("#token-form button[type=submit]"); }
  else await page.click("#token-clear");
}
function dig(name, type) {
  return execFileSync("dig", [`@${env.DNS_HOST}`, "-p", env.DNS_PORT, "+short", "+time=2", "+tries=1", name, type], { encoding: "utf8" }).trim();
}

async function axe(label) {
  await page.evaluate(axeSource + ";0");
  const r = await page.evaluate(async () => {
    const res = await window.axe.run(document, { resultTypes: ["violations"] });
    return res.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length, target: v.nodes[0] && v.nodes[0].target.join(" ") }));
  });
  const bad = r.filter((v) => v.impact === "serious" || v.impact === "critical");
  expect(!bad.length, `axe-core: no serious or critical violation on ${label}`, bad.map((v) => `${v.id} (${v.impact}) x${v.nodes} at ${v.target}`).join("; "));
}

// ---- every page, at desktop and phone widths ----
async function pages() {
  mkdirSync(env.UI_SHOTS, { recursive: true });
  for (const [w, h, tag] of [[1280, 900, "desktop"], [390, 844, "phone"]]) {
    await page.setViewportSize({ width: w, height: h });
    for (const p of ["overview", "acme", "ct", "dap", "dns", "metrics"]) {
      await open(p);
      if (p === "metrics" || p === "overview") {
        await page.waitForTimeout(5500); // a second poll: rates need two samples
        await settled();
        const lines = await page.locator("#main svg.chart path.line").count();
        expect(lines > 0, `${p} (${tag}) draws rate lines from /metrics`, `${lines} lines`);
      }
      const state = await page.textContent("#refresh-state");
      expect(state.startsWith("updated"), `${p} (${tag}) loads and refreshes`, state);
      await page.screenshot({ path: join(env.UI_SHOTS, `${p}-${tag}.png`), fullPage: true });
      // Nothing wider than the screen: a phone scrolls down, never sideways (wide tables scroll inside their box).
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(overflow <= 1, `${p} (${tag}) fits the width`, `${overflow}px too wide`);
      await axe(`${p} (${tag})`);
    }
  }
  await page.setViewportSize({ width: 1280, height: 900 });
  // The Overview shows the real root fingerprint and live request rates.
  await open("overview");
  const fp = await page.textContent("#root-fp");
  const st = await (await page.request.get(`${base}/api/v1/status`)).json();
  expect(fp === st.root_sha256 && fp.length > 60, "Overview shows the root's SHA-256 fingerprint");
  const recipes = await page.textContent("#main");
  expect(recipes.includes(st.subsystems.find((s) => s.name === "acme").endpoints[0].url) && /certbot certonly --server/.test(recipes),
    "Overview recipes carry this instance's ACME directory");
  // Keyboard: on a fresh load the first Tab reaches the skip link, which moves the focus to the page.
  await page.reload();
  await settled();
  await page.keyboard.press("Tab");
  const first = await page.evaluate(() => document.activeElement.textContent);
  await page.keyboard.press("Enter");
  const then = await page.evaluate(() => document.activeElement.id);
  expect(first === "Skip to content" && then === "main", "keyboard: Tab reaches the skip link, Enter moves to the content", `${first} / ${then}`);
  // Two recipes run as copied: nsupdate (then dig) and the divviup-ts upload to the demo task.
  const recipe = async (name) => page.locator(".recipe", { has: page.locator(`h3:text-is("${name}")`) }).locator("pre").textContent();
  try {
    const ns = execFileSync("bash", ["-c", await recipe("nsupdate")], { encoding: "utf8", timeout: 20000 });
    expect(/hello from nsupdate/.test(ns), "the Overview's nsupdate recipe, pasted into bash, adds a record dig sees", ns);
  } catch (e) { fail("the Overview's nsupdate recipe runs: " + e.message); }
  if (env.DAP_NODE_MODULES) {
    const file = join(env.DAP_NODE_MODULES, "..", "overview-recipe.mjs");
    writeFileSync(file, await recipe("divviup-ts"));
    try {
      execFileSync("node", [file], { encoding: "utf8", timeout: 60000, env: { ...env, NODE_EXTRA_CA_CERTS: env.ROOT_PEM } });
      ok("the Overview's divviup-ts recipe uploads a report to the demo task");
    } catch (e) { fail("the Overview's divviup-ts recipe runs: " + (e.stderr || e.message)); }
  }
  // The CSP and ETag of the UI's files.
  const r = await page.request.get(`${base}/ui/js/app.js`);
  expect(/^text\/javascript/.test(r.headers()["content-type"]) && /default-src 'self'/.test(r.headers()["content-security-policy"] || ""),
    "UI module served as JavaScript under a self-only CSP");
  const again = await page.request.get(`${base}/ui/js/app.js`, { headers: { "If-None-Match": r.headers().etag } });
  expect(again.status() === 304, "a repeated fetch with the ETag gets 304", again.status());
}

// ---- ACME: certbot's order, its timeline and serial ----
async function acme() {
  await open("acme");
  const row = page.locator("#acme-orders tr", { hasText: env.CERT_NAME }).first();
  try { await row.waitFor({ timeout: 10000 }); } catch { fail(`ACME page lists the order for ${env.CERT_NAME}`); return; }
  ok(`ACME page lists the order for ${env.CERT_NAME}`);
  await row.locator("button").first().click();
  const tl = page.locator("#acme-timeline");
  await tl.waitFor();
  const events = await tl.locator("li").evaluateAll((lis) => lis.map((li) => [li.querySelector(".ev").textContent, li.textContent]));
  const names = events.map((e) => e[0]).join(" ");
  expect(events.some(([ev, t]) => ev === "attempt" && /http-01/.test(t) && /valid/.test(t)), "the order's timeline shows the http-01 attempt", names);
  expect(events.some(([ev]) => ev === "sct"), "the order's timeline shows the SCT", names);
  const order = ["created", "authorization", "attempt", "finalize", "precertificate", "sct", "certificate"];
  const at = events.map((e) => e[0]);
  expect(order.every((ev, i) => at.indexOf(ev) >= 0 && (i === 0 || at.indexOf(ev) > at.indexOf(order[i - 1]))),
    "the timeline runs created -> authorization -> attempt -> finalize -> precertificate -> sct -> certificate", names);
  const serial = (await page.locator("#acme-order .serial").first().textContent()).trim();
  // Times in the viewer's time zone: the order's creation as Intl formats it for Asia/Kolkata.
  const t = page.locator("#acme-timeline time").first();
  const iso = await t.getAttribute("datetime"), shown = await t.textContent();
  const local = new Intl.DateTimeFormat("en-US", { dateStyle: "medium", timeStyle: "medium", timeZone: "Asia/Kolkata" }).format(new Date(iso));
  const norm = (x) => x.replace(/\s+/g, " "); // ICU versions differ in the space before "PM"
  const tz = await page.textContent("#tz"); // ICU may still call it by its old name
  expect(norm(shown) === norm(local) && /^Asia\/(Kolkata|Calcutta)$/.test(tz), "timestamps are shown in the viewer's time zone", `${iso} shown as ${shown}, want ${local}; zone ${tz}`);
  expect(serial === env.CERT_SERIAL, "the serial shown equals openssl x509 -serial of certbot's file", `${serial} vs ${env.CERT_SERIAL}`);
  await page.screenshot({ path: join(env.UI_SHOTS, "acme-order-desktop.png"), fullPage: true });
  await axe("the ACME page with an order open");
  // Revoking another certificate from the page, found with the filter.
  if (env.REVOKE_NAME) {
    await setToken(env.UI_TOKEN);
    await page.fill("#order-identifier", env.REVOKE_NAME);
    await page.selectOption("#order-status", "valid");
    await page.click("#order-identifier ~ button, form.row button:has-text('Filter')");
    await page.waitForFunction((n) => {
      const rows = [...document.querySelectorAll("#acme-orders tbody tr")];
      return rows.length === 1 && rows[0].textContent.includes(n);
    }, env.REVOKE_NAME, { timeout: 10000 }).then(() => ok("the order filter leaves only " + env.REVOKE_NAME), () => fail("the order filter"));
    await page.locator("#acme-orders tr", { hasText: env.REVOKE_NAME }).first().locator("button").click();
    await page.waitForFunction((n) => (document.querySelector("#acme-cert dd")?.closest("#acme-order")?.textContent || "").includes("SANs" + n), env.REVOKE_NAME);
    const rs = (await page.locator("#acme-order .serial").first().textContent()).trim();
    await page.selectOption("#revoke-reason", "4");
    await page.click("#revoke-button");
    await page.waitForSelector("#revoke-msg .msg");
    const c = await (await page.request.get(`${base}/api/v1/acme/certificates/${rs}`)).json();
    expect(c.revoked === true && c.revocation && c.revocation.reason === 4 && /revoked/.test(await page.textContent("#acme-cert h3")),
      `the revoke button revokes ${env.REVOKE_NAME}'s certificate (reason superseded)`, JSON.stringify(c.revocation));
    await refresh();
    const row = await page.locator("#acme-certs tr", { hasText: rs }).textContent();
    expect(/revoked/.test(row), "the certificate list marks it revoked", row);
  }
}

// ---- CT: the proof checker on that certificate's entry ----
async function ct() {
  await open("ct");
  // The page remembers the checkpoint it saw; a new certificate grows the log, and the next
  // refresh checks the log's consistency proof between the two trees in the browser.
  if (env.ISSUE_MORE) {
    execFileSync("bash", ["-c", env.ISSUE_MORE], { stdio: "ignore", timeout: 120000 });
    await page.waitForFunction(() => document.querySelector("[data-consistency=good], [data-consistency=bad]"), null, { timeout: 20000 }).catch(() => {});
    const c = await page.locator("[data-consistency]").first().textContent().catch(() => "");
    expect(/consistency proof checked here/.test(c) && (await page.locator("[data-consistency=good]").count()) === 1,
      "the CT page checks the consistency proof when the tree grows", c);
  }
  await page.fill("#ct-filter", env.CERT_SERIAL);
  const show = page.locator("#main table button").first();
  try { await show.waitFor({ timeout: 10000 }); } catch { fail("CT entry browser finds the certificate by its serial"); return; }
  await show.click();
  const entry = await page.textContent("#ct-entry");
  expect(entry.includes(env.CERT_SERIAL) && entry.includes(env.CERT_NAME), "CT entry decoded in the browser: serial and name", entry.slice(0, 200));
  await page.uncheck("#proof-tamper");
  await page.click("#proof-check");
  await page.waitForSelector("#proof-verdict");
  let v = await page.getAttribute("#proof-verdict", "data-verdict");
  const res = await page.textContent("#proof-result");
  const hashes = Number((/(\d+) hash(es)? from/.exec(res) || [])[1]);
  expect(v === "match" && hashes > 0, `the proof checker recomputes the checkpoint's root for that entry from a proof of ${hashes} hash(es)`, res);
  await page.screenshot({ path: join(env.UI_SHOTS, "ct-proof-desktop.png"), fullPage: true });
  await axe("the CT page with an entry and a proof");
  await page.check("#proof-tamper");
  await page.click("#proof-check");
  await page.waitForSelector("#proof-verdict[data-verdict=mismatch]").catch(() => {});
  v = await page.getAttribute("#proof-verdict", "data-verdict");
  expect(v === "mismatch", "a tampered proof is reported as a mismatch", await page.textContent("#proof-result"));
  await page.uncheck("#proof-tamper");
  // The admin API's inclusion route gives a proof that checks out the same way.
  await page.selectOption("#proof-source", "admin");
  await page.click("#proof-check");
  await page.waitForFunction(() => /admin API/.test(document.getElementById("proof-result").textContent));
  v = await page.getAttribute("#proof-verdict", "data-verdict");
  expect(v === "match", "the admin API's inclusion proof checks out too", await page.textContent("#proof-result"));
}

// ---- DNS: a TXT record added and deleted in the page, seen by dig ----
async function dns() {
  const name = "ui-test.lab.test", value = `made-in-the-browser-${Date.now()}`;
  await open("dns");
  await setToken("");
  provoked.push(/\/api\/v1\/dns\/zones\/[^/]+\/records$/);
  await page.fill("#rec-name", name);
  await page.selectOption("#rec-type", "TXT");
  await page.fill("#rec-ttl", "30");
  await page.fill("#rec-data", `"${value}"`);
  await page.click("#rec-add-button");
  await page.waitForSelector("#main .msg.error, #main .msg.ok");
  const refused = await page.locator("#main .msg.error").count();
  expect(refused > 0, "adding a record without the token is refused in the page");
  expect(dig(name, "TXT") === "", "the refused write changed nothing (dig)");
  await setToken(env.UI_TOKEN);
  provoked.pop();
  await page.click("#rec-add-button");
  await page.waitForSelector("#main .msg.ok");
  expect(dig(name, "TXT").includes(value), "a TXT record added in the DNS page is seen by dig");
  await refresh();
  const del = page.locator(`#main button[aria-label^="Delete ${name}. TXT"]`).first();
  try { await del.waitFor({ timeout: 10000 }); } catch { fail("the added record is listed with a delete button"); return; }
  await del.click();
  await page.waitForFunction(() => /Delete .*: done/.test(document.querySelector("#main .msg.ok")?.textContent || ""));
  expect(dig(name, "TXT") === "", "deleting it in the page removes it (dig)");
  // Live updates: a record added behind the page's back (through the API) appears by polling.
  await page.request.post(`${base}/api/v1/dns/zones/lab.test./records`, {
    headers: { Authorization: "Bearer " + env.UI_TOKEN }, data: { name: "live", type: "TXT", ttl: 30, data: '"polled"' } });
  const seen = await page.waitForFunction(() => /live\.lab\.test\./.test(document.getElementById("main").textContent), null, { timeout: 15000 })
    .then(() => true, () => false);
  expect(seen, "a record added elsewhere shows up in the DNS page by polling, without a reload");
  // The query log: on in the page, then dig's query shows up in it.
  await Promise.all([
    page.waitForResponse((r) => r.url().endsWith("/api/v1/dns/querylog") && r.request().method() === "PUT"),
    page.check("#qlog-enabled")]);
  dig("qlog-probe.lab.test", "AAAA");
  await refresh();
  const ql = await page.locator("#qlog-enabled").locator("xpath=ancestor::section").textContent();
  expect(/qlog-probe\.lab\.test/.test(ql), "the query log, turned on in the page, lists dig's query", ql.slice(0, 200));
  await page.uncheck("#qlog-enabled");
  const how = await page.textContent("#dns-resolution");
  expect(/^Local zones only \(iterate = false\); DNSSEC validated from the built-in root anchors\.$/.test(how),
    "the DNS page says how names are resolved (iterate off in this config, validation on by default)", how);
  await page.click("#main button:has-text('Flush the cache')");
  await page.waitForSelector("#main .msg.ok:has-text('Flushed')").then(() => ok("the cache is flushed from the page"), () => fail("cache flush"));
  await page.fill("#resolve-name", "ns.lab.test");
  await page.selectOption("#resolve-type", "A");
  await page.click("#resolve-form button");
  await page.waitForSelector("#resolve-rcode");
  const res = await page.textContent("#resolve-result");
  expect(/NOERROR/.test(res) && /127\.0\.0\.1/.test(res) && /DNSSEC/.test(res), "the resolve box shows the answer and its DNSSEC status", res.slice(0, 200));
  await page.screenshot({ path: join(env.UI_SHOTS, "dns-resolve-desktop.png"), fullPage: true });
  await axe("the DNS page with messages and an answer");
}

// ---- DAP: a task created in the page, uploads from divviup-ts, collected in the page ----
async function dap() {
  await open("dap");
  await setToken(env.UI_TOKEN);
  if (!(await page.locator("#dap-create").count())) { fail("the DAP page has the create-task form"); return; }
  await page.selectOption("#dap-vdaf", "histogram");
  await page.fill("#dap-length", "4");
  await page.fill("#dap-min-batch", "3");
  await page.fill("#dap-precision", "60");
  await page.click("#dap-create button[type=submit]");
  const snippet = page.locator("#dap-snippet");
  try { await snippet.waitFor({ timeout: 15000 }); } catch { fail("creating a task shows the divviup-ts snippet", await page.textContent("#main")); return; }
  const text = await snippet.textContent();
  const id = (await page.textContent("#dap-new-id")).trim();
  const client = JSON.parse(await page.textContent("#dap-client"));
  expect(/@divviup\/dap/.test(text) && text.includes(id) && text.includes(client.leader),
    "creating a task shows the divviup-ts snippet with its id and leader", text.slice(0, 300));
  const ms = [0, 1, 1, 3, 3, 3];
  const vdaf = { type: client.type, length: client.length, chunkLength: client.chunkLength };
  const out = execFileSync("node", [env.DAP_CLIENT, "upload", client.leader, client.helper, id, JSON.stringify(vdaf),
    String(client.timePrecisionSeconds), JSON.stringify(ms)], { encoding: "utf8", env: { ...env, NODE_EXTRA_CA_CERTS: env.ROOT_PEM } });
  expect(out.trim().split("\n").every((l) => l === "ok"), "divviup-ts uploads 6 reports to the task", out.trim());
  await refresh();
  await page.click(`#dap-tasks button[aria-label="Open task ${id}"]`);
  // The leader aggregates on its own period: wait until the page counts six aggregated
  // reports (a batch interval is collected once), then collect.
  let counters = "";
  for (let i = 0; i < 30; i++) {
    counters = await page.textContent("#dap-task");
    if (/(^|\D)6aggregated/.test(counters)) break;
    await page.waitForTimeout(500);
    await refresh();
  }
  expect(/(^|\D)6received/.test(counters) && /(^|\D)6aggregated/.test(counters), "the task's counters show 6 received and aggregated", counters.slice(0, 200));
  await page.click("#dap-collect");
  await page.waitForSelector("#dap-collect-result .msg.ok, #dap-collect-result .msg.error", { timeout: 40000 }).catch(() => {});
  const agg = await page.textContent("#dap-collect-result");
  const label = await page.getAttribute("#dap-collect-result svg", "aria-label").catch(() => null);
  expect(/6 reports/.test(agg) && label && /0 = 1, 1 = 2, 2 = 0, 3 = 3/.test(label),
    "collecting in the page shows the aggregate [1, 2, 0, 3] as a bar chart", `${agg.slice(0, 200)} / ${label}`);
  await page.screenshot({ path: join(env.UI_SHOTS, "dap-collect-desktop.png"), fullPage: true });
  await axe("the DAP page with a task and its aggregate");
  provoked.push(new RegExp(`/api/v1/dap/tasks/${id}$`)); // the page may ask for it once more after the delete
  await page.click(`#dap-tasks button[aria-label="Delete task ${id}"]`);
  await page.waitForFunction((i) => !document.querySelector(`#dap-tasks button[aria-label="Open task ${i}"]`), id, { timeout: 10000 }).catch(() => {});
  const gone = await page.request.get(`${base}/api/v1/dap/tasks/${id}`);
  expect(gone.status() === 404, "deleting the task in the page removes it", gone.status());
}

try {
  if (checks.has("pages")) await pages();
  if (checks.has("acme")) await acme();
  if (checks.has("ct")) await ct();
  if (checks.has("dns")) await dns();
  if (checks.has("dap")) await dap();
} catch (e) {
  fail("the browser run stopped: " + (e && e.stack || e));
  await page.screenshot({ path: join(env.UI_SHOTS, "failure.png"), fullPage: true }).catch(() => {});
}
expect(!consoleErrors.length, "no console errors", consoleErrors.slice(0, 5).join(" | "));
expect(!foreign.length, "nothing fetched from another origin", foreign.slice(0, 5).join(" "));
await context.close();
rmSync(profile, { recursive: true, force: true });
process.exit(failures ? 1 : 0);
