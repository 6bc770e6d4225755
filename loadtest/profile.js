// The VU profile shared by queue.js and ceiling.js (so their figures compare).
import { env, envInt } from './lib.js';

export function rampProfile(execName) {
  const vus = envInt('VUS', 1000);
  return {
    executor: 'ramping-vus',
    exec: execName,
    startVUs: 0,
    stages: [
      { duration: env('RAMP_UP', '10s'), target: vus },
      { duration: env('DURATION', '30s'), target: vus },
      { duration: env('RAMP_DOWN', '5s'), target: 0 },
    ],
    gracefulRampDown: '5s',
  };
}

export const TREND_STATS = ['avg', 'min', 'med', 'max', 'p(50)', 'p(90)', 'p(95)', 'p(99)'];
