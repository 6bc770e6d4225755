// Shared by the browser tests: the server under test (BASE_URL, ADMIN_KEY), Chromium,
// screenshots at two sizes and the axe-core audit of every page.
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

export const BASE = process.env.BASE_URL ?? "http://127.0.0.1:8080";
export const ADMIN = process.env.ADMIN_KEY ?? "";
export const SHOTS = `${process.env.SHOT_DIR ?? "/tmp"}/frontrow-screens`;
mkdirSync(SHOTS, { recursive: true });

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
export const DESKTOP = { width: 1280, height: 900 };
export const PHONE = { width: 390, height: 844 };

/** Calls the admin API directly (test set-up only; the console is driven in its tests). */
export async function admin(method, path, body) {
  const res = await fetch(BASE + "/api/v1" + path, {
    method,
    headers: { "Content-Type": "application/json", "X-Admin-Key": ADMIN },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  assert.ok(res.ok, `${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
  });
}

/**
 * A browser context of its own (its own localStorage: one fan) and a page in it that
 * records script errors and failed requests to our own origin.
 */
export async function newPage(browser, viewport = DESKTOP, { locale = "en-US" } = {}) {
  // The pages run under their real content security policy (a violation is a console
  // error, which fails the tests); axe-core is served to them from their own origin.
  // At phone size the page is a touch screen.
  const phone = viewport.width <= PHONE.width;
  const context = await browser.newContext({ viewport, acceptDownloads: true, locale, hasTouch: phone, isMobile: phone });
  await context.route(`${BASE}/__test__/axe.min.js`, (route) =>
    route.fulfill({ status: 200, contentType: "text/javascript", body: AXE_SOURCE }));
  const page = await context.newPage();
  page.errors = [];
  page.on("pageerror", (e) => page.errors.push(e.message));
  page.on("console", (m) => { if (m.type() === "error") page.errors.push(m.text()); });
  return page;
}

/** Errors in the page other than the API's expected refusals (logged by Chromium). */
export function scriptErrors(page) {
  return page.errors.filter((t) => !/Failed to load resource: the server responded with a status of (4\d\d)/.test(t));
}

/**
 * Runs axe-core on the page as it is now and fails on any serious or critical
 * violation; every result is kept for the report.
 */
export async function audit(page, name) {
  if (!(await page.evaluate(() => typeof window.axe === "object"))) await page.addScriptTag({ url: `${BASE}/__test__/axe.min.js` });
  const result = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 5) }));
  });
  const bad = result.filter((v) => v.impact === "serious" || v.impact === "critical");
  // One report for every test file (they run one after the other): this page's entry
  // replaces the one of an earlier run.
  const file = `${SHOTS}/axe-report.json`;
  let audits = [];
  try { audits = JSON.parse(readFileSync(file, "utf8")); } catch { audits = []; }
  audits = audits.filter((a) => a.page !== name);
  audits.push({ page: name, url: page.url(), at: new Date().toISOString(), violations: result });
  writeFileSync(file, JSON.stringify(audits, null, 2));
  assert.deepEqual(bad, [], `axe-core: serious or critical violations on ${name}: ${JSON.stringify(bad, null, 1)}`);
  return result;
}

/** Screenshots the page at desktop size and at 390×844, then restores its size. */
export async function shoot(page, name) {
  const size = page.viewportSize();
  const paths = [];
  for (const [tag, vp] of [["desktop", DESKTOP], ["phone", PHONE]]) {
    await page.setViewportSize(vp);
    await page.waitForTimeout(150);
    const path = `${SHOTS}/${name}-${tag}.png`;
    await page.screenshot({ path, fullPage: true });
    paths.push(path);
  }
  await page.setViewportSize(size);
  return paths;
}

/** Screenshots at both sizes, and the audit at both sizes. */
export async function record(page, name) {
  await shoot(page, name);
  await audit(page, name);
  const size = page.viewportSize();
  await page.setViewportSize(PHONE);
  await audit(page, `${name} (390x844)`);
  await page.setViewportSize(size);
}

/** Presses Tab until the focused element matches `selector` (at most `max` times). */
export async function tabTo(page, selector, max = 80) {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press("Tab");
    if (await page.evaluate((s) => document.activeElement && document.activeElement.matches(s), selector)) return;
  }
  assert.fail(`${selector} cannot be reached with the Tab key`);
}

/** A concert with one schedule of `rows` × `perRow` seats at `price`, created by the API. */
export async function concert(title, rows = 2, perRow = 6, price = 4200) {
  return admin("POST", "/admin/concerts", {
    title, venue: "Hall B",
    schedules: [{ starts_at: "2031-05-01T20:00:00Z", rows, seats_per_row: perRow, price }],
  });
}

/** The password of every fan the tests sign up. */
export const PASSWORD = "correct horse battery";

/** An email address no other fan of this run has. */
export const freshEmail = (tag = "fan") =>
  `${tag}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}@example.test`;

/**
 * Signs a new fan up on the concerts page with the email-and-password fallback (a
 * passkey needs an authenticator; the passkey tests add a virtual one). Returns the email.
 */
export async function signUp(page, name, email = freshEmail()) {
  await page.waitForSelector("#signin:not([hidden])");
  await page.fill("#name", name);
  if (!(await page.evaluate(() => document.getElementById("password-box").open))) await page.click("#password-box summary");
  await page.fill("#email", email);
  await page.fill("#password", PASSWORD);
  await page.click("#signup-btn");
  // Sign-ups are limited per address (5 a minute, burst 5): the page waits out a 429.
  await page.waitForSelector("#whoami:not([hidden])", { timeout: 90000 });
  return email;
}

/**
 * Signs a fan in on the concerts page and joins the line of `concertId`. Returns once the
 * page shows the waiting room or, when the fan was admitted at once, the seats: on a fast
 * answer the waiting room can be shown and left within one frame, which a wait for it
 * alone can miss (the full tier of 6f3e92f did, on "the seat map recovers from 503").
 */
export async function join(page, name, concertId) {
  await page.goto(BASE + "/");
  await page.waitForSelector("#view-concerts:not([hidden])");
  await signUp(page, name);
  await page.click(`button[data-concert="${concertId}"]`);
  try {
    await page.waitForSelector("#view-waiting:not([hidden]), #view-seats:not([hidden])");
  } catch (e) {
    const seen = await page.evaluate(() => ({
      hash: location.hash,
      views: [...document.querySelectorAll("[id^=view-]:not([hidden])")].map((v) => v.id),
      error: document.getElementById("error")?.textContent,
    })).catch(() => null);
    throw new Error(`${name} did not reach the line of ${concertId}: the page showed ${JSON.stringify(seen)}`, { cause: e });
  }
}

/**
 * A concert with one date laid out as a hall: a standing "Floor" (30.00, 40 places) and
 * seated "Stalls" of rows A–C, seats 1–4 and 11–14 either side of an aisle (the numbers
 * jump across it), row A Premium (80.00), the rest Standard (50.00), C-1 and C-14
 * wheelchair accessible.
 */
export async function hallConcert(title, { floor = 40 } = {}) {
  const seats = [1, 2, 3, 4, null, 11, 12, 13, 14];
  return admin("POST", "/admin/concerts", {
    title, venue: "Layout Hall",
    schedules: [{
      starts_at: "2031-06-01T19:30:00Z",
      layout: {
        categories: [{ name: "Premium", price: 8000 }, { name: "Standard", price: 5000 }, { name: "Floor", price: 3000 }],
        sections: [
          { name: "Floor", category: "Floor", capacity: floor },
          { name: "Stalls", category: "Standard", rows: [
            { label: "A", seats, categories: [{ from: 1, to: 14, category: "Premium" }] },
            { label: "B", seats },
            { label: "C", seats, accessible: [1, 14] },
          ] },
        ],
      },
    }],
  });
}

/** Opens the sale of `concertId` to `maxActive` fans at once, turns of `ttl` seconds. */
export async function openSale(concertId, { maxActive = 5, ttl = 600, paused = false } = {}) {
  await admin("PUT", `/admin/concerts/${concertId}/queue-policy`,
    { max_active: maxActive, admit_per_second: 10, active_ttl_seconds: ttl, paused });
}

/** Calls the fans' API directly (set-up of other fans' purchases). */
export async function api(method, path, { body, headers = {} } = {}) {
  const res = await fetch(BASE + "/api/v1" + path, {
    method, headers: { "Content-Type": "application/json", ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, data: text ? JSON.parse(text) : null };
}

/**
 * Another fan, by the API alone: signs in, joins the line of `concertId` and waits to be
 * admitted. Returns the headers of an admitted fan.
 */
export async function admittedFan(name, concertId) {
  // Sign-ups are limited per address (5 a minute): wait out a 429 as a fan would.
  const retrying = async (fn) => {
    for (;;) {
      const r = await fn();
      if (r.status !== 429) return r;
      await new Promise((ok) => setTimeout(ok, 1000));
    }
  };
  const { data: user } = await retrying(() => api("POST", "/users", { body: { name, email: freshEmail(), password: PASSWORD } }));
  const bearer = { Authorization: `Bearer ${user.access_token}` };
  const { data: ticket } = await retrying(() => api("POST", `/concerts/${concertId}/queue`, { headers: bearer }));
  for (let i = 0; i < 150; i++) {
    const { data: t } = await api("GET", "/queue/status", { headers: { "X-Queue-Token": ticket.token } });
    if (t.status === "ACTIVE") return { ...bearer, "X-Queue-Token": ticket.token };
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${name} was not admitted`);
}

/** An admitted fan (`headers` from admittedFan) orders `body`, tops up and pays. */
export async function buy(headers, body) {
  const placed = await api("POST", "/orders", { headers, body });
  assert.equal(placed.status, 201, JSON.stringify(placed.data));
  await api("POST", "/wallet/charge", { headers, body: { amount: placed.data.total || 1 } });
  const paid = await api("POST", `/orders/${placed.data.id}/payment`, { headers: { ...headers, "Idempotency-Key": `k-${placed.data.id}` } });
  assert.equal(paid.status, 200, JSON.stringify(paid.data));
  return placed.data;
}

/** Joins the line with the page and waits until the page offers tickets. */
export async function joinAndChoose(page, name, concertId) {
  await join(page, name, concertId);
  await page.waitForSelector("#view-seats:not([hidden])", { timeout: 15000 });
  await page.waitForFunction(() => document.getElementById("best-category").options.length > 1, undefined, { timeout: 10000 });
}

/**
 * Waits until the trimmed text of `selector` matches `want` (a RegExp, or a string it
 * must equal) and fails with the text last seen. Pages fill their views after async
 * work (a fetch, the first tick of a timer): a check made once, at once, races that
 * work on a busy machine; a check that waits only fails when the page never gets there.
 */
export async function seeText(page, selector, want, message, timeout = 15000) {
  const re = want instanceof RegExp ? [want.source, want.flags] : null;
  try {
    await page.waitForFunction(([sel, re, s]) => {
      const t = (document.querySelector(sel)?.textContent ?? "").trim();
      return re ? new RegExp(re[0], re[1]).test(t) : t === s;
    }, [selector, re, re ? null : want], { timeout });
  } catch {
    const seen = await page.textContent(selector, { timeout: 1000 }).catch(() => null);
    assert.fail(`${message ?? selector}: want ${want}, the page shows ${JSON.stringify(seen?.trim() ?? null)}`);
  }
}

/** As `seeText`, for the value of an input (`want` a string it must equal). */
export async function seeValue(page, selector, want, message, timeout = 15000) {
  try {
    await page.waitForFunction(([sel, s]) => document.querySelector(sel)?.value === s, [selector, want], { timeout });
  } catch {
    const seen = await page.inputValue(selector, { timeout: 1000 }).catch(() => null);
    assert.fail(`${message ?? selector}: want ${want}, the input holds ${JSON.stringify(seen)}`);
  }
}

/** As `seeText`, for the id of the focused element. */
export async function seeFocus(page, id, message, timeout = 15000) {
  try {
    await page.waitForFunction((want) => document.activeElement?.id === want, id, { timeout });
  } catch {
    const seen = await page.evaluate(() => document.activeElement?.id ?? null);
    assert.fail(`${message ?? "focus"}: want #${id}, focus is on ${JSON.stringify(seen)}`);
  }
}
