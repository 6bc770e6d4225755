// The fans' pages: concerts, the waiting room, the seat map, checkout and the
// confirmation, one view at a time behind the URL's hash (#/concert/7/seats), so a reload
// or a second tab lands where the fan was. What must survive a reload — who the fan is,
// their place in each line, a hold and its payment attempt — lives in localStorage.
import { call, money, toMinor, duration, clock, randomKey, el } from "./api.js";

const $ = (id) => document.getElementById(id);
const store = {
  get(key) { try { return JSON.parse(localStorage.getItem(key) || "null"); } catch { return null; } },
  set(key, value) { localStorage.setItem(key, JSON.stringify(value)); },
  del(key) { localStorage.removeItem(key); },
};
const USER = "frontrow.user";
const lineKey = (id) => `frontrow.line.${id}`;
const holdKey = (id) => `frontrow.hold.${id}`;
const paidKey = (id) => `frontrow.paid.${id}`;

const S = {
  user: store.get(USER),
  concert: null,
  line: null,          // {token, first}: first = the position first seen, for the progress bar
  ticket: null,
  es: null,            // the EventSource while following the line
  noStream: false,     // the stream failed once: poll for the rest of this page's life
  pollTimer: null,
  tickTimer: null,     // countdowns (pre-queue, turn, hold), once a second
  seatTimer: null,
  seats: new Map(),    // seat id → button
  schedules: [],
  hold: null,          // {reservation, key}
  lastSaid: { at: 0, position: null },
  routeSeq: 0,
};

// ---------- messages ----------
function say(text, urgent = false) {
  const region = $(urgent ? "announce-now" : "announce");
  region.textContent = "";
  setTimeout(() => { region.textContent = text; }, 60);
}
function fail(e) { $("error").textContent = e && e.message ? e.message : String(e); }
function clearError() { $("error").textContent = ""; }
const auth = () => (S.user ? { Authorization: "Bearer " + S.user.access_token } : {});
const queueHeader = () => (S.line ? { "X-Queue-Token": S.line.token } : {});
const when = (iso) => new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
const wait = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------- views and routes ----------
const VIEWS = ["concerts", "waiting", "seats", "checkout", "done"];
function show(view, focusId) {
  for (const v of VIEWS) $("view-" + v).hidden = v !== view;
  document.body.dataset.view = view;
  if (focusId) $(focusId).focus();
}

function stopLive() {
  if (S.es) { S.es.close(); S.es = null; }
  clearTimeout(S.pollTimer); S.pollTimer = null;
  clearInterval(S.tickTimer); S.tickTimer = null;
  clearInterval(S.seatTimer); S.seatTimer = null;
}

async function route() {
  const seq = ++S.routeSeq;
  stopLive(); clearError();
  const m = /^#\/concert\/(\d+)(?:\/(seats|checkout|done))?$/.exec(location.hash);
  if (!m) return openConcerts();
  const id = Number(m[1]);
  if (!S.user) { location.hash = "#/"; return; }
  try {
    if (!S.concert || S.concert.id !== id) {
      const { data } = await call("GET", `/concerts/${id}`);
      S.concert = data;
    }
  } catch (e) {
    if (e.status === 404) { location.hash = "#/"; fail(new Error("That concert does not exist.")); } else fail(e);
    return;
  }
  if (seq !== S.routeSeq) return;
  S.line = store.get(lineKey(id));
  const page = m[2] || "waiting";
  if (page === "waiting") return openWaiting();
  if (page === "seats") return openSeats();
  if (page === "checkout") return openCheckout();
  return openDone();
}
const go = (page) => {
  const target = `#/concert/${S.concert.id}` + (page ? "/" + page : "");
  if (location.hash === target) route(); else location.hash = target;
};

// ---------- concerts and signing in ----------
function renderWho() {
  $("whoami").hidden = !S.user;
  $("signin").hidden = !!S.user;
  if (S.user) $("whoami-name").textContent = S.user.name;
}

