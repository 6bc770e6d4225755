// Real accounts in a real browser: a passkey sign-up and sign-in through Chromium's
// virtual authenticator (CDP WebAuthn), the email-and-password fallback with a wrong
// password first, a signed-out session refused at once, and "My orders" read from the
// server on a second browser profile that never saw the purchase.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  BASE, PASSWORD, api, buy, concert, launch, newPage, openSale, record, scriptErrors, shoot, signUp,
} from "./helpers.mjs";

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

// A passkey is bound to a domain, never to an IP address: these pages are opened on
// localhost (the server's accounts.passkey_rp_id).
const LOCAL = BASE.replace("127.0.0.1", "localhost");
const fanOf = (page) => page.evaluate(() => JSON.parse(localStorage.getItem("frontrow.user") || "null"));
const until = (page, fn, arg, timeout = 15000) => page.waitForFunction(fn, arg, { timeout });

/** A platform authenticator with user verification, as a phone's or laptop's. */
async function virtualAuthenticator(page) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2", transport: "internal", hasResidentKey: true,
      hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true,
    },
  });
  const credentials = async () => (await cdp.send("WebAuthn.getCredentials", { authenticatorId })).credentials;
  return { credentials };
}

test("a fan signs up with a passkey, signs out (the token is refused at once) and signs back in with it", async () => {
  const page = await newPage(browser);
  const authenticator = await virtualAuthenticator(page);
  await page.goto(LOCAL + "/");
  await page.waitForSelector("#signin:not([hidden])");
  assert.equal(await page.isVisible("#passkey-signin-btn"), true);
  await page.fill("#name", "Pia");
  await page.click("#passkey-signup-btn");
  await page.waitForSelector("#whoami:not([hidden])");
  assert.equal(await page.textContent("#whoami-name"), "Pia");
  const made = await authenticator.credentials();
  assert.equal(made.length, 1);
  assert.equal(made[0].isResidentCredential, true, "a discoverable passkey, so sign-in needs no name");
  const first = await fanOf(page);
  assert.equal((await api("GET", "/wallet", { headers: { Authorization: `Bearer ${first.access_token}` } })).status, 200);
  // My orders shows at once, empty, from the server.
  await page.waitForSelector("#my-orders:not([hidden])");
  await shoot(page, "passkey-signed-up");

  await page.click("#signout-btn");
  await page.waitForSelector("#signin:not([hidden])");
  assert.equal(await fanOf(page), null);
  assert.equal((await api("GET", "/wallet", { headers: { Authorization: `Bearer ${first.access_token}` } })).status, 401,
    "the signed-out session's token is refused on the next request");

  await page.click("#passkey-signin-btn");
  await page.waitForSelector("#whoami:not([hidden])");
  assert.equal(await page.textContent("#whoami-name"), "Pia");
  const again = await fanOf(page);
  assert.equal(again.id, first.id);
  assert.notEqual(again.session_id, first.session_id);
  const used = await authenticator.credentials();
  assert.ok(used[0].signCount > made[0].signCount, "the signature counter moved");
  const { data: sessions } = await api("GET", "/sessions", { headers: { Authorization: `Bearer ${again.access_token}` } });
  assert.deepEqual(sessions.map((s) => s.id), [again.session_id]);
  assert.deepEqual(scriptErrors(page), []);
});

test("a wrong password is refused in words; the right one signs in; My orders on a second profile shows every order", async () => {
  const c = await concert("Orders Night", 1, 6, 3000);
  await openSale(c.id);
  const first = await newPage(browser);
  await first.goto(BASE + "/");
  const email = await signUp(first, "Oona");
  const oona = await fanOf(first);

  // Oona buys two seats and lets a third go (by the API: checkout is the other tests').
  const bearer = { Authorization: `Bearer ${oona.access_token}` };
  const { data: ticket } = await api("POST", `/concerts/${c.id}/queue`, { headers: bearer });
  for (let i = 0; i < 150; i++) {
    const { data: s } = await api("GET", "/queue/status", { headers: { "X-Queue-Token": ticket.token } });
    if (s.status === "ACTIVE") break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const headers = { ...bearer, "X-Queue-Token": ticket.token };
  const { data: seats } = await api("GET", `/schedules/${c.schedules[0].id}/seats`);
  // (A payment ends the admission: the order let go comes first.)
  const { status: placed, data: dropped } = await api("POST", "/orders", { headers, body: { schedule_id: c.schedules[0].id, seats: [seats[2].id] } });
  assert.equal(placed, 201, JSON.stringify(dropped));
  assert.equal((await api("DELETE", `/orders/${dropped.id}`, { headers })).status, 204);
  const paid = await buy(headers, { schedule_id: c.schedules[0].id, seats: [seats[0].id, seats[1].id] });

  // A second profile: nothing in its storage. A wrong password first.
  const second = await newPage(browser);
  await second.goto(BASE + "/");
  await second.waitForSelector("#signin:not([hidden])");
  await record(second, "sign-in");
  await second.click("#password-box summary");
  await second.fill("#email", email);
  await second.fill("#password", "not the password");
  await second.click("#signin-btn");
  await until(second, () => /do not match an account/.test(document.getElementById("error").textContent));
  assert.equal(await second.isVisible("#whoami"), false);
  await second.fill("#password", PASSWORD);
  await second.click("#signin-btn");
  await second.waitForSelector("#whoami:not([hidden])");
  assert.equal(await second.textContent("#whoami-name"), "Oona");

  await second.waitForSelector(`#my-orders-list li[data-order="${paid.id}"]`);
  const rows = await second.$$eval("#my-orders-list li", (ls) => ls.map((l) => ({ id: Number(l.dataset.order), status: l.dataset.status, text: l.textContent })));
  assert.deepEqual(rows.map((r) => [r.id, r.status]), [[paid.id, "PAID"], [dropped.id, "CANCELLED"]], "newest first");
  assert.match(rows[0].text, /Orders Night/);
  assert.match(rows[0].text, /A-1, A-2/);
  assert.match(rows[0].text, /Paid at/);
  assert.match(rows[1].text, /A-3/);
  assert.match(rows[1].text, /nothing was charged/);
  await record(second, "my-orders");

  // Both devices are listed; the first signs the second out, which is refused at once.
  const both = await fanOf(second);
  const { data: sessions } = await api("GET", "/sessions", { headers: bearer });
  assert.equal(sessions.length, 2);
  assert.equal((await api("DELETE", `/sessions/${both.session_id}`, { headers: bearer })).status, 204);
  await second.reload();
  await second.waitForSelector("#signin:not([hidden])", { timeout: 15000 });
  for (const p of [first, second]) assert.deepEqual(scriptErrors(p), []);
});
