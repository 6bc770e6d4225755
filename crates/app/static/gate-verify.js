// The gate's offline check in the browser, the same rules as the service and
// `frontrow gate verify` (crates/domain/src/tickets/{code,rules}.rs), with public keys only
// (WebCrypto: Ed25519 for the issuer, P-256 ECDSA for a holder's rotating codes). No DOM:
// node's test runner checks it against vectors the Rust verifier wrote
// (tests/browser/gate-vectors.json).
//
// A static code is `1 | flags | kid(4) | ticket | schedule | place | valid_from |
// valid_until | generation | [holder key (33)] | Ed25519 signature(64)`, numbers as
// unsigned LEB128 varints in their shortest form; a rotating code is `2 | len | static
// code | window | holder signature(64)`, the holder's P-256 signature over
// "frontrow-rotating-v1" ‖ static code ‖ window (big-endian u64).

const STATIC = 1, ROTATING = 2, FLAG_AREA = 1, FLAG_HOLDER = 2, SIG = 64;
export const MAX_CODE_CHARS = 512;
const U64_MAX = (1n << 64n) - 1n;
const I64_MAX = (1n << 63n) - 1n;
const U32_MAX = 0xffffffffn;

/** Not a code at all (the service's `invalid` with reason `format`). */
export class FormatError extends Error {}

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const INDEX = new Map([...ALPHABET].map((c, i) => [c, i]));

/** base64url without padding, strict as the Rust decoder: no `=`, no stray bits. */
export function b64urlDecode(text) {
  if (text.length % 4 === 1) throw new FormatError("encoding");
  const out = new Uint8Array(Math.floor((text.length * 3) / 4));
  let acc = 0, bits = 0, n = 0;
  for (const ch of text) {
    const v = INDEX.get(ch);
    if (v === undefined) throw new FormatError("encoding");
    acc = (acc << 6) | v; bits += 6;
    if (bits >= 8) { bits -= 8; out[n++] = (acc >> bits) & 0xff; }
  }
  if (acc & ((1 << bits) - 1)) throw new FormatError("encoding");
  return out.subarray(0, n);
}

export function b64urlEncode(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    const chars = i + 1 >= bytes.length ? 2 : i + 2 >= bytes.length ? 3 : 4;
    for (let k = 0; k < chars; k++) s += ALPHABET[(n >> (18 - 6 * k)) & 63];
  }
  return s;
}

class Reader {
  constructor(bytes) { this.bytes = bytes; this.at = 0; }
  byte() {
    if (this.at >= this.bytes.length) throw new FormatError("malformed");
    return this.bytes[this.at++];
  }
  take(n) {
    if (this.at + n > this.bytes.length) throw new FormatError("malformed");
    const s = this.bytes.subarray(this.at, this.at + n);
    this.at += n;
    return s;
  }
  varint() {
    let v = 0n;
    for (let i = 0; i < 10; i++) {
      const b = this.byte();
      if (i === 9 && b > 1) throw new FormatError("malformed");
      v |= BigInt(b & 0x7f) << BigInt(7 * i);
      if ((b & 0x80) === 0) {
        if (b === 0 && i > 0) throw new FormatError("malformed");
        return v;
      }
    }
    throw new FormatError("malformed");
  }
  id() {
    const v = this.varint();
    if (v > I64_MAX) throw new FormatError("malformed");
    return v;
  }
  done() { return this.at === this.bytes.length; }
}

// ---------- P-256 points: a holder key is carried compressed (33 bytes) ----------
const P = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn;
const B = 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn;
const mod = (a) => ((a % P) + P) % P;
function powMod(b, e) {
  let r = 1n; b = mod(b);
  while (e > 0n) { if (e & 1n) r = (r * b) % P; b = (b * b) % P; e >>= 1n; }
  return r;
}
const toBig = (bytes) => bytes.reduce((a, x) => (a << 8n) | BigInt(x), 0n);
function toBytes32(v) {
  const out = new Uint8Array(32);
  for (let i = 31; i >= 0; i--) { out[i] = Number(v & 0xffn); v >>= 8n; }
  return out;
}