async function openConcerts() {
  show("concerts");
  document.title = "On sale — frontrow";
  renderWho();
  const list = $("concert-list");
  list.setAttribute("aria-busy", "true");
  try {
    const { data } = await call("GET", "/concerts");
    list.textContent = "";
    if (!data.length) list.append(el("li", { class: "muted", text: "Nothing on sale right now." }));
    for (const c of data) {
      const inLine = store.get(lineKey(c.id));
      const dates = el("p", { class: "muted dates" });
      list.append(el("li", { class: "card concert" },
        el("div", {}, el("h2", { text: c.title }), el("p", { class: "venue", text: c.venue }), dates),
        el("div", { class: "join" },
          inLine ? el("span", { class: "badge", text: "You have a place" }) : null,
          el("button", { type: "button", class: "primary", "data-concert": String(c.id), text: inLine ? "Back to my place" : "Join the line",
            "aria-label": `${inLine ? "Back to my place for" : "Join the line for"} ${c.title}`, onclick: () => join(c.id) }))));
      call("GET", `/concerts/${c.id}/schedules`).then(({ data: ss }) => {
        dates.textContent = ss.map((s) => `${when(s.starts_at)} · ${s.available_seats} of ${s.total_seats} left`).join(" — ");
      }).catch(() => {});
    }
  } catch (e) { fail(e); }
  list.setAttribute("aria-busy", "false");
}

function join(id) {
  if (!S.user) {
    fail(new Error("Enter your name first, then join the line."));
    $("name").focus();
    S.pendingJoin = id;
    return;
  }
  location.hash = `#/concert/${id}`;
}

async function signIn(ev) {
  ev.preventDefault();
  const name = $("name").value.trim();
  if (!name) { fail(new Error("Please enter your name.")); $("name").focus(); return; }
  try {
    const { data } = await call("POST", "/users", { body: { name } });
    S.user = { id: data.id, name: data.name, access_token: data.access_token };
    store.set(USER, S.user);
    clearError(); renderWho();
    if (S.pendingJoin) { const id = S.pendingJoin; S.pendingJoin = null; join(id); }
    else say(`Signed in as ${data.name}.`);
  } catch (e) { fail(e); }
}

function signOut() {
  for (let i = localStorage.length - 1; i >= 0; i--) {
    const k = localStorage.key(i);
    if (k && k.startsWith("frontrow.")) localStorage.removeItem(k);
  }
  S.user = null; S.line = null;
  location.hash = "#/"; route();
}

// ---------- the waiting room ----------
async function openWaiting() {
  show("waiting");
  $("wait-h").textContent = S.concert.title;
  $("wait-venue").textContent = S.concert.venue;
  $("rejoin-btn").hidden = true; $("draw-link").hidden = true; $("leave-btn").hidden = false;
  if (S.line) {
    try {
      const { data } = await call("GET", "/queue/status", { headers: queueHeader() });
      if (!renderTicket(data)) return;
      follow();
      return;
    } catch (e) {
      if (e.status !== 401) { fail(e); retryLater(e); return; }
      forgetLine();
    }
  }
  await enter();
}

// Enters the line (a second call keeps the same place). Answers the proof-of-work
// challenge when the server asks for one, and waits out rate limits.
async function enter(attempt = 0) {
  $("wait-state").textContent = "Getting you a place in line…";
  let extra = {};
  for (let tries = 0; tries < 5; tries++) {
    try {
      const { data } = await call("POST", `/concerts/${S.concert.id}/queue`, { headers: { ...auth(), ...extra } });
      S.line = { token: data.token, first: data.position ?? null };
      store.set(lineKey(S.concert.id), S.line);
      clearError();
      if (renderTicket(data)) follow();
      return;
    } catch (e) {
      if (e.status === 401) { signOut(); return; }
      if (e.status === 403 && e.type.endsWith("/problems/pow-required")) {
        extra = await proofOfWork();
        if (!extra) return;
        continue;
      }
      if (e.status === 429 || e.status === 503) {
        const s = e.retryAfter ?? 2;
        $("wait-state").textContent = `The line is busy; trying again in ${s} s…`;
        await wait(s * 1000);
        continue;
      }
      fail(e);
      return;
    }
  }
  if (attempt === 0) fail(new Error("We could not get you a place just now. Please try again."));
  $("rejoin-btn").hidden = false;
}

