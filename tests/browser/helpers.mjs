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
export async function newPage(browser, viewport = DESKTOP) {
  // The pages run under their real content security policy (a violation is a console
  // error, which fails the tests); axe-core is served to them from their own origin.
  const context = await browser.newContext({ viewport, acceptDownloads: true });
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

/** Signs a fan in on the concerts page and joins the line of `concertId`. */
export async function join(page, name, concertId) {
  await page.goto(BASE + "/");
  await page.waitForSelector("#view-concerts:not([hidden])");
  await page.fill("#name", name);
  await page.click("#signin-btn");
  await page.waitForSelector("#whoami:not([hidden])");
  await page.click(`button[data-concert="${concertId}"]`);
  await page.waitForSelector("#view-waiting:not([hidden])");
}
