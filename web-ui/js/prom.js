// The Prometheus text exposition format (version 0.0.4), parsed in the
// browser, and a short in-memory history of /metrics samples from which the
// pages compute rates and latency quantiles.

// Returns [{name, labels: {k: v}, value}], skipping comments and lines it cannot read.
export function parse(text) {
  const out = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line[0] === "#") continue;
    let i = 0;
    while (i < line.length && /[a-zA-Z0-9_:]/.test(line[i])) i++;
    const name = line.slice(0, i);
    if (!name) continue;
    const labels = {};
    if (line[i] === "{") {
      i++;
      for (;;) {
        while (line[i] === " " || line[i] === ",") i++;
        if (line[i] === "}") { i++; break; }
        const eq = line.indexOf("=", i);
        if (eq < 0 || line[eq + 1] !== '"') { i = -1; break; }
        const key = line.slice(i, eq).trim();
        let j = eq + 2, v = "";
        while (j < line.length && line[j] !== '"') {
          if (line[j] === "\\" && j + 1 < line.length) {
            const c = line[++j];
            v += c === "n" ? "\n" : c;
          } else v += line[j];
          j++;
        }
        if (j >= line.length) { i = -1; break; }
        labels[key] = v;
        i = j + 1;
      }
      if (i < 0) continue;
    }
    const rest = line.slice(i).trim().split(/\s+/);
    const value = rest[0] === "+Inf" ? Infinity : rest[0] === "-Inf" ? -Infinity : Number(rest[0]);
    if (rest[0] === undefined || (isNaN(value) && rest[0] !== "NaN")) continue;
    out.push({ name, labels, value });
  }
  return out;
}

const key = (s) => s.name + "{" + Object.keys(s.labels).sort().map((k) => k + "=" + s.labels[k]).join(",") + "}";

// Which subsystem a route belongs to, by its mount prefix.
export function subsystemOf(route) {
  if (!route) return "other";
  if (route === "/dir" || route.startsWith("/acme")) return "acme";
  if (route.startsWith("/ct/")) return "ct";
  if (route.startsWith("/dap/")) return "dap";
  if (route.startsWith("/api/v1/acme")) return "acme";
  if (route.startsWith("/api/v1/ct")) return "ct";
  if (route.startsWith("/api/v1/dap")) return "dap";
  if (route.startsWith("/api/v1/dns")) return "dns";
  if (route === "/" || route === "/index.html" || route.startsWith("/ui/")) return "ui";
  return "core";
}

export class History {
  constructor(keepMs = 15 * 60 * 1000) {
    this.keepMs = keepMs;
    this.samples = []; // {t, series: [{name, labels, value}], byKey: Map}
  }
  add(t, series) {
    const byKey = new Map(series.map((s) => [key(s), s]));
    this.samples.push({ t, series, byKey });
    while (this.samples.length && this.samples[0].t < t - this.keepMs) this.samples.shift();
  }
  get last() { return this.samples[this.samples.length - 1]; }
  names() { return new Set((this.last ? this.last.series : []).map((s) => s.name)); }

  // Per-second rate of the counters `name` matching filter, summed per
  // group(labels): {group: [[t, rate], ...]}. A counter that went down was reset.
  rate(name, group = () => "all", filter = () => true) {
    const out = {};
    for (let i = 1; i < this.samples.length; i++) {
      const a = this.samples[i - 1], b = this.samples[i];
      const dt = (b.t - a.t) / 1000;
      if (dt <= 0) continue;
      const sums = {};
      for (const s of b.series) {
        if (s.name !== name || !filter(s.labels)) continue;
        const prev = a.byKey.get(key(s));
        const d = prev === undefined ? s.value : s.value >= prev.value ? s.value - prev.value : s.value;
        const g = group(s.labels);
        sums[g] = (sums[g] || 0) + d / dt;
      }
      for (const g of Object.keys(out)) if (!(g in sums)) sums[g] = 0;
      for (const [g, v] of Object.entries(sums)) (out[g] ||= []).push([b.t, v]);
    }
    return out;
  }

  // Quantile q of histogram `name` (its _bucket series) over each sampling
  // interval, per group: {group: [[t, seconds], ...]}; intervals without
  // observations are left out.
  quantile(name, q, group = () => "all", filter = () => true) {
    const out = {};
    for (let i = 1; i < this.samples.length; i++) {
      const a = this.samples[i - 1], b = this.samples[i];
      const groups = {};
      for (const s of b.series) {
        if (s.name !== name + "_bucket" || !filter(s.labels)) continue;
        const prev = a.byKey.get(key(s));
        const d = prev === undefined ? s.value : Math.max(0, s.value - prev.value);
        const g = group(s.labels);
        const le = s.labels.le === "+Inf" ? Infinity : Number(s.labels.le);
        const m = (groups[g] ||= new Map());
        m.set(le, (m.get(le) || 0) + d);
      }
      for (const [g, m] of Object.entries(groups)) {
        const v = bucketQuantile(q, [...m.entries()].sort((x, y) => x[0] - y[0]));
        if (v !== null) (out[g] ||= []).push([b.t, v]);
      }
    }
    return out;
  }

  // The latest value of gauges/counters `name` summed per group.
  latest(name, group = () => "all", filter = () => true) {
    const out = {};
    for (const s of this.last ? this.last.series : [])
      if (s.name === name && filter(s.labels)) out[group(s.labels)] = (out[group(s.labels)] || 0) + s.value;
    return out;
  }
  // The value of `name` over time, summed per group: {group: [[t, v], ...]}.
  series(name, group = () => "all", filter = () => true) {
    const out = {};
    for (const smp of this.samples) {
      const sums = {};
      for (const s of smp.series) if (s.name === name && filter(s.labels)) sums[group(s.labels)] = (sums[group(s.labels)] || 0) + s.value;
      for (const [g, v] of Object.entries(sums)) (out[g] ||= []).push([smp.t, v]);
    }
    return out;
  }
}

// Linear interpolation inside the bucket that holds the q-th observation, as
// Prometheus's histogram_quantile does; the +Inf bucket answers its lower bound.
export function bucketQuantile(q, buckets) {
  if (!buckets.length) return null;
  const total = buckets[buckets.length - 1][1];
  if (!(total > 0)) return null;
  const rank = q * total;
  let prevLe = 0, prevCount = 0;
  for (const [le, count] of buckets) {
    if (count >= rank) {
      if (le === Infinity) return prevLe;
      if (count === prevCount) return le;
      return prevLe + (le - prevLe) * ((rank - prevCount) / (count - prevCount));
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}