async function proofOfWork() {
  $("wait-state").textContent = "Checking this browser before it joins the line…";
  try {
    const { data } = await call("GET", `/concerts/${S.concert.id}/queue/challenge`, { headers: auth() });
    const { solvePow } = await import("/static/pow.js");
    const nonce = await solvePow(data.challenge, data.difficulty);
    return { "X-Pow": `${data.challenge}:${nonce}` };
  } catch (e) {
    fail(e);
    $("rejoin-btn").hidden = false;
    return null;
  }
}

function forgetLine() {
  S.line = null;
  store.del(lineKey(S.concert.id));
}

// Live standing: pushed over Server-Sent Events; without EventSource, or once the
// stream fails, polled at the cadence the server advises.
function follow() {
  if (S.es) { S.es.close(); S.es = null; }
  clearTimeout(S.pollTimer);
  if (!window.EventSource || S.noStream) { S.pollTimer = setTimeout(poll, S.ticket?.poll_after_ms || 1000); return; }
  const es = new EventSource(`/api/v1/queue/events?token=${encodeURIComponent(S.line.token)}`);
  S.es = es;
  es.addEventListener("standing", (ev) => {
    let t;
    try { t = JSON.parse(ev.data); } catch { return; }
    clearError();
    if (!renderTicket(t)) { es.close(); if (S.es === es) S.es = null; }
  });
  es.addEventListener("unavailable", () => {
    es.close(); if (S.es === es) S.es = null;
    S.pollTimer = setTimeout(follow, 2000);
  });
  es.onerror = () => {
    es.close(); if (S.es === es) S.es = null;
    S.noStream = true;
    poll();
  };
}

async function poll() {
  clearTimeout(S.pollTimer);
  if (!S.line || document.body.dataset.view !== "waiting") return;
  try {
    const { data } = await call("GET", "/queue/status", { headers: queueHeader() });
    clearError();
    if (renderTicket(data)) S.pollTimer = setTimeout(poll, data.poll_after_ms || 2000);
  } catch (e) {
    if (e.status === 401) { lapsed(); return; }
    retryLater(e);
  }
}
function retryLater(e) {
  fail(e);
  S.pollTimer = setTimeout(poll, (e.retryAfter ?? 3) * 1000);
}

function lapsed() {
  forgetLine();
  stopLive();
  $("wait-place").hidden = true; $("prequeue").hidden = true; $("wait-notice").hidden = true;
  $("wait-state").textContent = "Your place in line has lapsed (the page was closed too long, or you left in another tab).";
  $("rejoin-btn").hidden = false; $("leave-btn").hidden = true;
  say("Your place in line has lapsed.", true);
}

