// A small DER reader, enough to show an X.509 certificate (or the
// TBSCertificate a CT precertificate entry carries): serial, names,
// validity, key, SANs and the extensions CT cares about.

function tlv(b, off) {
  if (off + 2 > b.length) throw new Error("truncated DER");
  const tag = b[off];
  let len = b[off + 1], hl = 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n < 1 || n > 4 || off + 2 + n > b.length) throw new Error("bad DER length");
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[off + 2 + i];
    hl += n;
  }
  if (off + hl + len > b.length) throw new Error("truncated DER");
  return { tag, start: off, hl, len, body: b.subarray(off + hl, off + hl + len), end: off + hl + len };
}

function children(b) {
  const out = [];
  for (let o = 0; o < b.length;) { const t = tlv(b, o); out.push(t); o = t.end; }
  return out;
}

function oid(b) {
  const parts = [Math.floor(b[0] / 40), b[0] % 40];
  let v = 0;
  for (let i = 1; i < b.length; i++) {
    v = v * 128 + (b[i] & 0x7f);
    if (!(b[i] & 0x80)) { parts.push(v); v = 0; }
  }
  return parts.join(".");
}

const NAMES = { "2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O", "2.5.4.11": "OU",
  "1.2.840.113549.1.9.1": "emailAddress" };
const KEYS = { "1.2.840.10045.2.1": "ECDSA", "1.2.840.113549.1.1.1": "RSA", "1.3.101.112": "Ed25519", "1.3.101.113": "Ed448" };
const CURVES = { "1.2.840.10045.3.1.7": "P-256", "1.3.132.0.34": "P-384", "1.3.132.0.35": "P-521" };
export const OID_POISON = "1.3.6.1.4.1.11129.2.4.3";
export const OID_SCTS = "1.3.6.1.4.1.11129.2.4.2";

const dec = new TextDecoder();
function str(t) {
  if (t.tag === 0x1e) { // BMPString
    let s = "";
    for (let i = 0; i + 1 < t.body.length; i += 2) s += String.fromCharCode((t.body[i] << 8) | t.body[i + 1]);
    return s;
  }
  return dec.decode(t.body);
}

function name(t) {
  const rdns = [];
  for (const set of children(t.body))
    for (const atv of children(set.body)) {
      const [o, v] = children(atv.body);
      rdns.push(`${NAMES[oid(o.body)] || oid(o.body)}=${str(v)}`);
    }
  return rdns.join(", ");
}

function time(t) {
  const s = dec.decode(t.body);
  let y, rest;
  if (t.tag === 0x17) { y = Number(s.slice(0, 2)); y += y < 50 ? 2000 : 1900; rest = s.slice(2); }
  else { y = Number(s.slice(0, 4)); rest = s.slice(4); }
  const [mo, d, h, mi, se] = [0, 2, 4, 6, 8].map((i) => Number(rest.slice(i, i + 2)));
  return new Date(Date.UTC(y, mo - 1, d, h, mi, se || 0));
}

// Upper-case hex of the INTEGER's magnitude, as `openssl x509 -serial` prints it.
export function serialHex(body) {
  let i = 0;
  while (i < body.length - 1 && body[i] === 0) i++;
  return Array.from(body.subarray(i), (x) => x.toString(16).padStart(2, "0")).join("").toUpperCase();
}

