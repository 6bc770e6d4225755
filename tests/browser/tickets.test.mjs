// "My tickets" in a real browser: the QR code on the page is read back from a screenshot
// (jsQR) and checked by the offline gate, `frontrow gate verify`, with the schedule's
// gate kit — a static code is admitted; a rotating code (the page's own P-256 key, kept
// in IndexedDB) is admitted in its window and refused once 30 s old, the page's clock
// driven by Playwright's fake clock; a second profile signed in as the same fan sees the
// same tickets and moves a rotating ticket to itself (the first device's code revoked);
// the print layout; the account's devices; axe-core on every view.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join as joinPath, resolve } from "node:path";
import jsQR from "jsqr";
import { PNG } from "pngjs";
import {
  BASE, PASSWORD, admin, api, audit, buy, concert, launch, newPage, openSale, record, scriptErrors, seeText, seeValue, shoot, signUp,
} from "./helpers.mjs";

// The binary scripts/browser-test.sh built and started.
const BIN = process.env.FRONTROW_BIN ?? resolve(process.env.CARGO_TARGET_DIR ?? "../../target", "debug/frontrow");
// The tests' concerts start at 2031-05-01T20:00Z; codes are valid from six hours before.
const AT_THE_DOOR = "2031-05-01T19:00:02Z";
const WORK = mkdtempSync(joinPath(tmpdir(), "frontrow-tickets-"));

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); rmSync(WORK, { recursive: true, force: true }); });

const fanOf = (page) => page.evaluate(() => JSON.parse(localStorage.getItem("frontrow.user") || "null"));
const bearer = (fan) => ({ Authorization: `Bearer ${fan.access_token}` });
const until = (page, fn, arg, timeout = 15000) => page.waitForFunction(fn, arg, { timeout });
const windowOf = (iso) => Math.floor(Date.parse(iso) / 15000);
const plus = (iso, seconds) => new Date(Date.parse(iso) + seconds * 1000).toISOString();

/** The text of the QR code drawn in `selector`, read from a screenshot of it. */
async function readQr(page, selector) {
  const png = PNG.sync.read(await page.locator(selector).screenshot());
  const found = jsQR(new Uint8ClampedArray(png.data.buffer, png.data.byteOffset, png.data.length), png.width, png.height);
  assert.ok(found, `no QR code could be read in ${selector}`);
  return found.data;
}

/** The schedule's gate kit, as a scanner downloads it with a gate key, saved to a file. */
async function gateKit(scheduleId, name) {
  const { key } = await admin("POST", `/admin/schedules/${scheduleId}/gate-keys`, { label: "Browser tests" });
  const res = await fetch(`${BASE}/api/v1/schedules/${scheduleId}/gate-kit`, { headers: { "X-Gate-Key": key } });
  assert.equal(res.status, 200);
  const path = joinPath(WORK, `${name}.json`);
  writeFileSync(path, await res.text());
  return path;
}

/**
 * `frontrow gate verify --kit <kit> --at <at> <code>` on a device of its own (a copy of
 * the kit, so no earlier scan of another test counts): its verdict.
 */
let devices = 0;
function verify(kit, code, at) {
  const device = joinPath(WORK, `device-${++devices}.json`);
  copyFileSync(kit, device);
  const run = spawnSync(BIN, ["gate", "verify", "--kit", device, "--gate", "North", "--at", at, code], { encoding: "utf8" });
  assert.equal(run.status, 0, `gate verify failed: ${run.stderr}`);
  const lines = run.stdout.trim().split("\n");
  assert.equal(lines.length, 1, run.stdout);
  return JSON.parse(lines[0]);
}

/** Signs a fan in with email and password on a page of a new profile. */
async function signIn(page, email) {
  await page.goto(BASE + "/");
  await page.waitForSelector("#signin:not([hidden])");
  await page.click("#password-box summary");
  await page.fill("#email", email);
  await page.fill("#password", PASSWORD);
  await page.click("#signin-btn");
  await page.waitForSelector("#whoami:not([hidden])", { timeout: 90000 });
}

/** The fan's tickets as the API lists them. */
const ticketsOf = async (fan) => (await api("GET", "/tickets", { headers: bearer(fan) })).data;

