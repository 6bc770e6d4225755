// The holder keys of rotating codes: this device's key pair per ticket, made with
// WebCrypto and kept in IndexedDB with a private key that cannot be exported (a copy of
// the page's storage elsewhere holds no usable key), and the rotating code the gate
// expects: `2 | len | static code | window | signature`, the signature over
// "frontrow-rotating-v1" ‖ static code ‖ window (big-endian u64), window = Unix seconds
// / 15 (docs/src/tickets.md, crates/domain/src/tickets/code.rs).
//
// The key is ECDSA P-256 with SHA-256, signatures raw r‖s as WebCrypto gives them: the
// one kind of holder key a ticket code carries (33 bytes, SEC1 compressed) and a gate
// verifies. An Ed25519 holder key would not fit in the code the gate reads.
import { b64u } from "./api.js";

/** A rotating code's window, in seconds (the gate's `rules.window_seconds`). */
export const WINDOW_SECONDS = 15;

/** The window an instant (ms since the epoch) falls in. */
export const windowOf = (ms) => Math.floor(ms / 1000 / WINDOW_SECONDS);

/** Whether this browser can hold a key and sign with it. */
export const holderSupported = () =>
  !!(globalThis.crypto && crypto.subtle && globalThis.indexedDB && window.isSecureContext);

const DB = "frontrow-holder";
const STORE = "keys";

function db() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE, { keyPath: "id" });
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function inStore(mode, work) {
  const d = await db();
  try {
    return await new Promise((resolve, reject) => {
      const tx = d.transaction(STORE, mode);
      const req = work(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(req.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  } finally {
    d.close();
  }
}

// Keys are kept per fan and ticket: two fans signing in on one device never share one.
const keyId = (userId, ticketId) => `${userId}:${ticketId}`;

/** This device's key of the ticket: `{privateKey, compressed}`, or null. */
export async function storedKey(userId, ticketId) {
  return (await inStore("readonly", (s) => s.get(keyId(userId, ticketId)))) ?? null;
}

/** A new key pair for the ticket, kept (replacing any older one), and its public key. */
export async function newKey(userId, ticketId) {
  const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
  const raw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
  const rec = { id: keyId(userId, ticketId), privateKey: pair.privateKey, compressed: b64u.encode(compress(raw)), made_at: Date.now() };
  await inStore("readwrite", (s) => s.put(rec));
  return { record: rec, publicKey: b64u.encode(raw) };
}

/** Forgets the device's key of the ticket (a key the server no longer accepts). */
export async function dropKey(userId, ticketId) {
  await inStore("readwrite", (s) => s.delete(keyId(userId, ticketId)));
}

/** An uncompressed SEC1 point (0x04 ‖ x ‖ y) → compressed (0x02 or 0x03 ‖ x). */
function compress(raw) {
  const out = new Uint8Array(33);
  out[0] = 2 + (raw[64] & 1);
  out.set(raw.subarray(1, 33), 1);
  return out;
}

function skipVarint(bytes, at) {
  while (at < bytes.length && bytes[at] & 0x80) at++;
  return at + 1;
}

/**
 * The holder key a static code carries (base64url of its 33 bytes), or null: after the
 * version, the flags and the key id come six varints (ticket, schedule, place, valid
 * from, valid until, generation), then the key when flag 2 is set.
 */
export function holderInCode(code) {
  const bytes = new Uint8Array(b64u.decode(code));
  if (bytes[0] !== 1 || !(bytes[1] & 2)) return null;
  let at = 6;
  for (let i = 0; i < 6; i++) at = skipVarint(bytes, at);
  if (at + 33 > bytes.length) return null;
  return b64u.encode(bytes.subarray(at, at + 33));
}

function varint(n) {
  const out = [];
  // Arithmetic, not bit operators: those stop at 32 bits.
  while (n >= 0x80) { out.push((n % 0x80) + 0x80); n = Math.floor(n / 0x80); }
  out.push(n);
  return out;
}

function bigEndian64(n) {
  const out = new Uint8Array(8);
  for (let i = 7; i >= 0; i--) { out[i] = n % 256; n = Math.floor(n / 256); }
  return out;
}

const PREFIX = new TextEncoder().encode("frontrow-rotating-v1");

/** The rotating code of the ticket's static `code` for `window`, signed with `privateKey`. */
export async function rotatingCode(code, privateKey, window) {
  const inner = new Uint8Array(b64u.decode(code));
  const message = new Uint8Array(PREFIX.length + inner.length + 8);
  message.set(PREFIX, 0);
  message.set(inner, PREFIX.length);
  message.set(bigEndian64(window), PREFIX.length + inner.length);
  const sig = new Uint8Array(await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, privateKey, message));
  const head = [2, ...varint(inner.length)];
  const tail = varint(window);
  const out = new Uint8Array(head.length + inner.length + tail.length + sig.length);
  out.set(head, 0);
  out.set(inner, head.length);
  out.set(tail, head.length + inner.length);
  out.set(sig, head.length + inner.length + tail.length);
  return b64u.encode(out);
}
