#!/usr/bin/env python3
"""Mixed load for the reliability soak (tests/soak/run.sh), one process with
one thread per client. Each client appends to its journal (W/j/*.jsonl) only
what trustbox acknowledged:

  acme  issuances through tests/integration/test_acme_client.py's client:
        the certificate URL, serial and PEM of every order that became valid,
        with the account key that can download it (W/acme/keys/)
  ct    add-chain of distinct chains (leaf + intermediate made here); every
        200 keeps the chain and its SCT for tests/ctverify (W/ct/)
  dns   RFC 2136 adds and deletes with TSIG through nsupdate; rc 0 = acked
  dnsq  queries through dig (answered or not; a read path)
  dap   `trustbox dap upload` to the demo task; the report id and its time

Attempts are journalled too (W/j/attempts.jsonl) so that the checker can
bound duplicates (an entry the server may hold without having acknowledged
it is fine; more entries than attempts is a duplicate).

  load.py setup W                 CT roots and keys under W/ct
  load.py run W SECONDS TAG       the load, until SECONDS pass or W/stop exists
Environment: ACME_DIR ACME_CA CT_URL DNS_PORT DNS_KEY DAP_LEADER DAP_HELPER
DAP_TASK DAP_CFG TRUSTBOX, SOAK_CLIENTS (e.g. "acme=2,ct=2,dns=1,dnsq=1,dap=1").
"""
import base64
import datetime
import json
import os
import random
import subprocess
import sys
import threading
import time
import urllib.request
import urllib.error

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

W = sys.argv[2]
LOCK = threading.Lock()
STATS = {}


def stat(sub, what):
    with LOCK:
        d = STATS.setdefault(sub, {})
        d[what] = d.get(what, 0) + 1


def journal(name, rec):
    line = json.dumps(rec, separators=(",", ":")) + "\n"
    with LOCK:
        with open(os.path.join(W, "j", name + ".jsonl"), "a") as f:
            f.write(line)


def stopped(deadline):
    return time.time() >= deadline or os.path.exists(os.path.join(W, "stop"))


# ---- CT ----