// tbs: the TBSCertificate's TLV.
function tbsFields(tbs) {
  const f = children(tbs.body);
  let i = 0;
  const out = { version: 1 };
  if (f[i].tag === 0xa0) { out.version = children(f[i].body)[0].body[0] + 1; i++; }
  out.serial = serialHex(f[i++].body);
  i++; // signature algorithm
  out.issuer = name(f[i++]);
  const [nb, na] = children(f[i++].body);
  out.notBefore = time(nb);
  out.notAfter = time(na);
  out.subject = name(f[i++]);
  const spki = children(f[i++].body);
  const alg = children(spki[0].body);
  const kalg = oid(alg[0].body);
  out.key = KEYS[kalg] || kalg;
  if (kalg === "1.2.840.10045.2.1" && alg[1] && alg[1].tag === 6) out.key += " " + (CURVES[oid(alg[1].body)] || oid(alg[1].body));
  if (kalg === "1.2.840.113549.1.1.1") {
    const rsa = children(spki[1].body.subarray(1));
    const mod = children(rsa[0].body)[0].body;
    out.key += " " + ((mod.length - (mod[0] === 0 ? 1 : 0)) * 8);
  }
  out.sans = [];
  out.extensions = [];
  out.precertificate = false;
  out.scts = false;
  for (; i < f.length; i++) {
    if (f[i].tag !== 0xa3) continue;
    for (const ext of children(children(f[i].body)[0].body)) {
      const parts = children(ext.body);
      const id = oid(parts[0].body);
      const val = parts[parts.length - 1].body;
      out.extensions.push(id);
      if (id === OID_POISON) out.precertificate = true;
      if (id === OID_SCTS) out.scts = true;
      if (id === "2.5.29.17")
        for (const gn of children(children(val)[0].body)) {
          if (gn.tag === 0x82) out.sans.push("DNS:" + dec.decode(gn.body));
          else if (gn.tag === 0x87) out.sans.push("IP:" + (gn.body.length === 4 ? Array.from(gn.body).join(".")
            : Array.from({ length: 8 }, (_, k) => ((gn.body[2 * k] << 8) | gn.body[2 * k + 1]).toString(16)).join(":")));
          else if (gn.tag === 0x81) out.sans.push("email:" + dec.decode(gn.body));
          else if (gn.tag === 0x86) out.sans.push("URI:" + dec.decode(gn.body));
        }
    }
  }
  return out;
}

// A whole certificate (DER).
export function parseCertificate(der) {
  const cert = tlv(der, 0);
  return tbsFields(children(cert.body)[0]);
}

// A TBSCertificate alone (DER), as in a CT precert entry.
export function parseTBS(der) {
  return tbsFields(tlv(der, 0));
}

export function pemToDer(pem) {
  const m = /-----BEGIN [^-]+-----([\s\S]*?)-----END/.exec(pem);
  const b = atob((m ? m[1] : pem).replace(/\s+/g, ""));
  return Uint8Array.from(b, (c) => c.charCodeAt(0));
}

// RFC 6962 3.4 MerkleTreeLeaf (leaf_input of get-entries) -> {timestamp,
// type, fields, der (certificate or TBS), issuerKeyHash?}. extra: extra_data,
// for a precert entry the PrecertChainEntry whose first element is the
// precertificate itself.
export function parseLeaf(leaf, extra) {
  if (leaf[0] !== 0 || leaf[1] !== 0) throw new Error("not a v1 timestamped entry");
  let ts = 0;
  for (let i = 2; i < 10; i++) ts = ts * 256 + leaf[i];
  const type = (leaf[10] << 8) | leaf[11];
  const u24 = (b, o) => (b[o] << 16) | (b[o + 1] << 8) | b[o + 2];
  if (type === 0) {
    const n = u24(leaf, 12);
    const der = leaf.subarray(15, 15 + n);
    return { timestamp: ts, type: "x509", der, fields: parseCertificate(der) };
  }
  if (type === 1) {
    const ikh = leaf.subarray(12, 44);
    const n = u24(leaf, 44);
    const tbs = leaf.subarray(47, 47 + n);
    const out = { timestamp: ts, type: "precert", issuerKeyHash: ikh, der: tbs, fields: parseTBS(tbs) };
    if (extra && extra.length > 3) {
      const m = u24(extra, 0);
      out.precertDer = extra.subarray(3, 3 + m);
    }
    return out;
  }
  throw new Error("unknown entry type " + type);
}
