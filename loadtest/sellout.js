// Sell-out: FANS (20,000) fans for a concert of SEATS (5,000) seats; fans are iterations
// (admission is capped by the free seats: fans_admitted vs fans_no_seat is the
// admitted-but-nothing share; fans told SOLD_OUT in line count as fans_sold_out_in_line)
// over at most VUS (1,000) VUs. Each fan creates a user, enters the waiting room, polls until
// ACTIVE, checks the schedule still has seats, loads the seat map, holds a random AVAILABLE
// seat (on 409 tries another, reloading the map now and then), charges the wallet with the
// price and pays with an Idempotency-Key. A fan finding no seat left leaves the line and ends.
// Invariants (thresholds): no failed request (409 on a hold is expected), no payment
// failure, SEATS seats bought when FANS >= SEATS. loadtest/run.sh checks the database after.
//
// Every POST carries an Idempotency-Key header. Only payment uses it server-side; on the
// others it makes Go's HTTP client (k6) replay the request when the server closed the reused
// keep-alive connection under it (actix closes connections idle for 5 s; with k6 starved of
// CPU parsing 5,000-seat maps, a fan can sit > 5 s between two requests). Without it 0.6 %
// of holds failed with status 0 "EOF" in the full run.
import http from 'k6/http';
import { check, sleep } from 'k6';
import { Counter, Trend } from 'k6/metrics';
import {
  API, JSON_HEADERS, bearer, concertFromEnv, env, envInt, setPolicy, signupBody,
} from './lib.js';
import { TREND_STATS } from './profile.js';

const FANS = envInt('FANS', 20000);
const SEATS = envInt('SEATS', 5000);
const VUS = Math.min(envInt('VUS', 1000), FANS);
const PRICE = envInt('PRICE', 5000);
const POLL_S = parseFloat(env('POLL_S', '0.5'));
const WAIT_LIMIT_S = envInt('WAIT_LIMIT_S', 300);
const MAX_ACTIVE = envInt('MAX_ACTIVE', 1000);
const ADMIT_PER_SECOND = envInt('ADMIT_PER_SECOND', 500);

const bought = new Counter('fans_bought');
const noSeat = new Counter('fans_no_seat'); // admitted, then found nothing to buy
const admittedFans = new Counter('fans_admitted');
const soldOutInLine = new Counter('fans_sold_out_in_line'); // told SOLD_OUT while waiting
const gaveUp = new Counter('fans_gave_up'); // expired / waited too long / too many conflicts
const holdConflicts = new Counter('hold_409');
const payFailed = new Counter('payments_failed');
const paidAt = new Trend('sellout_paid_at_s'); // seconds since the test start: max = sell-out
const waited = new Trend('fan_wait_active_s'); // enter -> ACTIVE
const journey = new Trend('fan_journey_s', true); // ACTIVE -> paid, ms

const thresholds = {
  http_req_failed: ['rate==0'],
  payments_failed: ['count==0'],
  fans_gave_up: ['count==0'],
  checks: ['rate==1'],
};
// Thresholds that always pass keep the per-endpoint latencies in the summary export.
for (const n of ['create_user', 'enter', 'status', 'schedules', 'seats', 'hold', 'charge', 'pay']) {
  thresholds[`http_req_duration{name:${n}}`] = ['max>=0'];
}
if (FANS >= SEATS) thresholds.fans_bought = [`count==${SEATS}`];

export const options = {
  scenarios: {
    sellout: {
      executor: 'shared-iterations',
      vus: VUS,
      iterations: FANS,
      maxDuration: env('MAX_DURATION', '15m'),
    },
  },
  setupTimeout: '60s',
  summaryTrendStats: TREND_STATS,
  thresholds,
};

export function setup() {
  const perRow = SEATS >= 100 && SEATS % 100 === 0 ? 100 : SEATS;
  const c = concertFromEnv('sell-out', SEATS / perRow, perRow, PRICE);
  if (env('SET_POLICY', '1') === '1') setPolicy(c.concertId, MAX_ACTIVE, ADMIT_PER_SECOND, 600);
  return Object.assign(c, { t0: Date.now() });
}

function leave(qtoken) {
  http.del(`${API}/queue`, null, {
    headers: { 'X-Queue-Token': qtoken },
    tags: { name: 'leave' },
  });
}

function availableSeats(data) {
  const r = http.get(`${API}/concerts/${data.concertId}/schedules`, { tags: { name: 'schedules' } });
  if (!check(r, { 'schedules 200': (x) => x.status === 200 })) {
    console.error(`schedules: ${r.status} ${r.error || ''} ${String(r.body).slice(0, 200)}`);
    return 0;
  }
  const s = (r.json() || []).find((x) => x.id === data.scheduleId);
  return s ? s.available_seats : 0;
}

function seatMap(data) {
  const r = http.get(`${API}/schedules/${data.scheduleId}/seats`, { tags: { name: 'seats' } });
  if (!check(r, { 'seats 200': (x) => x.status === 200 })) {
    console.error(`seats: ${r.status} ${r.error || ''} ${String(r.body).slice(0, 200)}`);
    return [];
  }
  return (r.json() || []).filter((s) => s.status === 'AVAILABLE');
}

function takeRandom(list) {
  const i = Math.floor(Math.random() * list.length);
  const s = list[i];
  list[i] = list[list.length - 1];
  list.pop();
  return s;
}

