// One hot seat: VUS (1,000) admitted users try to hold the same seat at the same moment.
// setup() creates the users, enters them all into the queue and waits until every token is
// ACTIVE; each VU then opens its connection, waits for a common start timestamp and fires.
// Invariant (thresholds): exactly one 201, VUS-1 x 409, nothing else; every answer within
// ANSWER_WITHIN_MS (1 s) of the start.
import http from 'k6/http';
import { check } from 'k6';
import { Counter, Trend } from 'k6/metrics';
import {
  API, BASE_URL, bearer, concertFromEnv, createUsers, enterAll, envInt, setPolicy,
  sleepUntil, waitAllActive,
} from './lib.js';
import { TREND_STATS } from './profile.js';

const VUS = envInt('VUS', 1000);
const START_DELAY_MS = envInt('START_DELAY_MS', 10000); // room for 1,000 VUs to connect
const ANSWER_WITHIN_MS = envInt('ANSWER_WITHIN_MS', 1000);

const held = new Counter('hotseat_201');
const conflicts = new Counter('hotseat_409');
const others = new Counter('hotseat_other');
const answeredAt = new Trend('hotseat_answered_after_ms', true); // since the common start
const lateStart = new Trend('hotseat_fired_late_ms', true); // how late a VU fired

export const options = {
  scenarios: {
    hotseat: { executor: 'per-vu-iterations', vus: VUS, iterations: 1, maxDuration: '60s' },
  },
  setupTimeout: '180s',
  batch: 100,
  batchPerHost: 100,
  summaryTrendStats: TREND_STATS,
  thresholds: {
    hotseat_201: ['count==1'],
    hotseat_409: [`count==${VUS - 1}`],
    hotseat_other: ['count==0'],
    hotseat_answered_after_ms: [`max<${ANSWER_WITHIN_MS}`],
    checks: ['rate==1'],
    'http_req_duration{name:hold}': ['max>=0'], // keeps the hold latency in the summary
  },
};

export function setup() {
  const c = concertFromEnv('hot seat', 1, 10, 5000);
  // Every fan must be admitted to race for the one seat: no inventory bound here.
  setPolicy(c.concertId, Math.max(VUS, 1000), Math.max(VUS, 500), 600, { admit_per_seat: 1000000 });
  const users = createUsers(VUS, 'hot');
  enterAll(users, c.concertId);
  waitAllActive(users, 120);
  const seats = http.get(`${API}/schedules/${c.scheduleId}/seats`).json();
  const seat = seats.find((s) => s.status === 'AVAILABLE');
  if (!seat) throw new Error('no AVAILABLE seat for the hot seat test');
  return {
    scheduleId: c.scheduleId,
    seatId: seat.id,
    users,
    startAt: Date.now() + START_DELAY_MS,
  };
}

export default function (data) {
  const me = data.users[__VU - 1];
  // Open the keep-alive connection shortly before the barrier (spread over 2.5 s, and at
  // most 4.5 s before it: the server closes connections idle for 5 s), so the race measures
  // the hold, not 1,000 TCP handshakes.
  sleepUntil(data.startAt - 4500 + (__VU % 100) * 25);
  http.get(`${BASE_URL}/healthz`, { tags: { name: 'warmup' } });
  sleepUntil(data.startAt);
  const fired = Date.now();
  lateStart.add(fired - data.startAt);
  const res = http.post(
    `${API}/reservations`,
    JSON.stringify({ schedule_id: data.scheduleId, seat_id: data.seatId }),
    {
      // The key (ignored by the hold endpoint) lets Go's HTTP client replay the POST if the
      // server closed the reused connection at the same moment (keep-alive race).
      headers: bearer(me.token, { 'X-Queue-Token': me.qtoken, 'Idempotency-Key': `hot-${__VU}` }),
      tags: { name: 'hold' },
      responseCallback: http.expectedStatuses(201, 409),
    },
  );
  answeredAt.add(Date.now() - data.startAt);
  held.add(res.status === 201 ? 1 : 0);
  conflicts.add(res.status === 409 ? 1 : 0);
  others.add(res.status !== 201 && res.status !== 409 ? 1 : 0);
  check(res, { 'hold 201 or 409': (r) => r.status === 201 || r.status === 409 });
  if (res.status !== 201 && res.status !== 409) {
    console.error(`hold: unexpected ${res.status}: ${String(res.body).slice(0, 300)}`);
  }
}
