// Waiting room under load: VUS virtual fans (1,000 by default) ramp up, hold, ramp down.
// Each VU creates a user, enters one concert's queue, then polls its status in a loop.
// Thresholds: no failed request, every check passes.
import http from 'k6/http';
import { check, sleep } from 'k6';
import { API, JSON_HEADERS, bearer, concertFromEnv, env, signupBody } from './lib.js';
import { rampProfile, TREND_STATS } from './profile.js';

const THINK_S = parseFloat(env('THINK_S', '0')); // pause between polls; 0 = closed loop

export const options = {
  scenarios: { queue: rampProfile('fan') },
  summaryTrendStats: TREND_STATS,
  setupTimeout: '60s',
  thresholds: {
    http_req_failed: ['rate==0'],
    checks: ['rate==1'],
    'http_req_duration{name:status}': ['max>=0'], // keeps the per-endpoint figure in the summary
  },
};

export function setup() {
  return concertFromEnv('queue loadtest', 1, 10, 1000);
}

let me = null; // per VU: {token, qtoken}

export function fan(data) {
  if (me === null) {
    const u = http.post(`${API}/users`, JSON.stringify(signupBody(`queue-${__VU}`)), {
      headers: JSON_HEADERS,
      tags: { name: 'create_user' },
    });
    if (!check(u, { 'user 201': (r) => r.status === 201 })) return;
    const token = u.json('access_token');
    const e = http.post(`${API}/concerts/${data.concertId}/queue`, null, {
      headers: bearer(token),
      tags: { name: 'enter' },
    });
    if (!check(e, { 'enter 201/200': (r) => r.status === 201 || r.status === 200 })) return;
    me = { token, qtoken: e.json('token') };
    return;
  }
  const s = http.get(`${API}/queue/status`, {
    headers: { 'X-Queue-Token': me.qtoken },
    tags: { name: 'status' },
  });
  check(s, {
    'status 200': (r) => r.status === 200,
    // a substring test, not r.json(): JSON parsing would cost k6 CPU the ceiling does not pay
    'status WAITING/ACTIVE': (r) =>
      typeof r.body === 'string' && (r.body.includes('"WAITING"') || r.body.includes('"ACTIVE"')),
  });
  if (THINK_S > 0) sleep(THINK_S);
}
