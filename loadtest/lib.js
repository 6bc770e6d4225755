// Shared helpers of the frontrow k6 scenarios. Everything is parametrized with __ENV so
// the smoke run (CI) and the full run share the same code.
import http from 'k6/http';
import { sleep } from 'k6';

export const BASE_URL = (__ENV.BASE_URL || 'http://127.0.0.1:8080').replace(/\/$/, '');
export const API = `${BASE_URL}/api/v1`;
export const ADMIN_KEY = __ENV.ADMIN_KEY || 'frontrow-dev-admin-key';

export function env(name, dflt) {
  const v = __ENV[name];
  return v === undefined || v === '' ? dflt : v;
}
export function envInt(name, dflt) {
  return parseInt(env(name, String(dflt)), 10);
}

export const JSON_HEADERS = { 'Content-Type': 'application/json' };

export function bearer(accessToken, extra) {
  return Object.assign({ Authorization: `Bearer ${accessToken}` }, JSON_HEADERS, extra || {});
}

export function adminHeaders() {
  return Object.assign({ 'X-Admin-Key': ADMIN_KEY }, JSON_HEADERS);
}

function mustJson(res, what, want) {
  if (res.status !== want) {
    throw new Error(`${what}: expected ${want}, got ${res.status}: ${String(res.body).slice(0, 300)}`);
  }
  return res.json();
}

// Creates a concert with one schedule of rows x seatsPerRow seats; returns the created detail.
export function createConcert(title, rows, seatsPerRow, price) {
  const body = {
    title,
    venue: 'Loadtest Arena',
    schedules: [
      {
        starts_at: new Date(Date.now() + 30 * 86400 * 1000).toISOString(),
        rows,
        seats_per_row: seatsPerRow,
        price,
      },
    ],
  };
  const res = http.post(`${API}/admin/concerts`, JSON.stringify(body), {
    headers: adminHeaders(),
    tags: { name: 'setup' },
  });
  return mustJson(res, 'create concert', 201);
}

// `extra` adds policy fields (e.g. admit_per_seat, sale_opens_at).
export function setPolicy(concertId, maxActive, admitPerSecond, activeTtlSeconds, extra = {}) {
  const res = http.put(
    `${API}/admin/concerts/${concertId}/queue-policy`,
    JSON.stringify(Object.assign({
      max_active: maxActive,
      admit_per_second: admitPerSecond,
      active_ttl_seconds: activeTtlSeconds,
      paused: false,
    }, extra)),
    { headers: adminHeaders(), tags: { name: 'setup' } },
  );
  return mustJson(res, 'queue policy', 200);
}

// The concert from CONCERT_ID/SCHEDULE_ID, or a new one.
export function concertFromEnv(title, rows, seatsPerRow, price) {
  const cid = env('CONCERT_ID', '');
  if (cid) {
    let sid = env('SCHEDULE_ID', '');
    if (!sid) {
      const res = http.get(`${API}/concerts/${cid}/schedules`, { tags: { name: 'setup' } });
      sid = String(mustJson(res, 'schedules', 200)[0].id);
    }
    return { concertId: parseInt(cid, 10), scheduleId: parseInt(sid, 10) };
  }
  const c = createConcert(title, rows, seatsPerRow, price);
  return { concertId: c.id, scheduleId: c.schedules[0].id };
}

// One run's sign-ups never collide with another's on a shared database.
const RUN = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;

// The body of POST /users for `name`: a unique email and a password.
export function signupBody(name) {
  return { name, email: `${name}-${RUN}@load.test`, password: 'load-test-password' };
}

// Creates n users with batched requests; returns [{id, token}].
export function createUsers(n, prefix, chunk) {
  const out = [];
  chunk = chunk || 100;
  for (let i = 0; i < n; i += chunk) {
    const reqs = [];
    for (let j = i; j < Math.min(n, i + chunk); j++) {
      reqs.push({
        method: 'POST',
        url: `${API}/users`,
        body: JSON.stringify(signupBody(`${prefix}-${j}`)),
        params: { headers: JSON_HEADERS, tags: { name: 'setup' } },
      });
    }
    for (const res of http.batch(reqs)) {
      const u = mustJson(res, 'create user', 201);
      out.push({ id: u.id, token: u.access_token });
    }
  }
  return out;
}

// Every user enters the concert's queue (batched); sets .qtoken on each.
export function enterAll(users, concertId, chunk) {
  chunk = chunk || 100;
  for (let i = 0; i < users.length; i += chunk) {
    const part = users.slice(i, i + chunk);
    const res = http.batch(
      part.map((u) => ({
        method: 'POST',
        url: `${API}/concerts/${concertId}/queue`,
        body: null,
        params: { headers: bearer(u.token), tags: { name: 'setup' } },
      })),
    );
    res.forEach((r, k) => {
      if (r.status !== 201 && r.status !== 200) {
        throw new Error(`enter queue: ${r.status} ${String(r.body).slice(0, 200)}`);
      }
      part[k].qtoken = r.json('token');
    });
  }
}

// Polls (batched) until every token is ACTIVE, or throws after timeoutS.
export function waitAllActive(users, timeoutS, chunk) {
  chunk = chunk || 100;
  const deadline = Date.now() + timeoutS * 1000;
  let pending = users.slice();
  while (pending.length > 0) {
    if (Date.now() > deadline) {
      throw new Error(`${pending.length} users still not ACTIVE after ${timeoutS}s`);
    }
    const next = [];
    for (let i = 0; i < pending.length; i += chunk) {
      const part = pending.slice(i, i + chunk);
      const res = http.batch(
        part.map((u) => ({
          method: 'GET',
          url: `${API}/queue/status`,
          params: { headers: { 'X-Queue-Token': u.qtoken }, tags: { name: 'setup' } },
        })),
      );
      res.forEach((r, k) => {
        if (r.status !== 200) throw new Error(`status: ${r.status} ${String(r.body).slice(0, 200)}`);
        const st = r.json('status');
        if (st === 'EXPIRED') throw new Error(`token of user ${part[k].id} EXPIRED while waiting`);
        if (st !== 'ACTIVE') next.push(part[k]);
      });
    }
    pending = next;
    if (pending.length > 0) sleep(0.2);
  }
}

export function sleepUntil(epochMs) {
  const d = epochMs - Date.now();
  if (d > 0) sleep(d / 1000);
}
