// The fans' pages: concerts, the waiting room, choosing tickets (party size, then best
// available, seats on the map or standing places), one order's checkout and the
// confirmation, one view at a time behind the URL's hash (#/concert/7/seats), so a reload
// or a second tab lands where the fan was. What must survive a reload — who the fan is,
// their place in each line, their order and its payment key — lives in localStorage; the
// fan's orders themselves are read from the server ("My orders"), so any device shows them.
// Every word on screen comes from i18n.js (English and Korean).
import { call, money, amount, toMinor, clock, randomKey, el, when, timeOf, setLocale } from "./api.js";
import { t, lang, setLang, applyStatic, span } from "./i18n.js";
import { drawMap, paintSeat, categoryIndex, Zoom } from "./seatmap.js";
import { passkeysSupported, passkeySignUp, passkeySignIn, passwordSignIn, passwordSignUp, endSession } from "./account.js";
import { openTickets, stopTickets } from "./tickets.js";
import { openAccount } from "./sessions.js";

const $ = (id) => document.getElementById(id);
const store = {
  get(key) { try { return JSON.parse(localStorage.getItem(key) || "null"); } catch { return null; } },
  set(key, value) { localStorage.setItem(key, JSON.stringify(value)); },
  del(key) { localStorage.removeItem(key); },
};
const USER = "frontrow.user";
const lineKey = (id) => `frontrow.line.${id}`;
const holdKey = (id) => `frontrow.hold.${id}`;   // {order, key}: the order being paid and its one payment key
const paidKey = (id) => `frontrow.paid.${id}`;
// The most tickets in one order (booking.max_tickets_per_order's default); a server set
// lower answers 422 "at most N tickets per order", and the page then takes its N.
const MAX_PARTY_DEFAULT = 8;

