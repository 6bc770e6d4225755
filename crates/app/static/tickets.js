// "My tickets" (#/tickets): every ticket of the fan, read from the server (so any device
// signed in as the fan shows them), grouped by concert and order, each with its QR code,
// seat or area, category, the show's time with its zone and its status; a print layout
// (style.css, @media print). A ticket whose schedule asks for rotating codes is bound
// to a key of this device (holder.js) and shows a new code every 15 s; moving it to
// another device is a confirmed re-binding. A returnable ticket has a Return button.
import { call, money, randomKey, el, when } from "./api.js";
import { t } from "./i18n.js";
import { qrSvg } from "./qr.js";
import { holderSupported, storedKey, newKey, dropKey, holderInCode, rotatingCode, windowOf, WINDOW_SECONDS } from "./holder.js";

const $ = (id) => document.getElementById(id);
// The Idempotency-Key of a ticket's return, kept from the first press until the server
// has answered, so a retry after a lost answer is the same return.
const returnKey = (id) => `frontrow.return.${id}`;
const kept = {
  get(k) { try { return localStorage.getItem(k); } catch { return null; } },
  set(k, v) { try { localStorage.setItem(k, v); } catch { /* this page only */ } },
  del(k) { try { localStorage.removeItem(k); } catch { /* nothing kept */ } },
};

let ctx = null;            // {user, auth, fail, say}
let seq = 0;
let timer = null;
const rotating = new Map(); // ticket id → {code, key, window, box, caption, label}
const concerts = new Map(); // concert id → {title, venue}

/** Stops the rotating codes' clock (the view is left). */
export function stopTickets() {
  clearInterval(timer); timer = null;
  rotating.clear();
  seq++;
}

/** The ticket's status: the server's, or (before it says one) what its fields imply. */
export function statusOf(tk) {
  if (tk.status) return tk.status;
  if (tk.revoked) return "revoked";
  return tk.admitted_at ? "checked_in" : "valid";
}

async function concertOf(id) {
  if (!concerts.has(id)) {
    try {
      const { data } = await call("GET", `/concerts/${id}`);
      concerts.set(id, { title: data.title, venue: data.venue });
    } catch { return { title: t("concertN", { id }), venue: "" }; }
  }
  return concerts.get(id);
}

/** Opens the view with the fan's tickets. */
export async function openTickets(context) {
  stopTickets();
  ctx = context;
  const mine = ++seq;
  const list = $("tickets-list");
  list.setAttribute("aria-busy", "true");
  $("tickets-msg").textContent = "";
  let tickets, orders;
  try {
    [{ data: tickets }, { data: orders }] = await Promise.all([
      call("GET", "/tickets", { headers: ctx.auth() }),
      call("GET", "/orders", { headers: ctx.auth() }),
    ]);
  } catch (e) {
    list.setAttribute("aria-busy", "false");
    if (e.status === 401) { ctx.forget(); return; }
    ctx.fail(e);
    return;
  }
  const orderOf = new Map(orders.map((o) => [o.id, o]));
  // Concert → order → tickets, in the order the server lists them (oldest first).
  const groups = new Map();
  for (const tk of tickets) {
    const o = orderOf.get(tk.order_id);
    const cid = o ? o.concert_id : 0;
    if (!groups.has(cid)) groups.set(cid, new Map());
    const byOrder = groups.get(cid);
    if (!byOrder.has(tk.order_id)) byOrder.set(tk.order_id, []);
    byOrder.get(tk.order_id).push(tk);
  }
  const info = new Map();
  for (const cid of groups.keys()) info.set(cid, cid ? await concertOf(cid) : { title: t("otherTickets"), venue: "" });
  if (mine !== seq) return;

  list.textContent = "";
  for (const [cid, byOrder] of groups) {
    const c = info.get(cid);
    const hid = `tickets-c${cid}`;
    const section = el("section", { class: "ticket-concert", "aria-labelledby": hid },
      el("h2", { id: hid, text: c.title }), c.venue ? el("p", { class: "muted", text: c.venue }) : null);
    for (const [oid, tks] of byOrder) {
      const o = orderOf.get(oid);
      const oh = `tickets-o${oid}`;
      section.append(el("section", { class: "ticket-order", "aria-labelledby": oh },
        el("h3", { id: oh, text: `${t("orderN", { id: oid })} · ${t("ticketsN", { n: tks.length })}${o && o.paid_at ? " · " + t("paidOn", { at: when(o.paid_at) }) : ""}` }),
        el("ul", { class: "ticket-list" }, ...tks.map(ticketCard))));
    }
    list.append(section);
  }
  if (!tickets.length) list.append(el("p", { class: "muted", text: t("noTickets") }));
  $("print-btn").hidden = !tickets.length;
  list.setAttribute("aria-busy", "false");
  for (const tk of tickets) if (statusOf(tk) === "valid" || statusOf(tk) === "checked_in") await showCode(tk, mine);
  if (mine !== seq) return;
  if (rotating.size) { tick(); timer = setInterval(tick, 1000); }
}

