// The waiting room's states against the real server, each produced for real: the
// pre-queue before a sale opens (its countdown), an ETA range, every seat held by a fan
// ahead, sold out, a 429 the page waits out and a proof-of-work challenge it solves. No
// answer is made up by the test; it only watches the page's requests.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { BASE, admin, api, admittedFan, launch, newPage, record, concert, join, scriptErrors, seeText, signUp } from "./helpers.mjs";

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const until = (page, fn, arg, timeout = 15000) => page.waitForFunction(fn, arg, { timeout });
const policy = (id, p) => admin("PUT", `/admin/concerts/${id}/queue-policy`,
  { max_active: 1, admit_per_second: 1, active_ttl_seconds: 600, paused: false, ...p });

test("before the sale opens the waiting room counts down to the draw", async () => {
  const c = await concert("Early Night", 1, 1);
  await policy(c.id, { sale_opens_at: new Date(Date.now() + 125_000).toISOString() });
  const page = await newPage(browser);
  await join(page, "Stella", c.id);
  await page.waitForSelector("#prequeue:not([hidden])");
  // Counts down from 2:05: any minute-and-seconds left of it, however slow the run.
  await seeText(page, "#opens-in", /^(2:0[0-5]|1:[0-5]\d)$/);
  await seeText(page, "#wait-state", /early/);
  assert.equal(await page.isVisible("#wait-place"), false);
  await until(page, () => /The sale opens at/.test(document.getElementById("announce").textContent));
  await record(page, "waiting-prequeue");
  assert.deepEqual(scriptErrors(page), []);
});

test("a fan behind the one who holds the last seat sees an ETA range, every seat held, then sold out", async () => {
  const c = await concert("States Night", 1, 2);
  await policy(c.id, {});
  // Another fan, by the API: admitted first (the one active place), holding one seat.
  const holder = await admittedFan("Holder", c.id);
  const seats = (await api("GET", `/schedules/${c.schedules[0].id}/seats`)).data;
  const hold = async (seat) => {
    const r = await api("POST", "/reservations", { headers: holder, body: { schedule_id: c.schedules[0].id, seat_id: seat.id } });
    assert.equal(r.status, 201, JSON.stringify(r.data));
    return r.data;
  };
  const held = [await hold(seats[0])];

  // Stella joins while a seat is left (the list offers the concert), then the holder
  // takes that one too.
  const page = await newPage(browser);
  await join(page, "Stella", c.id);
  await until(page, () => document.getElementById("queue-position").textContent === "#1");
  held.push(await hold(seats[1]));
  await until(page, () => document.getElementById("queue-position").textContent === "#1");
  // Not paused, nobody admitted yet at a measured rate: the range comes from the policy.
  await seeText(page, "#queue-eta", /^Estimated wait: (between \S.* and \S.*|about \S.*)$/);
  // The inventory reaches the page with its next standing (a poll or the stream): a
  // busy machine only makes that later.
  await seeText(page, "#wait-notice", /Every seat is held/, undefined, 60000);
  assert.equal(await page.isVisible("#prequeue"), false);
  assert.equal(await page.getAttribute("#progress", "role"), "progressbar");
  await record(page, "waiting-all-held");

  // The holder pays for both: every seat is sold, the line closes.
  const charged = await api("POST", "/wallet/charge", { headers: holder, body: { amount: seats[0].price + seats[1].price } });
  assert.equal(charged.status, 200, JSON.stringify(charged.data));
  for (const r of held) {
    const paid = await api("POST", `/reservations/${r.id}/payment`, { headers: { ...holder, "Idempotency-Key": `states-${r.id}` } });
    assert.equal(paid.status, 200, JSON.stringify(paid.data));
  }
  await until(page, () => /Sold out/.test(document.getElementById("wait-state").textContent), undefined, 60000);
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
  assert.deepEqual(scriptErrors(page), []);
});

test("entering waits out a 429 and answers a proof-of-work challenge", async () => {
  const c = await concert("Guarded Night", 1, 1);
  await policy(c.id, { paused: true, pow_difficulty: 8 });
  const page = await newPage(browser);
  // Signed in, not yet in line.
  await page.goto(BASE + "/");
  await page.waitForSelector("#view-concerts:not([hidden])");
  await signUp(page, "Guido");
  const token = await page.evaluate(() => JSON.parse(localStorage.getItem("frontrow.user")).access_token);
  // The fan's own budget of enters (a burst of 5) spent elsewhere, as a second tab would.
  const bearer = { Authorization: `Bearer ${token}` };
  for (let i = 0; i < 5; i++) await api("POST", `/concerts/${c.id}/queue`, { headers: bearer });

  const seen = [];
  page.on("response", (r) => {
    const q = r.request();
    if (q.method() === "POST" && q.url().endsWith(`/concerts/${c.id}/queue`)) {
      seen.push({ at: Date.now(), status: r.status(), retryAfter: Number(r.headers()["retry-after"] ?? 0),
                  pow: q.headers()["x-pow"] ?? null });
    }
  });
  await page.click(`button[data-concert="${c.id}"]`);
  await until(page, () => document.getElementById("queue-position").textContent === "#1", undefined, 60000);
  const statuses = seen.map((s) => s.status);
  assert.equal(statuses[0], 429, JSON.stringify(seen));
  assert.ok(statuses.includes(403), `a proof of work was asked for: ${JSON.stringify(seen)}`);
  assert.ok([200, 201].includes(statuses.at(-1)), JSON.stringify(seen));
  assert.match(seen.at(-1).pow ?? "", /^[^:]+:\d+$/, "the last enter carries the solved challenge");
  // Each retry after a 429 came no sooner than its Retry-After (an order, not a speed).
  seen.forEach((s, i) => {
    if (s.status === 429 && seen[i + 1]) {
      assert.ok(seen[i + 1].at - s.at >= s.retryAfter * 1000 - 50, `retried early: ${JSON.stringify(seen)}`);
    }
  });
  assert.deepEqual(scriptErrors(page), []);
});
