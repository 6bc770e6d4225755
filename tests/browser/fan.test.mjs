// Fans and an operator in a real browser (headless Chromium driven by playwright-core),
// against a frontrow started by scripts/browser-test.sh (BASE_URL, ADMIN_KEY). Every page
// is screenshot at desktop size and 390×844 and audited with axe-core.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { BASE, ADMIN, PASSWORD, admin, freshEmail, launch, newPage, record, audit, tabTo, concert, join, scriptErrors, seeText, seeValue, seeFocus } from "./helpers.mjs";

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const text = (page, sel) => page.textContent(sel).then((t) => (t ?? "").trim());
const until = (page, fn, arg, timeout = 15000) => page.waitForFunction(fn, arg, { timeout });
const stored = (page, key) => page.evaluate((k) => JSON.parse(localStorage.getItem(k) || "null"), key);

test("two fans in line: the first is admitted first, holds and pays; the operator pauses and resumes from the console; the second sees the seat taken", async () => {
  const c = await concert("Two Fans Night");
  await admin("PUT", `/admin/concerts/${c.id}/queue-policy`,
    { max_active: 1, admit_per_second: 10, active_ttl_seconds: 600, paused: true });

  // The operator opens the console: the key once, then the concert.
  const ops = await newPage(browser);
  await ops.goto(BASE + "/admin");
  await ops.waitForSelector("#gate:not([hidden])");
  await record(ops, "console-key");
  await ops.fill("#admin-key", ADMIN);
  await ops.click("#key-btn");
  await ops.waitForSelector("#console:not([hidden])");
  await ops.selectOption("#concert", String(c.id));
  await until(ops, () => document.getElementById("sale-state").textContent === "Paused");

  // Two fans join while the sale is paused: #1 and #2, both told it is paused.
  const ada = await newPage(browser);
  await ada.goto(BASE + "/");
  await ada.waitForSelector(`button[data-concert="${c.id}"]`);
  await record(ada, "concerts");
  await join(ada, "Ada", c.id);
  await until(ada, () => document.getElementById("queue-position").textContent === "#1");
  const grace = await newPage(browser);
  await join(grace, "Grace", c.id);
  await until(grace, () => document.getElementById("queue-position").textContent === "#2");
  for (const fan of [ada, grace]) await seeText(fan, "#wait-state", /paused/);
  await seeText(grace, "#queue-ahead", /^1 person ahead of you$/);
  assert.equal(await grace.getAttribute("#progress", "role"), "progressbar");
  await record(grace, "waiting-paused");

  // Grace reloads mid-line and keeps her place (the token in localStorage).
  const before = await stored(grace, `frontrow.line.${c.id}`);
  await grace.reload();
  await grace.waitForSelector("#view-waiting:not([hidden])");
  await until(grace, () => document.getElementById("queue-position").textContent === "#2");
  assert.equal((await stored(grace, `frontrow.line.${c.id}`)).token, before.token);

  // The operator resumes from the console: Ada (first) is admitted, Grace moves up.
  await ops.click("#pause-btn");
  await until(ops, () => document.getElementById("sale-state").textContent === "Admitting");
  await ada.waitForSelector("#view-seats:not([hidden])", { timeout: 15000 });
  assert.match(await ada.title(), /your seat|your turn/i);
  await until(ada, () => /your turn/i.test(document.getElementById("announce-now").textContent));
  await until(grace, () => document.getElementById("queue-position").textContent === "#1"
    && !/paused/.test(document.getElementById("wait-state").textContent));
  await until(grace, () => /number 1 in line/.test(document.getElementById("announce").textContent));
  assert.equal(await grace.isVisible("#view-seats"), false, "Grace is not admitted while Ada holds the only active place");
  await record(grace, "waiting");

  // The operator pauses again: Grace's page says so at once.
  await ops.click("#pause-btn");
  await until(ops, () => document.getElementById("sale-state").textContent === "Paused");
  await until(grace, () => /paused/.test(document.getElementById("wait-state").textContent), undefined, 8000);
  await until(grace, () => /paused/.test(document.getElementById("announce").textContent), undefined, 8000);

  // Ada's seat map (one ticket, picked on the map): two rows facing the stage, 12 seats,
  // one price category.
  await ada.click("#party-minus");
  await ada.check("#mode-map");
  await ada.waitForSelector("button.seat.AVAILABLE");
  assert.equal(await ada.locator("#seat-map .seat-row").count(), 2);
  assert.equal(await ada.locator("#seat-map button.seat").count(), 12);
  await seeText(ada, "#map-panel .stage", "STAGE");
  assert.match(await ada.getAttribute('button[data-label="A-3"]', "aria-label"), /row A, seat 3, .*€42\.00, available$/);
  await record(ada, "seats");

  // Ada holds A-3: one order with a countdown; paying with an empty wallet is a clear 402.
  await ada.click('button[data-label="A-3"]');
  await ada.click("#hold-btn");
  await ada.waitForSelector("#view-checkout:not([hidden])");
  await seeText(ada, "#order-lines tr:first-child td:first-child", /row A, seat 3$/);
  await seeText(ada, "#order-total", "€42.00");
  // The countdown is written on the checkout's first tick: wait for it, then check it.
  await until(ada, () => /^\d+:\d\d$/.test(document.querySelector("#hold-countdown")?.textContent.trim() ?? ""));
  await seeText(ada, "#hold-countdown", /^\d+:\d\d$/);
  await record(ada, "checkout");
  // More time, once (WCAG 2.2.1): the hold moves by the configured extension, never
  // past the end of the turn.
  const heldBefore = await stored(ada, `frontrow.hold.${c.id}`);
  await seeText(ada, "#extend-btn", "Ask for more time");
  await ada.click("#extend-btn");
  await ada.waitForSelector("#extend-line", { state: "hidden" });
  const heldAfter = await stored(ada, `frontrow.hold.${c.id}`);
  assert.equal(Date.parse(heldAfter.order.expires_at) - Date.parse(heldBefore.order.expires_at), 300_000);
  assert.ok(Date.parse(heldAfter.order.expires_at) <= Date.parse(heldAfter.order.admitted_until));
  await until(ada, () => /now lasts until/.test(document.getElementById("announce").textContent));
  await seeFocus(ada, "pay-btn");
  await ada.click("#pay-btn");
  await until(ada, () => /Not enough in your wallet/.test(document.getElementById("pay-msg").textContent));
  await seeValue(ada, "#topup-amount", "42.00");
  const key = (await stored(ada, `frontrow.hold.${c.id}`)).key;
  await record(ada, "checkout-402");
  await ada.click("#topup-btn");
  await until(ada, () => document.getElementById("balance").textContent === "€42.00");
  assert.equal((await stored(ada, `frontrow.hold.${c.id}`)).key, key, "the order's one payment key is kept for the retry");
  await ada.click("#pay-btn");
  await ada.waitForSelector("#view-done:not([hidden])");
  await seeText(ada, "#paid-label", "A-3");
  await seeText(ada, "#paid-amount", "€42.00");
  await seeText(ada, "#paid-balance", "€0.00");
  await record(ada, "confirmation");

  // The console's live charts and sales table show the sale; the CSV lists it.
  await until(ops, () => document.querySelector("#chart-sold .now").textContent === "1");
  await until(ops, () => document.querySelector("#chart-waiting .now").textContent === "1");
  await record(ops, "console");
  const [download] = await Promise.all([ops.waitForEvent("download"), ops.click("#csv-btn")]);
  const csv = readFileSync(await download.path(), "utf8").trim().split("\r\n");
  assert.equal(csv[0], "reservation_id,schedule_id,starts_at,seat_id,seat,user_id,price,paid_at,order_id,standing_area");
  assert.equal(csv.length, 2);
  // A seat's line: its label, the buyer, the price, the time, its order, no standing area.
  assert.match(csv[1], /,A-3,\d+,4200,20\d\d-[^,]+,\d+,$/);

  // Two active places and the sale resumed, from the policy form: Grace is admitted and
  // sees A-3 sold.
  await ops.fill("#max-active", "2");
  await ops.uncheck("#paused");
  await ops.click("#policy-btn");
  await until(ops, () => document.getElementById("sale-state").textContent === "Admitting");
  await grace.waitForSelector("#view-seats:not([hidden])", { timeout: 15000 });
  await grace.click("#party-minus");
  await grace.check("#mode-map");
  await grace.waitForSelector('button[data-label="A-3"].SOLD');
  assert.equal(await grace.isDisabled('button[data-label="A-3"]'), true);
  assert.match(await grace.getAttribute('button[data-label="A-3"]', "aria-label"), /sold$/);

  // A seat taken between Grace's last look and her click: a clear 409 message, and her
  // map then shows it held. (Her page is shown the stale map until Ada's hold is in.)
  // Stub (a state no server gives on purpose): Grace's map keeps A-5 free. Her page
  // polls the seats one request after the other, so once one answer has gone through
  // the stub no older, real answer can still arrive after Max's hold.
  let stubbed;
  const throughStub = new Promise((ok) => { stubbed = ok; });
  await grace.route("**/api/v1/schedules/*/seats", async (route) => {
    const res = await route.fetch();
    const seats = (await res.json()).map((s) => (s.label === "A-5" ? { ...s, status: "AVAILABLE" } : s));
    await route.fulfill({ response: res, json: seats });
    stubbed();
  });
  await throughStub;
  // Max, a third fan (API only), is admitted to the place Ada's payment freed and takes A-5.
  const max = await (await fetch(`${BASE}/api/v1/users`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ name: "Max", email: freshEmail("max"), password: PASSWORD }) })).json();
  const bearer = { Authorization: `Bearer ${max.access_token}` };
  const ticket = await (await fetch(`${BASE}/api/v1/concerts/${c.id}/queue`, { method: "POST", headers: bearer })).json();
  for (let i = 0; ; i++) {
    const t = await (await fetch(`${BASE}/api/v1/queue/status`, { headers: { "X-Queue-Token": ticket.token } })).json();
    if (t.status === "ACTIVE") break;
    assert.ok(i < 600, `Max never admitted: ${JSON.stringify(t)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const seatA5 = (await (await fetch(`${BASE}/api/v1/schedules/${c.schedules[0].id}/seats`)).json()).find((s) => s.label === "A-5");
  const held = await fetch(`${BASE}/api/v1/reservations`, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...bearer, "X-Queue-Token": ticket.token },
    body: JSON.stringify({ schedule_id: c.schedules[0].id, seat_id: seatA5.id }),
  });
  assert.equal(held.status, 201);
  await grace.click('button[data-label="A-5"]');
  await grace.click("#hold-btn");
  await until(grace, () => /just taken by someone else, so nothing was held/.test(document.getElementById("order-msg").textContent));
  await grace.unrouteAll({ behavior: "wait" });
  await grace.waitForSelector('button[data-label="A-5"].HELD', { timeout: 8000 });
  await record(grace, "seats-taken");

  for (const p of [ops, ada, grace]) assert.deepEqual(scriptErrors(p), []);
});

test("a fan goes from sign-in to confirmation with the keyboard alone, across a reload and a second tab", async () => {
  const c = await concert("Keyboard Night", 3, 8, 2500);
  await admin("PUT", `/admin/concerts/${c.id}/queue-policy`,
    { max_active: 5, admit_per_second: 10, active_ttl_seconds: 600, paused: true });
  const page = await newPage(browser);
  await page.goto(BASE + "/");
  await page.waitForSelector(`button[data-concert="${c.id}"]`);
  await tabTo(page, "#name");
  await page.keyboard.type("Kay");
  // The email-and-password fallback, opened and filled from the keyboard.
  await tabTo(page, "#password-box summary");
  await page.keyboard.press("Enter");
  await tabTo(page, "#email");
  await page.keyboard.type(freshEmail("kay"));
  await tabTo(page, "#password");
  await page.keyboard.type(PASSWORD);
  await tabTo(page, "#signup-btn");
  await page.keyboard.press("Enter");
  await page.waitForSelector("#whoami:not([hidden])", { timeout: 90000 });
  await tabTo(page, `button[data-concert="${c.id}"]`);
  await page.keyboard.press("Enter");
  await page.waitForSelector("#view-waiting:not([hidden])");
  await until(page, () => document.getElementById("queue-position").textContent === "#1");
  await until(page, () => /number 1 in line|paused/.test(document.getElementById("announce").textContent));

  // A second tab of the same browser shows the same place; a reload keeps it.
  const tab = await page.context().newPage();
  await tab.goto(`${BASE}/#/concert/${c.id}`);
  await until(tab, () => document.getElementById("queue-position").textContent === "#1");
  const line = await stored(page, `frontrow.line.${c.id}`);
  assert.equal((await stored(tab, `frontrow.line.${c.id}`)).token, line.token);
  await tab.close();
  await page.reload();
  await until(page, () => document.getElementById("queue-position").textContent === "#1");
  assert.equal((await stored(page, `frontrow.line.${c.id}`)).token, line.token);

  await admin("PUT", `/admin/concerts/${c.id}/queue-policy`,
    { max_active: 5, admit_per_second: 10, active_ttl_seconds: 600, paused: false });
  await page.waitForSelector("#view-seats:not([hidden])", { timeout: 15000 });
  await page.waitForSelector("#best-btn:not(:empty)");
  // The admitted cue takes the focus to the heading; one ticket, picked on the map.
  await seeFocus(page, "seats-h");
  await tabTo(page, "#party-minus");
  await page.keyboard.press("Enter");
  await seeValue(page, "#party", "1");
  await tabTo(page, "#mode-best");
  await page.keyboard.press("ArrowRight");
  assert.equal(await page.isChecked("#mode-map"), true);
  await page.waitForSelector('button[data-label="A-1"].AVAILABLE');
  await tabTo(page, 'button[data-label="A-1"]');
  await page.keyboard.press("ArrowRight");
  await page.keyboard.press("ArrowDown");
  assert.equal(await page.evaluate(() => document.activeElement.dataset.label), "B-2");
  await page.keyboard.press("Enter");
  assert.equal(await page.getAttribute('button[data-label="B-2"]', "aria-pressed"), "true");
  await tabTo(page, "#hold-btn");
  await page.keyboard.press("Enter");
  await page.waitForSelector("#view-checkout:not([hidden])");
  await page.waitForSelector("#order-lines tr");
  await seeText(page, "#order-lines", /row B, seat 2/);
  await tabTo(page, "#topup-btn");
  await page.keyboard.press("Enter");
  await until(page, () => document.getElementById("balance").textContent === "€25.00");
  await tabTo(page, "#pay-btn");
  await page.keyboard.press("Enter");
  await page.waitForSelector("#view-done:not([hidden])");
  await seeText(page, "#paid-label", "B-2");
  await seeFocus(page, "done-h");
  await audit(page, "confirmation-keyboard");
  assert.deepEqual(scriptErrors(page), []);
});

