// Merkle tree hashing of RFC 6962 / RFC 9162 section 2.1, computed in the
// browser with WebCrypto's SHA-256, and the verification algorithms of RFC
// 9162 for inclusion proofs (2.1.3.2) and consistency proofs (2.1.4.2).

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

// RFC 9162 2.1.4.2: checks that the tree of size `second` with root
// `secondRoot` extends the tree of size `first` with root `firstRoot`.
// Returns {ok, error}.
export async function verifyConsistency(first, second, firstRoot, secondRoot, proof) {
  if (!(first > 0) || !(first <= second)) return { ok: false, error: "sizes out of order" };
  if (first === second) return { ok: proof.length === 0 && equal(firstRoot, secondRoot), error: "same size, different roots" };
  let path = proof;
  let m = first;
  while (m % 2 === 0) m /= 2;
  if (m === 1) path = [firstRoot, ...proof]; // first is a power of two: its root is a node of the path
  if (!path.length) return { ok: false, error: "empty proof" };
  let fn = first - 1, sn = second - 1;
  while (fn % 2 === 1) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
  let fr = path[0], sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0) return { ok: false, error: "proof longer than the trees need" };
    if (fn % 2 === 1 || fn === sn) {
      fr = await nodeHash(c, fr);
      sr = await nodeHash(c, sr);
      if (fn % 2 === 0)
        while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
    } else {
      sr = await nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0) return { ok: false, error: "proof shorter than the trees need" };
  const ok = equal(fr, firstRoot) && equal(sr, secondRoot);
  return { ok, error: ok ? null : "the proof does not lead to both roots" };
}

export function equal(a, b) {
  if (!a || !b || a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}
