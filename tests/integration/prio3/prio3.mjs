// Cross-implementation driver for @divviup/prio3 0.8.0 (VDAF-08).
//
//   node prio3.mjs shard <config> <n>     random measurements, sharded here;
//                                         JSON on stdout for the C side to prepare
//   node prio3.mjs prepare < shards.json  prepares and aggregates shards made by
//                                         the C side; JSON result on stdout
//   node prio3.mjs bench <config> <n>     microseconds per report (shard; both
//                                         aggregators' preparation together)
//
// <config> is one of the names in CONFIGS. The package has no decoders, so
// "prepare" rebuilds its InputShare objects from the wire bytes: the leader's
// field elements are decoded, a helper's seeds are expanded with the same
// XOF calls the package's own sharding makes.
import { Prio3Count, Prio3Sum, Prio3SumVec, Prio3Histogram } from "@divviup/prio3";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";

const CONFIGS = {
  count: { type: "count", make: () => new Prio3Count({ shares: 2 }) },
  count3: { type: "count", make: () => new Prio3Count({ shares: 3 }) },
  sum8: { type: "sum", bits: 8, make: () => new Prio3Sum({ shares: 2, bits: 8 }) },
  sum32_3: { type: "sum", bits: 32, make: () => new Prio3Sum({ shares: 3, bits: 32 }) },
  sumvec10: {
    type: "sumvec", length: 10, bits: 8, chunk: 9,
    make: () => new Prio3SumVec({ shares: 2, length: 10, bits: 8, chunkLength: 9 }),
  },
  sumvec1000: {
    type: "sumvec", length: 1000, bits: 1, chunk: 31,
    make: () => new Prio3SumVec({ shares: 2, length: 1000, bits: 1, chunkLength: 31 }),
  },
  hist4: {
    type: "histogram", length: 4, chunk: 2,
    make: () => new Prio3Histogram({ shares: 2, length: 4, chunkLength: 2 }),
  },
  hist100: {
    type: "histogram", length: 100, chunk: 10,
    make: () => new Prio3Histogram({ shares: 2, length: 100, chunkLength: 10 }),
  },
};

const hex = (b) => Buffer.from(b).toString("hex");
const unhex = (s) => Buffer.from(s, "hex");

function randomMeasurement(c) {
  const r = () => randomBytes(4).readUInt32LE(0);
  switch (c.type) {
    case "count": return r() % 2 === 1;
    case "sum": return r() % 2 ** c.bits;
    case "sumvec": return Array.from({ length: c.length }, () => r() % 2 ** c.bits);
    case "histogram": return r() % c.length;
  }
}

// Values as the C tool writes them: integers (Count as 0/1).
function measurementValues(c, m) {
  switch (c.type) {
    case "count": return [m ? 1 : 0];
    case "sum": return [Number(m)];
    case "sumvec": return m;
    case "histogram": return [m];
  }
}

function addResult(acc, c, m) {
  const vals = measurementValues(c, m);
  if (c.type === "histogram") acc[vals[0]] += 1;
  else vals.forEach((x, i) => { acc[i] += x; });
}

function outputLen(c) {
  return c.type === "sumvec" || c.type === "histogram" ? c.length : 1;
}

async function shard(name, n) {
  const c = CONFIGS[name];
  const vdaf = c.make();
  const expected = new Array(outputLen(c)).fill(0);
  const reports = [];
  for (let i = 0; i < n; i++) {
    const m = randomMeasurement(c);
    addResult(expected, c, m);
    const nonce = randomBytes(16);
    const { publicShare, inputShares } = await vdaf.shardEncoded(m, nonce, randomBytes(vdaf.randSize));
    reports.push({ nonce: hex(nonce), public_share: hex(publicShare), input_shares: inputShares.map(hex) });
  }
  const out = { config: name, shares: vdaf.shares, verify_key: hex(randomBytes(16)), expected, reports };
  process.stdout.write(JSON.stringify(out) + "\n");
}

// InputShare objects from wire bytes (see the note at the top).
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
  const parts = [];
  for (let i = 0; i < bytes.length; i += S) parts.push(bytes.subarray(i, i + S));
  return { jointRandParts: parts };
}

async function prepareOne(vdaf, vk, nonce, pub, shares) {
  const inits = [];
  for (let j = 0; j < vdaf.shares; j++) {
    const is = await decodeInputShare(vdaf, j, shares[j]);
    inits.push(await vdaf.prepareInit(vk, j, null, nonce, decodePublicShare(vdaf, pub), is));
  }
  const msg = await vdaf.unshardPreparationShares(null, inits.map((x) => x.preparationShare));
  return inits.map((x) => vdaf.prepareNext(x.preparationState, msg).outputShare);
}

async function prepare(input) {
  const c = CONFIGS[input.config];
  const vdaf = c.make();
  const vk = unhex(input.verify_key);
  const outs = Array.from({ length: vdaf.shares }, () => []);
  let rejected = 0;
  for (const r of input.reports) {
    try {
      const o = await prepareOne(vdaf, vk, unhex(r.nonce), unhex(r.public_share), r.input_shares.map(unhex));
      o.forEach((s, j) => outs[j].push(s));
    } catch (e) {
      rejected++;
    }
  }
  const aggShares = outs.map((o) => vdaf.aggregate(null, o));
  const res = vdaf.unshard(null, aggShares, input.reports.length - rejected);
  const result = Array.isArray(res) ? res.map(Number) : [Number(res)];
  process.stdout.write(JSON.stringify({
    config: input.config, rejected, result, agg_shares: aggShares.map((a) => hex(vdaf.encodeAggregatorShare(a))),
  }) + "\n");
}

async function bench(name, n) {
  const c = CONFIGS[name];
  const vdaf = c.make();
  const vk = randomBytes(16);
  const ms = Array.from({ length: n }, () => randomMeasurement(c));
  const nonces = ms.map(() => randomBytes(16));
  const rands = ms.map(() => randomBytes(vdaf.randSize));
  const sharded = [];
  let t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) sharded.push(await vdaf.shard(ms[i], nonces[i], rands[i]));
  const tShard = Number(process.hrtime.bigint() - t0) / 1e3 / n;
  t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const { publicShare, inputShares } = sharded[i];
    const inits = [];
    for (let j = 0; j < vdaf.shares; j++)
      inits.push(await vdaf.prepareInit(vk, j, null, nonces[i],
        { jointRandParts: [...publicShare.jointRandParts] }, inputShares[j]));
    const msg = await vdaf.unshardPreparationShares(null, inits.map((x) => x.preparationShare));
    inits.forEach((x) => vdaf.prepareNext(x.preparationState, msg));
  }
  const tPrep = Number(process.hrtime.bigint() - t0) / 1e3 / n;
  process.stdout.write(JSON.stringify({ config: name, reports: n, shard_us: tShard, prep_us: tPrep }) + "\n");
}

const [cmd, a1, a2] = process.argv.slice(2);
if (cmd === "shard") await shard(a1, Number(a2));
else if (cmd === "prepare") await prepare(JSON.parse(readFileSync(0, "utf8")));
else if (cmd === "bench") await bench(a1, Number(a2));
else {
  process.stderr.write("usage: prio3.mjs shard|prepare|bench ...\n");
  process.exit(2);
}
