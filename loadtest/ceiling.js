// The k6 ceiling: the same VU profile as queue.js against GET /healthz (no I/O behind it),
// so queue.js can be judged against what k6 + the HTTP stack manage on this machine.
import http from 'k6/http';
import { check } from 'k6';
import { BASE_URL } from './lib.js';
import { rampProfile, TREND_STATS } from './profile.js';

export const options = {
  scenarios: { ceiling: rampProfile('ceiling') },
  summaryTrendStats: TREND_STATS,
  thresholds: {
    http_req_failed: ['rate==0'],
    checks: ['rate==1'],
  },
};

export function ceiling() {
  const res = http.get(`${BASE_URL}/healthz`, { tags: { name: 'healthz' } });
  check(res, { 'healthz 200': (r) => r.status === 200 });
}
