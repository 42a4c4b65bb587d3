#!/usr/bin/env python3
"""Invariants of the reliability soak, checked from outside through the
public protocols only (tests/soak/run.sh runs it after every restart and at
the end, with the load stopped):

  acme  every acknowledged certificate URL downloads, with the account that
        ordered it, byte-identical to what was downloaded at issuance; no
        serial was issued twice
  ct    every SCT's entry is in the log at its leaf index (get-entries);
        tests/ctverify checks the whole log, every SCT with its inclusion
        proof and the consistency of every earlier checkpoint with the
        current one; tree size and STH timestamp never go backwards; no
        more entries than distinct submissions attempted
  dns   every acknowledged add is visible, every acknowledged delete absent
        (dig); the SOA serial never goes backwards
  dap   (--final) every acknowledged report is counted exactly once: for
        each batch interval, acked <= report_count <= attempted

  check.py W ROUND [--final]
Prints one line per violation and, last, a JSON object with the counts
(lost, duplicates, checked, per subsystem); run.sh sums them.
Environment: as load.py, plus CTVERIFY, CT_ORIGIN, CT_KEY.
"""
import base64
import json
import os
import random
import subprocess
import sys
import urllib.request

from cryptography.hazmat.primitives import serialization

W = sys.argv[1]
ROUND = sys.argv[2]
FINAL = "--final" in sys.argv
res = {"lost": {}, "dup": {}, "checked": {}, "violations": 0}


def bad(sub, what, kind="lost", n=1):
    print("VIOLATION %s: %s" % (sub, what), flush=True)
    res[kind][sub] = res[kind].get(sub, 0) + n
    res["violations"] += 1


def read_journal(name):
    p = os.path.join(W, "j", name + ".jsonl")
    out = []
    if os.path.exists(p):
        for line in open(p):
            line = line.strip()
            if line:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
    return out


def state(name, default):
    p = os.path.join(W, "state-" + name)
    return json.load(open(p)) if os.path.exists(p) else default


def save_state(name, v):
    json.dump(v, open(os.path.join(W, "state-" + name), "w"))


# ---- ACME ----

def check_acme():
    sys.path.insert(0, os.path.join(os.environ["TB_SOURCE_DIR"], "tests", "integration"))
    import test_acme_client as ac
    ac.Client.RETRIES = 20
    recs = read_journal("acme")
    serials = {}
    for r in recs:
        if "serial" in r:
            if r["serial"] in serials and serials[r["serial"]] != r["url"]:
                bad("acme", "serial %s issued twice" % r["serial"], "dup")
            serials[r["serial"]] = r["url"]
    done = state("acme-checked", 0)
    # After a restart: everything new since the last check and a sample of the
    # rest (the whole list grows with the run); at the end: everything.
    todo = recs if FINAL else recs[done:] + random.sample(recs[:done], min(done, 100))
    clients = {}
    n = 0
    for r in todo:
        c = clients.get(r["key"])
        if c is None:
            k = ac.Key()
            k.k = serialization.load_pem_private_key(open(r["key"], "rb").read(), None)
            c = clients[r["key"]] = ac.Client(key=k)
            c.kid = r["kid"]
        resp = c.post(r["url"], None)
        n += 1
        if resp.status != 200:
            bad("acme", "%s: certificate %s answers %d %s" % (r["name"], r["url"], resp.status, resp.body[:200]))
        elif "pem" in r and resp.body.decode() != r["pem"]:
            bad("acme", "%s: certificate %s differs from the one issued" % (r["name"], r["url"]))
    res["checked"]["acme"] = n
    save_state("acme-checked", len(recs))


# ---- CT ----

def sct_index(sct):
    ext = base64.b64decode(sct.get("extensions", ""))
    # static-ct-api: extension type 0 (leaf_index), length 5, 40-bit index
    i = 0
    while i + 3 <= len(ext):
        t, ln = ext[i], int.from_bytes(ext[i + 1:i + 3], "big")
        if t == 0 and ln == 5:
            return int.from_bytes(ext[i + 3:i + 8], "big")
        i += 3 + ln
    return None


def get_json(url):
    with urllib.request.urlopen(url, timeout=60) as r:
        return json.loads(r.read())