const S = {
  user: store.get(USER),
  concert: null,
  line: null,          // {token, first}: first = the position first seen, for the progress bar
  ticket: null,
  es: null,            // the EventSource while following the line
  noStream: false,     // the stream failed once: poll for the rest of this page's life
  pollTimer: null,
  tickTimer: null,     // countdowns (pre-queue, turn, hold), once a second
  loopTimer: null,     // the seat map's and availability's refresh (with backoff on failure)
  backoff: 0,
  seats: new Map(),    // seat id → button
  seatData: new Map(), // seat id → the seat as last read
  picked: new Set(),   // seat ids picked on the map
  cats: new Map(),     // category → colour index
  availability: null,
  schedules: [],
  hold: null,          // {order, key}
  maxParty: store.get("frontrow.maxParty") || MAX_PARTY_DEFAULT,
  lastSaid: { at: 0, position: null },
  routeSeq: 0,
  zoom: null,
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
const wait = (ms) => new Promise((r) => setTimeout(r, ms));
const view = () => document.body.dataset.view;

// ---------- views and routes ----------
const VIEWS = ["concerts", "waiting", "seats", "checkout", "done", "tickets", "account"];
function show(name, focusId) {
  for (const v of VIEWS) $("view-" + v).hidden = v !== name;
  if (name !== "concerts") $("my-orders").hidden = true;
  document.body.dataset.view = name;
  if (focusId) $(focusId).focus();
}

function stopLive() {
  if (S.es) { S.es.close(); S.es = null; }
  clearTimeout(S.pollTimer); S.pollTimer = null;
  clearInterval(S.tickTimer); S.tickTimer = null;
  clearTimeout(S.loopTimer); S.loopTimer = null;
  stopTickets();
}

async function route() {
  const seq = ++S.routeSeq;
  stopLive(); clearError();
  $("leave-confirm").hidden = true;
  for (const a of $("fan-nav").querySelectorAll("a")) {
    if (a.getAttribute("href") === location.hash) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  const mine = /^#\/(tickets|account)$/.exec(location.hash);
  if (mine) { openFanPage(mine[1]); return; }
  const m = /^#\/concert\/(\d+)(?:\/(seats|checkout|done))?$/.exec(location.hash);
  if (!m) { openConcerts(); liveOrders(); myOrders(); return; }
  const id = Number(m[1]);
  if (!S.user) { location.hash = "#/"; return; }
  try {
    if (!S.concert || S.concert.id !== id) {
      const { data } = await call("GET", `/concerts/${id}`);
      S.concert = data;
      S.schedules = data.schedules || [];
    }
  } catch (e) {
    if (e.status === 404) { location.hash = "#/"; fail(new Error(t("noSuchConcert"))); } else fail(e);
    return;
  }
  if (seq !== S.routeSeq) return;
  S.line = store.get(lineKey(id));
  const page = m[2] || "waiting";
  if (page === "checkout" || page === "done") $("live-orders").hidden = true; else liveOrders();
  if (page === "waiting") return openWaiting();
  if (page === "seats") return openSeats();
  if (page === "checkout") return openCheckout();
  return openDone();
}
const go = (page) => {
  const target = `#/concert/${S.concert.id}` + (page ? "/" + page : "");
  if (location.hash === target) route(); else location.hash = target;
};

// ---------- the fan's own pages: My tickets (tickets.js) and the account (sessions.js) ----------
function openFanPage(name) {
  if (!S.user) { location.hash = "#/"; return; }
  renderWho();
  $("live-orders").hidden = true;
  show(name, name === "tickets" ? "tickets-h" : "account-h");
  document.title = t(name === "tickets" ? "titleTickets" : "titleAccount");
  const ctx = { user: S.user, auth, fail, say, forget: forgetFan };
  if (name === "tickets") openTickets(ctx); else openAccount(ctx);
}

// ---------- the fan's live orders (a hold left behind stays visible and cancellable) ----------
const concertTitles = new Map();
// The page the address names: the view shown may still be the previous one while the new
// page loads (the seats page asks for the line's status first), so the list asks the address.
const routedPage = () => {
  const m = /^#\/concert\/\d+(?:\/(seats|checkout|done))?$/.exec(location.hash);
  return m ? m[1] || "waiting" : "concerts";
};
let liveSeq = 0;
async function liveOrders() {
  const seq = ++liveSeq;
  const box = $("live-orders");
  if (!S.user) { box.hidden = true; return; }
  let orders;
  try {
    ({ data: orders } = await call("GET", "/orders", { headers: auth() }));
  } catch { return; }
  if (seq !== liveSeq) return; // a later call draws the list
  const live = orders.filter((o) => o.status === "HELD" && Date.parse(o.expires_at) > Date.now());
  if (routedPage() === "checkout" || routedPage() === "done") { box.hidden = true; return; }
  for (const o of live) {
    if (!concertTitles.has(o.concert_id)) {
      try { concertTitles.set(o.concert_id, (await call("GET", `/concerts/${o.concert_id}`)).data.title); } catch { concertTitles.set(o.concert_id, `#${o.concert_id}`); }
    }
  }
  if (seq !== liveSeq) return;
  const list = $("live-list");
  list.textContent = "";
  for (const o of live) {
    const count = o.positions.reduce((n, p) => n + p.quantity, 0);
    list.append(el("li", { class: "live-order", "data-order": String(o.id) },
      el("p", {}, el("strong", { text: concertTitles.get(o.concert_id) }), " · ", t("ticketsN", { n: count }), " · ", money(o.total)),
      el("p", { class: "muted", text: t("heldUntil", { at: timeOf(o.expires_at) }) }),
      el("div", { class: "actions" },
        el("button", { type: "button", class: "primary", text: t("goPay"), "aria-label": `${t("goPay")}: ${t("orderN", { id: o.id })}`, onclick: () => resume(o) }),
        el("button", { type: "button", text: t("cancelHold"), "aria-label": `${t("cancelHold")}: ${t("orderN", { id: o.id })}`, onclick: () => cancelLive(o) }))));
  }
  box.hidden = live.length === 0;
}

function resume(o) {
  const kept = store.get(holdKey(o.concert_id));
  store.set(holdKey(o.concert_id), { order: o, key: kept && kept.order.id === o.id ? kept.key : null });
  location.hash = `#/concert/${o.concert_id}/checkout`;
}

async function cancelLive(o) {
  try {
    await call("DELETE", `/orders/${o.id}`, { headers: auth() });
  } catch (e) { if (e.status !== 404 && e.status !== 409 && e.status !== 410) { fail(e); return; } }
  const kept = store.get(holdKey(o.concert_id));
  if (kept && kept.order.id === o.id) store.del(holdKey(o.concert_id));
  say(t("holdCancelled"));
  await liveOrders();
  if (view() === "seats") loop();
}

// ---------- concerts and signing in ----------
function renderWho() {
  $("whoami").hidden = !S.user;
  $("fan-nav").hidden = !S.user;
  $("signin").hidden = !!S.user;
  if (S.user) $("whoami-name").textContent = S.user.name;
  if (!passkeysSupported()) {
    $("passkey-signin-btn").hidden = true; $("passkey-signup-btn").hidden = true;
    $("password-box").open = true;
  }
}

// ---------- my orders: every order of the fan, read from the server (any device) ----------
const ORDER_FATE = { HELD: "fateHeld", PAID: "fatePaid", CANCELLED: "fateCancelled", EXPIRED: "fateExpired" };
let myOrdersSeq = 0;
async function myOrders() {
  const seq = ++myOrdersSeq;
  const box = $("my-orders");
  if (!S.user) { box.hidden = true; return; }
  let orders;
  try {
    ({ data: orders } = await call("GET", "/orders", { headers: auth() }));
  } catch (e) { if (e.status === 401) forgetFan(); return; }
  for (const o of orders) {
    if (!concertTitles.has(o.concert_id)) {
      try { concertTitles.set(o.concert_id, (await call("GET", `/concerts/${o.concert_id}`)).data.title); } catch { concertTitles.set(o.concert_id, `#${o.concert_id}`); }
    }
  }
  if (seq !== myOrdersSeq || view() !== "concerts") return;
  const list = $("my-orders-list");
  list.textContent = "";
  const newest = [...orders].sort((a, b) => Date.parse(b.created_at) - Date.parse(a.created_at));
  for (const o of newest) {
    const what = o.positions.map((p) => (p.label ? p.label : `${p.area || ""} × ${p.quantity}`)).join(", ");
    const at = timeOf(o.status === "PAID" && o.paid_at ? o.paid_at : o.expires_at);
    list.append(el("li", { class: "live-order my-order", "data-order": String(o.id), "data-status": o.status },
      el("p", {}, el("strong", { text: concertTitles.get(o.concert_id) }), " · ", t("orderN", { id: o.id }), " · ", money(o.total)),
      el("p", { text: what }),
      el("p", { class: "muted" }, el("span", { class: "badge", text: t("status" + o.status) }), " ", t(ORDER_FATE[o.status] || "fateHeld", { at }))));
  }
  if (!newest.length) list.append(el("li", { class: "muted", text: t("noOrders") }));
  box.hidden = false;
}

/** What is left of a schedule, seats and standing places together. */
async function leftOf(s) {
  try {
    const { data: a } = await call("GET", `/schedules/${s.id}/availability`);
    const left = a.categories.reduce((n, c) => n + c.available, 0) + a.standing.reduce((n, x) => n + x.available, 0);
    const total = a.categories.reduce((n, c) => n + c.total, 0) + a.standing.reduce((n, x) => n + x.capacity, 0);
    return { left, total };
  } catch {
    return { left: s.available_seats, total: s.total_seats };
  }
}

async function openConcerts() {
  show("concerts");
  document.title = t("titleOnSale");
  renderWho();
  const list = $("concert-list");
  list.setAttribute("aria-busy", "true");
  try {
    const { data } = await call("GET", "/concerts");
    list.textContent = "";
    if (!data.length) list.append(el("li", { class: "muted", text: t("nothingOnSale") }));
    await Promise.all(data.map(async (c) => {
      concertTitles.set(c.id, c.title);
      const inLine = store.get(lineKey(c.id));
      const dates = el("p", { class: "muted dates" });
      const join = el("div", { class: "join" });
      list.append(el("li", { class: "card concert" },
        el("div", {}, el("h2", { text: c.title }), el("p", { class: "venue", text: c.venue }), dates), join));
      let soldOut = false;
      try {
        const { data: ss } = await call("GET", `/concerts/${c.id}/schedules`);
        const left = await Promise.all(ss.map(leftOf));
        dates.textContent = ss.map((s, i) => `${when(s.starts_at)} · ${t("leftOf", left[i])}`).join(" — ");
        soldOut = ss.length > 0 && left.every((x) => x.left === 0);
      } catch { /* the button stays: the waiting room says more */ }
      if (soldOut && !inLine) {
        join.append(el("span", { class: "badge sold", text: t("soldOutBadge") }));
        return;
      }
      // Element.append writes a null as the text "null": only what there is.
      if (inLine) join.append(el("span", { class: "badge", text: t("haveAPlace") }));
      join.append(
        el("button", { type: "button", class: "primary", "data-concert": String(c.id), text: inLine ? t("backToPlace") : t("joinLine"),
          "aria-label": `${inLine ? t("backToPlace") : t("joinLine")}: ${c.title}`, onclick: () => join_(c.id) }));
    }));
  } catch (e) { fail(e); }
  list.setAttribute("aria-busy", "false");
}

function join_(id) {
  if (!S.user) {
    fail(new Error(t("nameFirst")));
    $("name").focus();
    S.pendingJoin = id;
    return;
  }
  location.hash = `#/concert/${id}`;
}

// Sign-ups and sign-ins are limited per network address: a 429 is waited out, in words.
async function patiently(attempt) {
  for (let tries = 0; ; tries++) {
    try {
      return await attempt();
    } catch (e) {
      if (e.status !== 429 || tries >= 5) throw e;
      const s = e.retryAfter ?? 5;
      fail(new Error(t("signupBusy", { s })));
      await wait(s * 1000);
    }
  }
}

function signedIn(user) {
  S.user = user;
  store.set(USER, S.user);
  $("password").value = "";
  clearError(); renderWho();
  if (S.pendingJoin) { const id = S.pendingJoin; S.pendingJoin = null; join_(id); }
  else say(t("signedInAsName", { name: user.name }));
  liveOrders(); myOrders();
}

/** Runs one way in, turning its failures into words. */
async function wayIn(attempt) {
  try {
    signedIn(await patiently(attempt));
  } catch (e) {
    if (e && e.name === "NotAllowedError") fail(new Error(t("passkeyCancelled")));
    else if (e && e.type === "/problems/invalid-credentials") fail(new Error(t("badCredentials")));
    else if (e && e.status === 401 && e.type === "/problems/passkey-unknown") fail(new Error(t("passkeyUnknown")));
    else fail(e);
  }
}

function nameOrSay() {
  const name = $("name").value.trim();
  if (!name) { fail(new Error(t("enterName"))); $("name").focus(); }
  return name;
}

function credentialsOrSay() {
  const email = $("email").value.trim();
  const password = $("password").value;
  if (!email || password.length < 8) {
    fail(new Error(t("enterCredentials")));
    $("password-box").open = true;
    $(email ? "password" : "email").focus();
    return null;
  }
  return { email, password };
}

function signUpWithPasskey() {
  const name = nameOrSay();
  if (name) wayIn(() => passkeySignUp(name));
}

function signInWithPassword() {
  const c = credentialsOrSay();
  if (c) wayIn(() => passwordSignIn(c.email, c.password));
}

function signUpWithPassword() {
  const name = nameOrSay();
  const c = name && credentialsOrSay();
  if (c) wayIn(() => passwordSignUp(name, c.email, c.password));
}

// Enter in the form: the password fallback when it is open, else a passkey sign-up.
function signIn(ev) {
  ev.preventDefault();
  if ($("password-box").open) signInWithPassword(); else signUpWithPasskey();
}

/** Forgets the fan on this device (a revoked or expired session lands here too). */
function forgetFan() {
  for (let i = localStorage.length - 1; i >= 0; i--) {
    const k = localStorage.key(i);
    if (k && k.startsWith("frontrow.") && k !== "frontrow.lang") localStorage.removeItem(k);
  }
  S.user = null; S.line = null;
  $("live-orders").hidden = true; $("my-orders").hidden = true;
  location.hash = "#/"; route();
}

async function signOut() {
  await endSession(S.user);
  forgetFan();
}

// ---------- the waiting room ----------
async function openWaiting() {
  show("waiting");
  $("wait-h").textContent = S.concert.title;
  $("wait-venue").textContent = S.concert.venue;
  $("rejoin-btn").hidden = true; $("draw-link").hidden = true; $("leave-btn").hidden = false;
  $("draw-msg").textContent = "";
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
  $("wait-state").textContent = t("gettingPlace");
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
        $("wait-state").textContent = t("lineBusy", { s });
        await wait(s * 1000);
        continue;
      }
      fail(e);
      return;
    }
  }
  if (attempt === 0) fail(new Error(t("noPlaceNow")));
  $("rejoin-btn").hidden = false;
}

