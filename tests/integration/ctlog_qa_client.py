#!/usr/bin/env python3
"""A second RFC 6962 / static-ct-api client for the CT log, sharing no code
with it: Python's standard library and python3-cryptography only.

Subcommands (all print one line per failed check and exit 1 on failure):
  submit  URL KEY OUT KIND:CHAIN.pem...   add-[pre-]chain each chain, verify
          every SCT over the RFC 6962 signed struct built here from the
          certificate (x509_entry, or precert_entry with issuer_key_hash and
          the TBS without the poison); writes the SCTs as JSON to OUT
  check   URL KEY ORIGIN SCTS.json [PREV_STH.json]
          get-sth (signature), checkpoint (note, key ID, 0x05 signature),
          every tile and data tile (TileLeaf, fingerprints, issuers), every
          SCT at its leaf_index, get-proof-by-hash, get-entry-and-proof,
          get-entries (leaf hashes, extra_data chains), get-sth-consistency
          between the saved STH and the current one
  sth     URL KEY OUT                 verify and save get-sth
  load    URL KEY INTER.pem INTER.key SECONDS THREADS OUT
          fresh leaves signed here, submitted by THREADS workers for SECONDS;
          every SCT verified; records every outcome (status or error) in OUT
"""
import base64
import concurrent.futures
import datetime
import hashlib
import http.client
import json
import struct
import sys
import threading
import time
import urllib.parse

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

FAILS = []
POISON = x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.3")
PSC_EKU = x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.4")


def fail(msg):
    FAILS.append(msg)
    print("FAIL:", msg, file=sys.stderr)


def check(cond, msg):
    if not cond:
        fail(msg)
    return cond


def finish(what):
    if FAILS:
        print(f"{what}: {len(FAILS)} failures", file=sys.stderr)
        sys.exit(1)
    print(f"{what}: ok")


# ---- HTTP -------------------------------------------------------------------

def request(url, method="GET", body=None, headers=None, timeout=20):
    u = urllib.parse.urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    path = u.path + ("?" + u.query if u.query else "")
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    hdrs = {k.lower(): v for k, v in r.getheaders()}
    c.close()
    return r.status, hdrs, data


def get_json(url):
    st, _, data = request(url)
    if st != 200:
        raise RuntimeError(f"GET {url}: {st} {data[:200]!r}")
    return json.loads(data)


def get_bin(url):
    st, h, data = request(url, headers={"Accept-Encoding": "gzip"})
    if st != 200:
        raise RuntimeError(f"GET {url}: {st}")
    if h.get("content-encoding") == "gzip":
        import gzip
        data = gzip.decompress(data)
    return data


# ---- TLS encoding -------------------------------------------------------------

class Reader:
    def __init__(self, b):
        self.b, self.o = b, 0

    def take(self, n):
        if self.o + n > len(self.b):
            raise ValueError("truncated")
        v = self.b[self.o:self.o + n]
        self.o += n
        return v

    def uint(self, n):
        return int.from_bytes(self.take(n), "big")

    def vec(self, n):
        return self.take(self.uint(n))

    def done(self):
        return self.o == len(self.b)


def vec(n, b):
    return len(b).to_bytes(n, "big") + b


def sha256(b):
    return hashlib.sha256(b).digest()


# ---- keys and signatures ------------------------------------------------------

def load_key(path):
    with open(path, "rb") as f:
        pub = serialization.load_pem_public_key(f.read())
    spki = pub.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo)
    return pub, sha256(spki)


def verify_ds(pub, ds, msg, what):
    """DigitallySigned: hash(1) sig(1) opaque<2>; ECDSA P-256 with SHA-256."""
    try:
        r = Reader(ds)
        h, s, sig = r.uint(1), r.uint(1), r.vec(2)
        if not check(r.done(), f"{what}: trailing bytes after signature"):
            return False
        if not check((h, s) == (4, 3), f"{what}: algorithm {h},{s} is not sha256/ecdsa"):
            return False
        pub.verify(sig, msg, ec.ECDSA(hashes.SHA256()))
        return True
    except (ValueError, InvalidSignature) as e:
        fail(f"{what}: signature does not verify ({e!r})")
        return False