test("the operator creates a concert with two dates from the console and fans see it", async () => {
  const ops = await newPage(browser);
  await ops.goto(BASE + "/admin");
  await ops.fill("#admin-key", ADMIN);
  await ops.click("#key-btn");
  await ops.waitForSelector("#console:not([hidden])");
  await until(ops, () => document.getElementById("sale-state").textContent !== "");
  // The key is kept for this tab: a reload goes straight to the console.
  await ops.reload();
  await ops.waitForSelector("#console:not([hidden])");
  await ops.fill("#new-title", "Console Night");
  await ops.fill("#new-venue", "Arena 7");
  await ops.fill("#s1-rows", "3");
  await ops.fill("#s1-seats", "10");
  await ops.fill("#s1-price", "35.50");
  await ops.click("#add-schedule-btn");
  await ops.fill("#new-schedules fieldset:nth-of-type(2) input[id$='-rows']", "2");
  await ops.fill("#new-schedules fieldset:nth-of-type(2) input[id$='-seats']", "4");
  await ops.click("#create-btn");
  await until(ops, () => /Console Night/.test(document.getElementById("concert").selectedOptions[0]?.textContent ?? ""));
  await until(ops, () => document.querySelectorAll("#sales-rows tr").length === 3);
  const rows = await ops.$$eval("#sales-rows tr", (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
  assert.deepEqual(rows.map((r) => r.slice(1)), [["30", "30", "0", "0", "€0.00"], ["8", "8", "0", "0", "€0.00"], ["38", "38", "0", "0", "€0.00"]]);
  await audit(ops, "console-created");

  // A wrong price is refused in the form, with the field named.
  await ops.fill("#new-title", "Bad Night");
  await ops.fill("#new-venue", "Nowhere");
  await ops.fill("#s1-price", "free");
  await ops.click("#create-btn");
  await until(ops, () => /Date 1: enter the price/.test(document.getElementById("error").textContent));

  const fan = await newPage(browser);
  await fan.goto(BASE + "/");
  await fan.waitForSelector("text=Console Night");
  await until(fan, () => [...document.querySelectorAll("li.concert")].some((li) =>
    /Console Night/.test(li.textContent) && /30 of 30 left.*8 of 8 left/.test(li.querySelector(".dates").textContent)));

  // A wrong key is refused and asked again.
  const other = await newPage(browser);
  await other.goto(BASE + "/admin");
  await other.fill("#admin-key", "not-the-operator-key");
  await other.click("#key-btn");
  await until(other, () => /refused/.test(document.getElementById("error").textContent));
  assert.equal(await other.isVisible("#gate"), true);
  for (const p of [ops, fan]) assert.deepEqual(scriptErrors(p), []);
});
