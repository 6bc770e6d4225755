// The scanner page for door staff (/static/gate.html): downloads the schedule's gate kit
// with a gate key and keeps it current (`?since=`), checks codes in the browser with public
// keys only (gate-verify.js), refuses a second scan of a ticket on this device, keeps every
// scan in IndexedDB and uploads them in batches to POST /checkins/batch whenever the
// service is reachable (idempotent by nonce: a batch sent twice is recorded once). Works
// with the network cut once the page and the kit are here (gate-sw.js caches the page).
import { verifierOf, precheck, mergeKit } from "./gate-verify.js";

const API = "/api/v1";
const $ = (id) => document.getElementById(id);
const S = { config: null, kit: null, verifier: null, uploading: false, syncing: false, lastText: "", lastAt: 0, camera: null };
// 250 scans a call, the API's most: with the longest fields they fit its 256 KiB body limit.
const UPLOAD_EVERY_MS = 5_000, SYNC_EVERY_MS = 30_000, BATCH = 250;

// ---------- IndexedDB: config, kit, scans (by nonce; `pending` while not uploaded), admitted tickets ----------
let dbPromise = null;
function db() {
  dbPromise ??= new Promise((resolve, reject) => {
    const open = indexedDB.open("frontrow-gate", 1);
    open.onupgradeneeded = () => {
      const d = open.result;
      d.createObjectStore("state");
      const scans = d.createObjectStore("scans", { keyPath: "nonce" });
      scans.createIndex("pending", "pending");
      scans.createIndex("seq", "seq");
      d.createObjectStore("admitted", { keyPath: "ticket" });
    };
    open.onsuccess = () => resolve(open.result);
    open.onerror = () => reject(open.error);
  });
  return dbPromise;
}
const done = (req) => new Promise((resolve, reject) => { req.onsuccess = () => resolve(req.result); req.onerror = () => reject(req.error); });
async function store(name, mode = "readonly") { return (await db()).transaction(name, mode).objectStore(name); }
async function getState(key) { return done((await store("state")).get(key)); }
async function putState(key, value) { return done((await store("state", "readwrite")).put(value, key)); }
async function count(name, index) {
  const s = await store(name);
  return done(index ? s.index(index).count() : s.count());
}

// ---------- what the staff sees ----------
const ANSWERS = {
  admitted: ["입장 가능", "ADMITTED", "ok"],
  already_redeemed: ["이미 입장한 티켓", "ALREADY SCANNED", "warn"],
  revoked: ["취소된 티켓", "REVOKED", "bad"],
  invalid: ["유효하지 않은 코드", "INVALID CODE", "bad"],
  wrong_schedule: ["다른 회차의 티켓", "WRONG DATE OR SHOW", "other"],
  not_valid_yet: ["아직 입장 시간 전", "NOT VALID YET", "warn"],
  expired: ["만료된 티켓", "EXPIRED", "bad"],
};
const REASONS = {
  format: ["티켓 코드가 아님", "not a ticket code"],
  unknown_key: ["모르는 발급 키", "unknown issuing key"],
  signature: ["서명이 맞지 않음", "bad signature"],
  rotation_required: ["회전 코드가 필요함 (스크린샷?)", "rotating code required (a screenshot?)"],
  holder_signature: ["소지자 서명이 맞지 않음", "holder signature does not match"],
  stale_window: ["오래된 회전 코드 (스크린샷?)", "stale rotating code (a screenshot?)"],
  unknown_ticket: ["없는 티켓", "no such ticket"],
};
const time = (iso) => new Date(iso).toLocaleTimeString("ko-KR", { hour: "2-digit", minute: "2-digit", second: "2-digit" });
const place = (c) => (c ? (c.seat ? `좌석 · seat #${c.seat}` : `스탠딩 · standing area #${c.area}`) : "");

function showVerdict(scan) {
  const [ko, en, tone] = ANSWERS[scan.offline_result] ?? ["?", scan.offline_result, "bad"];
  const box = $("verdict");
  box.className = `verdict ${tone}`;
  box.dataset.result = scan.offline_result;
  $("v-ko").textContent = ko;
  $("v-en").textContent = en;
  const detail = [];
  if (scan.ticket) detail.push(`티켓 · ticket ${scan.ticket}`);
  if (scan.offline_result === "admitted") detail.push(place(scan.claims));
  if (scan.first) detail.push(`처음 · first ${time(scan.first.at)} · ${scan.first.gate}`);
  if (scan.reason && REASONS[scan.reason]) detail.push(`${REASONS[scan.reason][0]} · ${REASONS[scan.reason][1]}`);
  $("v-detail").textContent = detail.filter(Boolean).join(" — ");
  if (navigator.vibrate) navigator.vibrate(scan.offline_result === "admitted" ? 80 : [60, 60, 60]);
  const li = document.createElement("li");
  li.className = `recent-${tone}`;
  li.textContent = `${time(scan.scanned_at)} · ${ko} · ${en}${scan.ticket ? ` · #${scan.ticket}` : ""}`;
  $("recent").prepend(li);
  while ($("recent").children.length > 20) $("recent").lastChild.remove();
}

