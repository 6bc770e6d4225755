// The scanner page's verifier (crates/app/static/gate-verify.js) answers every code of
// gate-vectors.json exactly as the Rust verifier did (crates/app/tests/gate_vectors.rs
// writes the file and fails when it is stale). Runs in node (WebCrypto: Ed25519, P-256);
// needs no server.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { precheck, verifierOf, mergeKit, b64urlDecode, b64urlEncode } from "../../crates/app/static/gate-verify.js";

const vectors = JSON.parse(readFileSync(new URL("./gate-vectors.json", import.meta.url), "utf8"));

test("the page's verifier answers every vector as the Rust verifier", async () => {
  const v = await verifierOf(vectors.kit);
  const now = Date.parse(vectors.now);
  assert.ok(vectors.cases.length > 140, `only ${vectors.cases.length} cases`);
  const wrong = [];
  for (const c of vectors.cases) {
    const got = await precheck(c.code, v, now);
    if (got.result !== c.result || got.reason !== c.reason) wrong.push({ label: c.label, want: [c.result, c.reason], got: [got.result, got.reason] });
  }
  assert.deepEqual(wrong, []);
});

test("base64url round-trips and refuses stray bits", () => {
  for (let n = 0; n < 40; n++) {
    const b = Uint8Array.from({ length: n }, (_, i) => (i * 37 + n) & 255);
    assert.deepEqual(b64urlDecode(b64urlEncode(b)), b);
  }
  assert.throws(() => b64urlDecode("AB"), /encoding/);
  assert.deepEqual(b64urlDecode("AA"), Uint8Array.of(0));
});

test("an incremental kit is merged: the broader revocation wins, the newer time stays", () => {
  const full = { schedule_id: 7, generated_at: "2030-01-01T00:00:00Z", keys: [1], rules: {},
    revocations: [{ ticket_id: 1, through: 0 }, { ticket_id: 2, through: 4294967295 }] };
  const update = { schedule_id: 7, generated_at: "2030-01-01T00:01:00Z", incremental: true, keys: [2], rules: { a: 1 },
    revocations: [{ ticket_id: 1, through: 4294967295 }, { ticket_id: 2, through: 3 }, { ticket_id: 3, through: 0 }] };
  const m = mergeKit(full, update);
  assert.deepEqual(m.revocations.map((r) => [r.ticket_id, r.through]), [[1, 4294967295], [2, 4294967295], [3, 0]]);
  assert.equal(m.generated_at, "2030-01-01T00:01:00Z");
  assert.deepEqual(m.keys, [2]);
});
