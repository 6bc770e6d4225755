// The operators' console: concerts, the queue policy of one (pause and resume included),
// live charts of its waiting room and sales, one date's layout with its sales per price
// category, section and standing area, its presale codes (admin-presale.js), and the
// sales as CSV. The operator key is asked once and
// kept in sessionStorage (this tab only).
import { call, money, toMinor, el, ApiError, API, when } from "./api.js";
import { LineChart } from "./charts.js";
import { drawMap, paintSeat, categoryIndex } from "./seatmap.js";
import { PresaleCodes } from "./admin-presale.js";

const $ = (id) => document.getElementById(id);
const KEY = "frontrow.adminKey";
const S = { key: sessionStorage.getItem(KEY), concert: null, policy: null, timer: null, charts: {}, conflicts: null, busy: false,
  ticks: 0, cells: null, layoutOf: null };

const presale = new PresaleCodes({ admin: (...a) => admin(...a), fail: (e) => fail(e), say: (t) => say(t) });

function fail(e) { $("error").textContent = e && e.message ? e.message : String(e); }
function clearError() { $("error").textContent = ""; }
function say(text) { const r = $("announce"); r.textContent = ""; setTimeout(() => { r.textContent = text; }, 60); }

async function admin(method, path, opts = {}) {
  try {
    const answer = await call(method, "/admin" + path, { ...opts, headers: { ...(opts.headers || {}), "X-Admin-Key": S.key } });
    // The key was accepted: keep it for this tab.
    sessionStorage.setItem(KEY, S.key);
    return answer;
  } catch (e) {
    if (e.status === 401 || e.status === 403) {
      forget();
      throw new ApiError(e.status, { detail: "The operator key was refused. Enter it again." }, null);
    }
    throw e;
  }
}

function forget() {
  sessionStorage.removeItem(KEY);
  S.key = null;
  clearInterval(S.timer); S.timer = null;
  $("console").hidden = true; $("forget-btn").hidden = true;
  $("gate").hidden = false;
  $("admin-key").value = "";
  $("admin-key").focus();
}

async function openConsole() {
  $("gate").hidden = true;
  $("console").hidden = false;
  $("forget-btn").hidden = false;
  document.title = "Console — frontrow";
  if (!Object.keys(S.charts).length) {
    const host = $("charts");
    const c = (id, title, unit, digits) => (S.charts[id] = new LineChart(host, { id: `chart-${id}`, title, unit, digits }));
    c("waiting", "Waiting", "", 0);
    c("active", "Active (admitted)", "", 0);
    c("rate", "Admission rate", "/s", 1);
    c("held", "Seats held", "", 0);
    c("sold", "Seats sold", "", 0);
    c("conflicts", "Hold conflicts (all concerts)", "/s", 1);
  }
  await loadConcerts();
}

async function loadConcerts(select) {
  const { data } = await call("GET", "/concerts");
  const sel = $("concert");
  const want = select ?? (Number(new URLSearchParams(location.hash.slice(1)).get("concert")) || S.concert || (data[0] && data[0].id));
  sel.textContent = "";
  for (const c of data) sel.append(el("option", { value: String(c.id), text: `${c.title} · ${c.venue} (#${c.id})` }));
  if (!data.length) {
    sel.append(el("option", { value: "", text: "No concerts yet: create one below" }));
    $("pause-btn").disabled = true;
    return;
  }
  $("pause-btn").disabled = false;
  sel.value = String(want);
  if (!sel.value) sel.value = String(data[0].id);
  await choose(Number(sel.value));
}

async function choose(id) {
  S.concert = id;
  history.replaceState(null, "", `#concert=${id}`);
  document.dispatchEvent(new CustomEvent("console:concert", { detail: { id, key: S.key } }));
  for (const ch of Object.values(S.charts)) ch.reset();
  S.conflicts = null;
  clearError();
  try {
    // A later choice (the operator picked another concert while these answers were on
    // their way) wins: a stale answer must not paint the other concert's policy or dates.
    if (!(await loadPolicy(id)) || !(await loadDates(id))) return;
    await sample();
  } catch (e) { fail(e); return; }
  if (S.concert !== id) return;
  clearInterval(S.timer);
  S.timer = setInterval(sample, 1000);
}