def entries(base, lo, hi):
    """Leaf inputs lo..hi-1 through the RFC 6962 API."""
    out = []
    while lo < hi:
        got = get_json("%sct/v1/get-entries?start=%d&end=%d" % (base, lo, min(hi, lo + 256) - 1))["entries"]
        if not got:
            break
        out += [base64.b64decode(e["leaf_input"]) for e in got]
        lo += len(got)
    return out


def check_ct():
    base = os.environ["CT_URL"]
    recs = read_journal("ct")
    sth = get_json(base + "ct/v1/get-sth")
    size, ts = sth["tree_size"], sth["timestamp"]
    prev = state("ct-sth", {"size": 0, "ts": 0})
    if size < prev["size"]:
        bad("ct", "tree size went back from %d to %d" % (prev["size"], size))
    if ts < prev["ts"]:
        bad("ct", "STH timestamp went back from %d to %d" % (prev["ts"], ts), "lost", 0)
    save_state("ct-sth", {"size": max(size, prev["size"]), "ts": max(ts, prev["ts"])})
    # The CA submits a precertificate of each issuance to the same log.
    attempts = {a["name"] for a in read_journal("attempts") if a["sub"] in ("ct", "acme")}
    if size > len(attempts):
        bad("ct", "%d entries for %d distinct submissions" % (size, len(attempts)), "dup", size - len(attempts))
    leaves = entries(base, 0, size)
    for r in recs:
        i = sct_index(r["sct"])
        body = json.load(open(os.path.join(W, "ct", "bodies", r["name"] + ".json")))
        der = base64.b64decode(body["chain"][0])
        if i is None or i >= len(leaves) or der not in leaves[i]:
            bad("ct", "%s: SCT leaf index %s: entry missing or different (tree size %d)" % (r["name"], i, size))
    if FINAL:
        seen = {}
        for j, leaf in enumerate(leaves):
            if leaf in seen:
                bad("ct", "entry %d repeats entry %d" % (j, seen[leaf]), "dup")
            seen[leaf] = j
    res["checked"]["ct"] = len(recs)
    # The independent verifier: signatures, tiles, SCTs, inclusion and consistency proofs.
    prevdir = os.path.join(W, "ct", "prev")
    os.makedirs(prevdir, exist_ok=True)
    with urllib.request.urlopen(base + "checkpoint", timeout=30) as r:
        cp = r.read()
    base_args = [os.environ["CTVERIFY"], "-url", base, "-origin", os.environ["CT_ORIGIN"], "-key", os.environ["CT_KEY"]]
    subs = ["%s/ct/bodies/%s.json:%s/ct/scts/%s.json:x509" % (W, r["name"], W, r["name"]) for r in recs]
    # Several runs when the SCTs do not fit one command line; the first checks the
    # earlier checkpoints (and at the end the RFC 6962 API) too.
    for k in range(0, max(len(subs), 1), 4000):
        args = list(base_args)
        if k == 0:
            if FINAL:
                args += ["-rfc6962", base]
            for p in sorted(os.listdir(prevdir)):
                args += ["-prev", os.path.join(prevdir, p)]
        for sub in subs[k:k + 4000]:
            args += ["-sub", sub]
        p = subprocess.run(args, capture_output=True, timeout=1200)
        if p.returncode != 0:
            out = (p.stdout + p.stderr).decode(errors="replace")
            bad("ct", "ctverify: " + out.strip().splitlines()[-1] if out.strip() else "ctverify failed", "lost", 0)
            sys.stderr.write(out[-3000:])
    open(os.path.join(prevdir, "r%s" % ROUND), "wb").write(cp)
    # Keep the consistency checks bounded: the first, some middle and the last few.
    ps = sorted(os.listdir(prevdir), key=lambda f: os.path.getmtime(os.path.join(prevdir, f)))
    for f in ps[1:-8]:
        if random.random() < 0.5:
            os.remove(os.path.join(prevdir, f))


# ---- DNS ----

