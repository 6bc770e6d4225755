// The console's doors section: for one date of the chosen concert, check-ins per gate and
// minute, tickets not yet scanned, offline duplicates flagged (two devices admitting one
// ticket), the gate keys (issue, revoke) and the revocation list (revoke a ticket). It
// follows the console's concert (the `console:concert` event of admin.js) and uses the
// operator key the console holds.
import { call, el, when, timeOf } from "./api.js";

const $ = (id) => document.getElementById(id);
const G = { concert: null, key: null, timer: null, busy: false };
const REFRESH_MS = 5000;

function admin(method, path, body) {
  const key = G.key ?? sessionStorage.getItem("frontrow.adminKey") ?? "";
  return call(method, "/admin" + path, { body, headers: { "X-Admin-Key": key } });
}

function note(text) { $("gate-state").textContent = text; }

function table(label, head, rows) {
  return el("div", { class: "table-wrap", role: "region", "aria-label": label, tabindex: "0" },
    el("table", {},
      el("caption", { class: "sr-only", text: label }),
      el("thead", {}, el("tr", {}, ...head.map((h) => el("th", { scope: "col", text: h })))),
      el("tbody", {}, ...rows)));
}

function render() {
  const host = $("gate-console");
  if (!host || $("gate-admin")) return;
  host.append(el("section", { class: "card", id: "gate-admin", "aria-labelledby": "gate-admin-h" },
    el("h2", { id: "gate-admin-h", text: "Doors and check-in" }),
    el("div", { class: "field-row" },
      el("label", { for: "gate-date", text: "Date" }), el("select", { id: "gate-date" }),
      el("span", { id: "gate-state", class: "muted", role: "status" })),
    el("div", { id: "gate-figures" }),
    el("h3", { text: "Check-ins per gate and minute" }), el("div", { id: "gate-minutes" }),
    el("h3", { text: "Duplicates flagged" }),
    el("p", { class: "muted", text: "Two offline devices admitted one ticket: both scans are kept, the later one is flagged." }),
    el("div", { id: "gate-dups" }),
    el("h3", { text: "Gate keys" }),
    el("p", { class: "muted" }, "A gate key opens the scanner page ", el("a", { id: "gate-scanner-link", href: "/static/gate.html", text: "/static/gate.html" }),
      " for this date. It is shown once, when issued."),
    el("form", { id: "gate-key-form", class: "field-row" },
      el("label", { for: "gate-key-label", text: "Holder (gate or team)" }),
      el("input", { id: "gate-key-label", required: true, maxlength: "64" }),
      el("button", { type: "submit", text: "Issue a gate key" })),
    el("p", { id: "gate-new-key", class: "notice", hidden: true, role: "status" }),
    el("div", { id: "gate-keys" }),
    el("h3", { text: "Revocation list" }),
    el("form", { id: "gate-revoke-form", class: "field-row" },
      el("label", { for: "gate-revoke-ticket", text: "Ticket id" }),
      el("input", { id: "gate-revoke-ticket", inputmode: "numeric", pattern: "[0-9]+", required: true }),
      el("label", { for: "gate-revoke-reason", text: "Reason" }),
      el("input", { id: "gate-revoke-reason", required: true, maxlength: "64", value: "returned" }),
      el("button", { type: "submit", text: "Revoke the ticket" })),
    el("div", { id: "gate-revocations" })));
  $("gate-date").addEventListener("change", () => { refresh(true); });
  $("gate-key-form").addEventListener("submit", issueKey);
  $("gate-revoke-form").addEventListener("submit", revokeTicket);
}

const schedule = () => Number($("gate-date").value);

// False, painting nothing, when the console moved to another concert meanwhile.
async function loadDates() {
  const id = G.concert;
  const { data } = await call("GET", `/concerts/${id}/schedules`);
  if (id !== G.concert) return false;
  const sel = $("gate-date"), had = sel.value;
  sel.textContent = "";
  for (const s of data) sel.append(el("option", { value: String(s.id), text: `${when(s.starts_at)} (#${s.id})` }));
  if (had && data.some((s) => String(s.id) === had)) sel.value = had;
  return true;
}

