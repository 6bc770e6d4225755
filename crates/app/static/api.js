// The one way the pages talk to the API: JSON in and out, RFC 9457 problem documents
// turned into errors that carry the status, the problem type and Retry-After.

export const API = "/api/v1";

/** An answer other than 2xx, or no answer at all (`status` 0). */
export class ApiError extends Error {
  constructor(status, problem, retryAfter) {
    super((problem && (problem.detail || problem.title)) || (status ? `HTTP ${status}` : "The server could not be reached."));
    this.status = status;
    this.problem = problem;
    this.type = problem && problem.type ? String(problem.type) : "";
    this.retryAfter = retryAfter;
  }
}

/**
 * Calls `method path` under /api/v1. `headers` are added as given; `body` is sent as
 * JSON. Resolves to `{status, data, headers}`; rejects with an ApiError.
 */
export async function call(method, path, { body, headers = {}, raw = false } = {}) {
  const h = { Accept: "application/json, application/problem+json", ...headers };
  if (body !== undefined) h["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(API + path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, null, null);
  }
  const text = await res.text();
  let data = null;
  if (text && !raw) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!res.ok) {
    const ra = Number.parseInt(res.headers.get("Retry-After") || "", 10);
    throw new ApiError(res.status, data, Number.isFinite(ra) ? ra : null);
  }
  return { status: res.status, data: raw ? text : data, headers: res.headers };
}

// Prices are minor units of one currency; the service has no currency field, and its
// amounts have two decimals (50_00 is 50.00), so the pages show euros.
export const CURRENCY = "EUR";
let locale = "en";
/** The locale of every formatted amount and time ("en" or "ko"). */
export function setLocale(l) { locale = l; }

/** Minor units → "€42.00" (in the page's language). */
export const money = (minor) =>
  new Intl.NumberFormat(locale, { style: "currency", currency: CURRENCY }).format(Number(minor) / 100);

/** Minor units → "42.00" (for an amount field). */
export const amount = (minor) => (Number(minor) / 100).toFixed(2);

/** An instant with its date, time and time zone ("1 May 2031, 22:00 CEST"). */
export const when = (iso) => new Intl.DateTimeFormat(locale, {
  year: "numeric", month: "short", day: "numeric", weekday: "short",
  hour: "2-digit", minute: "2-digit", timeZoneName: "short",
}).format(new Date(iso));

/** An instant's time of day with its time zone ("22:00:05 CEST"). */
export const timeOf = (iso) => new Intl.DateTimeFormat(locale, {
  hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short",
}).format(new Date(iso));

/** "42.5" → 4250, or null when it is not an amount. */
export function toMinor(text) {
  const m = /^\s*(\d{1,9})(?:[.,](\d{1,2}))?\s*$/.exec(String(text));
  if (!m) return null;
  return Number(m[1]) * 100 + Number((m[2] || "0").padEnd(2, "0"));
}

/** Seconds → "45 s", "3 min", "1 h 5 min". */
export function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** Seconds → "4:07" (or "1:02:03"). */
export function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const mm = h ? String(m).padStart(2, "0") : String(m);
  return (h ? `${h}:` : "") + `${mm}:${String(r).padStart(2, "0")}`;
}

/** A fresh random key (Idempotency-Key of one payment attempt). */
export function randomKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** base64url without padding, to and from bytes (WebAuthn, ticket codes). */
export const b64u = {
  /** Text → ArrayBuffer. */
  decode(s) {
    const b = String(s).replace(/-/g, "+").replace(/_/g, "/");
    const bin = atob(b + "===".slice((b.length + 3) % 4));
    return Uint8Array.from(bin, (c) => c.charCodeAt(0)).buffer;
  },
  /** ArrayBuffer or Uint8Array → text. */
  encode(buf) {
    let s = "";
    for (const byte of new Uint8Array(buf)) s += String.fromCharCode(byte);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  },
};

/** Creates an element: el("p", {class: "x", text: "hi"}, child, …). */
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "text") e.textContent = v;
    else if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k in e && typeof v !== "string") e[k] = v;
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}