const STATUS_TEXT = {
  valid: () => t("ticketValid"),
  checked_in: (tk) => (tk.admitted_at ? t("ticketCheckedInAt", { at: when(tk.admitted_at), gate: tk.admitted_gate || "" }) : t("ticketCheckedIn")),
  returned: () => t("ticketReturned"),
  cancelled: () => t("ticketCancelled"),
  revoked: () => t("ticketRevoked"),
};

function ticketCard(tk) {
  const status = statusOf(tk);
  const name = tk.label;
  const li = el("li", { class: "ticket", "data-ticket": String(tk.id), "data-status": status });
  const qr = el("div", { class: "ticket-qr", id: `qr-${tk.id}` });
  const dl = el("dl", { class: "ticket-facts" },
    el("dt", { text: t("category") }), el("dd", { text: tk.category }),
    el("dt", { text: t("showTime") }), el("dd", {}, el("time", { datetime: tk.starts_at, text: when(tk.starts_at) })),
    el("dt", { text: t("ticketStatus") }), el("dd", {}, el("span", { class: `badge st-${status}`, text: (STATUS_TEXT[status] || STATUS_TEXT.valid)(tk) })));
  if (tk.returnable && tk.return_until) dl.append(el("dt", { text: t("returnUntil") }), el("dd", {}, el("time", { datetime: tk.return_until, text: when(tk.return_until) })));
  const actions = el("div", { class: "actions no-print" });
  const msg = el("p", { class: "ticket-msg", role: "status", tabindex: "-1", id: `ticket-msg-${tk.id}` });
  if (tk.returnable && status === "valid") actions.append(returnButton(tk, li, msg));
  li.append(qr, el("div", { class: "ticket-info" },
    el("p", { class: "ticket-label" }, el("span", { class: "label", text: tk.area_id ? t("area") : t("seat") }), el("strong", { text: name })),
    dl, actions, msg));
  if (status === "returned" || status === "cancelled" || status === "revoked") {
    qr.append(el("p", { class: "ticket-void", text: t(status === "revoked" ? "voidRevoked" : status === "returned" ? "voidReturned" : "voidCancelled") }));
  }
  return li;
}

// ---------- codes ----------
async function showCode(tk, mine) {
  const box = $(`qr-${tk.id}`);
  if (!box) return;
  if (tk.code && !tk.rotating) {
    box.replaceChildren(qrSvg(tk.code, t("qrOf", { label: tk.label })), el("p", { class: "qr-caption muted", text: t("showAtGate") }));
    return;
  }
  if (!holderSupported()) {
    box.replaceChildren(el("p", { class: "ticket-void", text: t("noHolderSupport") }));
    return;
  }
  try {
    let key = await storedKey(ctx.user.id, tk.id);
    if (tk.needs_holder_key || !tk.code) {
      // Nothing bound yet: this device becomes the ticket's holder.
      ({ tk, key } = await bind(tk));
    } else if (!key || key.compressed !== holderInCode(tk.code)) {
      if (key) await dropKey(ctx.user.id, tk.id);
      elsewhere(tk, box);
      return;
    }
    if (mine !== seq) return;
    startRotating(tk, key, box);
  } catch (e) {
    box.replaceChildren(el("p", { class: "ticket-void", text: e && e.status === 409 ? t("cannotMove") : t("bindFailed", { detail: e && e.message ? e.message : String(e) }) }),
      el("button", { type: "button", class: "no-print", text: t("tryAgain"), onclick: () => openTickets(ctx) }));
  }
}

/** Makes a key on this device and binds the ticket to it (the server revokes any older key). */
async function bind(tk) {
  const { record, publicKey } = await newKey(ctx.user.id, tk.id);
  try {
    const { data } = await call("POST", `/tickets/${tk.id}/holder-key`, { headers: ctx.auth(), body: { public_key: publicKey } });
    return { tk: data, key: record };
  } catch (e) {
    await dropKey(ctx.user.id, tk.id);
    throw e;
  }
}

