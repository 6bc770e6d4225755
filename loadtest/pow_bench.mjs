// How long crates/app/static/pow.js takes per difficulty, on this machine's Node Web Crypto:
//   node loadtest/pow_bench.mjs
import { solvePow } from "../crates/app/static/pow.js";
import { createHash } from "node:crypto";
for (const d of [12, 14, 16, 18]) {
  let total = 0, tried = 0; const runs = d >= 18 ? 3 : 8;
  for (let r = 0; r < runs; r++) {
    const c = "1.2.1780000000000.abcdef" + r + ".mac";
    const t = performance.now();
    const nonce = await solvePow(c, d);
    total += performance.now() - t; tried += Number(nonce) + 1;
    const h = createHash("sha256").update(c + ":" + nonce).digest();
    let z = 0; for (const b of h) { if (b === 0) { z += 8; continue; } z += Math.clz32(b) - 24; break; }
    if (z < d) throw new Error("bad nonce");
  }
  console.log(`difficulty ${d}: mean ${(total / runs).toFixed(0)} ms, ${(tried / total * 1000).toFixed(0)} hashes/s`);
}
