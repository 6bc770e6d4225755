// Small live line charts drawn as SVG by hand: one series each, the last `capacity`
// samples, the y axis from 0 to a rounded maximum. Each chart is an image with a text
// alternative (its latest value and its range) kept up to date.
const NS = "http://www.w3.org/2000/svg";
const W = 300, H = 100, PAD_L = 34, PAD_B = 14, PAD_T = 6;

function niceMax(v) {
  if (v <= 1) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

const fmt = (v, digits) => (Number.isInteger(v) && !digits ? String(v) : v.toFixed(digits ?? 1));

export class LineChart {
  /**
   * @param {HTMLElement} host where the chart goes
   * @param {{id: string, title: string, unit?: string, digits?: number, capacity?: number}} opts
   */
  constructor(host, { id, title, unit = "", digits = 0, capacity = 120 }) {
    this.title = title; this.unit = unit; this.digits = digits; this.capacity = capacity;
    this.values = [];
    this.box = document.createElement("figure");
    this.box.className = "chart";
    this.box.id = id;
    this.box.style.margin = "0";
    const h = document.createElement("h3");
    h.textContent = title;
    this.now = document.createElement("p");
    this.now.className = "now";
    this.now.textContent = "–";
    this.svg = document.createElementNS(NS, "svg");
    this.svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    this.svg.setAttribute("preserveAspectRatio", "none");
    this.svg.setAttribute("role", "img");
    this.svg.setAttribute("aria-label", `${title}: no data yet`);
    this.area = document.createElementNS(NS, "path");
    this.area.setAttribute("class", "area");
    this.line = document.createElementNS(NS, "polyline");
    this.line.setAttribute("class", "series");
    this.line.setAttribute("vector-effect", "non-scaling-stroke");
    const axis = document.createElementNS(NS, "path");
    axis.setAttribute("class", "axis");
    axis.setAttribute("d", `M${PAD_L} ${PAD_T} V${H - PAD_B} H${W}`);
    this.maxLabel = document.createElementNS(NS, "text");
    this.maxLabel.setAttribute("x", String(PAD_L - 4));
    this.maxLabel.setAttribute("y", String(PAD_T + 8));
    this.maxLabel.setAttribute("text-anchor", "end");
    const zero = document.createElementNS(NS, "text");
    zero.setAttribute("x", String(PAD_L - 4));
    zero.setAttribute("y", String(H - PAD_B));
    zero.setAttribute("text-anchor", "end");
    zero.textContent = "0";
    const span = document.createElementNS(NS, "text");
    span.setAttribute("x", String(W));
    span.setAttribute("y", String(H - 2));
    span.setAttribute("text-anchor", "end");
    span.textContent = "now";
    const start = document.createElementNS(NS, "text");
    start.setAttribute("x", String(PAD_L));
    start.setAttribute("y", String(H - 2));
    start.textContent = `−${capacity} s`;
    this.svg.append(this.area, axis, this.line, this.maxLabel, zero, start, span);
    this.box.append(h, this.now, this.svg);
    host.append(this.box);
  }

  /** Adds the latest sample (null: no answer this time, drawn as the previous one). */
  push(value) {
    const v = value == null ? (this.values.at(-1) ?? 0) : Number(value);
    this.values.push(v);
    if (this.values.length > this.capacity) this.values.shift();
    this.draw();
  }

  reset() { this.values = []; this.draw(); }

  draw() {
    const vs = this.values;
    const last = vs.at(-1);
    this.now.textContent = last == null ? "–" : `${fmt(last, this.digits)}${this.unit}`;
    if (!vs.length) { this.line.setAttribute("points", ""); this.area.setAttribute("d", ""); return; }
    const max = niceMax(Math.max(...vs));
    const x = (i) => W - ((vs.length - 1 - i) * (W - PAD_L)) / (this.capacity - 1);
    const y = (v) => H - PAD_B - (v / max) * (H - PAD_B - PAD_T);
    const pts = vs.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`);
    this.line.setAttribute("points", pts.join(" "));
    this.area.setAttribute("d", `M${x(0).toFixed(1)},${H - PAD_B} L${pts.join(" L")} L${W},${H - PAD_B} Z`);
    this.maxLabel.textContent = fmt(max, max < 10 && !Number.isInteger(max) ? 1 : 0);
    const lo = Math.min(...vs), hi = Math.max(...vs);
    this.svg.setAttribute("aria-label",
      `${this.title}: now ${fmt(last, this.digits)}${this.unit}; between ${fmt(lo, this.digits)} and ${fmt(hi, this.digits)} over the last ${vs.length} seconds`);
  }
}