function toLocalInput(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

// Both loaders answer false, painting nothing, when the operator chose another concert
// while the answer was on its way.
async function loadPolicy(id = S.concert) {
  const { data, headers } = await admin("GET", `/concerts/${id}/queue-policy`);
  if (id !== S.concert) return false;
  S.policyTag = headers.get("ETag");
  renderPolicy(data);
  return true;
}

function renderPolicy(p) {
  S.policy = p;
  $("max-active").value = p.max_active;
  $("admit-rate").value = p.admit_per_second;
  $("active-ttl").value = p.active_ttl_seconds;
  $("paused").checked = !!p.paused;
  $("sale-opens").value = toLocalInput(p.sale_opens_at);
  $("admit-per-seat").value = p.admit_per_seat ?? "";
  $("pow").value = p.pow_difficulty ?? "";
  const pill = $("sale-state");
  pill.textContent = p.paused ? "Paused" : "Admitting";
  pill.className = "pill " + (p.paused ? "off" : "on");
  $("pause-btn").textContent = p.paused ? "Resume the sale" : "Pause the sale";
}

async function putPolicy(body, message) {
  // If-Match: the server refuses (412) to overwrite a change another operator made since
  // this page read the policy; the form then shows theirs.
  const headers = S.policyTag ? { "If-Match": S.policyTag } : {};
  try {
    const { data, headers: h } = await admin("PUT", `/concerts/${S.concert}/queue-policy`, { body, headers });
    S.policyTag = h.get("ETag");
    renderPolicy(data);
  } catch (e) {
    if (e.status !== 412) throw e;
    await loadPolicy();
    throw new ApiError(412, { detail: "Another operator changed the policy meanwhile. The form now shows their version: apply your change again." }, null);
  }
  clearError();
  say(message || "Policy saved.");
}

async function togglePause() {
  if (!S.policy) return;
  const body = { ...S.policy, paused: !S.policy.paused };
  try { await putPolicy(body, body.paused ? "The sale is paused." : "The sale is resumed."); } catch (e) { fail(e); }
}

async function savePolicy(ev) {
  ev.preventDefault();
  const num = (id) => Number($(id).value);
  const body = {
    max_active: num("max-active"),
    admit_per_second: num("admit-rate"),
    active_ttl_seconds: num("active-ttl"),
    paused: $("paused").checked,
  };
  // Sent only when set, so a server without these settings takes the form as well.
  if ($("sale-opens").value) {
    const d = new Date($("sale-opens").value);
    if (Number.isNaN(d.getTime())) { fail(new Error("Sale opening: enter a date and time.")); return; }
    body.sale_opens_at = d.toISOString();
  }
  if ($("admit-per-seat").value !== "") body.admit_per_seat = Number($("admit-per-seat").value);
  if ($("pow").value !== "") body.pow_difficulty = num("pow");
  try { await putPolicy(body); } catch (e) { fail(e); }
}

async function conflictsTotal() {
  try {
    const res = await fetch("/metrics");
    const text = await res.text();
    let sum = 0;
    for (const line of text.split("\n")) {
      if (line.startsWith("frontrow_hold_conflicts_total")) sum += Number(line.trim().split(/\s+/).at(-1)) || 0;
    }
    return sum;
  } catch { return null; }
}

async function sample() {
  if (S.busy || !S.concert) return;
  S.busy = true;
  const id = S.concert;
  try {
    const [stats, sales, conflicts] = await Promise.all([
      admin("GET", `/concerts/${id}/queue-stats`).then((r) => r.data).catch((e) => { if (e.status === 401 || e.status === 403) throw e; return null; }),
      admin("GET", `/concerts/${id}/sales`).then((r) => r.data).catch((e) => { if (e.status === 401 || e.status === 403) throw e; return null; }),
      conflictsTotal(),
    ]);
    if (id !== S.concert) return;
    S.charts.waiting.push(stats && stats.waiting);
    S.charts.active.push(stats && stats.active);
    S.charts.rate.push(stats && stats.admit_rate);
    S.charts.held.push(sales && sales.held);
    S.charts.sold.push(sales && sales.sold);
    const perSecond = conflicts != null && S.conflicts != null ? Math.max(0, conflicts - S.conflicts) : 0;
    if (conflicts != null) S.conflicts = conflicts;
    S.charts.conflicts.push(perSecond);
    if (sales) { S.sales = sales; renderSales(sales); renderBreakdown(); }
    if (S.ticks++ % 3 === 0) await drawLayout();
  } catch (e) {
    fail(e);
  } finally {
    S.busy = false;
  }
}

// ---------- one date's layout and its sales per category and standing area ----------
async function loadDates(id = S.concert) {
  const { data } = await call("GET", `/concerts/${id}/schedules`);
  if (id !== S.concert) return false;
  const sel = $("layout-date"), had = sel.value;
  sel.textContent = "";
  for (const s of data) sel.append(el("option", { value: String(s.id), text: when(s.starts_at) }));
  if (had && data.some((s) => String(s.id) === had)) sel.value = had;
  S.cells = null; S.layoutOf = null;
  await presale.show(Number(sel.value));
  return true;
}

async function drawLayout() {
  const id = Number($("layout-date").value);
  if (!id) return;
  let seats, a;
  try {
    [{ data: seats }, { data: a }] = await Promise.all([call("GET", `/schedules/${id}/seats`), call("GET", `/schedules/${id}/availability`)]);
  } catch (e) {
    $("layout-state").textContent = `The layout could not be read (${e.message}); trying again.`;
    return;
  }
  if (id !== Number($("layout-date").value)) return;
  $("layout-state").textContent = "";
  const cats = categoryIndex([...a.categories.map((c) => c.category), ...a.standing.map((x) => x.category)]);
  if (S.layoutOf !== id || !S.cells || S.cells.size !== seats.length) {
    S.cells = drawMap($("layout-map"), seats, { interactive: false });
    S.layoutOf = id;
    const legend = $("layout-legend");
    legend.textContent = "";
    for (const c of a.categories) legend.append(el("li", {}, el("span", { class: `swatch seat cat-${cats.get(c.category)} AVAILABLE`, "aria-hidden": "true" }), `${c.category} · ${money(c.price)}`));
    legend.append(el("li", {}, el("span", { class: "swatch seat HELD", "aria-hidden": "true" }), "Held"));
    legend.append(el("li", {}, el("span", { class: "swatch seat SOLD", "aria-hidden": "true" }), "Sold"));
    legend.append(el("li", {}, el("span", { class: "swatch acc-icon", "aria-hidden": "true", text: "♿" }), "Wheelchair accessible"));
  }
  for (const s of seats) {
    const cell = S.cells.get(s.id);
    if (cell) paintSeat(cell, s, cats, `${s.label} · ${s.category} · ${money(s.price)} · ${s.status.toLowerCase()}`);
  }
  $("layout-standing").textContent = "";
  for (const x of a.standing) {
    $("layout-standing").append(el("div", { class: `standing-box cat-${cats.get(x.category) ?? 0}`, "data-area": x.area },
      el("strong", { text: x.area }), ` · standing · ${x.available} of ${x.capacity} left`));
  }
  S.prices = new Map(a.categories.map((c) => [c.category, c.price]));
  renderBreakdown();
}

// The selected date's places per category, section and standing area, as the server
// counts them (the sales summary): held, sold and revenue for each.
function renderBreakdown() {
  const id = Number($("layout-date").value);
  const d = S.sales && S.sales.schedules.find((x) => x.schedule_id === id);
  const body = $("category-rows");
  body.textContent = "";
  if (!d) return;
  const row = (attrs, name, price, c) => body.append(el("tr", attrs, el("th", { scope: "row", text: name }), el("td", { text: price }),
    el("td", { text: String(c.total) }), el("td", { text: String(c.available) }),
    el("td", { text: String(c.held) }), el("td", { text: String(c.sold) }), el("td", { text: money(c.revenue) })));
  for (const c of d.categories) {
    const price = S.prices && S.prices.has(c.name) ? money(S.prices.get(c.name)) : "–";
    row({ "data-category": c.name }, `${c.name} (category)`, price, c);
  }
  for (const c of d.sections) row({ "data-section": c.name }, `${c.name} (section)`, "–", c);
  for (const x of d.standing) row({ "data-area": x.area }, `${x.area} (standing, ${x.category})`, money(x.price), x);
}

function renderSales(s) {
  const body = $("sales-rows");
  body.textContent = "";
  for (const d of s.schedules) {
    body.append(el("tr", {},
      el("td", { text: new Date(d.starts_at).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" }) }),
      el("td", { text: String(d.total) }), el("td", { text: String(d.available) }),
      el("td", { text: String(d.held) }), el("td", { text: String(d.sold) }), el("td", { text: money(d.revenue) })));
  }
  body.append(el("tr", {}, el("th", { scope: "row", text: "All dates" }),
    el("td", { text: String(s.total) }), el("td", { text: String(s.available) }),
    el("td", { text: String(s.held) }), el("td", { text: String(s.sold) }), el("td", { text: money(s.revenue) })));
}

async function exportCsv() {
  try {
    const res = await fetch(`${API}/admin/concerts/${S.concert}/sales.csv`, { headers: { "X-Admin-Key": S.key } });
    if (!res.ok) throw new ApiError(res.status, await res.json().catch(() => null), null);
    const blob = await res.blob();
    const url = URL.createObjectURL(blob);
    const a = el("a", { href: url, download: `frontrow-sales-concert-${S.concert}.csv` });
    document.body.append(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    say("Sales exported.");
  } catch (e) { fail(e); }
}

let scheduleCount = 0;
function addSchedule() {
  const n = ++scheduleCount;
  const id = (x) => `s${n}-${x}`;
  const start = new Date(Date.now() + 30 * 86400e3);
  start.setMinutes(0, 0, 0); start.setHours(20);
  const box = el("fieldset", { class: "schedule", "data-n": String(n) },
    el("legend", { text: `Date ${n}` }),
    el("div", { class: "form-grid" },
      el("label", { for: id("starts"), text: "Starts at" }), el("input", { id: id("starts"), type: "datetime-local", required: true, value: toLocalInput(start.toISOString()) }),
      el("label", { for: id("rows"), text: "Rows (1–100)" }), el("input", { id: id("rows"), type: "number", min: "1", max: "100", required: true, value: "10" }),
      el("label", { for: id("seats"), text: "Seats per row (1–500)" }), el("input", { id: id("seats"), type: "number", min: "1", max: "500", required: true, value: "20" }),
      el("label", { for: id("price"), text: "Price" }), el("input", { id: id("price"), inputmode: "decimal", required: true, value: "50.00" })));
  if (n > 1) {
    box.append(el("button", { type: "button", text: `Remove date ${n}`, onclick: () => { box.remove(); } }));
  }
  $("new-schedules").append(box);
  return box;
}

async function createConcert(ev) {
  ev.preventDefault();
  const schedules = [];
  for (const box of document.querySelectorAll("#new-schedules fieldset")) {
    const n = box.dataset.n;
    const v = (x) => $(`s${n}-${x}`).value;
    const price = toMinor(v("price"));
    const starts = new Date(v("starts"));
    if (price == null) { fail(new Error(`Date ${n}: enter the price as an amount such as 42.00.`)); $(`s${n}-price`).focus(); return; }
    if (Number.isNaN(starts.getTime())) { fail(new Error(`Date ${n}: enter when it starts.`)); $(`s${n}-starts`).focus(); return; }
    schedules.push({ starts_at: starts.toISOString(), rows: Number(v("rows")), seats_per_row: Number(v("seats")), price });
  }
  try {
    const { data } = await admin("POST", "/concerts", { body: { title: $("new-title").value.trim(), venue: $("new-venue").value.trim(), schedules } });
    clearError();
    say(`Created ${data.title} with ${data.schedules.length} date(s).`);
    $("new-form").reset();
    await loadConcerts(data.id);
    $("console-h").focus();
  } catch (e) { fail(e); }
}

$("key-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  S.key = $("admin-key").value;
  clearError();
  try { await openConsole(); } catch (e) { fail(e); }
});
$("forget-btn").addEventListener("click", forget);
$("concert").addEventListener("change", () => choose(Number($("concert").value)));
$("layout-date").addEventListener("change", () => {
  S.cells = null;
  drawLayout().catch(fail);
  presale.show(Number($("layout-date").value)).catch(fail);
});
$("pause-btn").addEventListener("click", togglePause);
$("policy-form").addEventListener("submit", savePolicy);
$("csv-btn").addEventListener("click", exportCsv);
$("add-schedule-btn").addEventListener("click", () => { const b = addSchedule(); b.querySelector("input").focus(); });
$("new-form").addEventListener("submit", createConcert);
addSchedule();
if (S.key) openConsole().catch(fail); else { $("gate").hidden = false; }
