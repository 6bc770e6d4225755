// The waiting room's states that the API answers with fields from the on-sale and abuse
// work (PRE_QUEUE with opens_at, an ETA range, inventory ALL_HELD / SOLD_OUT, SOLD_OUT,
// proof of work, 429 with Retry-After), rendered from answers the test gives the page in
// place of the server's: the page is held to the agreed contract, whichever server runs.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { BASE, admin, launch, newPage, record, concert, join, scriptErrors, seeText } from "./helpers.mjs";

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const until = (page, fn, arg, timeout = 10000) => page.waitForFunction(fn, arg, { timeout });
const text = (page, sel) => page.textContent(sel).then((t) => (t ?? "").trim());

test("the waiting room shows the pre-queue countdown, an ETA range, all seats held and sold out", async () => {
  const c = await concert("States Night");
  await admin("PUT", `/admin/concerts/${c.id}/queue-policy`,
    { max_active: 1, admit_per_second: 1, active_ttl_seconds: 600, paused: true });
  const page = await newPage(browser);
  await join(page, "Stella", c.id);
  await until(page, () => document.getElementById("queue-position").textContent === "#1");
  const token = await page.evaluate((id) => JSON.parse(localStorage.getItem(`frontrow.line.${id}`)).token, c.id);

  // From here the standing comes from `answer`; the event stream is refused, so the page
  // falls back to polling.
  let answer = null;
  const base = { token, position: null, ahead: null, eta_seconds: null, active_until: null, poll_after_ms: 250 };
  await page.route("**/api/v1/queue/events*", (r) => r.fulfill({ status: 503, contentType: "application/problem+json", body: "{}" }));
  await page.route("**/api/v1/queue/status", (r) => {
    assert.equal(r.request().headers()["x-queue-token"], token);
    return r.fulfill({ status: 200, contentType: "application/json", body: JSON.stringify({ ...base, ...answer }) });
  });

  answer = { status: "PRE_QUEUE", opens_at: new Date(Date.now() + 125_000).toISOString() };
  await page.reload();
  await page.waitForSelector("#prequeue:not([hidden])");
  // Counts down from 2:05: any minute-and-seconds left of it, however slow the run.
  await seeText(page, "#opens-in", /^(2:0[0-5]|1:[0-5]\d)$/);
  await seeText(page, "#wait-state", /early/);
  assert.equal(await page.isVisible("#wait-place"), false);
  await until(page, () => /The sale opens at/.test(document.getElementById("announce").textContent));
  await record(page, "waiting-prequeue");

  answer = { status: "WAITING", position: 40, ahead: 39, eta_seconds: 90, eta_seconds_low: 60, eta_seconds_high: 180, inventory: "ALL_HELD" };
  await until(page, () => document.getElementById("queue-position").textContent === "#40");
  await seeText(page, "#queue-eta", "Estimated wait: between 1 min and 3 min");
  await seeText(page, "#queue-ahead", "39 people ahead of you");
  await seeText(page, "#wait-notice", /Every seat is held/);
  assert.equal(await page.isVisible("#prequeue"), false);
  await record(page, "waiting-all-held");

  answer = { status: "WAITING", position: 10, ahead: 9, eta_seconds: 20, eta_seconds_low: 15, eta_seconds_high: 30, inventory: "AVAILABLE" };
  await until(page, () => document.getElementById("queue-position").textContent === "#10");
  assert.equal(await page.getAttribute("#progress", "aria-valuenow"), "75");
  assert.equal(await page.isVisible("#wait-notice"), false);

  answer = { status: "SOLD_OUT", inventory: "SOLD_OUT" };
  await until(page, () => /Sold out/.test(document.getElementById("wait-state").textContent));
  assert.equal(await page.getAttribute("#draw-link", "href"), `/api/v1/concerts/${c.id}/draw`);
  // This line opened without a draw: the link says so instead of opening a 404.
  const url = page.url();
  await page.click("#draw-link");
  await until(page, () => /There was no draw for this concert/.test(document.getElementById("draw-msg").textContent));
  assert.equal(page.url(), url);
  assert.equal(await page.isVisible("#leave-btn"), false);
  await until(page, () => /sold out/.test(document.getElementById("announce-now").textContent));
  assert.equal(await page.evaluate((id) => localStorage.getItem(`frontrow.line.${id}`), c.id), null);
  await record(page, "waiting-sold-out");
  // Chromium logs the refused event stream (503) as a failed resource; nothing else.
  assert.deepEqual(scriptErrors(page).filter((t) => !/status of 503/.test(t)), []);
});

test("entering waits out a 429 and answers a proof-of-work challenge", async () => {
  const c = await concert("Guarded Night");
  await admin("PUT", `/admin/concerts/${c.id}/queue-policy`,
    { max_active: 1, admit_per_second: 1, active_ttl_seconds: 600, paused: true });
  const page = await newPage(browser);
  const seen = [];
  await page.route(`**/api/v1/concerts/${c.id}/queue`, (r) => {
    seen.push({ at: Date.now(), pow: r.request().headers()["x-pow"] ?? null });
    if (seen.length === 1) {
      return r.fulfill({ status: 429, headers: { "Retry-After": "1" }, contentType: "application/problem+json",
        body: JSON.stringify({ type: "/problems/rate-limited", title: "Too many requests", status: 429, detail: "slow down" }) });
    }
    if (seen.length === 2) {
      return r.fulfill({ status: 403, contentType: "application/problem+json",
        body: JSON.stringify({ type: "/problems/pow-required", title: "Proof of work required", status: 403, detail: "solve the challenge" }) });
    }
    return r.continue();
  });
  await page.route(`**/api/v1/concerts/${c.id}/queue/challenge`, (r) => {
    assert.match(r.request().headers().authorization, /^Bearer /);
    return r.fulfill({ status: 200, contentType: "application/json",
      body: JSON.stringify({ challenge: "chal-1", difficulty: 8, expires_at: new Date(Date.now() + 60_000).toISOString() }) });
  });
  // The solver is pow.js's (issue 12); this stand-in records how the page calls it.
  await page.route("**/static/pow.js", (r) => r.fulfill({ status: 200, contentType: "text/javascript",
    body: "export async function solvePow(challenge, difficulty) { window.__pow = [challenge, difficulty]; return '42'; }" }));

  await join(page, "Guido", c.id);
  await until(page, () => document.getElementById("queue-position").textContent === "#1");
  assert.equal(seen.length, 3);
  assert.ok(seen[1].at - seen[0].at >= 950, `retried ${seen[1].at - seen[0].at} ms after a Retry-After of 1 s`);
  assert.deepEqual(seen.map((s) => s.pow), [null, null, "chal-1:42"]);
  assert.deepEqual(await page.evaluate(() => window.__pow), ["chal-1", 8]);
  assert.deepEqual(scriptErrors(page), []);
});