function fail(text) { $("error").textContent = text || ""; }

async function renderStatus() {
  const c = S.config;
  if (!c) return;
  $("s-gate").textContent = c.gate;
  $("s-schedule").textContent = `#${c.schedule}`;
  $("s-kit").textContent = S.kit ? new Date(S.kit.generated_at).toLocaleString("ko-KR") : "—";
  $("s-revoked").textContent = S.kit ? String(S.kit.revocations.length) : "—";
  const [admitted, pending, all] = await Promise.all([count("admitted"), count("scans", "pending"), count("scans")]);
  $("s-admitted").textContent = String(admitted);
  $("s-pending").textContent = String(pending);
  $("s-uploaded").textContent = String(all - pending);
  $("s-dups").textContent = String((await getState("duplicates")) ?? 0);
  const online = navigator.onLine;
  $("net").textContent = online ? "온라인 · online" : "오프라인 · offline";
  $("net").className = "pill " + (online ? "on" : "off");
}

// ---------- the kit ----------
async function gateFetch(path, init = {}) {
  return fetch(API + path, { ...init, headers: { Accept: "application/json", ...(init.headers || {}), "X-Gate-Key": S.config.key } });
}

async function problem(res) {
  const p = await res.json().catch(() => null);
  if (res.status === 401 || res.status === 403) return "게이트 키가 거부되었습니다. · The gate key was refused.";
  if (res.status === 404) return "회차를 찾을 수 없습니다. · No such schedule.";
  return (p && (p.detail || p.title)) || `HTTP ${res.status}`;
}

async function sync() {
  if (!S.config || S.syncing) return;
  S.syncing = true;
  try {
    const since = S.kit ? `?since=${encodeURIComponent(S.kit.generated_at)}` : "";
    const res = await gateFetch(`/schedules/${S.config.schedule}/gate-kit${since}`);
    if (!res.ok) { fail(await problem(res)); return; }
    S.kit = mergeKit(S.kit, await res.json());
    S.verifier = await verifierOf(S.kit);
    await putState("kit", S.kit);
    fail("");
  } catch { /* offline: the kit in hand stays in force */ } finally {
    S.syncing = false;
    await renderStatus();
  }
}

// ---------- scanning ----------
let queue = Promise.resolve();
/** Checks one scanned text; scans are taken one after the other, never interleaved. */
function scan(text) {
  queue = queue.then(() => check(text)).catch((e) => fail(String(e && e.message ? e.message : e)));
  return queue;
}

async function check(text) {
  if (!S.verifier) return;
  const now = new Date();
  const pre = await precheck(text, S.verifier, now.getTime());
  const c = pre.claims;
  let result = pre.result, first = null;
  const d = await db();
  if (result === "admissible") {
    // The local redemption: a ticket admitted on this device is refused the second time.
    const tx = d.transaction("admitted", "readwrite");
    const had = await done(tx.objectStore("admitted").get(c.ticket));
    if (had) { result = "already_redeemed"; first = had; } else {
      result = "admitted";
      tx.objectStore("admitted").put({ ticket: c.ticket, at: now.toISOString(), gate: S.config.gate });
    }
    await new Promise((resolve, reject) => { tx.oncomplete = resolve; tx.onerror = () => reject(tx.error); });
  }
  const record = {
    code: String(text).trim().slice(0, 512) || "-", gate: S.config.gate, device: S.config.device,
    nonce: crypto.randomUUID(), scanned_at: now.toISOString(), offline_result: result,
    pending: 1, seq: now.getTime(),
  };
  await done((await store("scans", "readwrite")).put(record));
  showVerdict({ ...record, reason: pre.reason, ticket: c && c.ticket, claims: c, first });
  await renderStatus();
  upload();
}

