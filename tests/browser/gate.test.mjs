// The scanner page for door staff against the real server: set up with a gate key, it
// downloads the gate kit; with the network cut it still loads (service worker) and checks
// codes in the browser — a genuine ticket is admitted, the same ticket again is refused as
// already scanned on this device, a code with one character changed is invalid — and back
// online it uploads its scans in a batch, which the service records once. Then the
// console's doors section shows the gate, the key and the figures.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { BASE, ADMIN, admin, api, admittedFan, buy, launch, newPage, record, scriptErrors, seeText } from "./helpers.mjs";

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const until = (page, fn, arg, timeout = 15000) => page.waitForFunction(fn, arg, { timeout });

/** A concert starting in an hour (its codes are valid now), with one fan's paid ticket. */
async function soldTicket() {
  const c = await admin("POST", "/admin/concerts", {
    title: "Door Night", venue: "Gate Hall",
    schedules: [{ starts_at: new Date(Date.now() + 3600_000).toISOString(), rows: 1, seats_per_row: 4, price: 1000 }],
  });
  await admin("PUT", `/admin/concerts/${c.id}/queue-policy`, { max_active: 5, admit_per_second: 10, active_ttl_seconds: 600, paused: false });
  const schedule = c.schedules[0].id;
  const fan = await admittedFan("Gina", c.id);
  const seats = (await api("GET", `/schedules/${schedule}/seats`)).data;
  await buy(fan, { schedule_id: schedule, seats: [seats[0].id, seats[1].id] });
  const { data: tickets } = await api("GET", "/tickets", { headers: { Authorization: fan.Authorization } });
  assert.equal(tickets.length, 2);
  return { concert: c.id, schedule, codes: tickets.map((t) => t.code), ids: tickets.map((t) => t.id) };
}

async function scan(page, code) {
  const before = await page.evaluate(() => document.getElementById("recent").children.length);
  await page.fill("#code", code);
  await page.click("#check-btn");
  await until(page, (n) => document.getElementById("recent").children.length > n, before);
  return page.evaluate(() => document.getElementById("verdict").dataset.result);
}

test("the scanner checks codes offline, refuses a second scan on the device and uploads its scans once back online", async () => {
  const t = await soldTicket();
  const { key } = await admin("POST", `/admin/schedules/${t.schedule}/gate-keys`, { label: "North gates" });
  const page = await newPage(browser);
  const context = page.context();
  await page.goto(`${BASE}/static/gate.html#schedule=${t.schedule}`);
  await page.waitForSelector("#setup:not([hidden])");
  assert.equal(await page.inputValue("#schedule"), String(t.schedule), "the schedule comes from the link");
  await page.fill("#gate-key", "not-the-key");
  await page.fill("#gate-name", "North 1");
  await page.click("#setup-btn");
  await seeText(page, "#error", /gate key was refused/);
  await page.fill("#gate-key", key);
  await page.click("#setup-btn");
  await page.waitForSelector("#scanner:not([hidden])");
  await seeText(page, "#s-gate", "North 1");
  // The service worker has the page's files before the network goes.
  await page.evaluate(() => navigator.serviceWorker.ready);
  await until(page, () => !!navigator.serviceWorker.controller || caches.has("frontrow-gate-v1"));

  await context.setOffline(true);
  // With the network cut the page still loads, with its kit and setup.
  await page.reload();
  await page.waitForSelector("#scanner:not([hidden])");
  await seeText(page, "#net", /offline/);

  assert.equal(await scan(page, t.codes[0]), "admitted");
  await seeText(page, "#v-en", "ADMITTED");
  await seeText(page, "#v-ko", "입장 가능");
  assert.equal(await scan(page, t.codes[0]), "already_redeemed", "a second scan on this device is refused");
  await seeText(page, "#v-en", "ALREADY SCANNED");
  await seeText(page, "#v-detail", /North 1/);
  const mutated = t.codes[1].slice(0, 40) + (t.codes[1][40] === "A" ? "B" : "A") + t.codes[1].slice(41);
  assert.equal(await scan(page, mutated), "invalid");
  await seeText(page, "#v-en", "INVALID CODE");
  await seeText(page, "#s-pending", "3");
  await seeText(page, "#s-admitted", "1");
  await record(page, "gate-scanner-offline");

  // Nothing reached the service while offline.
  let stats = await admin("GET", `/admin/schedules/${t.schedule}/checkins`);
  assert.equal(stats.admitted, 0);

  await context.setOffline(false);
  await seeText(page, "#s-pending", "0", "the scans are uploaded once back online", 30000);
  await seeText(page, "#s-uploaded", "3");
  // Another upload round finds nothing to send; the service holds each scan once.
  await page.click("#sync-btn");
  await page.waitForTimeout(500);
  stats = await admin("GET", `/admin/schedules/${t.schedule}/checkins`);
  assert.equal(stats.admitted, 1);
  assert.equal(stats.not_scanned, 1);
  const north = stats.per_gate_minute.filter((m) => m.gate === "North 1");
  assert.equal(north.reduce((n, m) => n + m.admitted, 0), 1);
  assert.equal(north.reduce((n, m) => n + m.refused, 0), 2);
  assert.deepEqual(stats.duplicates, []);
  assert.deepEqual(scriptErrors(page).filter((e) => !/ERR_INTERNET_DISCONNECTED|net::/.test(e)), []);

  // The console's doors section: the figures, the gate, the key, a revocation.
  const con = await newPage(browser);
  await con.goto(`${BASE}/admin#concert=${t.concert}`);
  await con.fill("#admin-key", ADMIN);
  await con.click("#key-btn");
  await con.waitForSelector("#gate-admin");
  await seeText(con, "#gate-figures", /Admitted/);
  await until(con, () => /North 1/.test(document.getElementById("gate-minutes").textContent));
  await seeText(con, "#gate-keys", /North gates.*active/);
  await con.fill("#gate-revoke-ticket", String(t.ids[1]));
  await con.click("#gate-revoke-form button");
  await until(con, (id) => document.getElementById("gate-revocations").textContent.includes(`#${id}`), t.ids[1]);
  await record(con, "console-doors");
  assert.deepEqual(scriptErrors(con), []);

  // The scanner learns the revocation at its next sync.
  await page.click("#sync-btn");
  await seeText(page, "#s-revoked", "1");
  assert.equal(await scan(page, t.codes[1]), "revoked");
  await seeText(page, "#v-en", "REVOKED");
  await context.close();
  await con.context().close();
});