export default function (data) {
  // Zero samples keep every threshold's metric present even when nothing happened.
  [bought, noSeat, gaveUp, holdConflicts, payFailed, admittedFans, soldOutInLine]
    .forEach((m) => m.add(0));
  const fan = `${__VU}-${__ITER}`;
  const u = http.post(`${API}/users`, JSON.stringify(signupBody(`fan-${fan}`)), {
    headers: Object.assign({ 'Idempotency-Key': `user-${fan}` }, JSON_HEADERS),
    tags: { name: 'create_user' },
  });
  if (!check(u, { 'user 201': (r) => r.status === 201 })) {
    console.error(`create user: ${u.status} ${u.error || ''} ${String(u.body).slice(0, 200)}`);
    return;
  }
  const token = u.json('access_token');
  const userId = u.json('id');

  const e = http.post(`${API}/concerts/${data.concertId}/queue`, null, {
    headers: bearer(token, { 'Idempotency-Key': `enter-${fan}` }),
    tags: { name: 'enter' },
    // 409 queue-closed: the line closed (sold out) before this fan arrived — an answer, not a failure.
    responseCallback: http.expectedStatuses(200, 201, 409),
  });
  if (e.status === 409 && String(e.body).includes('/problems/queue-closed')) {
    soldOutInLine.add(1);
    return;
  }
  if (!check(e, { 'enter 201/200': (r) => r.status === 201 || r.status === 200 })) {
    console.error(`enter: ${e.status} ${e.error || ''} ${String(e.body).slice(0, 200)}`);
    return;
  }
  const qtoken = e.json('token');
  const entered = Date.now();
  let status = e.json('status');
  // PRE_QUEUE only with a sale_opens_at; SOLD_OUT ends the wait (the line closed).
  while (status === 'WAITING' || status === 'PRE_QUEUE') {
    if (Date.now() - entered > WAIT_LIMIT_S * 1000) {
      gaveUp.add(1);
      leave(qtoken);
      return;
    }
    sleep(POLL_S);
    const s = http.get(`${API}/queue/status`, {
      headers: { 'X-Queue-Token': qtoken },
      tags: { name: 'status' },
    });
    if (!check(s, { 'status 200': (r) => r.status === 200 })) return;
    status = s.json('status');
  }
  if (status === 'SOLD_OUT') {
    soldOutInLine.add(1);
    return;
  }
  if (status !== 'ACTIVE') {
    console.warn(`fan ${fan}: token ${status} before admission`);
    gaveUp.add(1);
    return;
  }
  const admitted = Date.now();
  admittedFans.add(1);
  waited.add((admitted - entered) / 1000);

  // Cheap check first: the sold-out tail must not load the whole seat map.
  if (availableSeats(data) === 0) {
    noSeat.add(1);
    leave(qtoken);
    return;
  }
  const auth = bearer(token, { 'X-Queue-Token': qtoken });
  let seats = seatMap(data);
  let reservation = null;
  let conflictsInARow = 0;
  for (let attempt = 0; attempt < 60 && reservation === null; attempt++) {
    if (seats.length === 0 || conflictsInARow >= 4) {
      if (availableSeats(data) === 0) break;
      seats = seatMap(data);
      conflictsInARow = 0;
      if (seats.length === 0) break;
    }
    const seat = takeRandom(seats);
    const h = http.post(
      `${API}/reservations`,
      JSON.stringify({ schedule_id: data.scheduleId, seat_id: seat.id }),
      {
        headers: Object.assign({ 'Idempotency-Key': `hold-${fan}-${attempt}` }, auth),
        tags: { name: 'hold' },
        responseCallback: http.expectedStatuses(201, 409),
      },
    );
    if (h.status === 201) {
      reservation = h.json();
    } else if (h.status === 409) {
      holdConflicts.add(1);
      conflictsInARow++;
    } else {
      check(h, { 'hold 201/409': () => false });
      console.error(`hold: ${h.status} ${h.error || ''} ${String(h.body).slice(0, 200)}`);
      gaveUp.add(1);
      leave(qtoken);
      return;
    }
  }
  if (reservation === null) {
    noSeat.add(1);
    leave(qtoken);
    return;
  }

  const price = reservation.price !== undefined ? reservation.price : PRICE;
  const c = http.post(`${API}/wallet/charge`, JSON.stringify({ amount: price }), {
    headers: bearer(token, { 'Idempotency-Key': `charge-${fan}` }),
    tags: { name: 'charge' },
  });
  check(c, { 'charge 200': (r) => r.status === 200 });

  const key = `sellout-${userId}-${reservation.id}`;
  let p = null;
  for (let tries = 0; tries < 3; tries++) {
    p = http.post(`${API}/reservations/${reservation.id}/payment`, null, {
      headers: Object.assign({ 'Idempotency-Key': key }, auth),
      tags: { name: 'pay' },
    });
    if (p.status === 200 || (p.status >= 400 && p.status < 500)) break; // retry only 5xx/network
    sleep(0.2);
  }
  const ok = check(p, {
    'pay 200 CONFIRMED': (r) => r.status === 200 && r.json('status') === 'CONFIRMED',
  });
  if (ok) {
    bought.add(1);
    paidAt.add((Date.now() - data.t0) / 1000);
    journey.add(Date.now() - admitted);
  } else {
    payFailed.add(1);
    console.error(`pay: ${p.status} ${p.error || ''} ${String(p.body).slice(0, 200)}`);
    leave(qtoken);
  }
}