def sth_signed(ts, size, root):
    return struct.pack(">BBQQ", 0, 1, ts, size) + root


# ---- entries ------------------------------------------------------------------

def der_tlv(b, o):
    """(tag, header length, content length) of the DER element at o."""
    tag, l = b[o], b[o + 1]
    if l < 0x80:
        return tag, 2, l
    n = l & 0x7f
    if n == 0 or n > 4 or o + 2 + n > len(b):
        raise ValueError("bad DER length")
    return tag, 2 + n, int.from_bytes(b[o + 2:o + 2 + n], "big")


def der_len(n):
    if n < 0x80:
        return bytes([n])
    x = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(x)]) + x


def der_children(b):
    out, o = [], 0
    while o < len(b):
        tag, h, n = der_tlv(b, o)
        out.append(b[o:o + h + n])
        o += h + n
    return out


def der_wrap(tag, content):
    return bytes([tag]) + der_len(len(content)) + content


def tbs_without_poison(cert):
    """The TBSCertificate of a precertificate with the poison extension removed
    (RFC 6962 3.2), re-encoded here from the DER."""
    tbs = cert.tbs_certificate_bytes
    tag, h, n = der_tlv(tbs, 0)
    fields = der_children(tbs[h:h + n])
    poison = der_wrap(0x06, bytes.fromhex("2b06010401d679020403"))
    out, removed = [], 0
    for f in fields:
        if f[0] == 0xa3:
            _, h1, _ = der_tlv(f, 0)
            seq = f[h1:]
            _, h2, _ = der_tlv(seq, 0)
            exts = der_children(seq[h2:])
            keep = [e for e in exts if der_children(e[der_tlv(e, 0)[1]:])[0] != poison]
            removed += len(exts) - len(keep)
            if keep:
                out.append(der_wrap(0xa3, der_wrap(0x30, b"".join(keep))))
        else:
            out.append(f)
    if removed != 1:
        raise ValueError("precertificate without exactly one poison extension")
    return der_wrap(0x30, b"".join(out))


AKI_OID = der_wrap(0x06, bytes.fromhex("551d23"))


def tbs_psc(leaf, psc):
    """The logged TBS of a precertificate issued by a Precertificate Signing
    Certificate: without the poison, issuer = the PSC's issuer, AKI = the PSC's."""
    tbs = tbs_without_poison(leaf)
    _, h, n = der_tlv(tbs, 0)
    fields = der_children(tbs[h:h + n])
    pf = der_children(psc.tbs_certificate_bytes[der_tlv(psc.tbs_certificate_bytes, 0)[1]:])
    psc_issuer = pf[3] if pf[0][0] == 0xa0 else pf[2]
    psc_aki = None
    for f in pf:
        if f[0] == 0xa3:
            seq = f[der_tlv(f, 0)[1]:]
            for e in der_children(seq[der_tlv(seq, 0)[1]:]):
                if der_children(e[der_tlv(e, 0)[1]:])[0] == AKI_OID:
                    psc_aki = e
    out = []
    for i, f in enumerate(fields):
        if i == (3 if fields[0][0] == 0xa0 else 2):
            f = psc_issuer
        elif f[0] == 0xa3:
            seq = f[der_tlv(f, 0)[1]:]
            exts = der_children(seq[der_tlv(seq, 0)[1]:])
            exts = [psc_aki if psc_aki and der_children(e[der_tlv(e, 0)[1]:])[0] == AKI_OID else e for e in exts]
            f = der_wrap(0xa3, der_wrap(0x30, b"".join(exts)))
        out.append(f)
    return der_wrap(0x30, b"".join(out))


def spki_der(cert):
    return cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)


def is_psc(cert):
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        return PSC_EKU in list(eku)
    except x509.ExtensionNotFound:
        return False