function figures(s) {
  $("gate-figures").replaceChildren(table("Check-in figures", ["Tickets", "Admitted", "Not yet scanned", "Revoked", "Duplicates flagged"],
    [el("tr", {}, ...[s.tickets, s.admitted, s.not_scanned, s.revoked, s.duplicates.length].map((n) => el("td", { text: String(n) })))]));
  // Newest minutes first, the last hour of rows at most.
  const minutes = [...s.per_gate_minute].sort((a, b) => b.minute.localeCompare(a.minute) || a.gate.localeCompare(b.gate)).slice(0, 60);
  $("gate-minutes").replaceChildren(minutes.length
    ? table("Check-ins per gate and minute", ["Minute", "Gate", "Admitted", "Refused"],
      minutes.map((m) => el("tr", {}, el("td", { text: timeOf(m.minute) }), el("th", { scope: "row", text: m.gate }),
        el("td", { text: String(m.admitted) }), el("td", { text: String(m.refused) }))))
    : el("p", { class: "muted", text: "No scans yet." }));
  $("gate-dups").replaceChildren(s.duplicates.length
    ? table("Duplicates flagged", ["Ticket", "Gate", "Device", "Scanned at", "First admitted"],
      s.duplicates.map((d) => el("tr", { class: "dup" }, el("th", { scope: "row", text: `#${d.ticket_id}` }), el("td", { text: d.gate }),
        el("td", { text: d.device }), el("td", { text: timeOf(d.scanned_at) }),
        el("td", { text: d.first_scan_at ? `${timeOf(d.first_scan_at)} · ${d.first_gate}` : "–" }))))
    : el("p", { class: "muted", text: "None." }));
}

function keys(list) {
  $("gate-keys").replaceChildren(list.length
    ? table("Gate keys", ["Holder", "Issued", "State", ""], list.map((k) => el("tr", {},
      el("th", { scope: "row", text: k.label }), el("td", { text: when(k.created_at) }),
      el("td", { text: k.revoked_at ? `revoked ${when(k.revoked_at)}` : "active" }),
      el("td", {}, k.revoked_at ? "" : el("button", { type: "button", text: `Revoke ${k.label}`, onclick: () => revokeKey(k) })))))
    : el("p", { class: "muted", text: "No gate keys for this date yet." }));
}

function revocations(list) {
  $("gate-revocations").replaceChildren(list.length
    ? table("Revocation list", ["Ticket", "Codes refused", "Reason", "Revoked at"], list.map((r) => el("tr", {},
      el("th", { scope: "row", text: `#${r.ticket_id}` }),
      el("td", { text: r.through === 4294967295 ? "all" : `generation ≤ ${r.through}` }),
      el("td", { text: r.reason }), el("td", { text: when(r.revoked_at) }))))
    : el("p", { class: "muted", text: "No revoked tickets." }));
}

async function refresh(withKeys = false) {
  const id = schedule();
  if (!id || G.busy) return;
  G.busy = true;
  try {
    $("gate-scanner-link").href = `/static/gate.html#schedule=${id}`;
    const [stats, revs, list] = await Promise.all([
      admin("GET", `/schedules/${id}/checkins`), admin("GET", `/schedules/${id}/revocations`),
      withKeys ? admin("GET", `/schedules/${id}/gate-keys`) : null]);
    if (id !== schedule()) return;
    figures(stats.data);
    revocations(revs.data);
    if (list) keys(list.data);
    note("");
  } catch (e) {
    note(`The doors could not be read (${e.message}).`);
  } finally { G.busy = false; }
}

async function issueKey(ev) {
  ev.preventDefault();
  try {
    const { data } = await admin("POST", `/schedules/${schedule()}/gate-keys`, { label: $("gate-key-label").value.trim() });
    const box = $("gate-new-key");
    box.replaceChildren(`Gate key for ${data.label} (shown this once): `, el("code", { text: data.key }),
      ` — schedule number ${data.schedule_id}, scanner page /static/gate.html#schedule=${data.schedule_id}`);
    box.hidden = false;
    $("gate-key-form").reset();
    await refresh(true);
  } catch (e) { note(`No key issued: ${e.message}`); }
}

async function revokeKey(k) {
  if (!confirm(`Revoke the gate key of ${k.label}? Its scanners can no longer sync or upload.`)) return;
  try { await admin("DELETE", `/schedules/${schedule()}/gate-keys/${k.id}`); await refresh(true); note(`Gate key of ${k.label} revoked.`); }
  catch (e) { note(`Not revoked: ${e.message}`); }
}

async function revokeTicket(ev) {
  ev.preventDefault();
  const ticket = Number($("gate-revoke-ticket").value);
  try {
    const { data } = await admin("POST", `/tickets/${ticket}/revocation`, { reason: $("gate-revoke-reason").value.trim() });
    note(data.revoked.length ? `Ticket #${ticket} revoked: gates refuse it from their next sync.` : `Ticket #${ticket} was revoked before.`);
    $("gate-revoke-ticket").value = "";
    await refresh();
  } catch (e) { note(`Not revoked: ${e.message}`); }
}

document.addEventListener("console:concert", async (ev) => {
  G.concert = ev.detail.id;
  G.key = ev.detail.key;
  render();
  clearInterval(G.timer);
  const id = G.concert;
  try { if (await loadDates()) await refresh(true); } catch (e) { note(e.message); }
  if (id !== G.concert) return;
  clearInterval(G.timer);
  G.timer = setInterval(() => { if (!document.hidden && !$("console").hidden) refresh(); }, REFRESH_MS);
});