async function proofOfWork() {
  $("wait-state").textContent = t("checkingBrowser");
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
    let tk;
    try { tk = JSON.parse(ev.data); } catch { return; }
    clearError();
    if (!renderTicket(tk)) { es.close(); if (S.es === es) S.es = null; }
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
  if (!S.line || view() !== "waiting") return;
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
  $("wait-state").textContent = t("lapsed");
  $("rejoin-btn").hidden = false; $("leave-btn").hidden = true; $("leave-confirm").hidden = true;
  say(t("lapsedShort"), true);
}

/** Shows a standing; false when there is nothing more to follow. */
function renderTicket(tk) {
  if (view() !== "waiting") return false;
  const prev = S.ticket;
  S.ticket = tk;
  const place = $("wait-place"), pre = $("prequeue"), notice = $("wait-notice");
  place.hidden = true; pre.hidden = true; notice.hidden = true;
  clearInterval(S.tickTimer); S.tickTimer = null;
  document.body.dataset.status = tk.status;
  renderInventory(tk.inventory);

  switch (tk.status) {
    case "PRE_QUEUE": {
      pre.hidden = false;
      $("wait-state").textContent = t("early");
      const opens = tk.opens_at ? new Date(tk.opens_at) : null;
      $("opens-at").textContent = opens ? t("atTime", { at: when(tk.opens_at) }) : "";
      const tick = () => {
        const left = opens ? (opens - Date.now()) / 1000 : 0;
        $("opens-in").textContent = opens ? clock(left) : t("soon");
        if (left <= 0) $("opens-in").textContent = t("opening");
      };
      tick(); S.tickTimer = setInterval(tick, 1000);
      if (!prev || prev.status !== "PRE_QUEUE") say(opens ? t("saleOpensAt", { at: when(tk.opens_at) }) : t("saleOpensSoon"));
      document.title = t("titleWaitingSale");
      return true;
    }
    case "WAITING": {
      place.hidden = false;
      if (S.line && (S.line.first == null || tk.position > S.line.first)) {
        S.line.first = tk.position; store.set(lineKey(S.concert.id), S.line);
      }
      const paused = tk.eta_seconds == null && tk.eta_seconds_low == null;
      $("wait-state").textContent = paused ? t("pausedState") : t("inLineState");
      $("queue-position").textContent = `#${tk.position}`;
      $("queue-ahead").textContent = tk.ahead === 0 ? t("youAreNext") : t("aheadN", { n: tk.ahead });
      $("queue-eta").textContent = paused ? t("etaPaused") : t("eta", { eta: eta(tk) });
      const first = Math.max(S.line?.first || tk.position, 1);
      const pct = Math.max(0, Math.min(100, Math.round(((first - tk.position) / first) * 100)));
      const bar = $("progress");
      bar.setAttribute("aria-valuenow", String(pct));
      bar.setAttribute("aria-valuetext", t("progressText", { pct, n: tk.position }));
      $("progress-fill").style.width = `${Math.max(pct, 2)}%`;
      document.body.classList.toggle("paused", paused);
      document.title = t("titleInLine", { n: tk.position });
      const pausedBefore = prev && prev.status === "WAITING" && prev.eta_seconds == null && prev.eta_seconds_low == null;
      if (prev && prev.status === "WAITING" && paused !== pausedBefore) {
        say(paused ? t("sayPaused") : t("sayMoving", { n: tk.position }));
        S.lastSaid = { at: Date.now(), position: tk.position };
      } else if (S.lastSaid.position !== tk.position && Date.now() - S.lastSaid.at > 8000) {
        say(t("sayPosition", { n: tk.position, ahead: tk.ahead }));
        S.lastSaid = { at: Date.now(), position: tk.position };
      }
      return true;
    }
    case "ACTIVE":
      S.justAdmitted = true;
      document.title = t("titleTurn");
      go("seats");
      return false;
    case "SOLD_OUT":
      soldOut();
      return false;
    case "CLOSED":
      soldOut("closed");
      return false;
    default: // EXPIRED
      forgetLine();
      $("wait-state").textContent = t("turnEndedRejoin");
      $("rejoin-btn").hidden = false; $("leave-btn").hidden = true; $("leave-confirm").hidden = true;
      say(t("turnEnded"), true);
      document.title = t("titleTurnEnded");
      return false;
  }
}

