// Charts drawn as SVG elements (no canvas, no library): a time-series line
// chart and a bar chart. Each is a <figure> with a text alternative: the SVG
// carries role="img" and a label, and the legend is real text.
import { el, svg, clock, num } from "./util.js";

const W = 520, H = 220, L = 58, R = 12, T = 10, B = 26;

// Small counts get whole-number gridlines (a top that four divides).
function axisMax(values, floor = 0) {
  const v = Math.max(...values, floor);
  if (values.every(Number.isInteger) && v <= 40) return Math.max(4, Math.ceil(v / 4) * 4);
  return niceMax(v);
}

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

function fmt(v, unit) {
  if (unit === "s") {
    if (v === 0) return "0";
    if (v < 0.001) return num(v * 1e6, 0) + "µs";
    if (v < 1) return num(v * 1000, v < 0.01 ? 1 : 0) + "ms";
    return num(v, 2) + "s";
  }
  if (unit === "/s") return num(v, v < 10 ? 2 : 0) + "/s";
  if (Math.abs(v) >= 1e6) return num(v / 1e6, 1) + "M";
  if (Math.abs(v) >= 1e4) return num(v / 1e3, 0) + "k";
  return num(v, v < 10 && v % 1 ? 2 : 0);
}

// series: [{name, points: [[t(ms), v], ...]}]; unit: "/s", "s" or "".
export function lineChart(title, series, unit = "", opts = {}) {
  const pts = series.flatMap((s) => s.points);
  const fig = el("figure", { class: "chart-fig" });
  const summary = series.map((s) => {
    const last = s.points[s.points.length - 1];
    return `${s.name}: ${last ? fmt(last[1], unit) : "no data"}`;
  }).join("; ");
  const label = `${title}. Latest: ${summary || "no data"}`;
  const g = svg("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": label, preserveAspectRatio: "none" });
  if (!pts.length) {
    g.append(svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle", text: opts.empty || "collecting samples…" }));
  } else {
    const now = opts.now || Math.max(...pts.map((p) => p[0]));
    // The window's start, or the first sample when the page has been open for less.
    const t0 = Math.max(opts.from || 0, Math.min(...pts.map((p) => p[0])));
    const t1 = Math.max(now, t0 + 1);
    const ymax = axisMax(pts.map((p) => p[1]), opts.minMax || 0);
    const x = (t) => L + ((t - t0) / (t1 - t0)) * (W - L - R);
    const y = (v) => T + (1 - v / ymax) * (H - T - B);
    for (let i = 0; i <= 4; i++) {
      const v = (ymax * i) / 4;
      g.append(svg("line", { class: "gridline", x1: L, x2: W - R, y1: y(v), y2: y(v) }));
      g.append(svg("text", { x: L - 4, y: y(v) + 4, "text-anchor": "end", text: fmt(v, unit) }));
    }
    g.append(svg("line", { class: "axis", x1: L, x2: L, y1: T, y2: H - B }));
    g.append(svg("line", { class: "axis", x1: L, x2: W - R, y1: H - B, y2: H - B }));
    for (const [t, anchor] of [[t0, "start"], [t1, "end"]])
      g.append(svg("text", { x: x(t), y: H - 8, "text-anchor": anchor, text: clock(new Date(t)) }));
    series.forEach((s, i) => {
      if (!s.points.length) return;
      const d = s.points.map(([t, v], j) => (j ? "L" : "M") + x(t).toFixed(1) + " " + y(v).toFixed(1)).join(" ");
      g.append(svg("path", { class: `line s${i % 6}`, d }));
      if (s.points.length === 1) {
        const [t, v] = s.points[0];
        g.append(svg("circle", { cx: x(t), cy: y(v), r: 3, class: `line s${i % 6}` }));
      }
    });
  }
  fig.append(el("figcaption", {}, el("strong", {}, title)), g);
  if (series.length)
    fig.append(el("ul", { class: "legend" }, series.map((s, i) => {
      const last = s.points[s.points.length - 1];
      return el("li", {}, el("span", { class: `sw s${i % 6}`, "aria-hidden": "true" }), `${s.name} ${last ? fmt(last[1], unit) : ""}`);
    })));
  return fig;
}

// labels[i] and values[i]: one bar each (a histogram's buckets, counts...).
export function barChart(title, labels, values) {
  const n = Math.max(values.length, 1);
  const vmax = axisMax(values);
  const bw = (W - L - R) / n;
  const y = (v) => T + (1 - v / vmax) * (H - T - B - 4);
  const label = `${title}: ` + labels.map((l, i) => `${l} = ${values[i]}`).join(", ");
  const g = svg("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": label });
  for (let i = 0; i <= 4; i++) {
    const v = (vmax * i) / 4;
    g.append(svg("line", { class: "gridline", x1: L, x2: W - R, y1: y(v), y2: y(v) }));
    g.append(svg("text", { x: L - 4, y: y(v) + 4, "text-anchor": "end", text: fmt(v, "") }));
  }
  values.forEach((v, i) => {
    const x = L + i * bw + bw * 0.1;
    g.append(svg("rect", { class: "bar", x, y: y(v), width: bw * 0.8, height: Math.max(0, H - B - 4 - y(v)) },
      svg("title", { text: `${labels[i]}: ${v}` })));
    if (n <= 32) {
      g.append(svg("text", { x: x + bw * 0.4, y: H - 8, "text-anchor": "middle", text: labels[i] }));
      g.append(svg("text", { class: "val", x: x + bw * 0.4, y: y(v) - 3, "text-anchor": "middle", text: String(v) }));
    }
  });
  g.append(svg("line", { class: "axis", x1: L, x2: W - R, y1: H - B - 4, y2: H - B - 4 }));
  return el("figure", { class: "chart-fig" }, el("figcaption", {}, el("strong", {}, title)), g);
}