/** Shows a standing; false when there is nothing more to follow. */
function renderTicket(t) {
  if (document.body.dataset.view !== "waiting") return false;
  const prev = S.ticket;
  S.ticket = t;
  const place = $("wait-place"), pre = $("prequeue"), notice = $("wait-notice");
  place.hidden = true; pre.hidden = true; notice.hidden = true;
  clearInterval(S.tickTimer); S.tickTimer = null;
  document.body.dataset.status = t.status;
  renderInventory(t.inventory);

  switch (t.status) {
    case "PRE_QUEUE": {
      pre.hidden = false;
      $("wait-state").textContent = "You are early: you have a place in the waiting room. When the sale opens, places are drawn at random among everyone waiting here.";
      const opens = t.opens_at ? new Date(t.opens_at) : null;
      $("opens-at").textContent = opens ? `at ${when(t.opens_at)}` : "";
      const tick = () => {
        const left = opens ? (opens - Date.now()) / 1000 : 0;
        $("opens-in").textContent = opens ? clock(left) : "soon";
        if (left <= 0) $("opens-in").textContent = "opening…";
      };
      tick(); S.tickTimer = setInterval(tick, 1000);
      if (!prev || prev.status !== "PRE_QUEUE") say(opens ? `The sale opens at ${when(t.opens_at)}. Keep this page open.` : "The sale opens soon.");
      document.title = "Waiting for the sale — frontrow";
      return true;
    }
    case "WAITING": {
      place.hidden = false;
      if (S.line && (S.line.first == null || t.position > S.line.first)) {
        S.line.first = t.position; store.set(lineKey(S.concert.id), S.line);
      }
      const paused = t.eta_seconds == null && t.eta_seconds_low == null;
      $("wait-state").textContent = paused
        ? "The sale is paused for a moment. You keep your place in line."
        : "You are in line. We will take you to the seats the moment it is your turn.";
      $("queue-position").textContent = `#${t.position}`;
      $("queue-ahead").textContent = t.ahead === 0 ? "You are next." : `${t.ahead} ${t.ahead === 1 ? "person" : "people"} ahead of you`;
      $("queue-eta").textContent = paused ? "Estimated wait: on hold while the sale is paused" : `Estimated wait: ${eta(t)}`;
      const first = Math.max(S.line?.first || t.position, 1);
      const pct = Math.max(0, Math.min(100, Math.round(((first - t.position) / first) * 100)));
      const bar = $("progress");
      bar.setAttribute("aria-valuenow", String(pct));
      bar.setAttribute("aria-valuetext", `${pct}% of the way: place ${t.position}`);
      $("progress-fill").style.width = `${Math.max(pct, 2)}%`;
      document.body.classList.toggle("paused", paused);
      document.title = `#${t.position} in line — frontrow`;
      const pausedBefore = prev && prev.status === "WAITING" && prev.eta_seconds == null && prev.eta_seconds_low == null;
      if (prev && prev.status === "WAITING" && paused !== pausedBefore) {
        say(paused ? "The sale is paused. You keep your place." : `The sale is moving again. You are number ${t.position} in line.`);
        S.lastSaid = { at: Date.now(), position: t.position };
      } else if (S.lastSaid.position !== t.position && Date.now() - S.lastSaid.at > 8000) {
        say(`You are number ${t.position} in line. ${t.ahead === 0 ? "You are next." : `${t.ahead} ahead of you.`}`);
        S.lastSaid = { at: Date.now(), position: t.position };
      }
      return true;
    }
    case "ACTIVE":
      S.justAdmitted = true;
      document.title = "It's your turn! — frontrow";
      go("seats");
      return false;
    case "SOLD_OUT":
      soldOut();
      return false;
    default: // EXPIRED
      forgetLine();
      $("wait-state").textContent = "Your turn has ended. You can join the line again.";
      $("rejoin-btn").hidden = false; $("leave-btn").hidden = true;
      say("Your turn has ended.", true);
      document.title = "Your turn ended — frontrow";
      return false;
  }
}

function soldOut() {
  forgetLine();
  $("wait-state").textContent = "Sold out: every seat has been sold. Thank you for waiting.";
  $("leave-btn").hidden = true;
  const link = $("draw-link");
  link.href = `/api/v1/concerts/${S.concert.id}/draw`;
  link.hidden = false;
  say("This concert is sold out.", true);
  document.title = "Sold out — frontrow";
}

function renderInventory(inventory) {
  const notice = $("wait-notice");
  if (inventory === "ALL_HELD") {
    notice.hidden = false;
    notice.textContent = "Every seat is held by fans ahead of you right now. Holds that are not paid come back on sale, so keep your place.";
  } else if (inventory === "SOLD_OUT") {
    notice.hidden = false;
    notice.textContent = "Sold out.";
  }
}

function eta(t) {
  if (t.eta_seconds_low != null && t.eta_seconds_high != null && t.eta_seconds_high > t.eta_seconds_low) {
    return `between ${duration(t.eta_seconds_low)} and ${duration(t.eta_seconds_high)}`;
  }
  return `about ${duration(t.eta_seconds ?? t.eta_seconds_low ?? 0)}`;
}

async function leave() {
  stopLive();
  if (S.line) {
    try { await call("DELETE", "/queue", { headers: queueHeader() }); } catch (e) { if (e.status !== 401) fail(e); }
  }
  forgetLine();
  say("You left the line.");
  location.hash = "#/";
}