def check_dns():
    port = os.environ["DNS_PORT"]
    recs = read_journal("dns")
    attempts = read_journal("attempts")
    tried_del = {a["name"] for a in attempts if a["sub"] == "dns" and a["op"] == "del"}
    want, gone = {}, set()
    for r in recs:
        if r["op"] == "add":
            want[r["name"]] = r["value"]
        else:
            gone.add(r["name"])
    names = list(want) + list(gone)
    if not names:
        return
    qf = os.path.join(W, "dig-%s.txt" % ROUND)
    with open(qf, "w") as f:
        for n in names:
            f.write("%s TXT\n" % n)
    p = subprocess.run(["dig", "@127.0.0.1", "-p", port, "+time=3", "+tries=3", "+noall", "+answer", "-f", qf],
                       capture_output=True, timeout=600)
    present = {}
    for line in p.stdout.decode(errors="replace").splitlines():
        f = line.split()
        if len(f) >= 5 and f[3] == "TXT":
            present[f[0].lower()] = " ".join(f[4:]).strip('"')
    for n, v in want.items():
        if n in gone:
            continue
        if n.lower() not in present:
            if n in tried_del:
                continue  # a delete was sent and not acknowledged: either state is right
            bad("dns", "acknowledged add of %s not visible" % n)
        elif present[n.lower()] != v:
            bad("dns", "%s: %s, not %s" % (n, present[n.lower()], v))
    for n in gone:
        if n.lower() in present:
            bad("dns", "acknowledged delete of %s, still there" % n)
    res["checked"]["dns"] = len(names)
    p = subprocess.run(["dig", "@127.0.0.1", "-p", port, "+short", "+time=3", "+tries=3", "lab.test", "SOA"],
                       capture_output=True, timeout=30)
    f = p.stdout.decode().split()
    if len(f) >= 3:
        serial = int(f[2])
        prev = state("dns-serial", 0)
        if serial < prev:
            bad("dns", "SOA serial went back from %d to %d" % (prev, serial))
        save_state("dns-serial", max(prev, serial))


# ---- DAP ----

def check_dap():
    recs = read_journal("dap")
    attempts = {}
    for a in read_journal("attempts"):
        if a["sub"] == "dap":
            attempts[a["time"]] = attempts.get(a["time"], 0) + 1
    acked = {}
    for r in recs:
        w = r["time"] - r["time"] % 300
        acked.setdefault(w, []).append(r)
    ids = [r["report_id"] for r in recs]
    if len(ids) != len(set(ids)):
        bad("dap", "a report id was acknowledged twice", "dup", len(ids) - len(set(ids)))
    tb = os.environ["TRUSTBOX"]
    n = 0
    for w in sorted(attempts):
        a = acked.get(w, [])
        p = subprocess.run([tb, "dap", "collect", "-c", os.environ["DAP_CFG"], "--task-id", os.environ["DAP_TASK"],
                            "--leader", os.environ["DAP_LEADER"], "--cacert", os.environ["ACME_CA"],
                            "--vdaf", "histogram", "--length", "4", "--chunk-length", "2",
                            "--collector-credential-file", os.environ["DAP_CRED"],
                            "--batch-interval-start", str(w), "--batch-interval-duration", "300",
                            "--timeout", "120"], capture_output=True, timeout=300,
                           env={k: v for k, v in os.environ.items() if k != "TB_FAULT_FILE"})
        out = p.stdout.decode(errors="replace").strip()
        if p.returncode != 0:
            if a:
                bad("dap", "window %d: %d acknowledged reports, collect failed: %s" % (
                    w, len(a), p.stderr.decode(errors="replace")[-300:]), "lost", len(a))
            continue
        got = json.loads(out.splitlines()[-1])
        cnt = got["report_count"]
        n += len(a)
        if cnt < len(a):
            bad("dap", "window %d: %d acknowledged, %d counted" % (w, len(a), cnt), "lost", len(a) - cnt)
        if cnt > attempts[w]:
            bad("dap", "window %d: %d counted, only %d uploads attempted" % (w, cnt, attempts[w]), "dup",
                cnt - attempts[w])
        agg = got.get("aggregate", [])
        for b in range(4):
            k = sum(1 for r in a if r["measurement"] == b)
            if b < len(agg) and agg[b] < k:
                bad("dap", "window %d bucket %d: %d acknowledged, aggregate %d" % (w, b, k, agg[b]), "lost", 0)
        print("dap window %d: %d acknowledged, %d counted, %d attempted" % (w, len(a), cnt, attempts[w]))
    res["checked"]["dap"] = n


def main():
    for fn in (check_acme, check_ct, check_dns) + ((check_dap,) if FINAL else ()):
        try:
            fn()
        except Exception as e:
            bad(fn.__name__[6:], "check failed: %r" % (e,), "lost", 0)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