/** The uncompressed SEC1 form (65 bytes) of a compressed P-256 point, or null. */
export function decompressP256(c) {
  if (c.length !== 33 || (c[0] !== 2 && c[0] !== 3)) return null;
  const x = toBig(c.subarray(1));
  if (x >= P) return null;
  const rhs = mod(x * x * x - 3n * x + B);
  let y = powMod(rhs, (P + 1n) / 4n);
  if ((y * y) % P !== rhs) return null;
  if (Number(y & 1n) !== (c[0] & 1)) y = mod(-y);
  const out = new Uint8Array(65);
  out[0] = 4; out.set(toBytes32(x), 1); out.set(toBytes32(y), 33);
  return out;
}

function parseStatic(bytes) {
  const r = new Reader(bytes);
  if (r.byte() !== STATIC) throw new FormatError("version");
  const flags = r.byte();
  if (flags & ~(FLAG_AREA | FLAG_HOLDER)) throw new FormatError("malformed");
  const kid = Array.from(r.take(4), (b) => b.toString(16).padStart(2, "0")).join("");
  const ticket = r.id(), schedule = r.id(), place = r.id(), validFrom = r.id(), validUntil = r.id();
  const generation = r.varint();
  if (generation > U32_MAX) throw new FormatError("malformed");
  let holder = null;
  if (flags & FLAG_HOLDER) {
    holder = decompressP256(r.take(33));
    if (!holder) throw new FormatError("malformed");
  }
  const signedLen = r.at;
  const signature = r.take(SIG);
  if (!r.done()) throw new FormatError("malformed");
  return {
    claims: {
      ticket: String(ticket), schedule: String(schedule),
      seat: flags & FLAG_AREA ? null : String(place), area: flags & FLAG_AREA ? String(place) : null,
      validFrom: Number(validFrom), validUntil: Number(validUntil), kid, generation: Number(generation), holder,
    },
    signed: bytes.subarray(0, signedLen), signature, bytes,
  };
}

// Rust's `str::trim`: Unicode White_Space (not JavaScript's `\s`, which adds U+FEFF and
// leaves U+0085).
const EDGE_SPACE = /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/g;

/** A code text taken apart (its form only); throws FormatError. */
export function parse(text) {
  text = String(text).replace(EDGE_SPACE, "");
  if (new TextEncoder().encode(text).length > MAX_CODE_CHARS) throw new FormatError("too long");
  const bytes = b64urlDecode(text);
  if (bytes[0] === STATIC) return { rotating: false, inner: parseStatic(bytes) };
  if (bytes[0] === ROTATING) {
    const r = new Reader(bytes);
    r.at = 1;
    const len = r.varint();
    if (len > BigInt(bytes.length)) throw new FormatError("malformed");
    const inner = parseStatic(r.take(Number(len)));
    const window = r.varint();
    const signature = r.take(SIG);
    if (!r.done()) throw new FormatError("malformed");
    return { rotating: true, inner, window, signature };
  }
  throw new FormatError("version");
}

/** What a holder signs to show a static code during `window` (a BigInt). */
export function rotatingMessage(staticBytes, window) {
  const prefix = new TextEncoder().encode("frontrow-rotating-v1");
  const m = new Uint8Array(prefix.length + staticBytes.length + 8);
  m.set(prefix); m.set(staticBytes, prefix.length);
  new DataView(m.buffer).setBigUint64(prefix.length + staticBytes.length, BigInt.asUintN(64, window));
  return m;
}

const subtle = globalThis.crypto.subtle;

/**
 * A verifier of a gate kit (`GET …/gate-kit`, merged with its updates): the issuing keys
 * imported once, the revocation list by ticket, the rules.
 */