// ---------- the seat map ----------
async function openSeats() {
  if (!S.line) { go(""); return; }
  let ticket;
  try {
    ({ data: ticket } = await call("GET", "/queue/status", { headers: queueHeader() }));
  } catch (e) {
    if (e.status === 401) { forgetLine(); go(""); return; }
    fail(e); return;
  }
  if (ticket.status !== "ACTIVE") { go(""); return; }
  S.ticket = ticket;
  show("seats");
  document.title = "Pick your seat — frontrow";
  const until = ticket.active_until ? new Date(ticket.active_until) : null;
  const tick = () => {
    if (!until) return;
    const left = (until - Date.now()) / 1000;
    $("turn-ends").textContent = left > 0 ? `Your turn lasts ${clock(left)} more (until ${until.toLocaleTimeString()}).` : "Your turn has ended.";
  };
  tick(); S.tickTimer = setInterval(tick, 1000);
  if (S.justAdmitted) {
    S.justAdmitted = false;
    $("seats-h").focus();
    say(`It's your turn! Pick a seat${until ? ` before ${until.toLocaleTimeString()}` : ""}.`, true);
  } else {
    $("seats-h").focus();
  }
  try {
    const { data } = await call("GET", `/concerts/${S.concert.id}/schedules`);
    S.schedules = data;
    const sel = $("schedule"), chosen = sel.value;
    sel.textContent = "";
    for (const s of data) sel.append(el("option", { value: String(s.id), text: `${when(s.starts_at)} · ${s.available_seats} left` }));
    if (chosen && data.some((s) => String(s.id) === chosen)) sel.value = chosen;
    S.seats.clear(); $("seat-map").textContent = "";
    await drawSeats();
    S.seatTimer = setInterval(refreshSeats, 2000);
  } catch (e) { fail(e); }
}

const parseLabel = (label) => {
  const m = /^(.*?)[-\s]?(\d+)$/.exec(label);
  return m ? { row: m[1] || "", num: Number(m[2]) } : { row: "", num: 0 };
};
const STATUS_WORDS = { AVAILABLE: "available", HELD: "held by someone else", SOLD: "sold" };

async function drawSeats() {
  const schedule = Number($("schedule").value);
  if (!schedule) return;
  const { data } = await call("GET", `/schedules/${schedule}/seats`);
  if (Number($("schedule").value) !== schedule) return;
  const prices = [...new Set(data.map((s) => s.price))].sort((a, b) => b - a);
  const category = (p) => Math.min(prices.indexOf(p), 3);
  const map = $("seat-map");
  if (S.seats.size !== data.length || !data.every((s) => S.seats.has(s.id))) {
    map.textContent = ""; S.seats.clear();
    const rows = new Map();
    for (const s of data) {
      const { row, num } = parseLabel(s.label);
      if (!rows.has(row)) rows.set(row, []);
      rows.get(row).push({ ...s, num });
    }
    for (const [row, seats] of rows) {
      const line = el("div", { class: "seat-row", role: "group", "aria-label": row ? `Row ${row}` : "Seats" },
        el("span", { class: "row-label", "aria-hidden": "true", text: row }));
      for (const s of seats.sort((a, b) => a.num - b.num)) {
        const b = el("button", { type: "button", class: "seat", "data-seat": String(s.id), "data-label": s.label, text: String(s.num || s.label) });
        b.addEventListener("click", () => hold(schedule, s));
        S.seats.set(s.id, b);
        line.append(b);
      }
      line.append(el("span", { class: "row-label", "aria-hidden": "true", text: row }));
      map.append(line);
    }
    const legend = $("legend");
    legend.textContent = "";
    prices.slice(0, 4).forEach((p, i) => legend.append(el("li", {}, el("span", { class: `swatch seat cat-${i} AVAILABLE`, "aria-hidden": "true" }), `${prices.length > 1 ? `Category ${i + 1}: ` : ""}${money(p)}`)));
    legend.append(el("li", {}, el("span", { class: "swatch seat HELD", "aria-hidden": "true" }), "Held"));
    legend.append(el("li", {}, el("span", { class: "swatch seat SOLD", "aria-hidden": "true" }), "Sold"));
  }
  let available = 0;
  for (const s of data) {
    if (s.status === "AVAILABLE") available++;
    const b = S.seats.get(s.id);
    const key = `${s.status}/${s.price}`;
    if (b.dataset.state === key) continue; // unchanged since the last look: no DOM work
    b.dataset.state = key;
    const { row, num } = parseLabel(s.label);
    b.className = `seat cat-${category(s.price)} ${s.status}`;
    b.disabled = s.status !== "AVAILABLE";
    b.setAttribute("aria-label", `${row ? `Row ${row}, seat ${num}` : s.label}, ${money(s.price)}, ${STATUS_WORDS[s.status] || s.status.toLowerCase()}`);
  }
  $("inventory").textContent = available ? `${available} seats left` : "No seats left on this date right now";
  const opt = $("schedule").selectedOptions[0], sched = S.schedules.find((x) => x.id === schedule);
  if (opt && sched) opt.textContent = `${when(sched.starts_at)} · ${available} left`;
}