def signed_entry(kind, chain):
    """(entry_type, signed_entry bytes) of a submitted chain, built here."""
    leaf = chain[0]
    if kind == "x509":
        return 0, vec(3, leaf.public_bytes(serialization.Encoding.DER))
    issuer = chain[1]
    if is_psc(issuer):
        # RFC 6962 3.2: the issuer is the PSC's issuer, the AKI the PSC's
        if len(chain) < 3:
            raise ValueError("a precertificate signing certificate without its issuer")
        return 1, sha256(spki_der(chain[2])) + vec(3, tbs_psc(leaf, issuer))
    ikh = sha256(spki_der(issuer))
    return 1, ikh + vec(3, tbs_without_poison(leaf))


def timestamped_entry(ts, etype, entry, ext):
    return struct.pack(">QH", ts, etype) + entry + vec(2, ext)


def leaf_hash(ts, etype, entry, ext):
    return sha256(b"\x00" + b"\x00\x00" + timestamped_entry(ts, etype, entry, ext))


def parse_ext_index(ext):
    r = Reader(ext)
    idx = None
    while not r.done():
        t, d = r.uint(1), r.vec(2)
        if t == 0:
            if idx is not None or len(d) != 5:
                raise ValueError("bad leaf_index extension")
            idx = int.from_bytes(d, "big")
    return idx


def verify_sct(pub, log_id, kind, chain, sct, what):
    ok = check(sct.get("sct_version") == 0, f"{what}: sct_version {sct.get('sct_version')}")
    ok &= check(base64.b64decode(sct["id"]) == log_id, f"{what}: SCT log id")
    ext = base64.b64decode(sct["extensions"])
    try:
        idx = parse_ext_index(ext)
    except ValueError as e:
        fail(f"{what}: {e}")
        return None
    ok &= check(idx is not None and len(ext) == 8, f"{what}: no 8-byte leaf_index extension")
    etype, entry = signed_entry(kind, chain)
    msg = struct.pack(">BBQH", 0, 0, sct["timestamp"], etype) + entry + vec(2, ext)
    ok &= verify_ds(pub, base64.b64decode(sct["signature"]), msg, f"{what}: SCT")
    return idx if ok else None


# ---- Merkle -------------------------------------------------------------------

def node(l, r):
    return sha256(b"\x01" + l + r)


def mth(leaves):
    n = len(leaves)
    if n == 0:
        return sha256(b"")
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return node(mth(leaves[:k]), mth(leaves[k:]))