def ct_setup():
    d = os.path.join(W, "ct")
    os.makedirs(os.path.join(d, "bodies"), exist_ok=True)
    os.makedirs(os.path.join(d, "scts"), exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)

    def ca(name, key, issuer, issuer_key):
        subj = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        b = (x509.CertificateBuilder().subject_name(subj)
             .issuer_name(issuer or subj).public_key(key.public_key())
             .serial_number(x509.random_serial_number())
             .not_valid_before(now - datetime.timedelta(days=1))
             .not_valid_after(now + datetime.timedelta(days=3650))
             .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
             .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
             .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
        return b.sign(issuer_key or key, hashes.SHA256())

    rk = ec.generate_private_key(ec.SECP256R1())
    ik = ec.generate_private_key(ec.SECP256R1())
    lk = ec.generate_private_key(ec.SECP256R1())
    root = ca("Soak CT Root", rk, None, None)
    inter = ca("Soak CT Intermediate", ik, root.subject, rk)
    pem = serialization.Encoding.PEM
    pk = serialization.PrivateFormat.PKCS8
    ne = serialization.NoEncryption()
    open(os.path.join(d, "root.pem"), "wb").write(root.public_bytes(pem))
    open(os.path.join(d, "inter.pem"), "wb").write(inter.public_bytes(pem))
    open(os.path.join(d, "inter.key"), "wb").write(ik.private_bytes(pem, pk, ne))
    open(os.path.join(d, "leaf.key"), "wb").write(lk.private_bytes(pem, pk, ne))


class CT:
    def __init__(self):
        d = os.path.join(W, "ct")
        self.d = d
        self.inter = x509.load_pem_x509_certificate(open(os.path.join(d, "inter.pem"), "rb").read())
        self.ik = serialization.load_pem_private_key(open(os.path.join(d, "inter.key"), "rb").read(), None)
        self.lk = serialization.load_pem_private_key(open(os.path.join(d, "leaf.key"), "rb").read(), None)
        self.inter_b64 = base64.b64encode(self.inter.public_bytes(serialization.Encoding.DER)).decode()
        self.url = os.environ["CT_URL"]

    def chain(self, name):
        now = datetime.datetime.now(datetime.timezone.utc)
        c = (x509.CertificateBuilder()
             .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
             .issuer_name(self.inter.subject).public_key(self.lk.public_key())
             .serial_number(x509.random_serial_number())
             .not_valid_before(now - datetime.timedelta(hours=1))
             .not_valid_after(now + datetime.timedelta(days=90))
             .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
             .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
             .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
             .sign(self.ik, hashes.SHA256()))
        leaf = base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode()
        return json.dumps({"chain": [leaf, self.inter_b64]}).encode()

    def worker(self, wid, tag, deadline):
        i = 0
        while not stopped(deadline):
            i += 1
            name = "%s-%d-%d" % (tag, wid, i)
            body = self.chain("ct-%s.soak.test" % name)
            bpath = os.path.join(self.d, "bodies", name + ".json")
            open(bpath, "wb").write(body)
            journal("attempts", {"sub": "ct", "name": name})
            try:
                req = urllib.request.Request(self.url + "ct/v1/add-chain", data=body,
                                             headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(req, timeout=30) as r:
                    sct = r.read()
                    code = r.status
            except urllib.error.HTTPError as e:
                stat("ct", "http%d" % e.code)
                time.sleep(0.2)
                continue
            except Exception:
                stat("ct", "conn")
                time.sleep(0.3)
                continue
            if code != 200:
                stat("ct", "http%d" % code)
                continue
            spath = os.path.join(self.d, "scts", name + ".json")
            open(spath, "wb").write(sct)
            stat("ct", "acked")
            journal("ct", {"name": name, "sct": json.loads(sct)})


# ---- ACME ----

def acme_worker(wid, tag, deadline):
    sys.path.insert(0, os.path.join(os.environ["TB_SOURCE_DIR"], "tests", "integration"))
    import test_acme_client as ac
    ac.Client.RETRIES = 20
    kdir = os.path.join(W, "acme", "keys")
    os.makedirs(kdir, exist_ok=True)
    c = None
    i = 0
    while not stopped(deadline):
        i += 1
        name = "a-%s-%d-%d.lab.test" % (tag, wid, i)
        try:
            if c is None:
                c = ac.Client()
                r = c.register()
                if r.status not in (200, 201):
                    stat("acme", "account%d" % r.status)
                    c = None
                    time.sleep(0.3)
                    continue
                kfile = os.path.join(kdir, "%s-%d-%d.pem" % (tag, wid, i))
                open(kfile, "wb").write(c.key.k.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption()))
                c.keyfile = kfile
            journal("attempts", {"sub": "acme", "name": name})
            r = c.post(c.dir["newOrder"], {"identifiers": [{"type": "dns", "value": name}]})
            if r.status != 201:
                stat("acme", "order%d" % r.status)
                time.sleep(0.2)
                continue
            order_url = r.h("Location")
            order = r.json
            good = True
            for az in order["authorizations"]:
                a = c.post(az, None).json
                if a["status"] == "valid":
                    continue
                ch = [x for x in a["challenges"] if x["type"] == "http-01"][0]
                c.post(ch["url"], {})
                a = ac.poll(c, az, ("valid", "invalid"))
                if not a.json or a.json.get("status") != "valid":
                    good = False
            if not good:
                stat("acme", "authz")
                continue
            _, csr = ac.make_csr([name])
            r = c.post(order["finalize"], {"csr": ac.b64u(csr)})
            if r.status != 200:
                stat("acme", "finalize%d" % r.status)
                continue
            if r.json.get("status") != "valid":
                r = ac.poll(c, order_url, ("valid", "invalid"))
            if not r.json or r.json.get("status") != "valid":
                stat("acme", "order-not-valid")
                continue
            cert_url = r.json["certificate"]
            rec = {"name": name, "url": cert_url, "kid": c.kid, "key": c.keyfile}
            cr = c.post(cert_url, None)
            if cr.status == 200:
                pem = cr.body.decode()
                cert = x509.load_pem_x509_certificate(pem.encode())
                rec["serial"] = "%x" % cert.serial_number
                rec["pem"] = pem
            stat("acme", "acked")
            journal("acme", rec)
        except Exception as e:
            stat("acme", "conn")
            c = None
            time.sleep(0.3)


# ---- DNS ----

def nsupdate(cmds):
    port = os.environ["DNS_PORT"]
    text = "server 127.0.0.1 %s\nzone lab.test\n%s\nsend\n" % (port, "\n".join(cmds))
    try:
        p = subprocess.run(["nsupdate", "-t", "5", "-y", os.environ["DNS_KEY"]], input=text.encode(),
                           capture_output=True, timeout=20)
    except subprocess.TimeoutExpired:
        return -1, "timeout"
    return p.returncode, (p.stdout + p.stderr).decode(errors="replace")


def dns_worker(wid, tag, deadline):
    live = []
    i = 0
    while not stopped(deadline):
        i += 1
        if live and random.random() < 0.3:
            name = live.pop(random.randrange(len(live)))
            journal("attempts", {"sub": "dns", "op": "del", "name": name})
            rc, out = nsupdate(["update delete %s TXT" % name])
            if rc == 0:
                stat("dns", "acked")
                journal("dns", {"op": "del", "name": name})
            else:
                stat("dns", classify_dns(out))
            continue
        name = "u-%s-%d-%d.soak.lab.test." % (tag, wid, i)
        val = "v%d" % i
        journal("attempts", {"sub": "dns", "op": "add", "name": name})
        rc, out = nsupdate(['update add %s 300 TXT "%s"' % (name, val)])
        if rc == 0:
            stat("dns", "acked")
            journal("dns", {"op": "add", "name": name, "value": val})
            live.append(name)
        else:
            stat("dns", classify_dns(out))
            time.sleep(0.2)


def classify_dns(out):
    for w in ("SERVFAIL", "BADTIME", "NOTAUTH", "REFUSED", "timed out", "timeout", "refused"):
        if w in out:
            return w.replace(" ", "-")
    return "other"


def dnsq_worker(wid, tag, deadline):
    port = os.environ["DNS_PORT"]
    while not stopped(deadline):
        try:
            p = subprocess.run(["dig", "@127.0.0.1", "-p", port, "+time=2", "+tries=1", "lab.test", "SOA"],
                               capture_output=True, timeout=10)
            out = p.stdout.decode(errors="replace")
            stat("dnsq", "answered" if "status: NOERROR" in out else "failed")
        except subprocess.TimeoutExpired:
            stat("dnsq", "failed")
        time.sleep(0.05)


# ---- DAP ----

def dap_worker(wid, tag, deadline):
    tb = os.environ["TRUSTBOX"]
    while not stopped(deadline):
        t = int(time.time())
        m = random.randrange(4)
        journal("attempts", {"sub": "dap", "time": t - t % 300})
        try:
            p = subprocess.run([tb, "dap", "upload", "-c", os.environ["DAP_CFG"], "--task-id", os.environ["DAP_TASK"],
                                "--leader", os.environ["DAP_LEADER"], "--helper", os.environ["DAP_HELPER"],
                                "--cacert", os.environ["ACME_CA"], "--vdaf", "histogram", "--length", "4",
                                "--chunk-length", "2", "--time-precision", "300", "--time", str(t),
                                "--measurement", str(m)], capture_output=True, timeout=30,
                               env={k: v for k, v in os.environ.items() if k != "TB_FAULT_FILE"})
        except subprocess.TimeoutExpired:
            stat("dap", "timeout")
            continue
        if p.returncode == 0:
            try:
                rec = json.loads(p.stdout.decode().strip().splitlines()[-1])
            except (ValueError, IndexError):
                stat("dap", "bad-output")
                continue
            rec["measurement"] = m
            stat("dap", "acked")
            journal("dap", rec)
        else:
            err = p.stderr.decode(errors="replace")
            if "Sanitizer" in err or "runtime error:" in err:
                # The client is this build's trustbox: its sanitizer reports count too.
                journal("sanitizer", {"client": "dap upload", "report": err[-2000:]})
            kind = "error"
            for w in ("503", "500", "reportTooEarly", "reportRejected", "connect", "outdatedConfig"):
                if w in err:
                    kind = w
                    break
            stat("dap", kind)
            time.sleep(0.2)


def main():
    if sys.argv[1] == "setup":
        os.makedirs(os.path.join(W, "j"), exist_ok=True)
        ct_setup()
        return
    seconds, tag = float(sys.argv[3]), sys.argv[4]
    deadline = time.time() + (seconds if seconds > 0 else 1e9)
    mix = dict(kv.split("=") for kv in os.environ.get("SOAK_CLIENTS", "acme=2,ct=2,dns=1,dnsq=1,dap=1").split(","))
    fns = {"acme": acme_worker, "ct": CT().worker if int(mix.get("ct", 0)) else None,
           "dns": dns_worker, "dnsq": dnsq_worker, "dap": dap_worker}
    threads = []
    for sub, n in mix.items():
        for w in range(int(n)):
            t = threading.Thread(target=fns[sub], args=(w, tag, deadline), daemon=True)
            t.start()
            threads.append(t)
    for t in threads:
        t.join()
    with open(os.path.join(W, "j", "stats-%s.json" % tag), "w") as f:
        json.dump(STATS, f)


if __name__ == "__main__":
    main()