function soldOut(why) {
  const closed = why === "closed";
  forgetLine();
  $("wait-state").textContent = t(closed ? "closedState" : "soldOutState");
  $("leave-btn").hidden = true; $("leave-confirm").hidden = true;
  const link = $("draw-link");
  link.href = `/api/v1/concerts/${S.concert.id}/draw`;
  link.hidden = false;
  say(t(closed ? "sayClosed" : "saySoldOut"), true);
  document.title = t(closed ? "titleClosed" : "titleSoldOut");
}

// The draw's record exists only when the line opened with a draw: look before leaving
// the page, and say so in words when there was none.
async function showDraw(ev) {
  ev.preventDefault();
  const box = $("draw-msg");
  box.textContent = t("drawLooking");
  try {
    const { data } = await call("GET", `/concerts/${S.concert.id}/draw`);
    box.textContent = "";
    box.append(el("p", { text: t("drawWas", { n: data.entrants, at: when(data.opens_at) }) }),
      el("p", { class: "muted mono", text: `${t("drawCommitment")}: ${data.commitment}${data.seed ? ` · ${t("drawSeed")}: ${data.seed}` : ""}` }),
      el("a", { href: $("draw-link").href, text: t("drawRecord") }));
  } catch (e) {
    box.textContent = e.status === 404 || e.status === 409 ? t("noDraw") : e.message;
  }
}

function renderInventory(inventory) {
  const notice = $("wait-notice");
  if (inventory === "ALL_HELD") {
    notice.hidden = false;
    notice.textContent = t("allHeld");
  } else if (inventory === "SOLD_OUT") {
    notice.hidden = false;
    notice.textContent = t("soldOutShort");
  }
}

function eta(tk) {
  if (tk.eta_seconds_low != null && tk.eta_seconds_high != null && tk.eta_seconds_high > tk.eta_seconds_low) {
    return t("between", { a: span(tk.eta_seconds_low), b: span(tk.eta_seconds_high) });
  }
  return t("about", { a: span(tk.eta_seconds ?? tk.eta_seconds_low ?? 0) });
}

function askLeave() {
  $("leave-confirm").hidden = false;
  $("leave-no").focus();
}

async function leave() {
  stopLive();
  $("leave-confirm").hidden = true;
  if (S.line) {
    try { await call("DELETE", "/queue", { headers: queueHeader() }); } catch (e) { if (e.status !== 401) fail(e); }
  }
  forgetLine();
  say(t("youLeft"));
  location.hash = "#/";
}

// ---------- choosing tickets: party size, then best available, the map or standing ----------
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
  document.title = t("titlePick");
  $("order-msg").textContent = "";
  const until = ticket.active_until ? ticket.active_until : null;
  const tick = () => {
    if (!until) return;
    const left = (Date.parse(until) - Date.now()) / 1000;
    $("turn-ends").textContent = left > 0 ? t("turnLasts", { left: clock(left), at: timeOf(until) }) : t("turnEnded");
  };
  tick(); S.tickTimer = setInterval(tick, 1000);
  if (S.justAdmitted) {
    S.justAdmitted = false;
    $("seats-h").focus();
    say(t("sayTurn", { at: until ? timeOf(until) : "" }), true);
  } else {
    $("seats-h").focus();
  }
  const sel = $("schedule"), chosen = sel.value;
  sel.textContent = "";
  for (const s of S.schedules) sel.append(el("option", { value: String(s.id), text: when(s.starts_at) }));
  if (chosen && S.schedules.some((s) => String(s.id) === chosen)) sel.value = chosen;
  $("party").max = String(S.maxParty);
  $("party-max").textContent = t("upTo", { n: S.maxParty });
  resetMap();
  renderMode();
  loop();
}

const schedule = () => Number($("schedule").value);
const party = () => {
  const n = Math.round(Number($("party").value));
  return Number.isFinite(n) ? Math.min(S.maxParty, Math.max(1, n)) : 1;
};
const mode = () => document.querySelector('input[name="mode"]:checked').value;

function resetMap() {
  S.seats.clear(); S.seatData.clear(); S.picked.clear();
  $("seat-map").textContent = ""; $("standing-boxes").textContent = "";
  S.availability = null;
}

