// Randomised cross-implementation driver for @divviup/prio3 0.8.0 (VDAF-08),
// used by test_prio3_random.sh. Everything is drawn from a seed, so a failing
// case replays exactly: parameters, measurements, nonces, sharding randomness
// and the verification key.
//
//   node prio3_random.mjs gen <seed> <case> <spec.json>
//        draws case number <case>: writes the spec (params, verify key, and per
//        report measurement, nonce, rand; the expected aggregate) to spec.json
//        and prints the same document with the shards made here
//   node prio3_random.mjs prepare < shards.json
//        prepares, aggregates, and prints the aggregate (decimal strings,
//        the sum of the aggregate shares mod p) and the encoded shares
//   node prio3_random.mjs check <spec.json> <node-shards> <c-shards> <c-result> <node-result>
//        exit 0 when both sides sharded byte for byte alike and both
//        aggregates equal the expected one; prints what differs otherwise
//   node prio3_random.mjs prepare-check <spec.json> <node-shards> <c-shards> <c-result> <node-result>
//        prepare of <c-shards> into <node-result>, then check (one process)
import { Prio3Count, Prio3Sum, Prio3SumVec, Prio3Histogram } from "@divviup/prio3";
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";

const P128 = (1n << 66n) * 4611686018427387897n + 1n;
const P64 = (1n << 32n) * 4294967295n + 1n;