async function refreshSeats() {
  if (document.body.dataset.view !== "seats") return;
  try { await drawSeats(); } catch { /* the next refresh tries again */ }
}

function moveFocus(ev) {
  const b = ev.target.closest("button.seat");
  if (!b || !["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown", "Home", "End"].includes(ev.key)) return;
  const rows = [...$("seat-map").querySelectorAll(".seat-row")].map((r) => [...r.querySelectorAll("button.seat")]);
  const r = rows.findIndex((row) => row.includes(b));
  const c = rows[r].indexOf(b);
  let target = null;
  const pick = (row, from, step) => {
    for (let i = from; i >= 0 && i < row.length; i += step) if (!row[i].disabled) return row[i];
    return null;
  };
  if (ev.key === "ArrowRight") target = pick(rows[r], c + 1, 1);
  if (ev.key === "ArrowLeft") target = pick(rows[r], c - 1, -1);
  if (ev.key === "Home") target = pick(rows[r], 0, 1);
  if (ev.key === "End") target = pick(rows[r], rows[r].length - 1, -1);
  if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
    const step = ev.key === "ArrowDown" ? 1 : -1;
    for (let i = r + step; i >= 0 && i < rows.length && !target; i += step) {
      const row = rows[i], at = Math.min(c, row.length - 1);
      target = pick(row, at, 1) || pick(row, at, -1);
    }
  }
  if (target) { ev.preventDefault(); target.focus(); }
}

async function hold(schedule, seat) {
  clearError();
  try {
    const { data } = await call("POST", "/reservations", { headers: { ...auth(), ...queueHeader() }, body: { schedule_id: schedule, seat_id: seat.id } });
    S.hold = { reservation: data, key: null };
    store.set(holdKey(S.concert.id), S.hold);
    say(`Seat ${data.seat_label} is held for you.`);
    go("checkout");
  } catch (e) {
    if (e.status === 409) {
      fail(new Error(e.type.endsWith("/seat-taken")
        ? `Seat ${seat.label} was just taken by someone else, so it cannot be held. Pick another one.`
        : `Seat ${seat.label} cannot be held: ${e.message}.`));
      say(`Seat ${seat.label} was just taken. Pick another one.`, true);
      refreshSeats();
    } else if (e.status === 403) {
      fail(new Error("Your turn has ended, so seats cannot be held any more. Join the line again."));
      go("");
    } else if (e.status === 429) {
      fail(new Error(`Too many tries at once; wait ${e.retryAfter ?? 1} s and pick again.`));
    } else fail(e);
  }
}

// ---------- checkout ----------
async function openCheckout() {
  S.hold = store.get(holdKey(S.concert.id));
  if (!S.hold) { go("seats"); return; }
  try {
    const { data } = await call("GET", `/reservations/${S.hold.reservation.id}`, { headers: auth() });
    S.hold.reservation = data;
    store.set(holdKey(S.concert.id), S.hold);
  } catch (e) {
    if (e.status === 404) { store.del(holdKey(S.concert.id)); go("seats"); return; }
    fail(e); return;
  }
  const r = S.hold.reservation;
  if (r.status === "CONFIRMED") { go("done"); return; }
  if (r.status !== "HELD") { store.del(holdKey(S.concert.id)); go("seats"); fail(new Error(`Your hold on ${r.seat_label} has ended; pick a seat again.`)); return; }
  show("checkout", "checkout-h");
  document.title = `Checkout: ${r.seat_label} — frontrow`;
  $("pay-msg").textContent = "";
  $("hold-label").textContent = r.seat_label;
  const sched = S.schedules.find((s) => s.id === r.schedule_id);
  $("hold-date").textContent = sched ? when(sched.starts_at) : `schedule ${r.schedule_id}`;
  $("hold-price").textContent = money(r.price);
  renderExtend(r);
  startHoldCountdown();
  await refreshBalance();
}