function renderMode() {
  const m = mode();
  $("best-panel").hidden = m !== "best";
  $("map-panel").hidden = m !== "map";
  $("standing-panel").hidden = m !== "standing";
  const n = party();
  $("best-btn").textContent = t("findN", { n });
  $("standing-btn").textContent = t("holdStandingN", { n });
  renderPicked();
  if (m === "map" && S.zoom) S.zoom.fit();
}

// One loop refreshes what the chosen mode shows: availability always, the seats on the
// map. A failure (a 503 while the service is busy) is retried with a growing pause and
// a visible notice, never a reload.
async function loop() {
  clearTimeout(S.loopTimer);
  if (view() !== "seats") return;
  const sched = schedule();
  try {
    const [{ data: a }, seats] = await Promise.all([
      call("GET", `/schedules/${sched}/availability`),
      mode() === "map" ? call("GET", `/schedules/${sched}/seats`).then((r) => r.data) : Promise.resolve(null),
    ]);
    if (view() !== "seats" || schedule() !== sched) return;
    renderAvailability(a);
    if (seats) renderSeats(seats);
    if (S.backoff) say(t("mapBack"));
    S.backoff = 0;
    $("pick-notice").hidden = true;
    S.loopTimer = setTimeout(loop, mode() === "map" ? 2000 : 4000);
  } catch (e) {
    if (view() !== "seats") return;
    S.backoff = Math.min(S.backoff ? S.backoff * 2 : 1, 16);
    const s = Math.max(S.backoff, e.retryAfter ?? 0);
    const notice = $("pick-notice");
    notice.hidden = false;
    notice.textContent = e.status === 0 ? t("mapOffline", { s }) : t("mapBusy", { s });
    S.loopTimer = setTimeout(loop, s * 1000);
  }
}

function renderAvailability(a) {
  const first = !S.availability;
  S.availability = a;
  S.cats = categoryIndex([...a.categories.map((c) => c.category), ...a.standing.map((x) => x.category)]);
  const left = a.categories.reduce((n, c) => n + c.available, 0) + a.standing.reduce((n, x) => n + x.available, 0);
  $("inventory").textContent = left ? t("placesLeft", { n: left }) : t("nothingLeft");
  // The category filter of best available: every category with its price and what is left.
  const cat = $("best-category"), had = cat.value;
  cat.textContent = "";
  cat.append(el("option", { value: "", text: t("anyCategory") }));
  for (const c of a.categories) {
    cat.append(el("option", { value: c.category, disabled: c.available === 0, text: t("catOption", { name: c.category, price: money(c.price), n: c.available }) }));
  }
  if (had && a.categories.some((c) => c.category === had)) cat.value = had;
  // Standing areas, chosen by quantity.
  const hasStanding = a.standing.length > 0;
  $("mode-standing-label").hidden = !hasStanding;
  const area = $("standing-area"), hadArea = area.value;
  area.textContent = "";
  for (const x of a.standing) {
    area.append(el("option", { value: x.area, disabled: x.available === 0, text: t("areaOption", { name: x.area, price: money(x.price), n: x.available }) }));
  }
  if (hadArea && a.standing.some((x) => x.area === hadArea)) area.value = hadArea;
  const boxes = $("standing-boxes");
  boxes.textContent = "";
  for (const x of a.standing) {
    boxes.append(el("div", { class: `standing-box cat-${S.cats.get(x.category) ?? 0}` },
      el("strong", { text: x.area }), ` · ${t("standingWord")} · ${money(x.price)} · ${t("nOfLeft", { n: x.available, of: x.capacity })}`));
  }
  if (first || $("legend").dataset.cats !== legendKey(a)) renderLegend(a);
}

/** Every price category once, seated first, then the standing areas' own. */
const legendCats = (a) => {
  const seen = new Set(a.categories.map((c) => c.category));
  return [...a.categories.map((c) => ({ category: c.category, price: c.price })),
    ...a.standing.filter((x) => !seen.has(x.category) && seen.add(x.category)).map((x) => ({ category: x.category, price: x.price }))];
};
const legendKey = (a) => legendCats(a).map((c) => c.category + c.price).join();

function renderLegend(a) {
  const legend = $("legend");
  legend.dataset.cats = legendKey(a);
  legend.textContent = "";
  for (const c of legendCats(a)) {
    legend.append(el("li", {}, el("span", { class: `swatch seat cat-${S.cats.get(c.category)} AVAILABLE`, "aria-hidden": "true" }), `${c.category} · ${money(c.price)}`));
  }
  legend.append(el("li", {}, el("span", { class: "swatch seat picked", "aria-hidden": "true" }), t("legendPicked")));
  legend.append(el("li", {}, el("span", { class: "swatch seat HELD", "aria-hidden": "true" }), t("legendHeld")));
  legend.append(el("li", {}, el("span", { class: "swatch seat SOLD", "aria-hidden": "true" }), t("legendSold")));
  legend.append(el("li", {}, el("span", { class: "swatch acc-icon", "aria-hidden": "true", text: "♿" }), t("legendAccessible")));
}

const STATUS = (s) => t(s === "AVAILABLE" ? "stAvailable" : s === "HELD" ? "stHeld" : s === "SOLD" ? "stSold" : "stOther");
const seatName = (s) => t("seatName", { section: s.section, row: s.row, n: s.number });
const seatAria = (s, picked) => [seatName(s), s.category, money(s.price), s.accessible ? t("accessibleSeat") : null,
  picked ? t("stPicked") : STATUS(s.status)].filter(Boolean).join(", ");

function renderSeats(seats) {
  const sched = schedule();
  if (S.seats.size !== seats.length || !seats.every((s) => S.seats.has(s.id))) {
    const cells = drawMap($("seat-map"), seats, {
      interactive: true,
      rowLabel: (row, section) => t("rowGroup", { row, section }),
    });
    S.seats = cells;
    for (const [id, b] of cells) b.addEventListener("click", () => toggle(sched, id));
    if (!S.zoom) {
      S.zoom = new Zoom($("seat-scroll"), $("seat-sizer"), $("seat-map"), (z) => { $("zoom-level").textContent = `${Math.round(z * 100)}%`; });
    }
    S.zoom.set(S.zoom.z);
  }
  for (const s of seats) {
    S.seatData.set(s.id, s);
    // A picked seat someone else took meanwhile is unpicked, and the fan is told.
    if (S.picked.has(s.id) && s.status !== "AVAILABLE") {
      S.picked.delete(s.id);
      $("order-msg").textContent = t("pickedTaken", { seat: seatName(s) });
    }
    const picked = S.picked.has(s.id);
    paintSeat(S.seats.get(s.id), s, S.cats, seatAria(s, picked), picked ? "picked" : "");
  }
  renderPicked();
}