// Deterministic byte stream: SHA-256(seed | case | counter) blocks.
class Stream {
  constructor(seed, index) {
    this.prefix = `prio3-random|${seed}|${index}|`;
    this.ctr = 0;
    this.buf = Buffer.alloc(0);
  }
  bytes(n) {
    while (this.buf.length < n) {
      const h = createHash("sha256").update(this.prefix + this.ctr++).digest();
      this.buf = Buffer.concat([this.buf, h]);
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return Buffer.from(out);
  }
  u64() {
    return this.bytes(8).readBigUInt64LE(0);
  }
  // uniform-enough integer in [lo, hi] (hi - lo < 2^32; bias irrelevant here)
  int(lo, hi) {
    return lo + Number(this.u64() % BigInt(hi - lo + 1));
  }
}

function makeVdaf(p) {
  switch (p.type) {
    case "count": return new Prio3Count({ shares: p.shares });
    case "sum": return new Prio3Sum({ shares: p.shares, bits: p.bits });
    case "sumvec":
      return new Prio3SumVec({ shares: p.shares, length: p.length, bits: p.bits, chunkLength: p.chunk });
    case "histogram":
      return new Prio3Histogram({ shares: p.shares, length: p.length, chunkLength: p.chunk });
  }
  throw new Error(`unknown type ${p.type}`);
}

const outputLen = (p) => (p.type === "sumvec" || p.type === "histogram" ? p.length : 1);

// The first cases are the extremes of each range; the rest are drawn.
const FIXED = [
  { type: "sum", bits: 64 },
  { type: "sum", bits: 1 },
  { type: "sumvec", length: 200, bits: 16, chunk: 50 },
  { type: "sumvec", length: 1, bits: 1, chunk: 1 },
  { type: "histogram", length: 300, chunk: 40 },
  { type: "histogram", length: 2, chunk: 1 },
  { type: "count" },
];

function drawParams(s, index) {
  let p;
  if (index < FIXED.length) p = { ...FIXED[index] };
  else {
    const t = ["count", "sum", "sumvec", "histogram"][s.int(0, 3)];
    p = { type: t };
    if (t === "sum") p.bits = s.int(1, 64);
    if (t === "sumvec") {
      p.length = s.int(1, 200);
      p.bits = s.int(1, 16);
      p.chunk = s.int(1, 50);
    }
    if (t === "histogram") {
      p.length = s.int(2, 300);
      p.chunk = s.int(1, 40);
    }
  }
  p.shares = s.int(0, 4) === 0 ? 3 : 2;
  return p;
}

// One value in [0, max]: 0, max, or uniform, a third each.
function drawValue(s, max) {
  switch (s.int(0, 2)) {
    case 0: return 0n;
    case 1: return max;
    default: return max === (1n << 64n) - 1n ? s.u64() : s.u64() % (max + 1n);
  }
}

// Measurement as decimal strings (what the C tool reads).
function drawMeasurement(s, p, r) {
  switch (p.type) {
    case "count": return [String(r === 0 ? 1 : s.int(0, 1))];
    case "sum": return [String(r === 0 ? (1n << BigInt(p.bits)) - 1n : drawValue(s, (1n << BigInt(p.bits)) - 1n))];
    case "sumvec":
      return Array.from({ length: p.length }, () =>
        String(r === 0 ? (1n << BigInt(p.bits)) - 1n : drawValue(s, (1n << BigInt(p.bits)) - 1n)));
    case "histogram": {
      if (r === 0) return [String(p.length - 1)];
      if (r === 1) return ["0"];
      return [String(s.int(0, p.length - 1))];
    }
  }
}

// The package's own measurement type.
function toNode(p, m) {
  switch (p.type) {
    case "count": return m[0] === "1";
    case "sum": return BigInt(m[0]);
    case "sumvec": return m.map(Number);
    case "histogram": return Number(m[0]);
  }
}

const hex = (b) => Buffer.from(b).toString("hex");
const unhex = (s) => Buffer.from(s, "hex");

async function gen(seed, index, specFile) {
  const s = new Stream(seed, index);
  const params = drawParams(s, index);
  const vdaf = makeVdaf(params);
  const n = index === 0 ? 3 : s.int(1, 4); // case 0: a Sum above 2^64
  const expected = new Array(outputLen(params)).fill(0n);
  const reports = [];
  for (let r = 0; r < n; r++) {
    const m = drawMeasurement(s, params, r);
    if (params.type === "histogram") expected[Number(m[0])] += 1n;
    else m.forEach((x, i) => { expected[i] += BigInt(x); });
    reports.push({ measurement: m, nonce: hex(s.bytes(16)), rand: hex(s.bytes(vdaf.randSize)) });
  }
  const spec = {
    seed, case: index, params, verify_key: hex(s.bytes(16)),
    expected: expected.map(String), reports,
  };
  writeFileSync(specFile, JSON.stringify(spec) + "\n");
  for (const rep of reports) {
    const { publicShare, inputShares } = await vdaf.shardEncoded(
      toNode(params, rep.measurement), unhex(rep.nonce), unhex(rep.rand));
    rep.public_share = hex(publicShare);
    rep.input_shares = inputShares.map(hex);
  }
  process.stdout.write(JSON.stringify(spec) + "\n");
}

// InputShare objects from wire bytes (the package has no decoders; see prio3.mjs).
async function decodeInputShare(vdaf, aggId, bytes) {
  const { flp, field, proofs } = vdaf;
  const S = vdaf.xof.seedSize, E = field.encodedSize;
  const jr = flp.jointRandLen > 0;
  if (aggId === 0) {
    const ml = flp.measurementLen * E, pl = flp.proofLen * proofs * E;
    if (bytes.length !== ml + pl + (jr ? S : 0)) throw new Error("leader share length");
    return {
      measurementShare: field.decode(bytes.subarray(0, ml)),
      proofsShare: field.decode(bytes.subarray(ml, ml + pl)),
      blind: jr ? bytes.subarray(ml + pl) : Buffer.alloc(0),
    };
  }
  if (bytes.length !== 2 * S + (jr ? S : 0)) throw new Error("helper share length");
  return {
    measurementShare: await vdaf.pseudorandom(flp.measurementLen, 1, bytes.subarray(0, S), Buffer.of(aggId)),
    proofsShare: await vdaf.pseudorandom(flp.proofLen * proofs, 2, bytes.subarray(S, 2 * S), Buffer.from([proofs, aggId])),
    blind: jr ? bytes.subarray(2 * S, 3 * S) : Buffer.alloc(0),
  };
}

function decodePublicShare(vdaf, bytes) {
  const S = vdaf.xof.seedSize;
  if (bytes.length % S !== 0) throw new Error("public share length");
  const parts = [];
  for (let i = 0; i < bytes.length; i += S) parts.push(bytes.subarray(i, i + S));
  return { jointRandParts: parts };
}

// Little-endian field elements of an encoded aggregate share.
function decodeShare(bytes, size) {
  const out = [];
  for (let i = 0; i < bytes.length; i += size) {
    let x = 0n;
    for (let k = size - 1; k >= 0; k--) x = (x << 8n) | BigInt(bytes[i + k]);
    out.push(x);
  }
  return out;
}

async function prepare(input, outFile) {
  const p = input.params;
  const vdaf = makeVdaf(p);
  const vk = unhex(input.verify_key);
  const outs = Array.from({ length: vdaf.shares }, () => []);
  let rejected = 0;
  for (const r of input.reports) {
    try {
      const nonce = unhex(r.nonce), pub = decodePublicShare(vdaf, unhex(r.public_share));
      const inits = [];
      for (let j = 0; j < vdaf.shares; j++) {
        const is = await decodeInputShare(vdaf, j, unhex(r.input_shares[j]));
        inits.push(await vdaf.prepareInit(vk, j, null, nonce, pub, is));
      }
      const msg = await vdaf.unshardPreparationShares(null, inits.map((x) => x.preparationShare));
      inits.map((x) => vdaf.prepareNext(x.preparationState, msg).outputShare).forEach((s, j) => outs[j].push(s));
    } catch (e) {
      process.stderr.write(`node: report rejected: ${e.message}\n`);
      rejected++;
    }
  }
  const aggShares = outs.map((o) => vdaf.aggregate(null, o)).map((a) => vdaf.encodeAggregatorShare(a));
  const doc = JSON.stringify({ rejected, agg_shares: aggShares.map(hex) }) + "\n";
  if (outFile) writeFileSync(outFile, doc);
  else process.stdout.write(doc);
}

// Aggregate from encoded shares, independent of either side's unshard.
function aggregateOf(params, aggSharesHex) {
  const field = params.type === "count" ? { p: P64, size: 8 } : { p: P128, size: 16 };
  let acc = null;
  for (const h of aggSharesHex) {
    const v = decodeShare(unhex(h), field.size);
    acc = acc ? acc.map((x, i) => (x + v[i]) % field.p) : v.map((x) => x % field.p);
  }
  return acc.map(String);
}

function check(specFile, nodeShardsFile, cShardsFile, cResultFile, nodeResultFile) {
  const read = (f) => JSON.parse(readFileSync(f, "utf8"));
  const spec = read(specFile), ns = read(nodeShardsFile), cs = read(cShardsFile);
  const cr = read(cResultFile), nr = read(nodeResultFile);
  const errs = [];
  ns.reports.forEach((r, i) => {
    const c = cs.reports[i];
    if (r.public_share !== c.public_share) errs.push(`report ${i}: public shares differ`);
    r.input_shares.forEach((x, j) => {
      if (x !== c.input_shares[j]) errs.push(`report ${i}: input share ${j} differs`);
    });
  });
  const want = JSON.stringify(spec.expected);
  for (const [who, res] of [["trustbox", cr], ["node", nr]]) {
    if (res.rejected !== 0) errs.push(`${who} rejected ${res.rejected} reports`);
    const got = JSON.stringify(aggregateOf(spec.params, res.agg_shares));
    if (got !== want) errs.push(`${who} aggregate ${got} want ${want}`);
  }
  // trustbox's own unshard: equal when it fits 64 bits, TOO_LARGE otherwise
  const fits = spec.expected.every((x) => BigInt(x) < (1n << 64n));
  if (fits && JSON.stringify(cr.result_dec) !== want)
    errs.push(`trustbox unshard ${JSON.stringify(cr.result_dec)} (${cr.unshard_error || ""}) want ${want}`);
  if (!fits && !cr.unshard_error) errs.push("trustbox unshard accepted an aggregate above 2^64");
  for (const e of errs) process.stderr.write(e + "\n");
  process.exit(errs.length ? 1 : 0);
}

const [cmd, ...args] = process.argv.slice(2);
if (cmd === "gen") await gen(args[0], Number(args[1]), args[2]);
else if (cmd === "prepare") await prepare(JSON.parse(readFileSync(0, "utf8")));
else if (cmd === "check") check(...args);
else if (cmd === "prepare-check") {
  await prepare(JSON.parse(readFileSync(args[2], "utf8")), args[4]);
  check(...args);
}
else {
  process.stderr.write("usage: prio3_random.mjs gen|prepare|check ...\n");
  process.exit(2);
}
