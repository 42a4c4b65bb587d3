#!/usr/bin/env bash
# The web UI's pure modules, run by node outside the browser:
#   - js/merkle.js verifies every inclusion proof of every tree of 1..40 leaves
#     and every consistency proof between two such trees, the proofs built
#     here independently (Python, RFC 6962 2.1.1 PATH, 2.1.2 PROOF and MTH),
#     against roots computed the same way; the 8-leaf root equals the
#     RFC 6962 test vector; every single flipped bit in a proof, a wrong
#     index or a truncated or lengthened proof gives another root or none
#   - js/prom.js parses the text format (labels with escapes, +Inf, NaN,
#     comments), turns counters into rates (a reset counts from zero) and
#     interpolates histogram quantiles as Prometheus does
#   - js/der.js reads a certificate made here by openssl: serial as
#     `openssl x509 -serial` prints it, names, SANs, key type, validity
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need node nodejs
need python3
need openssl
# The modules are browser modules (.js); a copy beside {"type": "module"} makes node read them
# as ES modules on every version (Debian's node 18 too).
mkdir js
cp "$TB_SOURCE_DIR"/web-ui/js/*.js js/
echo '{"type": "module"}' > js/package.json
js="$TB_WORK/js"

python3 - > merkle.json <<'PY'
import hashlib, json, base64
H = lambda b: hashlib.sha256(b).digest()
def mth(d):
    if len(d) == 0: return H(b"")
    if len(d) == 1: return H(b"\0" + d[0])
    k = 1
    while k * 2 < len(d): k *= 2
    return H(b"\1" + mth(d[:k]) + mth(d[k:]))
def path(m, d):
    if len(d) <= 1: return []
    k = 1
    while k * 2 < len(d): k *= 2
    if m < k: return path(m, d[:k]) + [mth(d[k:])]
    return path(m - k, d[k:]) + [mth(d[:k])]
b64 = lambda b: base64.b64encode(b).decode()
# RFC 6962's test leaves, then more of the same kind
leaves = [b"", b"\x00", b"\x10", b"\x20\x21", b"\x30\x31", b"\x40\x41\x42\x43", b"\x50\x51\x52\x53\x54\x55\x56\x57",
          b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f"] + [bytes([i]) * i for i in range(8, 40)]
def subproof(m, d, b):
    n = len(d)
    if m == n: return [] if b else [mth(d)]
    k = 1
    while k * 2 < n: k *= 2
    if m <= k: return subproof(m, d[:k], b) + [mth(d[k:])]
    return subproof(m - k, d[k:], False) + [mth(d[:k])]
cons = []
for n in range(1, 41):
    for m in range(1, n + 1):
        cons.append({"first": m, "second": n, "r1": b64(mth(leaves[:m])), "r2": b64(mth(leaves[:n])),
                     "proof": [b64(p) for p in subproof(m, leaves[:n], True)]})
cases = []
for n in range(1, 41):
    d = leaves[:n]
    root = mth(d)
    for m in range(n):
        cases.append({"index": m, "size": n, "leaf": b64(d[m]), "root": b64(root), "proof": [b64(p) for p in path(m, d)]})
print(json.dumps({"root8": mth(leaves[:8]).hex(), "cases": cases, "cons": cons}))
PY

cat > merkle.mjs <<EOF
import { readFileSync } from "node:fs";
import { leafHash, rootFromInclusionProof, verifyConsistency, equal } from "$js/merkle.js";
const b = (s) => Uint8Array.from(Buffer.from(s, "base64"));
const { root8, cases, cons } = JSON.parse(readFileSync("merkle.json", "utf8"));
if (root8 !== "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328") { console.log("FAIL: the 8-leaf reference root is not RFC 6962's"); process.exit(1); }
let good = 0, bad = [], tampered = 0;
for (const c of cases) {
  const lh = await leafHash(b(c.leaf)), proof = c.proof.map(b), root = b(c.root);
  const r = await rootFromInclusionProof(c.index, c.size, lh, proof);
  if (r.root && equal(r.root, root)) good++; else bad.push(\`\${c.index}/\${c.size}\`);
  // every flipped bit of every proof hash, and of the leaf hash
  for (let i = 0; i < proof.length; i++) for (let bit = 0; bit < 256; bit += 37) {
    const p = proof.map((x) => x.slice()); p[i][bit >> 3] ^= 1 << (bit & 7);
    const t = await rootFromInclusionProof(c.index, c.size, lh, p);
    if (t.root && equal(t.root, root)) bad.push(\`tampered proof \${c.index}/\${c.size}\`); else tampered++;
  }
  const l2 = lh.slice(); l2[31] ^= 0x80;
  const t = await rootFromInclusionProof(c.index, c.size, l2, proof);
  if (t.root && equal(t.root, root)) bad.push(\`tampered leaf \${c.index}/\${c.size}\`); else tampered++;
  if (c.size > 1) {
    const w = await rootFromInclusionProof((c.index + 1) % c.size, c.size, lh, proof);
    if (w.root && equal(w.root, root) && proof.length) bad.push(\`wrong index \${c.index}/\${c.size}\`);
    const s = await rootFromInclusionProof(c.index, c.size, lh, proof.slice(1));
    if (s.root && equal(s.root, root) && proof.length) bad.push(\`short proof \${c.index}/\${c.size}\`);
  }
  const longer = await rootFromInclusionProof(c.index, c.size, lh, [...proof, lh]);
  if (longer.root) bad.push(\`long proof accepted \${c.index}/\${c.size}\`);
}
let cgood = 0, ctampered = 0;
for (const c of cons) {
  const p = c.proof.map(b), r1 = b(c.r1), r2 = b(c.r2);
  if ((await verifyConsistency(c.first, c.second, r1, r2, p)).ok) cgood++; else bad.push(\`consistency \${c.first}->\${c.second}\`);
  for (let i = 0; i < p.length; i++) {
    const q = p.map((x) => x.slice()); q[i][i % 32] ^= 4;
    if ((await verifyConsistency(c.first, c.second, r1, r2, q)).ok) bad.push(\`tampered consistency \${c.first}->\${c.second}\`); else ctampered++;
  }
  const x1 = r1.slice(); x1[0] ^= 1;
  if ((await verifyConsistency(c.first, c.second, x1, r2, p)).ok) bad.push(\`wrong first root \${c.first}->\${c.second}\`); else ctampered++;
  if (c.first < c.second && (await verifyConsistency(c.first, c.second, r1, r2, p.slice(0, -1))).ok) bad.push(\`short consistency \${c.first}->\${c.second}\`);
}
const oob = await rootFromInclusionProof(5, 5, new Uint8Array(32), []);
if (oob.root) bad.push("index == size accepted");
console.log(bad.length ? "FAIL: " + bad.slice(0, 10).join(", ") : \`ok: \${good} inclusion and \${cgood} consistency proofs of trees of 1..40 leaves verify; \${tampered + ctampered} tampered ones do not\`);
EOF
out=$(node merkle.mjs 2>&1) || true
case "$out" in ok:*) ok "${out#ok: }" ;; *) fail "merkle.js: $out" ;; esac

cat > prom.mjs <<EOF
import { parse, History, bucketQuantile } from "$js/prom.js";
const text = [
  "# HELP tb_x_total things", "# TYPE tb_x_total counter",
  'tb_x_total{route="/a",code="2xx"} 10', 'tb_x_total{route="/b\\\\"q\\\\\\\\",code="4xx"} 3',
  "tb_up 1", "tb_nan NaN", 'tb_h_bucket{le="0.1"} 4', 'tb_h_bucket{le="1"} 8', 'tb_h_bucket{le="+Inf"} 10',
  "garbage line here", "",
].join("\n");
const s = parse(text);
const fails = [];
const eq = (a, b, what) => { if (JSON.stringify(a) !== JSON.stringify(b)) fails.push(\`\${what}: \${JSON.stringify(a)} != \${JSON.stringify(b)}\`); };
eq(s.length, 7, "series parsed");
eq(s[1].labels.route, '/b"q\\\\', "escaped label value");
eq(s[6].labels.le, "+Inf", "+Inf bucket label");
eq(Number.isNaN(s[3].value), true, "NaN value");
const h = new History();
h.add(0, parse('tb_x_total{k="a"} 10\ntb_x_total{k="b"} 5'));
h.add(2000, parse('tb_x_total{k="a"} 30\ntb_x_total{k="b"} 2'));
const r = h.rate("tb_x_total", (l) => l.k);
eq(r.a, [[2000, 10]], "rate of a counter");
eq(r.b, [[2000, 1]], "rate after a counter reset");
eq(bucketQuantile(0.5, [[0.1, 4], [1, 8], [Infinity, 10]]), 0.325, "median interpolated in its bucket");
eq(bucketQuantile(0.95, [[0.1, 4], [1, 8], [Infinity, 10]]), 1, "a quantile in +Inf answers the last bound");
eq(bucketQuantile(0.5, [[0.1, 0], [Infinity, 0]]), null, "no observations");
console.log(fails.length ? "FAIL: " + fails.join("; ") : "ok: the Prometheus parser, rates and quantiles");
EOF
out=$(node prom.mjs 2>&1) || true
case "$out" in ok:*) ok "${out#ok: }" ;; *) fail "prom.js: $out" ;; esac

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout k.pem -out c.pem -days 30 \
	-subj "/O=trustbox test/CN=der.lab.test" -addext "subjectAltName=DNS:der.lab.test,DNS:*.lab.test,IP:192.0.2.7" \
	-set_serial 0x00ABCDEF0123456789 2>/dev/null || die "openssl req"
serial=$(openssl x509 -in c.pem -noout -serial | sed 's/^serial=//')
cat > der.mjs <<EOF
import { readFileSync } from "node:fs";
import { parseCertificate, pemToDer } from "$js/der.js";
const f = parseCertificate(pemToDer(readFileSync("c.pem", "utf8")));
const want = { serial: "$serial", subject: "O=trustbox test, CN=der.lab.test", sans: "DNS:der.lab.test,DNS:*.lab.test,IP:192.0.2.7", key: "ECDSA P-256" };
const got = { serial: f.serial, subject: f.subject, sans: f.sans.join(","), key: f.key };
const days = Math.round((f.notAfter - f.notBefore) / 86400000);
console.log(JSON.stringify(got) === JSON.stringify(want) && days === 30 ? "ok: der.js reads serial $serial, names, SANs, key and validity as openssl wrote them"
  : "FAIL: " + JSON.stringify(got) + " days " + days);
EOF
out=$(node der.mjs 2>&1) || true
case "$out" in ok:*) ok "${out#ok: }" ;; *) fail "der.js: $out" ;; esac
finish