/** Joins the line by the API as `fan` and waits for the turn: the headers to order with. */
async function admitted(fan, concertId) {
  const { data: ticket } = await api("POST", `/concerts/${concertId}/queue`, { headers: bearer(fan) });
  for (let i = 0; i < 150; i++) {
    const { data: s } = await api("GET", "/queue/status", { headers: { "X-Queue-Token": ticket.token } });
    if (s.status === "ACTIVE") return { ...bearer(fan), "X-Queue-Token": ticket.token };
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("not admitted");
}

test("a fan buys two seats, My tickets shows their QR codes, the gate admits the code read from the screen; a second profile sees the same tickets; the print layout has one ticket a page", async () => {
  const c = await concert("QR Night", 1, 6, 3000);
  await openSale(c.id);
  const page = await newPage(browser);
  await page.goto(BASE + "/");
  const email = await signUp(page, "Quinn");
  await page.click(`button[data-concert="${c.id}"]`);
  await page.waitForSelector("#view-seats:not([hidden])", { timeout: 15000 });
  await page.waitForSelector("#best-btn:not(:empty)");
  await page.click("#best-btn");
  await page.waitForSelector("#view-checkout:not([hidden])");
  await seeValue(page, "#topup-amount", "60.00");
  await page.click("#topup-btn");
  await until(page, () => document.getElementById("balance").textContent === "€60.00");
  await page.click("#pay-btn");
  await page.waitForSelector("#view-done:not([hidden])");

  // From the confirmation to My tickets.
  await page.click("#done-tickets");
  await page.waitForSelector("#view-tickets:not([hidden])");
  await until(page, () => document.querySelectorAll("#tickets-list li.ticket .ticket-qr svg.qr").length === 2);
  const fan = await fanOf(page);
  const listed = await ticketsOf(fan);
  assert.equal(listed.length, 2);
  const shown = await page.$$eval("#tickets-list li.ticket", (ls) => ls.map((l) => ({ id: Number(l.dataset.ticket), status: l.dataset.status, text: l.textContent })));
  assert.deepEqual(shown.map((s) => s.id), listed.map((x) => x.id));
  for (const [i, s] of shown.entries()) {
    assert.equal(s.status, "valid");
    assert.match(s.text, new RegExp(listed[i].label));
    assert.ok(s.text.includes(listed[i].category), s.text);
    assert.match(s.text, /2031/, "the show's time");
    assert.match(s.text, /UTC|GMT/, "the time's zone");
  }
  await seeText(page, "#tickets-list h2", "QR Night");
  await seeText(page, "#tickets-list h3", new RegExp(`order ${listed[0].order_id} · 2 tickets`));

  // The code read from the screen is the signed code, and the offline gate admits it.
  const first = listed[0];
  const read = await readQr(page, `#qr-${first.id} svg.qr`);
  assert.equal(read, first.code);
  const kit = await gateKit(first.schedule_id, "qr-night");
  const verdict = verify(kit, read, AT_THE_DOOR);
  assert.equal(verdict.result, "admitted", JSON.stringify(verdict));
  assert.equal(verdict.ticket_id, first.id);
  // A code with one character changed is refused.
  const flipped = read.slice(0, 40) + (read[40] === "A" ? "B" : "A") + read.slice(41);
  assert.equal(verify(kit, flipped, AT_THE_DOOR).result, "invalid");
  await record(page, "my-tickets");

  // Printed: the header and buttons gone, one ticket a page, each with a large QR code.
  await page.emulateMedia({ media: "print" });
  assert.equal(await page.isVisible("header.top"), false);
  assert.equal(await page.isVisible("#print-btn"), false);
  const qrWidth = await page.$eval(`#qr-${first.id} svg.qr`, (s) => s.getBoundingClientRect().width);
  assert.ok(qrWidth >= 300, `the printed QR code is ${qrWidth}px wide`);
  await page.screenshot({ path: `${process.env.SHOT_DIR ?? "/tmp"}/frontrow-screens/my-tickets-print.png`, fullPage: true });
  assert.equal(await readQr(page, `#qr-${first.id} svg.qr`), first.code, "the printed QR code reads");
  const pdf = await page.pdf({ format: "A4", path: `${process.env.SHOT_DIR ?? "/tmp"}/frontrow-screens/my-tickets.pdf` });
  assert.equal((pdf.toString("latin1").match(/\/Type\s*\/Page\b(?!s)/g) || []).length, 2, "one page per ticket");
  await page.emulateMedia({ media: "screen" });

  // A second profile, signed in as the same fan: the same tickets, the same codes.
  const other = await newPage(browser);
  await signIn(other, email);
  await other.click("#nav-tickets");
  await other.waitForSelector("#view-tickets:not([hidden])");
  await until(other, () => document.querySelectorAll("#tickets-list li.ticket .ticket-qr svg.qr").length === 2);
  const there = await other.$$eval("#tickets-list li.ticket", (ls) => ls.map((l) => Number(l.dataset.ticket)));
  assert.deepEqual(there, listed.map((x) => x.id));
  assert.equal(await readQr(other, `#qr-${listed[1].id} svg.qr`), listed[1].code);

  // In Korean, every text of the view too (and each language has every text).
  const missing = await other.evaluate(async () => {
    const { texts } = await import("/static/i18n.js");
    const en = Object.keys(texts.en), ko = Object.keys(texts.ko);
    return { ko: en.filter((k) => !ko.includes(k)), en: ko.filter((k) => !en.includes(k)) };
  });
  assert.deepEqual(missing, { ko: [], en: [] });
  await other.click("#lang-btn");
  await seeText(other, "#tickets-h", "내 티켓");
  await until(other, () => document.querySelectorAll("#tickets-list li.ticket .ticket-qr svg.qr").length === 2);
  await seeText(other, `li[data-ticket="${listed[0].id}"] .badge`, "사용 가능");
  await record(other, "my-tickets-ko");
  for (const p of [page, other]) assert.deepEqual(scriptErrors(p), []);
});

test("a rotating-code ticket: this device's key signs a new code every 15 s, the gate admits it in its window and refuses it 30 s later; another profile moves the ticket (confirmed) and the first device's code is revoked", async () => {
  const c = await concert("Rotating Night", 1, 4, 2500);
  const scheduleId = c.schedules[0].id;
  await admin("PUT", `/admin/schedules/${scheduleId}/ticket-policy`, { rotating_codes: true });
  await openSale(c.id);

  const page = await newPage(browser);
  await page.goto(BASE + "/");
  const email = await signUp(page, "Rae");
  const fan = await fanOf(page);
  const { data: seats } = await api("GET", `/schedules/${scheduleId}/seats`);
  await buy(await admitted(fan, c.id), { schedule_id: scheduleId, seats: [seats[0].id] });
  const [before] = await ticketsOf(fan);
  assert.equal(before.needs_holder_key, true, "no code before a device holds the ticket");
  assert.equal(before.code, null);

  // At the door (the page's clock says so; its timers keep running): the page binds its
  // key and shows the code of the current window.
  const t0 = AT_THE_DOOR;
  await page.clock.setFixedTime(new Date(t0));
  await page.click("#nav-tickets");
  await page.waitForSelector(`#qr-${before.id}[data-window="${windowOf(t0)}"] svg.qr`, { timeout: 30000 });
  const [bound] = await ticketsOf(fan);
  assert.equal(bound.rotating, true);
  assert.ok(bound.code, "the ticket's code carries the device's key");
  const held = await page.evaluate(() => new Promise((ok, no) => {
    const req = indexedDB.open("frontrow-holder");
    req.onsuccess = () => {
      try {
        const all = req.result.transaction("keys").objectStore("keys").getAll();
        all.onsuccess = () => ok(all.result.map((k) => ({ type: k.privateKey.type, extractable: k.privateKey.extractable, alg: k.privateKey.algorithm.name })));
        all.onerror = () => no(all.error);
      } catch (e) { no(e); }
    };
    req.onerror = () => no(req.error);
  }));
  assert.deepEqual(held, [{ type: "private", extractable: false, alg: "ECDSA" }], "one non-extractable key in IndexedDB");
  await seeText(page, `#qr-${before.id} .qr-caption`, /new code in 13 seconds/);

  const kit = await gateKit(scheduleId, "rotating-night");
  const codeA = await readQr(page, `#qr-${before.id} svg.qr`);
  assert.notEqual(codeA, bound.code, "a rotating code, not the static one");
  assert.equal(verify(kit, codeA, t0).result, "admitted");
  assert.equal(verify(kit, codeA, plus(t0, 15)).result, "admitted", "one window later still");
  const staticOnly = verify(kit, bound.code, t0);
  assert.deepEqual([staticOnly.result, staticOnly.reason], ["invalid", "rotation_required"], "the bare static code is refused");
  await record(page, "my-tickets-rotating");

  // 15 s later the page shows another code; 31 s later a third: the first one, as a
  // screenshot would keep it, is refused then and the third admitted.
  await page.clock.setFixedTime(new Date(plus(t0, 15)));
  await page.waitForSelector(`#qr-${before.id}[data-window="${windowOf(t0) + 1}"] svg.qr`);
  assert.notEqual(await readQr(page, `#qr-${before.id} svg.qr`), codeA);
  const t1 = plus(t0, 31);
  await page.clock.setFixedTime(new Date(t1));
  await page.waitForSelector(`#qr-${before.id}[data-window="${windowOf(t1)}"] svg.qr`);
  const codeB = await readQr(page, `#qr-${before.id} svg.qr`);
  assert.notEqual(codeB, codeA);
  const stale = verify(kit, codeA, t1);
  assert.deepEqual([stale.result, stale.reason], ["invalid", "stale_window"]);
  assert.equal(verify(kit, codeB, t1).result, "admitted");

  // The same fan on a second profile: the ticket is on the other device until moved here.
  const other = await newPage(browser);
  await signIn(other, email);
  await other.clock.setFixedTime(new Date(t1));
  await other.click("#nav-tickets");
  await other.waitForSelector(`#move-btn-${before.id}`);
  assert.equal(await other.isVisible(`#qr-${before.id} svg.qr`), false);
  await other.click(`#move-btn-${before.id}`);
  await other.waitForSelector(`#move-yes-${before.id}:focus`);
  await audit(other, "move-ticket-confirm");
  await other.click(`#move-yes-${before.id}`);
  await other.waitForSelector(`#qr-${before.id}[data-window="${windowOf(t1)}"] svg.qr`);
  const codeC = await readQr(other, `#qr-${before.id} svg.qr`);
  const [moved] = await ticketsOf(fan);
  assert.notEqual(moved.code, bound.code);

  // The gate's next kit lists the first device's generation as revoked.
  const kit2 = await gateKit(scheduleId, "rotating-night-2");
  assert.equal(verify(kit2, codeB, t1).result, "revoked");
  assert.equal(verify(kit2, codeC, t1).result, "admitted");

  // The first device, reloaded, sees the ticket is elsewhere now.
  await page.click("#tickets-refresh");
  await page.waitForSelector(`#move-btn-${before.id}`);
  await shoot(page, "my-tickets-moved-away");
  for (const p of [page, other]) assert.deepEqual(scriptErrors(p), []);
});

test("returning a ticket: a confirm step, one Idempotency-Key kept across a lost answer (refunded once), the refund shown, the gate refuses the returned code; a checked-in ticket cannot be returned", async () => {
  // A show in two hours: its doors (codes valid from six hours before) are open now, and
  // returns are open until the start.
  const starts = new Date(Date.now() + 2 * 3600_000);
  starts.setUTCSeconds(0, 0);
  const c = await admin("POST", "/admin/concerts", {
    title: "Return Night", venue: "Hall B", schedules: [{ starts_at: starts.toISOString(), rows: 1, seats_per_row: 4, price: 4500 }],
  });
  const scheduleId = c.schedules[0].id;
  await admin("PUT", `/admin/schedules/${scheduleId}/returns`, { cutoff_minutes: 0 });
  await openSale(c.id);
  const page = await newPage(browser);
  await page.goto(BASE + "/");
  await signUp(page, "Remy");
  const fan = await fanOf(page);
  const { data: seats } = await api("GET", `/schedules/${scheduleId}/seats`);
  await buy(await admitted(fan, c.id), { schedule_id: scheduleId, seats: [seats[0].id, seats[1].id] });
  const [kept, back] = await ticketsOf(fan);
  assert.deepEqual([kept.returnable, back.returnable], [true, true]);
  const wallet = async () => (await api("GET", "/wallet", { headers: bearer(fan) })).data.balance;
  const before = await wallet();

  // The first ticket is checked in at the door (online): no Return button for it.
  const { key } = await admin("POST", `/admin/schedules/${scheduleId}/gate-keys`, { label: "North" });
  const scan = await fetch(`${BASE}/api/v1/checkins`, {
    method: "POST", headers: { "Content-Type": "application/json", "X-Gate-Key": key },
    body: JSON.stringify({ code: kept.code, gate: "North", device: "d1", nonce: `n-${kept.id}`, scanned_at: new Date().toISOString() }),
  });
  assert.equal((await scan.json()).result, "admitted");

  await page.click("#nav-tickets");
  await page.waitForSelector(`#return-btn-${back.id}`);
  await seeText(page, `li[data-ticket="${kept.id}"] .badge`, /^Checked in .*North$/);
  assert.equal(await page.$(`#return-btn-${kept.id}`), null, "a checked-in ticket has no Return button");
  assert.match(await page.textContent(`li[data-ticket="${back.id}"]`), /Can be returned until/);

  // Return: the confirm step first (focus on its Yes), then the answer is lost on the way
  // back — the server returned the ticket, the page never heard.
  await page.click(`#return-btn-${back.id}`);
  await page.waitForSelector(`#return-yes-${back.id}:focus`);
  await audit(page, "return-confirm");
  const keys = [];
  let lose = true;
  await page.route(`${BASE}/api/v1/tickets/${back.id}/return`, async (route) => {
    keys.push(route.request().headers()["idempotency-key"]);
    if (!lose) return route.continue();
    lose = false;
    await route.fetch();
    await route.abort("connectionreset");
  });
  await page.keyboard.press("Enter");
  await seeText(page, `#ticket-msg-${back.id}`, /No answer from the server/);
  const pending = await page.evaluate((id) => localStorage.getItem(`frontrow.return.${id}`), back.id);
  assert.ok(pending, "the key is kept until the server answers");
  // Pressed again: the same key, the first return's answer, one refund.
  await page.click(`#return-yes-${back.id}`);
  await seeText(page, `#ticket-msg-${back.id}`, /is returned: €45\.00 is back in your wallet/);
  assert.deepEqual(keys, [pending, pending]);
  assert.equal(await page.evaluate((id) => localStorage.getItem(`frontrow.return.${id}`), back.id), null, "forgotten once answered");
  assert.equal(await wallet(), before + 4500, "refunded once");
  await seeText(page, `li[data-ticket="${back.id}"] .badge`, "Returned");
  assert.equal(await page.isVisible(`#qr-${back.id} svg.qr`), false, "no code for a returned ticket");
  await record(page, "my-tickets-returned");

  // The gate's kit lists the returned ticket: its code is refused offline too.
  const kit = await gateKit(scheduleId, "return-night");
  assert.equal(verify(kit, back.code, plus(starts.toISOString(), -3600)).result, "revoked");
  // And the checked-in one cannot be returned (409 problem).
  const late = await api("POST", `/tickets/${kept.id}/return`, { headers: { ...bearer(fan), "Idempotency-Key": "late-1" } });
  assert.equal(late.status, 409);
  assert.deepEqual(scriptErrors(page).filter((e) => !/ERR_CONNECTION_RESET|net::ERR_FAILED/.test(e)), []);
});

test("the account lists the fan's devices; signing one out from another takes effect at once", async () => {
  const page = await newPage(browser);
  await page.goto(BASE + "/");
  const email = await signUp(page, "Sol");
  const other = await newPage(browser);
  await signIn(other, email);
  const there = await fanOf(other);

  await page.click("#nav-account");
  await page.waitForSelector("#view-account:not([hidden])");
  await until(page, () => document.querySelectorAll("#sessions-list li.session").length === 2);
  await seeText(page, "#account-name", "Sol");
  await seeText(page, "#account-email", email);
  const rows = await page.$$eval("#sessions-list li.session", (ls) => ls.map((l) => ({ id: l.dataset.session, current: l.dataset.current })));
  assert.deepEqual(rows.filter((r) => r.current === "true").length, 1);
  await record(page, "account-devices");

  // Keyboard: Tab to the other device's button and press it.
  await page.focus(`#sessions-list button[data-session="${there.session_id}"]`);
  await page.keyboard.press("Enter");
  await until(page, () => document.querySelectorAll("#sessions-list li.session").length === 1);
  assert.equal((await api("GET", "/tickets", { headers: bearer(there) })).status, 401, "the signed-out device's token is refused at once");
  await other.reload();
  await other.waitForSelector("#signin:not([hidden])", { timeout: 15000 });

  // Signing out here: back to the sign-in form.
  await page.click("#sessions-list button.revoke-btn");
  await page.waitForSelector("#signin:not([hidden])", { timeout: 15000 });
  for (const p of [page, other]) assert.deepEqual(scriptErrors(p), []);
});