export async function verifierOf(kit) {
  const keys = new Map();
  for (const k of kit.keys || []) {
    if (k.kty !== "OKP" || k.crv !== "Ed25519" || typeof k.x !== "string" || typeof k.kid !== "string") continue;
    try {
      const raw = b64urlDecode(k.x);
      if (raw.length !== 32) continue;
      keys.set(k.kid.toLowerCase(), await subtle.importKey("raw", raw, { name: "Ed25519" }, false, ["verify"]));
    } catch { /* not a key this browser takes: codes under it are refused */ }
  }
  const revoked = new Map((kit.revocations || []).map((r) => [String(r.ticket_id), Number(r.through)]));
  const rules = kit.rules || {};
  return {
    schedule: String(kit.schedule_id), keys, revoked,
    windowSeconds: rules.window_seconds ?? 15, windowSteps: rules.window_steps ?? 1,
    skewSeconds: rules.clock_skew_seconds ?? 0,
  };
}

async function holderVerifies(holder, message, signature) {
  try {
    const key = await subtle.importKey("raw", holder, { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
    return await subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, signature, message);
  } catch { return false; }
}

const invalid = (reason) => ({ result: "invalid", reason, claims: null });

/**
 * The gate's answer to `text` at `nowMs` before redemption, as the Rust `rules::precheck`:
 * `{result: "admissible", claims}` or `{result, reason, claims}` with result `invalid`,
 * `wrong_schedule`, `revoked`, `not_valid_yet` or `expired`.
 */
export async function precheck(text, v, nowMs = Date.now()) {
  let scanned;
  try { scanned = parse(text); } catch (e) {
    if (e instanceof FormatError) return invalid("format");
    throw e;
  }
  const { inner } = scanned;
  const c = inner.claims;
  const key = v.keys.get(c.kid);
  if (!key) return invalid("unknown_key");
  let genuine = false;
  try { genuine = await subtle.verify({ name: "Ed25519" }, key, inner.signature, inner.signed); } catch { genuine = false; }
  if (!genuine) return invalid("signature");
  const now = Math.floor(nowMs / 1000);
  if (!scanned.rotating && c.holder) return invalid("rotation_required");
  if (scanned.rotating) {
    if (!c.holder) return invalid("holder_signature");
    if (!(await holderVerifies(c.holder, rotatingMessage(inner.bytes, scanned.window), scanned.signature))) {
      return invalid("holder_signature");
    }
    const mine = BigInt(Math.floor(now / v.windowSeconds));
    const off = scanned.window > mine ? scanned.window - mine : mine - scanned.window;
    if (off > BigInt(v.windowSteps)) return invalid("stale_window");
  }
  const refused = (result) => ({ result, reason: null, claims: c });
  if (c.schedule !== v.schedule) return refused("wrong_schedule");
  const through = v.revoked.get(c.ticket);
  if (through !== undefined && c.generation <= through) return refused("revoked");
  if (now + v.skewSeconds < c.validFrom) return refused("not_valid_yet");
  if (now - v.skewSeconds >= c.validUntil) return refused("expired");
  return { result: "admissible", reason: null, claims: c };
}

/** Merges an incremental kit into the full one, as `frontrow gate sync` does. */
export function mergeKit(full, update) {
  if (!full) return { ...update, incremental: false };
  const by = new Map(full.revocations.map((r) => [r.ticket_id, r]));
  for (const r of update.revocations) {
    const old = by.get(r.ticket_id);
    if (!old || old.through < r.through) by.set(r.ticket_id, r);
  }
  return {
    schedule_id: full.schedule_id,
    generated_at: new Date(update.generated_at) > new Date(full.generated_at) ? update.generated_at : full.generated_at,
    incremental: false,
    keys: update.keys,
    revocations: [...by.values()].sort((a, b) => a.ticket_id - b.ticket_id),
    rules: update.rules,
  };
}
