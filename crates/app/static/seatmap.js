// A schedule's seats drawn as the hall stands: sections in the order the API lists them,
// rows in their order within a section, seats in number order within a row, and a gap
// wherever the numbers jump (an aisle). Used by the fans' map (buttons) and by the
// console and the confirmation (read-only). Also the map's zoom (buttons and pinch).
import { el } from "./api.js";

/**
 * Seats → [{section, rows: [{row, blocks: [[seat…]…]}]}]. A seat's place in its row is
 * its `x` when the API gives one (aisles counted), otherwise its number.
 */
export function layoutOf(seats) {
  const sections = new Map();
  for (const s of seats) {
    const name = s.section ?? "";
    if (!sections.has(name)) sections.set(name, new Map());
    const rows = sections.get(name);
    const row = s.row ?? rowOfLabel(s.label);
    if (!rows.has(row)) rows.set(row, []);
    rows.get(row).push(s);
  }
  const place = (s) => Number(s.x ?? s.number ?? numberOfLabel(s.label));
  return [...sections].map(([section, rows]) => ({
    section,
    rows: [...rows].map(([row, list]) => {
      list.sort((a, b) => place(a) - place(b));
      const blocks = [];
      let prev = null;
      for (const s of list) {
        if (prev === null || place(s) !== place(prev) + 1) blocks.push([]);
        blocks.at(-1).push(s);
        prev = s;
      }
      return { row, blocks };
    }),
  }));
}

const rowOfLabel = (label) => (/^(.*?)[-\s]?\d+$/.exec(label) || [])[1] || "";
const numberOfLabel = (label) => Number((/(\d+)$/.exec(label) || [])[1] || 0);

/**
 * Category names → colour index 0..5, in the order given (the availability's order, so
 * the legend and the map agree).
 */
export function categoryIndex(names) {
  const idx = new Map();
  for (const n of names) if (!idx.has(n)) idx.set(n, idx.size % 6);
  return idx;
}

/**
 * Draws `seats` into `host`. opts: {interactive, cats (categoryIndex), label(seat) →
 * accessible name, sectionTitle(name) → heading text, rowLabel(row) → group name}.
 * Returns a Map seat id → element. Interactive seats are buttons (data-seat, data-label);
 * read-only seats are spans.
 */
export function drawMap(host, seats, opts) {
  host.textContent = "";
  const cells = new Map();
  for (const sec of layoutOf(seats)) {
    const box = el("div", { class: "map-section" });
    if (sec.section) box.append(el("p", { class: "section-name", text: opts.sectionTitle ? opts.sectionTitle(sec.section) : sec.section }));
    for (const r of sec.rows) {
      const line = el("div", { class: "seat-row", role: opts.interactive ? "group" : null, "aria-label": opts.interactive ? opts.rowLabel(r.row, sec.section) : null },
        el("span", { class: "row-label", "aria-hidden": "true", text: r.row }));
      r.blocks.forEach((block, i) => {
        if (i > 0) line.append(el("span", { class: "aisle", "aria-hidden": "true" }));
        const b = el("div", { class: "block" });
        for (const s of block) {
          const cell = opts.interactive
            ? el("button", { type: "button", class: "seat", "data-seat": String(s.id), "data-label": s.label })
            : el("span", { class: "seat mini", "data-seat": String(s.id), "data-label": s.label });
          cell.append(el("span", { class: "n", text: String(s.number ?? numberOfLabel(s.label)) }));
          if (s.accessible) cell.append(el("span", { class: "acc", "aria-hidden": "true", text: "♿" }));
          cells.set(s.id, cell);
          b.append(cell);
        }
        line.append(b);
      });
      line.append(el("span", { class: "row-label", "aria-hidden": "true", text: r.row }));
      box.append(line);
    }
    host.append(box);
  }
  return cells;
}

/**
 * Paints one seat's state; false when nothing changed since the last paint. `extra` is
 * a class such as "picked" or "mine".
 */
export function paintSeat(cell, seat, cats, label, extra = "") {
  const cat = cats.has(seat.category) ? cats.get(seat.category) : 0;
  const key = `${seat.status}/${seat.price}/${cat}/${extra}/${label}`;
  if (cell.dataset.state === key) return false;
  cell.dataset.state = key;
  cell.dataset.status = seat.status;
  cell.className = `seat ${cell.tagName === "SPAN" ? "mini " : ""}cat-${cat} ${seat.status}${seat.accessible ? " accessible" : ""}${extra ? " " + extra : ""}`;
  if (cell.tagName === "BUTTON") {
    cell.disabled = seat.status !== "AVAILABLE" && extra !== "picked";
    cell.setAttribute("aria-label", label);
    cell.setAttribute("aria-pressed", extra === "picked" ? "true" : "false");
  } else {
    cell.title = label;
  }
  return true;
}

/**
 * Zoom of a map: `content` is scaled with a CSS transform inside `viewport`, and `sizer`
 * takes the scaled size so the viewport scrolls over all of it. Two fingers on the
 * viewport pinch.
 */
export class Zoom {
  constructor(viewport, sizer, content, onChange) {
    Object.assign(this, { viewport, sizer, content, onChange, z: 1 });
    const touches = new Map();
    let start = null;
    const gap = () => { const [a, b] = [...touches.values()]; return Math.hypot(a.x - b.x, a.y - b.y); };
    viewport.addEventListener("pointerdown", (e) => {
      if (e.pointerType !== "touch") return;
      touches.set(e.pointerId, { x: e.clientX, y: e.clientY });
      if (touches.size === 2) start = { d: gap(), z: this.z };
    });
    viewport.addEventListener("pointermove", (e) => {
      if (!touches.has(e.pointerId)) return;
      touches.set(e.pointerId, { x: e.clientX, y: e.clientY });
      if (touches.size === 2 && start && start.d > 0) this.set(start.z * (gap() / start.d));
    });
    const up = (e) => { touches.delete(e.pointerId); if (touches.size < 2) start = null; };
    viewport.addEventListener("pointerup", up);
    viewport.addEventListener("pointercancel", up);
  }
  set(z) {
    this.z = Math.min(2.5, Math.max(0.4, Math.round(z * 100) / 100));
    this.content.style.transform = `scale(${this.z})`;
    this.fit();
    if (this.onChange) this.onChange(this.z);
  }
  /** The scale at which the whole map is as wide as the viewport (at most 1). */
  fitting() {
    const w = this.content.offsetWidth, room = this.viewport.clientWidth - 24;
    return w > 0 && room > 0 ? Math.min(1, room / w) : 1;
  }
  fit() {
    this.sizer.style.width = `${Math.ceil(this.content.offsetWidth * this.z)}px`;
    this.sizer.style.height = `${Math.ceil(this.content.offsetHeight * this.z)}px`;
  }
}
