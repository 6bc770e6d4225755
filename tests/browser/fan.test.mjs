// A fan's whole journey in a real browser (headless Chromium driven by playwright-core):
// sign in, join the line, wait, get admitted, pick a seat, top up, pay. Run by
// scripts/browser-test.sh against a frontrow it starts (BASE_URL, ADMIN_KEY).
import { test } from "node:test";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

const BASE = process.env.BASE_URL ?? "http://127.0.0.1:8080";
const ADMIN = process.env.ADMIN_KEY ?? "";

async function admin(method, path, body) {
  const res = await fetch(BASE + "/api/v1" + path, {
    method,
    headers: { "Content-Type": "application/json", "X-Admin-Key": ADMIN },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  assert.ok(res.ok, `${method} ${path}: ${res.status} ${text}`);
  return JSON.parse(text);
}

test("a fan waits in line, is admitted, holds a seat and pays", async () => {
  const concert = await admin("POST", "/admin/concerts", {
    title: "Browser Night", venue: "Hall B",
    schedules: [{ starts_at: "2031-05-01T20:00:00Z", rows: 2, seats_per_row: 6, price: 4200 }],
  });
  // Paused: the fan must see a place in line first.
  await admin("PUT", `/admin/concerts/${concert.id}/queue-policy`,
    { max_active: 10, admit_per_second: 10, active_ttl_seconds: 600, paused: true });

  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
  });
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(BASE + "/");
    await page.fill("#name", "Grace");
    await page.click("#signin-btn");
    await page.click(`button[data-concert="${concert.id}"]`);
    await page.waitForSelector("#queue-position:not([hidden])");
    assert.equal(await page.textContent("#queue-position"), "#1");
    assert.match(await page.textContent("#queue-eta"), /paused/);
    await page.screenshot({ path: process.env.SHOT_DIR ? `${process.env.SHOT_DIR}/waiting.png` : "/tmp/frontrow-waiting.png" });

    await admin("PUT", `/admin/concerts/${concert.id}/queue-policy`,
      { max_active: 10, admit_per_second: 10, active_ttl_seconds: 600, paused: false });
    await page.waitForSelector("#booking:not([hidden])", { timeout: 15000 });
    await page.waitForSelector("button.seat.AVAILABLE");
    const seats = await page.$$("button.seat");
    assert.equal(seats.length, 12);

    await page.click("button.seat >> text=A-3");
    await page.waitForSelector("#hold:not([hidden])");
    assert.equal(await page.textContent("#hold-label"), "A-3");
    assert.equal(await page.textContent("#hold-price"), "42.00");
    await page.click("#topup-btn");
    await page.waitForFunction(() => document.getElementById("balance").textContent === "100.00");
    await page.click("#pay-btn");
    await page.waitForSelector("#paid:not([hidden])");
    assert.equal(await page.textContent("#paid-label"), "A-3");
    assert.equal(await page.textContent("#balance"), "58.00");
    await page.waitForSelector("button.seat.SOLD >> text=A-3");
    await page.waitForFunction(() => document.getElementById("schedule").selectedOptions[0].textContent.endsWith("11 left"));
    await page.screenshot({ path: process.env.SHOT_DIR ? `${process.env.SHOT_DIR}/paid.png` : "/tmp/frontrow-paid.png" });
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});