/** The ticket is held by another device: say so, and offer to move it here (confirmed). */
function elsewhere(tk, box) {
  const q = `move-q-${tk.id}`;
  const confirm = el("div", { class: "confirm-box", role: "group", "aria-labelledby": q, hidden: true },
    el("p", { id: q, text: t("moveQuestion", { label: tk.label }) }),
    el("div", { class: "actions" },
      el("button", { type: "button", id: `move-yes-${tk.id}`, text: t("moveYes"), onclick: () => moveHere(tk, box) }),
      el("button", { type: "button", class: "primary", text: t("moveNo"), onclick: () => { confirm.hidden = true; ask.focus(); } })));
  const ask = el("button", { type: "button", id: `move-btn-${tk.id}`, "aria-label": `${t("moveHere")}: ${tk.label}`, text: t("moveHere"),
    onclick: () => { confirm.hidden = false; $(`move-yes-${tk.id}`).focus(); } });
  box.replaceChildren(el("p", { class: "ticket-void", text: t("onAnotherDevice") }), ask, confirm);
}

async function moveHere(tk, box) {
  box.setAttribute("aria-busy", "true");
  try {
    const { tk: bound, key } = await bind(tk);
    ctx.say(t("movedHere", { label: tk.label }));
    startRotating(bound, key, box);
    tick();
    if (!timer) timer = setInterval(tick, 1000);
  } catch (e) {
    box.replaceChildren(el("p", { class: "ticket-void", text: e && e.status === 409 ? t("cannotMove") : t("bindFailed", { detail: e.message }) }));
  } finally {
    box.setAttribute("aria-busy", "false");
  }
}

function startRotating(tk, key, box) {
  const caption = el("p", { class: "qr-caption muted" });
  box.replaceChildren(el("div", { class: "qr-slot" }), caption,
    el("p", { class: "print-only", text: t("rotatingPrint") }));
  box.classList.add("rotating");
  rotating.set(tk.id, { code: tk.code, key, window: null, box, caption, label: tk.label, busy: false });
}

// Once a second: each rotating code is signed anew when its window has turned, and its
// caption counts down to the next one.
function tick() {
  const now = Date.now();
  const w = windowOf(now);
  const left = WINDOW_SECONDS - Math.floor(now / 1000) % WINDOW_SECONDS;
  for (const [id, r] of rotating) {
    r.caption.textContent = t("rotatingCaption", { s: left });
    if (r.window === w || r.busy) continue;
    r.busy = true;
    rotatingCode(r.code, r.key.privateKey, w).then((text) => {
      r.busy = false;
      if (rotating.get(id) !== r) return;
      r.window = w;
      r.box.dataset.window = String(w);
      r.box.querySelector(".qr-slot").replaceChildren(qrSvg(text, t("qrRotatingOf", { label: r.label })));
    }, (e) => {
      r.busy = false;
      r.caption.textContent = t("bindFailed", { detail: e.message });
    });
  }
}

// ---------- returns ----------
function returnButton(tk, li, msg) {
  const q = `return-q-${tk.id}`;
  const confirm = el("div", { class: "confirm-box", role: "group", "aria-labelledby": q, hidden: true },
    el("p", { id: q, text: t("returnQuestion", { label: tk.label }) }),
    el("div", { class: "actions" },
      el("button", { type: "button", id: `return-yes-${tk.id}`, text: t("returnYes"), onclick: () => giveBack(tk, li, msg, confirm, ask) }),
      el("button", { type: "button", class: "primary", text: t("returnNo"), onclick: () => { confirm.hidden = true; ask.focus(); } })));
  const ask = el("button", { type: "button", class: "return-btn", id: `return-btn-${tk.id}`, "aria-label": `${t("returnTicket")}: ${tk.label}`, text: t("returnTicket"),
    onclick: () => { confirm.hidden = false; $(`return-yes-${tk.id}`).focus(); } });
  return el("div", { class: "return-box" }, ask, confirm);
}

async function giveBack(tk, li, msg, confirm, ask) {
  let key = kept.get(returnKey(tk.id));
  if (!key) { key = randomKey(); kept.set(returnKey(tk.id), key); }
  for (const b of confirm.querySelectorAll("button")) b.disabled = true;
  try {
    const { data } = await call("POST", `/tickets/${tk.id}/return`, { headers: { ...ctx.auth(), "Idempotency-Key": key } });
    kept.del(returnKey(tk.id));
    const text = t("returnedRefund", { label: tk.label, amount: money(data.refunded), balance: money(data.balance) });
    ctx.say(text);
    await openTickets(ctx);
    const again = $(`ticket-msg-${tk.id}`);
    if (again) { again.textContent = text; again.focus(); }
  } catch (e) {
    // Only a lost answer (or the server's own failure) keeps the key for the retry.
    if (e.status !== 0 && e.status < 500) kept.del(returnKey(tk.id));
    msg.textContent = e.status === 409 ? t("returnRefused", { detail: e.message }) : e.status === 0 ? t("returnNoAnswer") : e.message;
    ctx.say(msg.textContent, true);
    for (const b of confirm.querySelectorAll("button")) b.disabled = false;
    if (e.status === 409) { confirm.hidden = true; ask.disabled = true; }
  }
}