function toggle(sched, id) {
  const s = S.seatData.get(id);
  if (!s || sched !== schedule()) return;
  $("order-msg").textContent = "";
  if (S.picked.has(id)) S.picked.delete(id);
  else if (s.status === "AVAILABLE") {
    if (S.picked.size >= party()) {
      $("order-msg").textContent = t("pickedEnough", { n: party() });
      return;
    }
    S.picked.add(id);
  }
  const picked = S.picked.has(id);
  paintSeat(S.seats.get(id), s, S.cats, seatAria(s, picked), picked ? "picked" : "");
  renderPicked();
}

function renderPicked() {
  const n = party(), k = S.picked.size;
  const names = [...S.picked].map((id) => S.seatData.get(id)).filter(Boolean).map((s) => s.label);
  $("picked").textContent = t("pickedN", { k, n }) + (names.length ? `: ${names.join(", ")}` : "");
  $("hold-btn").textContent = t("holdN", { n });
  $("hold-btn").disabled = k !== n;
}

async function order(body, what) {
  $("order-msg").textContent = "";
  for (const b of ["best-btn", "hold-btn", "standing-btn"]) $(b).disabled = true;
  try {
    const { data } = await call("POST", "/orders", { headers: { ...auth(), ...queueHeader() }, body: { schedule_id: schedule(), ...body } });
    S.hold = { order: data, key: null };
    store.set(holdKey(S.concert.id), S.hold);
    S.picked.clear();
    say(t("sayHeld", { n: data.positions.reduce((x, p) => x + p.quantity, 0) }));
    go("checkout");
  } catch (e) {
    const msg = $("order-msg");
    if (e.status === 409 && e.type.endsWith("/seats-taken")) {
      msg.textContent = t("seatsTaken");
      S.picked.clear();
      loop();
    } else if (e.status === 409 && e.type.endsWith("/no-seats-left")) {
      msg.textContent = t("noBlock", { n: what.n });
    } else if (e.status === 409 && e.type.endsWith("/standing-area-full")) {
      msg.textContent = t("areaFull", { area: what.area, n: what.n });
      loop();
    } else if (e.status === 409 && e.type.endsWith("/ticket-limit-reached")) {
      msg.textContent = t("fanLimit", { detail: e.message });
      liveOrders();
    } else if (e.status === 422 && /at most (\d+) tickets/.test(e.message)) {
      S.maxParty = Number(/at most (\d+) tickets/.exec(e.message)[1]);
      store.set("frontrow.maxParty", S.maxParty);
      $("party").max = String(S.maxParty); $("party-max").textContent = t("upTo", { n: S.maxParty });
      msg.textContent = t("tooMany", { n: S.maxParty });
    } else if (e.status === 403) {
      fail(new Error(t("turnOver")));
      go("");
    } else if (e.status === 429 || e.status === 503) {
      msg.textContent = t("busyTryAgain", { s: e.retryAfter ?? 2 });
    } else {
      msg.textContent = e.message;
    }
    say(msg.textContent, true);
  } finally {
    for (const b of ["best-btn", "standing-btn"]) $(b).disabled = false;
    renderPicked();
  }
}

function orderBest() {
  const n = party();
  const best = { count: n, allow_split: $("allow-split").checked };
  if ($("best-category").value) best.category = $("best-category").value;
  order({ best_available: best }, { n });
}
function orderPicked() {
  if (S.picked.size !== party()) return;
  order({ seats: [...S.picked] }, { n: party() });
}
function orderStanding() {
  const area = $("standing-area").value;
  if (!area) return;
  order({ standing: [{ area, quantity: party() }] }, { n: party(), area });
}