function renderExtend(r) {
  const can = r.extendable === true && r.extension_seconds > 0;
  $("extend-line").hidden = !can;
  if (can) $("extend-by").textContent = duration(r.extension_seconds);
}

function startHoldCountdown() {
  clearInterval(S.tickTimer);
  const said = new Set();
  const tick = () => {
    const r = S.hold && S.hold.reservation;
    if (!r) return;
    const left = (new Date(r.expires_at) - Date.now()) / 1000;
    $("hold-countdown").textContent = clock(left);
    $("hold-countdown").classList.toggle("urgent", left < 60);
    for (const mark of [60, 20]) {
      if (left <= mark && left > mark - 2 && !said.has(mark)) {
        said.add(mark);
        say(`${mark === 60 ? "One minute" : "20 seconds"} left to pay for seat ${r.seat_label}.${!$("extend-line").hidden ? " You can ask for more time." : ""}`, true);
      }
    }
    if (left <= 0) {
      clearInterval(S.tickTimer);
      store.del(holdKey(S.concert.id));
      S.hold = null;
      fail(new Error(`Your hold on ${r.seat_label} expired and the seat went back on sale.`));
      go("seats");
    }
  };
  tick(); S.tickTimer = setInterval(tick, 1000);
}

async function refreshBalance() {
  try {
    const { data } = await call("GET", "/wallet", { headers: auth() });
    $("balance").textContent = money(data.balance);
    S.balance = data.balance;
    const price = S.hold ? S.hold.reservation.price : 0;
    if (!$("topup-amount").value) $("topup-amount").value = money(Math.max(price - data.balance, 0) || 10000);
  } catch (e) { fail(e); }
}

async function topUp(ev) {
  ev.preventDefault();
  const amount = toMinor($("topup-amount").value);
  if (!amount) { $("pay-msg").textContent = "Enter an amount such as 25.00."; $("topup-amount").focus(); return; }
  try {
    const { data } = await call("POST", "/wallet/charge", { headers: auth(), body: { amount } });
    $("balance").textContent = money(data.balance);
    S.balance = data.balance;
    $("pay-msg").textContent = "";
    say(`Added ${money(amount)}. Your balance is ${money(data.balance)}.`);
  } catch (e) { $("pay-msg").textContent = e.message; }
}

async function pay() {
  const h = S.hold;
  if (!h) return;
  // One key per attempt: kept (and stored) until the server has answered, so a retry
  // after a lost answer is the same attempt and can never charge twice.
  if (!h.key) { h.key = randomKey(); store.set(holdKey(S.concert.id), h); }
  $("pay-btn").disabled = true;
  $("pay-msg").textContent = "";
  try {
    const { data } = await call("POST", `/reservations/${h.reservation.id}/payment`,
      { headers: { ...auth(), ...queueHeader(), "Idempotency-Key": h.key } });
    const sched = S.schedules.find((s) => s.id === h.reservation.schedule_id);
    store.set(paidKey(S.concert.id), {
      reservation_id: data.reservation_id, seat_label: h.reservation.seat_label, amount: data.amount,
      balance: data.balance, paid_at: data.paid_at, concert: S.concert.title, starts_at: sched ? sched.starts_at : null,
    });
    store.del(holdKey(S.concert.id));
    S.hold = null;
    // A payment that leaves no seat held ends the fan's turn: forget the place then.
    try {
      const { data: t } = await call("GET", "/queue/status", { headers: queueHeader() });
      if (t.status !== "ACTIVE") forgetLine();
    } catch (e2) { if (e2.status === 401) forgetLine(); }
    go("done");
  } catch (e) {
    if (e.status === 0) {
      $("pay-msg").textContent = "We could not reach the server. Press Pay again: the same attempt is repeated, you will not be charged twice.";
    } else {
      h.key = null; store.set(holdKey(S.concert.id), h);
      if (e.status === 402) {
        const short = h.reservation.price - (S.balance ?? 0);
        $("pay-msg").textContent = `Not enough in your wallet: the seat costs ${money(h.reservation.price)}${short > 0 ? `, add at least ${money(short)}` : ""}. Top up, then pay.`;
        if (short > 0) $("topup-amount").value = money(short);
        await refreshBalance();
        $("topup-amount").focus();
      } else if (e.status === 410) {
        store.del(holdKey(S.concert.id)); S.hold = null;
        fail(new Error("Your hold expired before the payment, and the seat went back on sale. Nothing was charged. Pick a seat again."));
        go("seats");
      } else if (e.status === 409) {
        $("pay-msg").textContent = `This seat cannot be paid now: ${e.message} Check your booking, or pick another seat.`;
      } else if (e.status === 403) {
        $("pay-msg").textContent = "Your turn in line has ended, so the payment was refused. Nothing was charged.";
      } else {
        $("pay-msg").textContent = e.message;
      }
      say($("pay-msg").textContent, true);
    }
  } finally {
    $("pay-btn").disabled = false;
  }
}