def verify_inclusion(index, size, lh, proof, root):
    """RFC 9162 2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, lh
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node(p, r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(n1, n2, root1, root2, proof):
    """RFC 9162 2.1.4.2."""
    if n1 == n2:
        return proof == [] and root1 == root2
    if n1 == 0:
        return proof == []
    if n1 > n2 or not proof:
        return False
    if n1 & (n1 - 1) == 0:
        proof = [root1] + proof
    fn, sn = n1 - 1, n2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node(c, fr), node(c, sr)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == root1 and sr == root2


# ---- static-ct-api ------------------------------------------------------------

def tile_path(level, n, width):
    parts = []
    while True:
        parts.append(n % 1000)
        n //= 1000
        if n == 0:
            break
    parts.reverse()
    p = "/".join(("x%03d" if i < len(parts) - 1 else "%03d") % v for i, v in enumerate(parts))
    p = f"tile/{level}/{p}"
    return p + (f".p/{width}" if width < 256 else "")


def parse_checkpoint(text, origin, pub, log_id):
    """Returns (size, root, timestamp) of a verified checkpoint note."""
    body, sep, sigs = text.partition("\n\n")
    check(sep == "\n\n", "checkpoint: no blank line before the signatures")
    lines = body.split("\n")
    check(len(lines) == 3, f"checkpoint: {len(lines)} body lines (no extension lines allowed)")
    check(lines[0] == origin, f"checkpoint origin {lines[0]!r} != {origin!r}")
    size = int(lines[1])
    check(str(size) == lines[1], "checkpoint: size not canonical decimal")
    root = base64.b64decode(lines[2], validate=True)
    check(len(root) == 32, "checkpoint: root not 32 bytes")
    want_id = sha256(origin.encode() + b"\n" + b"\x05" + log_id)[:4]
    found = None
    check(sigs.endswith("\n"), "checkpoint: signature block does not end with a newline")
    for line in sigs.rstrip("\n").split("\n"):
        check(line.startswith("\u2014 "), f"checkpoint: bad signature line {line!r}")
        name, _, b64 = line[2:].rpartition(" ")
        sig = base64.b64decode(b64, validate=True)
        if name == origin and sig[:4] == want_id:
            found = sig[4:]
    if not check(found is not None, "checkpoint: no signature with key ID SHA-256(origin\\n\\x05 log_id)[:4]"):
        return size, root, None
    r = Reader(found)
    ts = r.uint(8)
    verify_ds(pub, found[8:], sth_signed(ts, size, root), "checkpoint 0x05 signature")
    return size, root, ts


def parse_tileleaf(r):
    start = r.o
    ts, etype = r.uint(8), r.uint(2)
    if etype == 0:
        cert = r.vec(3)
        entry = vec(3, cert)
        ikh = None
    elif etype == 1:
        ikh = r.take(32)
        cert = r.vec(3)
        entry = ikh + vec(3, cert)
    else:
        raise ValueError(f"entry type {etype}")
    ext = r.vec(2)
    te_end = r.o
    pre = r.vec(3) if etype == 1 else None
    fps_raw = r.vec(2)
    if len(fps_raw) % 32:
        raise ValueError("fingerprints not a multiple of 32 bytes")
    fps = [fps_raw[i:i + 32] for i in range(0, len(fps_raw), 32)]
    return dict(ts=ts, etype=etype, cert=cert, ikh=ikh, entry=entry, ext=ext, pre=pre, fps=fps,
                te=r.b[start:te_end])


def check_entry_certs(e, issuers, what):
    """The logged certificate against its chain of issuers (by fingerprint)."""
    chain = [issuers.get(fp) for fp in e["fps"]]
    if not check(all(c is not None for c in chain), f"{what}: an issuer is missing"):
        return
    if e["etype"] == 0:
        leaf = x509.load_der_x509_certificate(e["cert"])
    else:
        leaf = x509.load_der_x509_certificate(e["pre"])
        check(leaf.extensions.get_extension_for_oid(POISON).critical, f"{what}: precert poison not critical")
        if check(len(chain) >= 1, f"{what}: precert without issuer"):
            real = chain[1] if is_psc(chain[0]) and len(chain) > 1 else chain[0]
            check(e["ikh"] == sha256(spki_der(real)), f"{what}: issuer_key_hash is not the issuer's key")
            want = tbs_psc(leaf, chain[0]) if is_psc(chain[0]) else tbs_without_poison(leaf)
            check(e["cert"] == want, f"{what}: TBS is not the precert's as RFC 6962 3.2 rebuilds it")
    for child, parent in zip([leaf] + chain, chain):
        try:
            child.verify_directly_issued_by(parent)
        except Exception as ex:  # noqa: BLE001 - any failure is a finding
            fail(f"{what}: chain link does not verify ({ex!r})")


def whole_log(base, pub, log_id, origin):
    """Returns (size, root, leaf list of dicts) after walking every tile."""
    st, h, cp = request(base + "checkpoint")
    check(st == 200, f"checkpoint status {st}")
    check(h.get("content-type", "").startswith("text/plain"), "checkpoint content type")
    size, root, ts = parse_checkpoint(cp.decode(), origin, pub, log_id)
    entries, hashes0, issuers = [], [], {}
    for n in range((size + 255) // 256):
        w = min(256, size - n * 256)
        data = get_bin(base + tile_path("data", n, w))
        r = Reader(data)
        for i in range(w):
            try:
                e = parse_tileleaf(r)
            except ValueError as ex:
                fail(f"data tile {n}: entry {i}: {ex}")
                return size, root, entries, None
            entries.append(e)
        check(r.done(), f"data tile {n}: {len(data) - r.o} trailing bytes")
        lvl0 = get_bin(base + tile_path(0, n, w))
        check(len(lvl0) == 32 * w, f"level 0 tile {n}: {len(lvl0)} bytes for width {w}")
        hashes0 += [lvl0[i:i + 32] for i in range(0, len(lvl0), 32)]
    for i, e in enumerate(entries):
        check(sha256(b"\x00\x00\x00" + e["te"]) == hashes0[i], f"entry {i}: leaf hash differs from level 0 tile")
        check(parse_ext_index(e["ext"]) == i, f"entry {i}: leaf_index extension says otherwise")
        for fp in e["fps"]:
            if fp not in issuers:
                st, hh, der = request(base + "issuer/" + fp.hex())
                if check(st == 200, f"issuer {fp.hex()}: {st}"):
                    check(sha256(der) == fp, f"issuer {fp.hex()}: hashes to {sha256(der).hex()}")
                    check(hh.get("content-type") == "application/pkix-cert", "issuer content type")
                    issuers[fp] = x509.load_der_x509_certificate(der)
        check_entry_certs(e, issuers, f"entry {i}")
    check(mth(hashes0) == root, "the level 0 hashes do not hash to the checkpoint root")
    # every higher tile: hash i is the MTH of full tile i of the level below
    level, below = 1, hashes0
    while len(below) >= 256:
        up = [mth(below[i:i + 256]) for i in range(0, len(below) - 255, 256)]
        for n in range((len(up) + 255) // 256):
            w = min(256, len(up) - n * 256)
            t = get_bin(base + tile_path(level, n, w))
            check(t == b"".join(up[n * 256:n * 256 + w]), f"tile {level}/{n} width {w} differs")
        level, below = level + 1, up
    return size, root, entries, ts


# ---- subcommands --------------------------------------------------------------

def load_pems(path):
    with open(path, "rb") as f:
        return x509.load_pem_x509_certificates(f.read())


def cmd_submit(base, keyfile, out, specs):
    pub, log_id = load_key(keyfile)
    results = []
    for spec in specs:
        kind, path = spec.split(":", 1)
        chain = load_pems(path)
        body = json.dumps({"chain": [base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode()
                                     for c in chain]})
        ep = "add-pre-chain" if kind == "precert" else "add-chain"
        st, _, data = request(base + "ct/v1/" + ep, "POST", body, {"Content-Type": "application/json"})
        if not check(st == 200, f"{path}: {ep} {st} {data[:200]!r}"):
            continue
        sct = json.loads(data)
        idx = verify_sct(pub, log_id, kind, chain, sct, path)
        results.append(dict(kind=kind, chain=path, sct=sct, index=idx))
    with open(out, "w") as f:
        json.dump(results, f)
    finish(f"submit {len(results)}")


def cmd_sth(base, keyfile, out):
    pub, _ = load_key(keyfile)
    sth = get_json(base + "ct/v1/get-sth")
    verify_ds(pub, base64.b64decode(sth["tree_head_signature"]),
              sth_signed(sth["timestamp"], sth["tree_size"], base64.b64decode(sth["sha256_root_hash"])),
              f"get-sth signature (size {sth['tree_size']})")
    check(sth["tree_size"] > 0 or sth["sha256_root_hash"] == base64.b64encode(sha256(b"")).decode(),
          "the empty tree's root is not SHA-256 of nothing")
    with open(out, "w") as f:
        json.dump(sth, f)
    finish(f"sth {sth['tree_size']}")


def cmd_check(base, keyfile, origin, scts_file, prev_file=None):
    pub, log_id = load_key(keyfile)
    sth = get_json(base + "ct/v1/get-sth")
    size, root = sth["tree_size"], base64.b64decode(sth["sha256_root_hash"])
    verify_ds(pub, base64.b64decode(sth["tree_head_signature"]),
              sth_signed(sth["timestamp"], size, root), "get-sth signature")
    csize, croot, entries, cts = whole_log(base, pub, log_id, origin)
    if csize != size:  # a batch committed in between: take a fresh STH
        sth = get_json(base + "ct/v1/get-sth")
        size, root = sth["tree_size"], base64.b64decode(sth["sha256_root_hash"])
    check(csize == size and croot == root and cts == sth["timestamp"], "get-sth and checkpoint disagree")
    with open(scts_file) as f:
        subs = json.load(f)
    for s in subs:
        what = s["chain"]
        chain = load_pems(s["chain"])
        idx = s["index"]
        if not check(idx is not None and idx < size, f"{what}: SCT index {idx} not in tree {size}"):
            continue
        etype, entry = signed_entry(s["kind"], chain)
        ext = base64.b64decode(s["sct"]["extensions"])
        lh = leaf_hash(s["sct"]["timestamp"], etype, entry, ext)
        e = entries[idx]
        check(e["ts"] == s["sct"]["timestamp"] and e["etype"] == etype and e["entry"] == entry,
              f"{what}: entry {idx} is not the submitted certificate")
        # get-proof-by-hash
        q = urllib.parse.urlencode({"hash": base64.b64encode(lh).decode(), "tree_size": size})
        p = get_json(base + "ct/v1/get-proof-by-hash?" + q)
        check(p["leaf_index"] == idx, f"{what}: get-proof-by-hash index {p['leaf_index']} != {idx}")
        check(verify_inclusion(idx, size, lh, [base64.b64decode(x) for x in p["audit_path"]], root),
              f"{what}: get-proof-by-hash audit path does not verify")
        # get-entry-and-proof
        ep = get_json(base + f"ct/v1/get-entry-and-proof?leaf_index={idx}&tree_size={size}")
        li = base64.b64decode(ep["leaf_input"])
        check(sha256(b"\x00" + li) == lh, f"{what}: get-entry-and-proof leaf_input")
        check(verify_inclusion(idx, size, lh, [base64.b64decode(x) for x in ep["audit_path"]], root),
              f"{what}: get-entry-and-proof audit path does not verify")
        # the chain the log stored: the submitted issuers (plus the root it appended)
        sub_fps = [sha256(c.public_bytes(serialization.Encoding.DER)) for c in chain[1:]]
        check(e["fps"][:len(sub_fps)] == sub_fps and len(e["fps"]) - len(sub_fps) <= 1,
              f"{what}: stored chain fingerprints differ from the submitted chain")
    # get-entries over the whole tree, in pages; the server may cap a page
    start, seen = 0, 0
    while start < size:
        # pages of 200 (never aligned to a data tile), and the rest in one request
        end = min(size - 1, start + 199) if start < 1000 else size - 1
        g = get_json(base + f"ct/v1/get-entries?start={start}&end={end}")
        got = g["entries"]
        if not check(0 < len(got) <= end - start + 1 and (end >= start + 199 or len(got) == end - start + 1 or len(got) >= 256),
                     f"get-entries {start}..{end}: {len(got)} entries"):
            break
        for j, x in enumerate(got):
            i = start + j
            e = entries[i]
            li = base64.b64decode(x["leaf_input"])
            check(li == b"\x00\x00" + e["te"], f"get-entries {i}: leaf_input differs from the data tile")
            r = Reader(base64.b64decode(x["extra_data"]))
            try:
                if e["etype"] == 1:
                    check(r.vec(3) == e["pre"], f"get-entries {i}: pre_certificate differs")
                cr = Reader(r.vec(3))
                certs = []
                while not cr.done():
                    certs.append(cr.vec(3))
                check(r.done(), f"get-entries {i}: extra_data trailing bytes")
                check([sha256(c) for c in certs] == e["fps"], f"get-entries {i}: chain differs from fingerprints")
            except ValueError as ex:
                fail(f"get-entries {i}: extra_data {ex}")
            seen += 1
        start += len(got)
    check(seen == size, f"get-entries walked {seen} of {size}")
    if prev_file:
        with open(prev_file) as f:
            old = json.load(f)
        n1, r1 = old["tree_size"], base64.b64decode(old["sha256_root_hash"])
        c = get_json(base + f"ct/v1/get-sth-consistency?first={n1}&second={size}")
        check(verify_consistency(n1, size, r1, root, [base64.b64decode(x) for x in c["consistency"]]),
              f"consistency {n1} -> {size} does not verify")
    # proofs in older trees, whose roots are recomputed here from the level 0
    # hashes verified above: consistency between two past sizes, inclusion
    # in a past size (partial tiles of sizes that are no longer the newest)
    all_lh = [sha256(b"\x00\x00\x00" + e["te"]) for e in entries]
    sizes = sorted({1, 2, 3, 7, 255, 256, 257, 300, 511, 513, 1000, max(1, size // 3), max(1, size - 1), size})
    sizes = [n for n in sizes if n <= size]
    roots = {n: mth(all_lh[:n]) for n in sizes}
    for i, n1b in enumerate(sizes):
        for n2b in sizes[i:]:
            c = get_json(base + f"ct/v1/get-sth-consistency?first={n1b}&second={n2b}")
            check(verify_consistency(n1b, n2b, roots[n1b], roots[n2b], [base64.b64decode(x) for x in c["consistency"]]),
                  f"consistency {n1b} -> {n2b} does not verify")
        for idx in sorted({0, n1b // 2, n1b - 1}):
            q = urllib.parse.urlencode({"hash": base64.b64encode(all_lh[idx]).decode(), "tree_size": n1b})
            p = get_json(base + "ct/v1/get-proof-by-hash?" + q)
            check(p["leaf_index"] == idx and
                  verify_inclusion(idx, n1b, all_lh[idx], [base64.b64decode(x) for x in p["audit_path"]], roots[n1b]),
                  f"get-proof-by-hash {idx} in tree {n1b} does not verify")
            ep = get_json(base + f"ct/v1/get-entry-and-proof?leaf_index={idx}&tree_size={n1b}")
            check(verify_inclusion(idx, n1b, all_lh[idx], [base64.b64decode(x) for x in ep["audit_path"]], roots[n1b]),
                  f"get-entry-and-proof {idx} in tree {n1b} does not verify")
    finish(f"check size {size}, {len(subs)} SCTs")


def cmd_load(base, keyfile, inter_pem, inter_key, seconds, threads, out):
    pub, log_id = load_key(keyfile)
    inter = load_pems(inter_pem)[0]
    with open(inter_key, "rb") as f:
        ikey = serialization.load_pem_private_key(f.read(), None)
    lkey = ec.generate_private_key(ec.SECP256R1())
    lock = threading.Lock()
    serial = [int(time.time() * 1000) << 20]
    inter_b64 = base64.b64encode(inter.public_bytes(serialization.Encoding.DER)).decode()
    stop_at = time.time() + seconds
    results = []

    def make():
        with lock:
            serial[0] += 1
            s = serial[0]
        now = datetime.datetime.now(datetime.timezone.utc)
        c = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"l{s}.lab.test")]))
             .issuer_name(inter.subject).public_key(lkey.public_key()).serial_number(s)
             .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=30))
             .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
             .add_extension(x509.SubjectAlternativeName([x509.DNSName(f"l{s}.lab.test")]), False)
             .sign(ikey, hashes.SHA256()))
        return c

    def worker():
        mine = []
        while time.time() < stop_at:
            c = make()
            der = c.public_bytes(serialization.Encoding.DER)
            body = json.dumps({"chain": [base64.b64encode(der).decode(), inter_b64]})
            rec = dict(serial=c.serial_number)
            try:
                st, _, data = request(base + "ct/v1/add-chain", "POST", body, timeout=15)
                rec["status"] = st
                if st == 200:
                    sct = json.loads(data)
                    rec["index"] = verify_sct(pub, log_id, "x509", [c, inter], sct, f"load {c.serial_number}")
                    rec["sct"] = sct
                    rec["cert"] = base64.b64encode(der).decode()
            except TimeoutError:
                rec["status"] = "timeout"
            except OSError as e:
                rec["status"] = "error:" + type(e).__name__
                time.sleep(0.05)
            except http.client.HTTPException as e:
                rec["status"] = "error:" + type(e).__name__
                time.sleep(0.05)
            mine.append(rec)
        return mine

    with concurrent.futures.ThreadPoolExecutor(threads) as ex:
        for m in ex.map(lambda _: worker(), range(threads)):
            results += m
    with open(out, "w") as f:
        json.dump(results, f)
    counts = {}
    for r in results:
        counts[str(r["status"])] = counts.get(str(r["status"]), 0) + 1
    print("load outcomes:", json.dumps(counts, sort_keys=True))
    check(not any(r["status"] == "timeout" for r in results), "a submission was left hanging")
    finish(f"load {len(results)}")


def cmd_abandon(base, inter_pem, inter_key, n):
    """n submissions of fresh leaves whose clients hang up before the SCT."""
    import socket
    inter = load_pems(inter_pem)[0]
    with open(inter_key, "rb") as f:
        ikey = serialization.load_pem_private_key(f.read(), None)
    lkey = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    u = urllib.parse.urlsplit(base)
    socks = []
    for i in range(n):
        s = (int(time.time() * 1000) << 24) + i
        c = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gone.lab.test")]))
             .issuer_name(inter.subject).public_key(lkey.public_key()).serial_number(s)
             .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=30))
             .sign(ikey, hashes.SHA256()))
        body = json.dumps({"chain": [base64.b64encode(x.public_bytes(serialization.Encoding.DER)).decode()
                                     for x in (c, inter)]}).encode()
        sk = socket.create_connection((u.hostname, u.port))
        sk.sendall(f"POST {u.path}ct/v1/add-chain HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
        socks.append(sk)
    time.sleep(0.05)
    for sk in socks:
        sk.close()
    print(f"abandon {n}: sent")


def cmd_check_load(base, keyfile, loadfile, inter_pem):
    """Every SCT the load got is in the log at its index (get-entry-and-proof)."""
    pub, log_id = load_key(keyfile)
    inter = load_pems(inter_pem)[0]
    sth = get_json(base + "ct/v1/get-sth")
    size, root = sth["tree_size"], base64.b64decode(sth["sha256_root_hash"])
    with open(loadfile) as f:
        res = json.load(f)
    n = 0
    for r in res:
        if r["status"] != 200:
            continue
        n += 1
        c = x509.load_der_x509_certificate(base64.b64decode(r["cert"]))
        etype, entry = signed_entry("x509", [c, inter])
        ext = base64.b64decode(r["sct"]["extensions"])
        lh = leaf_hash(r["sct"]["timestamp"], etype, entry, ext)
        idx = r["index"]
        if not check(idx is not None and idx < size, f"load SCT {r['serial']}: index {idx} not in {size}"):
            continue
        ep = get_json(base + f"ct/v1/get-entry-and-proof?leaf_index={idx}&tree_size={size}")
        check(sha256(b"\x00" + base64.b64decode(ep["leaf_input"])) == lh,
              f"load SCT {r['serial']}: entry {idx} is another certificate")
        check(verify_inclusion(idx, size, lh, [base64.b64decode(x) for x in ep["audit_path"]], root),
              f"load SCT {r['serial']}: inclusion proof")
    finish(f"check-load {n} SCTs in tree {size}")


def main():
    a = sys.argv[1:]
    if not a:
        print(__doc__)
        sys.exit(2)
    if a[0] == "submit":
        cmd_submit(a[1], a[2], a[3], a[4:])
    elif a[0] == "check":
        cmd_check(a[1], a[2], a[3], a[4], a[5] if len(a) > 5 else None)
    elif a[0] == "sth":
        cmd_sth(a[1], a[2], a[3])
    elif a[0] == "load":
        cmd_load(a[1], a[2], a[3], a[4], float(a[5]), int(a[6]), a[7])
    elif a[0] == "psc-tbs":
        pre, psc, fin = (load_pems(x)[0] for x in a[1:4])
        check(tbs_psc(pre, psc) == fin.tbs_certificate_bytes, "the PSC TBS rebuilt here differs from the final certificate's")
        finish("psc-tbs")
    elif a[0] == "abandon":
        cmd_abandon(a[1], a[2], a[3], int(a[4]))
    elif a[0] == "check-load":
        cmd_check_load(a[1], a[2], a[3], a[4])
    else:
        print(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main()
