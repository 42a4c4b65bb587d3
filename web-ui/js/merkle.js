// Merkle tree hashing of RFC 6962 / RFC 9162 section 2.1, computed in the
// browser with WebCrypto's SHA-256, and the inclusion proof verification
// algorithm of RFC 9162 section 2.1.3.2.

async function sha256(...parts) {
  if (!globalThis.crypto || !crypto.subtle)
    throw new Error("WebCrypto is only there in a secure context: open the UI over https, or on localhost");
  const len = parts.reduce((n, p) => n + p.length, 0);
  const buf = new Uint8Array(len);
  let o = 0;
  for (const p of parts) { buf.set(p, o); o += p.length; }
  return new Uint8Array(await crypto.subtle.digest("SHA-256", buf));
}

// MTH of one entry: SHA-256(0x00 || leaf).
export const leafHash = (leaf) => sha256(Uint8Array.of(0), leaf);
// An interior node: SHA-256(0x01 || left || right).
export const nodeHash = (l, r) => sha256(Uint8Array.of(1), l, r);

// Recomputes the root from a leaf hash and its audit path. Returns
// {root, steps} (root null when the proof's shape does not fit index and
// size); steps say which side each proof hash went on.
export async function rootFromInclusionProof(index, size, leaf, proof) {
  if (!(index >= 0) || !(index < size)) return { root: null, steps: [], error: "index outside the tree" };
  let fn = index, sn = size - 1, r = leaf;
  const steps = [];
  for (const p of proof) {
    if (sn === 0) return { root: null, steps, error: "proof longer than the tree is deep" };
    if (fn % 2 === 1 || fn === sn) {
      r = await nodeHash(p, r);
      steps.push("left");
      if (fn % 2 === 0)
        while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
    } else {
      r = await nodeHash(r, p);
      steps.push("right");
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0) return { root: null, steps, error: "proof shorter than the tree is deep" };
  return { root: r, steps };
}

export function equal(a, b) {
  if (!a || !b || a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}
