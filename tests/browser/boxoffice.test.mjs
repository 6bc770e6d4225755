// The box office in a real browser against the real server: a party's best-available
// order, standing places by quantity, the phone (390x844), the console's layout and
// sales per category, and the defects the order flow removed. Where a test gives the
// page an answer in place of the server's, the answer is called a stub.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  BASE, ADMIN, PHONE, admin, launch, newPage, record, audit, join, scriptErrors, signUp,
  hallConcert, openSale, api, admittedFan, buy, joinAndChoose, seeText, seeValue, seeFocus,
} from "./helpers.mjs";

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const text = (page, sel) => page.textContent(sel).then((t) => (t ?? "").trim());
const until = (page, fn, arg, timeout = 15000) => page.waitForFunction(fn, arg, { timeout });
const stored = (page, key) => page.evaluate((k) => JSON.parse(localStorage.getItem(k) || "null"), key);
const visibleTimers = (page) => page.$$eval("[role=timer]", (ts) => ts.filter((t) => t.offsetParent !== null).length);

test("a party of 3 orders best available, sees one summary and one countdown, pays once and sees its seats sold", async () => {
  const c = await hallConcert("Party Night");
  await openSale(c.id);
  const page = await newPage(browser);
  await joinAndChoose(page, "Petra", c.id);

  // Party size first (2 by default), best available by default, with the categories.
  await seeValue(page, "#party", "2");
  assert.equal(await page.isChecked("#mode-best"), true);
  const options = await page.$$eval("#best-category option", (os) => os.map((o) => o.textContent));
  assert.deepEqual(options, ["Any category", "Premium · €80.00 · 8 left", "Standard · €50.00 · 16 left"]);
  assert.equal(await page.isVisible("#mode-standing-label"), true);
  await page.click("#party-plus");
  await seeValue(page, "#party", "3");
  await seeText(page, "#best-btn", "Find the best 3 seats");
  await page.selectOption("#best-category", "Premium");
  await record(page, "choose-best");

  await page.click("#best-btn");
  await page.waitForSelector("#view-checkout:not([hidden])");
  await page.waitForSelector("#order-lines tr");
  // One summary: three positions of one order, one total, one countdown.
  const lines = await page.$$eval("#order-lines tr", (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
  assert.equal(lines.length, 3);
  for (const l of lines) {
    assert.match(l[0], /^Stalls, row A, seat \d+$/);
    assert.deepEqual(l.slice(1), ["Premium", "€80.00"]);
  }
  await seeText(page, "#order-total", "€240.00");
  await seeText(page, "#order-together", "Your seats are together.");
  assert.equal(await visibleTimers(page), 1);
  await seeText(page, "#hold-countdown", /^\d+:\d\d$/);
  await seeText(page, "#hold-until", /^\(until \d\d:\d\d:\d\d [A-Z]/, "the expiry is a time with its zone");
  await seeText(page, "#order-what", /Party Night · Layout Hall · .*2031.*(UTC|GMT|[A-Z]{3,4})/);
  await seeText(page, "#pay-btn", "Pay €240.00");
  const held = await stored(page, `frontrow.hold.${c.id}`);
  assert.equal(held.order.positions.length, 3);
  await record(page, "order-summary");

  // Top up what is missing, then pay. The first answer is lost on the way back (the
  // server has charged): the fan presses Pay again and the same key replays the receipt.
  await seeValue(page, "#topup-amount", "240.00");
  await page.click("#topup-btn");
  await until(page, () => document.getElementById("balance").textContent === "€240.00");
  const keys = [];
  let lose = true;
  await page.route("**/api/v1/orders/*/payment", async (route) => {
    keys.push(route.request().headers()["idempotency-key"]);
    const res = await route.fetch();
    if (lose) { lose = false; await route.abort("connectionreset"); return; }
    await route.fulfill({ response: res });
  });
  await page.click("#pay-btn");
  await until(page, () => /will not be charged twice/.test(document.getElementById("pay-msg").textContent));
  await page.click("#pay-btn");
  await page.waitForSelector("#view-done:not([hidden])");
  assert.equal(keys.length, 2);
  assert.equal(keys[0], keys[1], "one Idempotency-Key for the order, reused on the retry");
  await seeText(page, "#paid-amount", "€240.00");
  await seeText(page, "#paid-balance", "€0.00", "charged once");
  await seeText(page, "#paid-what", /All 3 tickets are yours/);
  // Where the fan sits: their three seats, sold, on the hall's map.
  await page.waitForSelector("#done-map .seat.mine");
  const mine = await page.$$eval("#done-map .seat.mine", (ss) => ss.map((s) => [s.dataset.label, s.dataset.status]));
  assert.equal(mine.length, 3);
  for (const [label, status] of mine) { assert.match(label, /^A-/); assert.equal(status, "SOLD"); }
  const seats = (await api("GET", `/schedules/${c.schedules[0].id}/seats`)).data;
  assert.equal(seats.filter((s) => s.status === "SOLD").length, 3);
  await record(page, "order-done");
  await page.unrouteAll({ behavior: "wait" });
  assert.deepEqual(scriptErrors(page).filter((t) => !/ERR_CONNECTION_RESET/.test(t)), []);
});

test("standing places are ordered by quantity, and the console shows the layout, the sales per category, section and area, and the presale codes", async () => {
  const c = await hallConcert("Standing Night");
  await openSale(c.id);
  const page = await newPage(browser);
  await joinAndChoose(page, "Sami", c.id);
  await page.check("#mode-standing");
  assert.equal(await page.isVisible("#standing-panel"), true);
  assert.equal(await page.isVisible("#best-panel"), false);
  await page.fill("#party", "4");
  await page.dispatchEvent("#party", "change");
  assert.deepEqual(await page.$$eval("#standing-area option", (os) => os.map((o) => o.textContent)), ["Floor · €30.00 · 40 left"]);
  await seeText(page, "#standing-btn", "Hold 4 standing places");
  await record(page, "choose-standing");
  await page.click("#standing-btn");
  await page.waitForSelector("#view-checkout:not([hidden])");
  await page.waitForSelector("#order-lines tr");
  const lines = await page.$$eval("#order-lines tr", (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
  assert.deepEqual(lines, [["Floor, standing × 4", "Floor", "4 × €30.00"]]);
  await seeText(page, "#order-total", "€120.00");
  // The amount to add is suggested once the wallet has answered; a click before that
  // asks for an amount (the fifth full tier on f94dcb2 clicked first under load).
  await seeValue(page, "#topup-amount", "120.00");
  await page.click("#topup-btn");
  await until(page, () => document.getElementById("balance").textContent === "€120.00");
  await page.click("#pay-btn");
  await page.waitForSelector("#view-done:not([hidden])");
  await seeText(page, "#paid-label", "Floor, standing × 4");
  assert.equal(await page.isVisible("#done-map-card"), false);
  const a = (await api("GET", `/schedules/${c.schedules[0].id}/availability`)).data;
  assert.equal(a.standing[0].available, 36);

  // Another fan buys B-1 and B-2: the console draws the hall and counts per category.
  const other = await admittedFan("Olga", c.id);
  const seats = (await api("GET", `/schedules/${c.schedules[0].id}/seats`)).data;
  const ids = seats.filter((s) => s.label === "B-1" || s.label === "B-2").map((s) => s.id);
  await buy(other, { schedule_id: c.schedules[0].id, seats: ids });

  const ops = await newPage(browser);
  await ops.goto(BASE + "/admin");
  await ops.fill("#admin-key", ADMIN);
  await ops.click("#key-btn");
  await ops.waitForSelector("#console:not([hidden])");
  await ops.selectOption("#concert", String(c.id));
  await until(ops, () => document.querySelectorAll("#layout-map .seat").length === 24);
  // Rows as they stand: two blocks either side of the aisle, accessible seats marked.
  assert.equal(await ops.locator("#layout-map .seat-row").count(), 3);
  assert.equal(await ops.locator("#layout-map .aisle").count(), 3);
  assert.equal(await ops.locator("#layout-map .seat.accessible").count(), 2);
  await until(ops, () => document.querySelector('#layout-map [data-label="B-1"]')?.dataset.status === "SOLD");
  await until(ops, () => document.querySelector('#category-rows tr[data-area="Floor"]')?.children[3].textContent === "36");
  const rows = await ops.$$eval("#category-rows tr", (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
  assert.deepEqual(rows, [
    ["Premium (category)", "€80.00", "8", "8", "0", "0", "€0.00"],
    ["Standard (category)", "€50.00", "16", "14", "0", "2", "€100.00"],
    ["Stalls (section)", "–", "24", "22", "0", "2", "€100.00"],
    ["Floor (standing, Floor)", "€30.00", "40", "36", "0", "4", "€120.00"],
  ]);
  await seeText(ops, '#layout-standing [data-area="Floor"]', /36 of 40 left/);
  await record(ops, "console-layout");

  // Presale codes of the date: two typed codes open Premium for two tickets each; one
  // is cancelled from the console.
  await ops.fill("#presale-codes", "FANCLUB-ONE\nFANCLUB-TWO");
  await ops.fill("#presale-categories", "Premium");
  await ops.fill("#presale-max", "2");
  await ops.click("#presale-btn");
  await until(ops, () => document.querySelectorAll("#presale-rows tr").length === 2);
  const codes = await ops.$$eval("#presale-rows tr", (trs) => trs.map((tr) => [tr.dataset.code, tr.children[1].textContent, tr.children[3].textContent]));
  assert.deepEqual(codes, [["FANCLUB-ONE", "Premium (category)", "0 of 2"], ["FANCLUB-TWO", "Premium (category)", "0 of 2"]]);
  ops.once("dialog", (d) => d.accept());
  await ops.click('#presale-rows tr[data-code="FANCLUB-TWO"] button');
  await until(ops, () => document.querySelector('#presale-rows tr[data-code="FANCLUB-TWO"]')?.children[5].textContent === "Cancelled");
  const listed = (await admin("GET", `/admin/schedules/${c.schedules[0].id}/presale-codes`));
  assert.deepEqual(listed.map((x) => [x.code, x.cancelled]), [["FANCLUB-ONE", false], ["FANCLUB-TWO", true]]);
  await audit(ops, "console with presale codes");
  for (const p of [page, ops]) assert.deepEqual(scriptErrors(p), []);
});

test("the console shows the concert chosen last even when the one chosen before answers late", async () => {
  const first = await hallConcert("Late Answers Night");
  const second = await hallConcert("Chosen Last Night");
  await openSale(first.id, { maxActive: 7 });
  await openSale(second.id, { maxActive: 3 });
  const ops = await newPage(browser);
  // The server's own answers about the first concert, held back 1.5 s on their way.
  let late = 0;
  await ops.route(new RegExp(`/api/v1/(admin/)?concerts/${first.id}/(queue-policy|schedules)$`), async (route) => {
    const response = await route.fetch();
    await new Promise((r) => setTimeout(r, 1500));
    await route.fulfill({ response });
    late += 1;
  });
  await ops.goto(`${BASE}/admin#concert=${first.id}`);
  await ops.fill("#admin-key", ADMIN);
  await ops.click("#key-btn");
  await ops.waitForSelector("#console:not([hidden])");
  await ops.selectOption("#concert", String(second.id));
  const date = String(second.schedules[0].id);
  await until(ops, (d) => document.getElementById("layout-date").value === d, date);
  // Every late answer delivered (the first concert's dates may be asked for after its
  // policy arrives: one more delay), then nothing of the first concert may be shown.
  for (let i = 0; i < 40 && late < 1; i++) await ops.waitForTimeout(100);
  assert.ok(late >= 1, "the first concert's answers were delivered");
  await ops.waitForTimeout(2000);
  assert.equal(await ops.inputValue("#concert"), String(second.id));
  assert.deepEqual(await ops.$$eval("#layout-date option", (os) => os.map((o) => o.value)), [date]);
  assert.deepEqual(await ops.$$eval("#gate-date option", (os) => os.map((o) => o.value)), [date]);
  assert.equal(await ops.inputValue("#max-active"), "3");
  assert.deepEqual(scriptErrors(ops), []);
});

test("on a 390x844 phone a fan picks two seats on the map, goes back, and finds the hold listed and cancellable", async () => {
  const c = await hallConcert("Phone Night");
  await openSale(c.id);
  const page = await newPage(browser, PHONE);
  await joinAndChoose(page, "Pia", c.id);
  await page.check("#mode-map");
  await page.waitForSelector('button.seat[data-label="B-3"].AVAILABLE');
  // The map draws sections, rows and the aisle where the numbers jump; categories have
  // a legend with prices; accessible seats carry the icon and say so.
  assert.equal(await page.locator("#seat-map .seat-row").count(), 3);
  assert.deepEqual(await page.$$eval('#seat-map .seat-row:nth-child(2) .block', (bs) => bs.map((b) => b.textContent)), ["1234", "11121314"]);
  assert.match(await page.getAttribute('button[data-label="C-1"]', "aria-label"), /^Stalls, row C, seat 1, Standard, €50\.00, wheelchair accessible, available$/);
  assert.equal(await page.locator('button[data-label="C-1"] .acc').count(), 1);
  await seeText(page, "#legend", /Premium · €80\.00.*Standard · €50\.00.*Floor · €30\.00/);
  await seeText(page, "#standing-boxes", /Floor · standing · €30\.00 · 40 of 40 left/);
  // Nothing wider than the phone but the map's own scroll region; zoom by buttons.
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 390), "the page does not scroll sideways");
  const width = () => page.evaluate(() => document.getElementById("seat-sizer").getBoundingClientRect().width);
  const w1 = await width();
  await page.click("#zoom-in");
  await seeText(page, "#zoom-level", "125%");
  assert.ok(await width() > w1 * 1.2);
  await page.click("#zoom-fit");
  assert.ok(await width() <= 370);
  await page.click("#zoom-in");
  await record(page, "choose-map-phone");

  assert.equal(await page.isDisabled("#hold-btn"), true);
  await page.tap('button[data-label="B-3"]');
  await page.tap('button[data-label="B-4"]');
  assert.equal(await page.getAttribute('button[data-label="B-4"]', "aria-pressed"), "true");
  await seeText(page, "#picked", "2 of 2 seats picked: B-3, B-4");
  await page.tap('button[data-label="B-11"]');
  await seeText(page, "#order-msg", /picked 2 seats already/);
  await page.tap("#hold-btn");
  await page.waitForSelector("#view-checkout:not([hidden])");
  await page.waitForSelector("#order-lines tr");
  assert.equal(await page.locator("#order-lines tr").count(), 2);
  await seeText(page, "#order-total", "€100.00");
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 390));
  await record(page, "order-summary-phone");

  // The Back button leaves the hold behind: it is listed, and can be cancelled.
  await page.goBack();
  await page.waitForSelector("#view-seats:not([hidden])");
  await page.waitForSelector("#live-orders:not([hidden])");
  await seeText(page, "#live-list", /Phone Night · 2 tickets · €100\.00/);
  await seeText(page, "#live-list", /Held until \d\d:\d\d:\d\d/);
  await record(page, "live-orders-phone");
  await page.tap("#live-list button:has-text('Cancel this hold')");
  await page.waitForSelector("#live-orders", { state: "hidden" });
  await page.waitForSelector('button.seat[data-label="B-3"].AVAILABLE');
  const { data: orders } = await api("GET", "/orders", { headers: { Authorization: `Bearer ${(await stored(page, "frontrow.user")).access_token}` } });
  assert.equal(orders[0].status, "CANCELLED");
  assert.deepEqual(scriptErrors(page), []);
});

test("the seat map recovers from 503 answers (stub) with a notice and no reload", async () => {
  const c = await hallConcert("Busy Night");
  await openSale(c.id);
  const page = await newPage(browser);
  await joinAndChoose(page, "Bea", c.id);
  let refused = 0;
  // Stub: the first three reads of the seats answer 503 with Retry-After: 1.
  await page.route("**/api/v1/schedules/*/seats", (route) => {
    if (refused < 3) {
      refused++;
      return route.fulfill({ status: 503, headers: { "Retry-After": "1" }, contentType: "application/problem+json",
        body: JSON.stringify({ type: "/problems/unavailable", title: "Unavailable", status: 503, detail: "busy" }) });
    }
    return route.continue();
  });
  await page.evaluate(() => { window.__loads = (window.__loads || 0) + 1; });
  await page.check("#mode-map");
  await page.waitForSelector("#pick-notice:not([hidden])");
  await seeText(page, "#pick-notice", /busy right now\. Trying again in \d+ s/);
  await record(page, "map-busy");
  await page.waitForSelector('button.seat[data-label="A-1"]', { timeout: 20000 });
  await page.waitForSelector("#pick-notice", { state: "hidden" });
  assert.equal(refused, 3);
  assert.equal(await page.evaluate(() => window.__loads), 1, "the page was not reloaded");
  assert.deepEqual(scriptErrors(page).filter((t) => !/status of 503/.test(t)), []);
});

test("an order that cannot be extended past the turn hides the extension, and a 410 at payment (stub) says the hold expired", async () => {
  const c = await hallConcert("Short Turn Night");
  // A turn of 60 s is shorter than a hold (120 s): the hold ends with the turn.
  await openSale(c.id, { ttl: 60 });
  const page = await newPage(browser);
  await joinAndChoose(page, "Eve", c.id);
  await page.click("#best-btn");
  await page.waitForSelector("#view-checkout:not([hidden])");
  await page.waitForSelector("#order-lines tr");
  const { order } = await stored(page, `frontrow.hold.${c.id}`);
  assert.ok(Date.parse(order.expires_at) >= Date.parse(order.admitted_until));
  assert.equal(await page.isVisible("#extend-line"), false);
  await seeText(page, "#extend-note", /Your turn ends at .*no time can be added/);

  // Stub: the payment answers 410 hold-expired.
  await page.route("**/api/v1/orders/*/payment", (route) => route.fulfill({ status: 410, contentType: "application/problem+json",
    body: JSON.stringify({ type: "/problems/hold-expired", title: "Hold expired", status: 410, detail: "the hold expired" }) }));
  await page.click("#topup-btn");
  await until(page, () => document.getElementById("balance").textContent !== "–");
  await page.click("#pay-btn");
  await page.waitForSelector("#order-ended:not([hidden])");
  await seeText(page, "#ended-h", "Your hold has expired");
  await seeText(page, "#ended-text", /until \d\d:\d\d:\d\d .*on sale again\. Nothing was charged\./);
  assert.equal(await page.isVisible("#view-checkout"), true, "the page stays on the message, not the map");
  assert.equal(await page.isVisible("#pay-btn"), false);
  await seeFocus(page, "ended-h");
  assert.equal(await stored(page, `frontrow.hold.${c.id}`), null);
  await record(page, "order-expired");
  assert.deepEqual(scriptErrors(page), []);
});

test("leaving the line asks first, and a sold-out concert offers no place in line", async () => {
  const c = await hallConcert("Leave Night");
  await openSale(c.id, { paused: true });
  const page = await newPage(browser);
  await join(page, "Lou", c.id);
  await until(page, () => document.getElementById("queue-position").textContent === "#1");
  await page.click("#leave-btn");
  await page.waitForSelector("#leave-confirm:not([hidden])");
  await seeFocus(page, "leave-no");
  await record(page, "leave-confirm");
  await page.click("#leave-no");
  await page.waitForSelector("#leave-confirm", { state: "hidden" });
  assert.equal(await page.isVisible("#view-waiting"), true);
  assert.notEqual(await stored(page, `frontrow.line.${c.id}`), null);
  await page.click("#leave-btn");
  await page.click("#leave-yes");
  await page.waitForSelector("#view-concerts:not([hidden])");
  assert.equal(await stored(page, `frontrow.line.${c.id}`), null);

  // A concert whose every seat and standing place is sold: no "Join the line".
  const tiny = await admin("POST", "/admin/concerts", {
    title: "Tiny Night", venue: "Box",
    schedules: [{ starts_at: "2031-07-01T19:00:00Z", layout: {
      categories: [{ name: "Only", price: 1000 }],
      sections: [{ name: "Box", category: "Only", rows: [{ label: "A", seats: [1] }] }, { name: "Pit", category: "Only", capacity: 1 }],
    } }],
  });
  await openSale(tiny.id);
  const fan = await admittedFan("Tom", tiny.id);
  const seat = (await api("GET", `/schedules/${tiny.schedules[0].id}/seats`)).data[0];
  await buy(fan, { schedule_id: tiny.schedules[0].id, seats: [seat.id], standing: [{ area: "Pit", quantity: 1 }] });
  await page.reload();
  await until(page, () => [...document.querySelectorAll("li.concert")].some((li) => /Tiny Night/.test(li.textContent) && /Sold out/.test(li.textContent)));
  assert.equal(await page.locator(`button[data-concert="${tiny.id}"]`).count(), 0);
  assert.match(await page.locator("li.concert", { hasText: "Tiny Night" }).textContent(), /0 of 2 left/);
  await page.waitForSelector(`button[data-concert="${c.id}"]`);
  assert.deepEqual(scriptErrors(page), []);
});

test("the pages speak Korean to a Korean browser, and the switch turns them to English", async () => {
  const c = await hallConcert("서울 Night");
  await openSale(c.id);
  const page = await newPage(browser, undefined, { locale: "ko-KR" });
  await page.goto(BASE + "/");
  await page.waitForSelector("#view-concerts:not([hidden])");
  assert.equal(await page.getAttribute("html", "lang"), "ko");
  await seeText(page, "#concerts-h", "판매 중");
  await signUp(page, "민지");
  await page.click(`button[data-concert="${c.id}"]`);
  await page.waitForSelector("#view-seats:not([hidden])", { timeout: 15000 });
  await seeText(page, "#seats-h", "내 차례입니다 — 티켓을 고르세요");
  await seeText(page, "#best-btn", "가장 좋은 자리 2석 찾기");
  await until(page, () => document.getElementById("best-category").options.length > 1);
  assert.match(await page.textContent("#best-category option:nth-child(2)"), /Premium · €80\.00 · 8석 남음/);
  await audit(page, "choose-ko");
  await page.click("#lang-btn");
  await until(page, () => document.getElementById("seats-h").textContent === "It's your turn — choose your tickets");
  assert.equal(await page.getAttribute("html", "lang"), "en");
  await seeText(page, "#lang-btn", "한국어");
  assert.deepEqual(scriptErrors(page), []);
});