async function upload() {
  if (!S.config || S.uploading) return;
  S.uploading = true;
  try {
    for (;;) {
      const pending = await done((await store("scans")).index("pending").getAll(1, BATCH));
      if (!pending.length) break;
      pending.sort((a, b) => a.seq - b.seq);
      const scans = pending.map(({ code, gate, device, nonce, scanned_at, offline_result }) => ({ code, gate, device, nonce, scanned_at, offline_result }));
      let res;
      try {
        res = await gateFetch("/checkins/batch", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ scans }) });
      } catch { break; }
      if (!res.ok) { fail(await problem(res)); break; }
      const answer = await res.json();
      const s = await store("scans", "readwrite");
      const byNonce = new Map(pending.map((p) => [p.nonce, p]));
      for (const r of answer.results) {
        const p = byNonce.get(r.nonce);
        if (!p) continue;
        delete p.pending;
        p.server_result = r.result;
        p.duplicate = r.duplicate;
        s.put(p);
      }
      await new Promise((resolve, reject) => { s.transaction.oncomplete = resolve; s.transaction.onerror = () => reject(s.transaction.error); });
      if (answer.duplicates) await putState("duplicates", ((await getState("duplicates")) ?? 0) + answer.duplicates);
    }
  } finally {
    S.uploading = false;
    await renderStatus();
  }
}

// ---------- camera (BarcodeDetector where the browser has it) ----------
async function toggleCamera() {
  const video = $("camera");
  if (S.camera) {
    S.camera.stream.getTracks().forEach((t) => t.stop());
    clearInterval(S.camera.timer);
    S.camera = null; video.hidden = true;
    return;
  }
  try {
    const detector = new window.BarcodeDetector({ formats: ["qr_code"] });
    const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
    video.srcObject = stream; video.hidden = false;
    await video.play();
    const timer = setInterval(async () => {
      try {
        const codes = await detector.detect(video);
        const raw = codes[0] && codes[0].rawValue;
        // The same code in front of the camera is taken once every few seconds.
        if (raw && (raw !== S.lastText || Date.now() - S.lastAt > 3000)) { S.lastText = raw; S.lastAt = Date.now(); scan(raw); }
      } catch { /* a frame that could not be read */ }
    }, 250);
    S.camera = { stream, timer };
  } catch (e) {
    fail(`카메라를 쓸 수 없습니다. · The camera is not available (${e.message}).`);
  }
}

// ---------- setup ----------
async function start() {
  $("setup").hidden = true;
  $("scanner").hidden = false;
  $("camera-btn").hidden = !("BarcodeDetector" in window);
  await renderStatus();
  $("code").focus();
  sync().then(upload);
}

async function setup(ev) {
  ev.preventDefault();
  fail("");
  const device = (await getState("device")) ?? `web-${crypto.randomUUID().slice(0, 18)}`;
  await putState("device", device);
  S.config = { schedule: Number($("schedule").value), key: $("gate-key").value.trim(), gate: $("gate-name").value.trim(), device };
  S.kit = null;
  await sync();
  if (!S.kit) { S.config = null; return; }
  await putState("config", S.config);
  $("gate-key").value = "";
  await start();
}

async function reset() {
  if (!confirm("이 기기의 설정을 지울까요? 업로드되지 않은 스캔은 남습니다. · Forget this setup? Scans not yet uploaded are kept.")) return;
  await putState("config", null);
  await putState("kit", null);
  S.config = null; S.kit = null; S.verifier = null;
  $("scanner").hidden = true;
  $("setup").hidden = false;
}

$("setup-form").addEventListener("submit", setup);
$("scan-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const text = $("code").value;
  $("code").value = "";
  if (text.trim()) scan(text);
  $("code").focus();
});
$("camera-btn").addEventListener("click", toggleCamera);
$("sync-btn").addEventListener("click", () => sync().then(upload));
$("reset-btn").addEventListener("click", reset);
addEventListener("online", () => { renderStatus(); sync().then(upload); });
addEventListener("offline", renderStatus);
setInterval(upload, UPLOAD_EVERY_MS);
setInterval(sync, SYNC_EVERY_MS);
if ("serviceWorker" in navigator) navigator.serviceWorker.register("/static/gate-sw.js", { scope: "/static/" }).catch(() => {});

(async () => {
  const hash = new URLSearchParams(location.hash.slice(1));
  if (hash.get("schedule")) $("schedule").value = hash.get("schedule");
  S.config = await getState("config");
  S.kit = await getState("kit");
  if (S.config && S.kit) {
    S.verifier = await verifierOf(S.kit);
    await start();
  } else {
    S.config = null;
    $("setup").hidden = false;
  }
})().catch((e) => fail(String(e)));
