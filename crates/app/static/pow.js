// frontrow's proof-of-work solver, for lines whose policy asks one.
//
//   const c = await (await fetch(`/api/v1/concerts/${id}/queue/challenge`,
//                                { headers: { Authorization: `Bearer ${token}` } })).json();
//   const nonce = await solvePow(c.challenge, c.difficulty);
//   await fetch(`/api/v1/concerts/${id}/queue`, { method: "POST", headers: {
//     Authorization: `Bearer ${token}`, "X-Pow": `${c.challenge}:${nonce}` } });
//
// The server accepts a nonce when SHA-256 of the UTF-8 string `<challenge>:<nonce>` has at
// least `difficulty` leading zero bits: about 2^difficulty hashes to find, one to check.
// Hashes run through Web Crypto (crypto.subtle.digest) in batches, so the promise overhead
// of each call is shared; the page stays responsive between batches.

const BATCH = 512;

function leadingZeroBits(bytes) {
  let n = 0;
  for (const b of bytes) {
    if (b === 0) {
      n += 8;
      continue;
    }
    return n + Math.clz32(b) - 24;
  }
  return n;
}

/**
 * Finds a nonce for `challenge` at `difficulty` leading zero bits.
 * @param {string} challenge the `challenge` of GET …/queue/challenge
 * @param {number} difficulty its `difficulty` (0: nothing to solve)
 * @param {(tried: number) => void} [onProgress] called after each batch
 * @returns {Promise<string>} the nonce; send `X-Pow: <challenge>:<nonce>`
 */
export async function solvePow(challenge, difficulty, onProgress) {
  if (!difficulty || difficulty <= 0) return "0";
  const encoder = new TextEncoder();
  const prefix = challenge + ":";
  for (let start = 0; ; start += BATCH) {
    const nonces = [];
    const digests = [];
    for (let n = start; n < start + BATCH; n++) {
      const nonce = String(n);
      nonces.push(nonce);
      digests.push(crypto.subtle.digest("SHA-256", encoder.encode(prefix + nonce)));
    }
    const done = await Promise.all(digests);
    for (let i = 0; i < done.length; i++) {
      if (leadingZeroBits(new Uint8Array(done[i])) >= difficulty) return nonces[i];
    }
    if (onProgress) onProgress(start + BATCH);
  }
}