function setParty(n) {
  $("party").value = String(Math.min(S.maxParty, Math.max(1, n)));
  // Fewer tickets than seats picked: the last picks go.
  while (S.picked.size > party()) S.picked.delete([...S.picked].at(-1));
  for (const [id, b] of S.seats) {
    const s = S.seatData.get(id);
    if (s) paintSeat(b, s, S.cats, seatAria(s, S.picked.has(id)), S.picked.has(id) ? "picked" : "");
  }
  renderMode();
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

// ---------- checkout: one order, one countdown, one payment ----------
async function openCheckout() {
  S.hold = store.get(holdKey(S.concert.id));
  if (!S.hold) { go("seats"); return; }
  show("checkout", "checkout-h");
  $("order-ended").hidden = true; $("hold-live").hidden = false;
  $("wallet-card").hidden = false; $("pay-actions").hidden = false;
  $("pay-msg").textContent = "";
  renderOrder(S.hold.order); // as kept, until the server's answer
  try {
    const { data } = await call("GET", `/orders/${S.hold.order.id}`, { headers: auth() });
    S.hold.order = data;
    store.set(holdKey(S.concert.id), S.hold);
  } catch (e) {
    if (e.status === 404) { store.del(holdKey(S.concert.id)); S.hold = null; go("seats"); return; }
    fail(e);
  }
  const o = S.hold.order;
  renderOrder(o);
  if (o.status === "PAID") {
    if (!store.get(paidKey(S.concert.id))) keepPaid(o, { order_id: o.id, amount: o.total, balance: null, paid_at: o.paid_at });
    store.del(holdKey(S.concert.id));
    go("done");
    return;
  }
  if (o.status !== "HELD" || Date.parse(o.expires_at) <= Date.now()) { ended(o.status === "CANCELLED" ? "CANCELLED" : "EXPIRED"); return; }
  document.title = t("titleCheckout");
  startHoldCountdown();
  await refreshBalance();
}

const scheduleOf = (id) => S.schedules.find((s) => s.id === id);
const positionName = (p) => (p.area ? t("standingLine", { area: p.area, n: p.quantity }) : t("seatName", { section: p.section, row: p.row, n: p.number }));
const ticketCount = (o) => o.positions.reduce((n, p) => n + p.quantity, 0);

function renderOrder(o) {
  const sched = scheduleOf(o.schedule_id);
  $("order-what").textContent = `${S.concert.title} · ${S.concert.venue}${sched ? " · " + when(sched.starts_at) : ""}`;
  const body = $("order-lines");
  body.textContent = "";
  for (const p of o.positions) {
    body.append(el("tr", { "data-label": p.label || p.area },
      el("td", { text: positionName(p) }), el("td", { text: p.category }),
      el("td", { class: "num", text: p.quantity > 1 ? `${p.quantity} × ${money(p.price)}` : money(p.price) })));
  }
  $("order-total").textContent = money(o.total);
  const seated = o.positions.filter((p) => !p.area).length;
  $("order-together").textContent = seated > 1 ? (o.together ? t("together") : t("notTogether")) : "";
  $("pay-btn").textContent = t("payAmount", { amount: money(o.total) });
  $("hold-until").textContent = t("untilParen", { at: timeOf(o.expires_at) });
  renderExtend(o);
}

// More time is offered once, and only while the hold ends before the admission does
// (the server never extends past admitted_until).
function renderExtend(o) {
  const room = Date.parse(o.admitted_until) - Date.parse(o.expires_at);
  const can = o.status === "HELD" && !o.extended_at && room > 1000;
  $("extend-line").hidden = !can;
  const note = $("extend-note");
  note.hidden = can;
  note.textContent = can ? "" : o.extended_at ? t("extendedOnce", { at: timeOf(o.admitted_until) }) : t("noExtendAdmission", { at: timeOf(o.admitted_until) });
}

function startHoldCountdown() {
  clearInterval(S.tickTimer);
  const said = new Set();
  const tick = () => {
    const o = S.hold && S.hold.order;
    if (!o) return;
    const left = (Date.parse(o.expires_at) - Date.now()) / 1000;
    $("hold-countdown").textContent = clock(left);
    $("hold-countdown").classList.toggle("urgent", left < 60);
    for (const mark of [60, 20]) {
      if (left <= mark && left > mark - 2 && !said.has(mark)) {
        said.add(mark);
        say(t(mark === 60 ? "oneMinuteLeft" : "twentyLeft") + (!$("extend-line").hidden ? " " + t("canExtend") : ""), true);
      }
    }
    if (left <= 0) ended("EXPIRED");
  };
  tick(); S.tickTimer = setInterval(tick, 1000);
}

/** The hold is over (expired, or cancelled elsewhere): said in words, with a way on. */
function ended(kind) {
  clearInterval(S.tickTimer); S.tickTimer = null;
  const o = S.hold && S.hold.order;
  store.del(holdKey(S.concert.id));
  S.hold = null;
  $("hold-live").hidden = true; $("wallet-card").hidden = true; $("pay-actions").hidden = true;
  $("order-ended").hidden = false;
  $("ended-h").textContent = t(kind === "CANCELLED" ? "cancelledH" : "expiredH");
  $("ended-text").textContent = kind === "CANCELLED" ? t("cancelledText") : t("expiredText", { at: o ? timeOf(o.expires_at) : "" });
  $("ended-h").focus();
  say(`${$("ended-h").textContent}. ${$("ended-text").textContent}`, true);
  document.title = t("titleExpired");
}

async function refreshBalance() {
  try {
    const { data } = await call("GET", "/wallet", { headers: auth() });
    $("balance").textContent = money(data.balance);
    S.balance = data.balance;
    const total = S.hold ? S.hold.order.total : 0;
    if (!$("topup-amount").value) $("topup-amount").value = amount(Math.max(total - data.balance, 0) || 10000);
  } catch (e) { fail(e); }
}

async function topUp(ev) {
  ev.preventDefault();
  const minor = toMinor($("topup-amount").value);
  if (!minor) { $("pay-msg").textContent = t("enterAmount"); $("topup-amount").focus(); return; }
  try {
    const { data } = await call("POST", "/wallet/charge", { headers: auth(), body: { amount: minor } });
    $("balance").textContent = money(data.balance);
    S.balance = data.balance;
    $("pay-msg").textContent = "";
    say(t("added", { a: money(minor), b: money(data.balance) }));
  } catch (e) { $("pay-msg").textContent = e.message; }
}

function keepPaid(o, receipt) {
  const sched = scheduleOf(o.schedule_id);
  store.set(paidKey(S.concert.id), {
    order: o, receipt, concert: S.concert.title, starts_at: sched ? sched.starts_at : null,
  });
}

async function pay() {
  const h = S.hold;
  if (!h) return;
  // One key per order, made on the first press and kept (in localStorage too) for every
  // retry of this order's payment: the server charges a key once, whatever is repeated.
  if (!h.key) { h.key = randomKey(); store.set(holdKey(S.concert.id), h); }
  $("pay-btn").disabled = true;
  $("pay-msg").textContent = "";
  try {
    const { data } = await call("POST", `/orders/${h.order.id}/payment`,
      { headers: { ...auth(), ...queueHeader(), "Idempotency-Key": h.key } });
    keepPaid({ ...h.order, status: "PAID", paid_at: data.paid_at }, data);
    store.del(holdKey(S.concert.id));
    S.hold = null;
    // A payment that leaves nothing held ends the fan's turn: forget the place then.
    try {
      const { data: tk } = await call("GET", "/queue/status", { headers: queueHeader() });
      if (tk.status !== "ACTIVE") forgetLine();
    } catch (e2) { if (e2.status === 401) forgetLine(); }
    go("done");
  } catch (e) {
    if (e.status === 0) {
      $("pay-msg").textContent = t("payOffline");
    } else if (e.status === 402) {
      const short = h.order.total - (S.balance ?? 0);
      $("pay-msg").textContent = t("notEnough", { total: money(h.order.total), short: short > 0 ? money(short) : "" });
      if (short > 0) $("topup-amount").value = amount(short);
      await refreshBalance();
      $("topup-amount").focus();
    } else if (e.status === 410) {
      ended(e.type.endsWith("/order-cancelled") ? "CANCELLED" : "EXPIRED");
      return;
    } else if (e.status === 409 && e.type.endsWith("/already-paid")) {
      go("checkout");
      return;
    } else if (e.status === 409) {
      $("pay-msg").textContent = t("cannotPay", { detail: e.message });
    } else if (e.status === 403) {
      $("pay-msg").textContent = t("payTurnOver");
    } else {
      $("pay-msg").textContent = e.message;
    }
    say($("pay-msg").textContent, true);
  } finally {
    $("pay-btn").disabled = false;
  }
}

async function extend() {
  const h = S.hold;
  if (!h) return;
  try {
    const { data } = await call("POST", `/orders/${h.order.id}/extend`, { headers: auth() });
    h.order = data;
    store.set(holdKey(S.concert.id), h);
    renderOrder(data);
    $("pay-btn").focus();
    say(t("nowUntil", { at: timeOf(data.expires_at) }));
  } catch (e) {
    if (e.status === 410) { ended("EXPIRED"); return; }
    $("extend-line").hidden = true;
    $("extend-note").hidden = false;
    $("extend-note").textContent = e.status === 409 ? t("noMoreTime", { detail: e.message }) : e.message;
  }
}

async function release() {
  const h = S.hold;
  if (!h) return;
  try {
    await call("DELETE", `/orders/${h.order.id}`, { headers: auth() });
  } catch (e) { if (e.status !== 404 && e.status !== 409 && e.status !== 410) { $("pay-msg").textContent = e.message; return; } }
  store.del(holdKey(S.concert.id)); S.hold = null;
  say(t("orderCancelled"));
  go("seats");
}

// ---------- confirmation ----------
async function openDone() {
  const p = store.get(paidKey(S.concert.id));
  if (!p) { go(""); return; }
  show("done", "done-h");
  const o = p.order;
  const n = ticketCount(o);
  document.title = t("titleBooked", { n });
  $("paid-what").textContent = t("yoursN", { n });
  $("paid-concert").textContent = p.concert;
  $("paid-date").textContent = p.starts_at ? when(p.starts_at) : "";
  $("paid-label").textContent = o.positions.map((x) => (x.area ? t("standingLine", { area: x.area, n: x.quantity }) : x.label)).join(", ");
  $("paid-amount").textContent = money(p.receipt.amount);
  $("paid-balance").textContent = p.receipt.balance == null ? "–" : money(p.receipt.balance);
  $("paid-ref").textContent = `FR-${p.receipt.order_id}`;
  $("more-btn").hidden = !S.line;
  say(t("sayPaid", { n }));
  // Where the fan sits, on the hall's current map (public): their seats, now sold.
  const mine = new Set(o.positions.filter((x) => x.seat_id).map((x) => x.seat_id));
  $("done-map-card").hidden = mine.size === 0;
  if (!mine.size) return;
  try {
    const [{ data: seats }, { data: a }] = await Promise.all([
      call("GET", `/schedules/${o.schedule_id}/seats`), call("GET", `/schedules/${o.schedule_id}/availability`)]);
    const cats = categoryIndex([...a.categories.map((c) => c.category), ...a.standing.map((x) => x.category)]);
    const cells = drawMap($("done-map"), seats, { interactive: false });
    for (const s of seats) {
      paintSeat(cells.get(s.id), s, cats, `${s.label}${mine.has(s.id) ? ` (${t("yours")})` : ""}, ${STATUS(s.status)}`, mine.has(s.id) ? "mine" : "");
    }
  } catch { $("done-map-card").hidden = true; }
}

// ---------- language ----------
function switchLanguage() {
  setLang(lang() === "ko" ? "en" : "ko");
  applyLanguage();
  route();
}
function applyLanguage() {
  setLocale(lang());
  applyStatic(document);
  const other = lang() === "ko" ? "en" : "ko";
  const b = $("lang-btn");
  b.textContent = other === "ko" ? "한국어" : "English";
  b.setAttribute("lang", other);
}

// ---------- wiring ----------
window.addEventListener("hashchange", route);
window.addEventListener("storage", (ev) => {
  if (!ev.key || !ev.key.startsWith("frontrow.")) return;
  if (ev.key === USER) { S.user = store.get(USER); route(); return; }
  // Another tab joined, left or was admitted for the concert on screen: follow it.
  if (S.concert && ev.key === lineKey(S.concert.id) && view() === "waiting") {
    S.line = store.get(lineKey(S.concert.id));
    if (!S.line) { lapsed(); return; }
    follow();
  }
});
$("signin").addEventListener("submit", signIn);
$("passkey-signin-btn").addEventListener("click", () => wayIn(passkeySignIn));
$("passkey-signup-btn").addEventListener("click", signUpWithPasskey);
$("signup-btn").addEventListener("click", signUpWithPassword);
$("signout-btn").addEventListener("click", signOut);
$("lang-btn").addEventListener("click", switchLanguage);
$("leave-btn").addEventListener("click", askLeave);
$("leave-yes").addEventListener("click", leave);
$("leave-no").addEventListener("click", () => { $("leave-confirm").hidden = true; $("leave-btn").focus(); });
$("draw-link").addEventListener("click", showDraw);
$("rejoin-btn").addEventListener("click", () => { $("rejoin-btn").hidden = true; $("leave-btn").hidden = false; enter(); });
$("schedule").addEventListener("change", () => { resetMap(); loop(); });
for (const r of document.querySelectorAll('input[name="mode"]')) r.addEventListener("change", () => { renderMode(); loop(); });
$("party").addEventListener("change", () => setParty(party()));
$("party-minus").addEventListener("click", () => setParty(party() - 1));
$("party-plus").addEventListener("click", () => setParty(party() + 1));
$("best-btn").addEventListener("click", orderBest);
$("standing-btn").addEventListener("click", orderStanding);
$("hold-btn").addEventListener("click", orderPicked);
$("clear-btn").addEventListener("click", () => { S.picked.clear(); setParty(party()); });
$("zoom-in").addEventListener("click", () => S.zoom && S.zoom.set(S.zoom.z + 0.25));
$("zoom-out").addEventListener("click", () => S.zoom && S.zoom.set(S.zoom.z - 0.25));
$("zoom-fit").addEventListener("click", () => S.zoom && S.zoom.set(S.zoom.fitting()));
$("seat-map").addEventListener("keydown", moveFocus);
$("topup").addEventListener("submit", topUp);
$("pay-btn").addEventListener("click", pay);
$("extend-btn").addEventListener("click", extend);
$("cancel-btn").addEventListener("click", release);
$("again-btn").addEventListener("click", () => go("seats"));
$("more-btn").addEventListener("click", () => go("seats"));
$("print-btn").addEventListener("click", () => window.print());
$("tickets-refresh").addEventListener("click", route);
applyLanguage();
renderWho();
route();