async function extend() {
  const h = S.hold;
  if (!h) return;
  try {
    const { data } = await call("POST", `/reservations/${h.reservation.id}/extend`, { headers: auth() });
    h.reservation = data;
    store.set(holdKey(S.concert.id), h);
    renderExtend(data);
    $("pay-btn").focus();
    say(`Your hold on ${data.seat_label} now lasts until ${new Date(data.expires_at).toLocaleTimeString()}.`);
    startHoldCountdown();
  } catch (e) {
    $("pay-msg").textContent = e.status === 409 ? `No more time can be added: ${e.message}` : e.message;
    if (e.status === 409 || e.status === 410) $("extend-line").hidden = true;
  }
}

async function release() {
  const h = S.hold;
  if (!h) return;
  try {
    await call("DELETE", `/reservations/${h.reservation.id}`, { headers: auth() });
  } catch (e) { if (e.status !== 404 && e.status !== 409) { $("pay-msg").textContent = e.message; return; } }
  store.del(holdKey(S.concert.id)); S.hold = null;
  say(`Seat ${h.reservation.seat_label} released.`);
  go("seats");
}

// ---------- confirmation ----------
function openDone() {
  const p = store.get(paidKey(S.concert.id));
  if (!p) { go(""); return; }
  show("done", "done-h");
  document.title = `Booked: ${p.seat_label} — frontrow`;
  $("paid-label").textContent = p.seat_label;
  $("paid-concert").textContent = p.concert;
  $("paid-date").textContent = p.starts_at ? when(p.starts_at) : "";
  $("paid-amount").textContent = money(p.amount);
  $("paid-balance").textContent = money(p.balance);
  $("paid-ref").textContent = `FR-${p.reservation_id}`;
  $("more-btn").hidden = !S.line;
  say(`Paid. Seat ${p.seat_label} is yours.`);
}

// ---------- wiring ----------
window.addEventListener("hashchange", route);
window.addEventListener("storage", (ev) => {
  if (!ev.key || !ev.key.startsWith("frontrow.")) return;
  if (ev.key === USER) { S.user = store.get(USER); route(); return; }
  // Another tab joined, left or was admitted for the concert on screen: follow it.
  if (S.concert && ev.key === lineKey(S.concert.id) && document.body.dataset.view === "waiting") {
    S.line = store.get(lineKey(S.concert.id));
    if (!S.line) { lapsed(); return; }
    follow();
  }
});
$("signin").addEventListener("submit", signIn);
$("signout-btn").addEventListener("click", signOut);
$("leave-btn").addEventListener("click", leave);
$("rejoin-btn").addEventListener("click", () => { $("rejoin-btn").hidden = true; $("leave-btn").hidden = false; enter(); });
$("schedule").addEventListener("change", () => { S.seats.clear(); drawSeats().catch(fail); });
$("seat-map").addEventListener("keydown", moveFocus);
$("topup").addEventListener("submit", topUp);
$("pay-btn").addEventListener("click", pay);
$("extend-btn").addEventListener("click", extend);
$("cancel-btn").addEventListener("click", release);
$("more-btn").addEventListener("click", () => go("seats"));
renderWho();
route();
