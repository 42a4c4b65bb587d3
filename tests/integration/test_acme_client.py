#!/usr/bin/env python3
"""A small hand-made ACME client for trustbox's protocol tests and its
issuance benchmark. Modes:

  protocol   edge cases and hostile requests, asserting problem types
  bench N C  N issuances with C parallel workers (accounts created first):
             newOrder -> http-01 -> finalize -> download; prints rates

Environment: ACME_DIR (directory URL), ACME_CA (root PEM), HTTP01_PORT.
"""
import base64
import hashlib
import hmac
import http.client
import http.server
import json
import os
import socketserver
import ssl
import sys
import threading
import time
import urllib.parse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa, padding
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

DIR_URL = os.environ["ACME_DIR"]
CTX = ssl.create_default_context(cafile=os.environ["ACME_CA"])
HTTP01_PORT = int(os.environ.get("HTTP01_PORT", "5002"))
PASSED = 0


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def ub64u(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def ok(msg):
    global PASSED
    PASSED += 1
    print("ok:", msg, flush=True)


def check(cond, msg):
    if not cond:
        print("FAIL:", msg, flush=True)
        sys.exit(1)


class Key:
    def __init__(self, kind="ec256"):
        self.kind = kind
        if kind == "ec256":
            self.k = ec.generate_private_key(ec.SECP256R1())
        elif kind == "ec384":
            self.k = ec.generate_private_key(ec.SECP384R1())
        else:
            self.k = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def alg(self):
        return {"ec256": "ES256", "ec384": "ES384"}.get(self.kind, "RS256")

    def jwk(self):
        pub = self.k.public_key().public_numbers()
        if self.kind.startswith("ec"):
            n = 32 if self.kind == "ec256" else 48
            return {"crv": "P-256" if n == 32 else "P-384", "kty": "EC",
                    "x": b64u(pub.x.to_bytes(n, "big")), "y": b64u(pub.y.to_bytes(n, "big"))}
        e = pub.e.to_bytes((pub.e.bit_length() + 7) // 8, "big")
        return {"e": b64u(e), "kty": "RSA", "n": b64u(pub.n.to_bytes((pub.n.bit_length() + 7) // 8, "big"))}

    def thumbprint(self):
        return b64u(hashlib.sha256(json.dumps(self.jwk(), sort_keys=True, separators=(",", ":")).encode()).digest())

    def sign(self, data):
        if self.kind.startswith("ec"):
            h = hashes.SHA256() if self.kind == "ec256" else hashes.SHA384()
            n = 32 if self.kind == "ec256" else 48
            r, s = decode_dss_signature(self.k.sign(data, ec.ECDSA(h)))
            return r.to_bytes(n, "big") + s.to_bytes(n, "big")
        return self.k.sign(data, padding.PKCS1v15(), hashes.SHA256())


class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    def ptype(self):
        if self.json and isinstance(self.json, dict) and "type" in self.json:
            return self.json["type"].rsplit(":", 1)[-1]
        return None

    def h(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def hs(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]


_local = threading.local()


def request(method, url, body=None, ctype="application/jose+json"):
    u = urllib.parse.urlsplit(url)
    conns = getattr(_local, "conns", None)
    if conns is None:
        conns = _local.conns = {}
    key = (u.hostname, u.port)
    for attempt in range(2):
        c = conns.get(key)
        if c is None:
            c = conns[key] = http.client.HTTPSConnection(u.hostname, u.port, context=CTX, timeout=30)
        try:
            hdrs = {"Content-Type": ctype} if body is not None else {}
            path = u.path + ("?" + u.query if u.query else "")
            c.request(method, path, body=body, headers=hdrs)
            r = c.getresponse()
            data = r.read()
            return Resp(r.status, r.getheaders(), data)
        except (http.client.HTTPException, OSError):
            c.close()
            conns.pop(key, None)
            if attempt:
                raise


class Client:
    def __init__(self, key=None):
        self.key = key or Key()
        self.dir = request("GET", DIR_URL).json
        self.nonce = None
        self.kid = None

    def new_nonce(self):
        r = request("HEAD", self.dir["newNonce"])
        return r.h("Replay-Nonce")

    def jws(self, url, payload, use_jwk=None, protected_extra=None, key=None, nonce=None):
        key = key or self.key
        prot = {"alg": key.alg(), "nonce": nonce or self.nonce or self.new_nonce(), "url": url}
        self.nonce = None
        if use_jwk or (use_jwk is None and not self.kid):
            prot["jwk"] = key.jwk()
        else:
            prot["kid"] = self.kid
        if protected_extra:
            prot.update(protected_extra)
            for k, v in list(prot.items()):
                if v is None:
                    del prot[k]
        p64 = b64u(json.dumps(prot).encode())
        pl64 = "" if payload is None else b64u(json.dumps(payload).encode())
        sig = key.sign((p64 + "." + pl64).encode())
        return {"protected": p64, "payload": pl64, "signature": b64u(sig)}

    def post_raw(self, url, body, ctype="application/jose+json"):
        r = request("POST", url, body if isinstance(body, bytes) else json.dumps(body).encode(), ctype)
        self.nonce = r.h("Replay-Nonce")
        return r

    RETRIES = 5

    def post(self, url, payload, **kw):
        for _ in range(self.RETRIES):
            r = self.post_raw(url, self.jws(url, payload, **kw))
            if r.ptype() != "badNonce" or "nonce" in kw:
                return r
        return r

    def register(self, **extra):
        payload = {"termsOfServiceAgreed": True, "contact": ["mailto:a@b.test"]}
        payload.update(extra)
        r = self.post(self.dir["newAccount"], payload, use_jwk=True)
        if r.status in (200, 201):
            self.kid = r.h("Location")
        return r


# ---- http-01 responder ----

TOKENS = {}


class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        p = "/.well-known/acme-challenge/"
        if self.path.startswith(p) and self.path[len(p):] in TOKENS:
            b = TOKENS[self.path[len(p):]].encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(b)))
            self.end_headers()
            self.wfile.write(b)
        elif self.path.startswith("/redirect/"):
            self.send_response(302)
            self.send_header("Location", p + self.path[len("/redirect/"):])
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

    def log_message(self, *a):
        pass


class TS(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def start_http01():
    s = TS(("127.0.0.1", HTTP01_PORT), H)
    threading.Thread(target=s.serve_forever, daemon=True).start()
    return s


def make_csr(names, key=None, cn=None, ips=()):
    import ipaddress
    key = key or ec.generate_private_key(ec.SECP256R1())
    sans = [x509.DNSName(n) for n in names] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    b = x509.CertificateSigningRequestBuilder()
    b = b.subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)] if cn else []))
    b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return key, b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def poll(c, url, want, timeout=20):
    t0 = time.time()
    while True:
        r = c.post(url, None)
        st = r.json.get("status") if r.json else None
        if st in want or time.time() - t0 > timeout:
            return r
        time.sleep(0.05)


def issue(c, names, ips=(), profile=None, cn=None, replaces=None, csr_key=None):
    """Full flow; returns (order json, PEM chain, latency)."""
    t0 = time.time()
    ids = [{"type": "dns", "value": n} for n in names] + [{"type": "ip", "value": i} for i in ips]
    payload = {"identifiers": ids}
    if profile:
        payload["profile"] = profile
    if replaces:
        payload["replaces"] = replaces
    r = c.post(c.dir["newOrder"], payload)
    check(r.status == 201, "newOrder: %d %s" % (r.status, r.body[:300]))
    order_url = r.h("Location")
    order = r.json
    for az in order["authorizations"]:
        a = c.post(az, None).json
        if a["status"] == "valid":
            continue
        ch = [x for x in a["challenges"] if x["type"] == "http-01"][0]
        TOKENS[ch["token"]] = ch["token"] + "." + c.key.thumbprint()
        r = c.post(ch["url"], {})
        check(r.status == 200, "challenge: %d %s" % (r.status, r.body[:200]))
        a = poll(c, az, ("valid", "invalid"))
        check(a.json["status"] == "valid", "authz not valid: %s" % a.body[:400])
    _, csr = make_csr(names, key=csr_key, cn=cn, ips=ips)
    r = c.post(order["finalize"], {"csr": b64u(csr)})
    check(r.status == 200, "finalize: %d %s" % (r.status, r.body[:300]))
    if r.json["status"] != "valid":
        r = poll(c, order_url, ("valid", "invalid"))
    check(r.json["status"] == "valid", "order not valid: %s" % r.body[:300])
    cr = c.post(r.json["certificate"], None)
    check(cr.status == 200 and cr.h("Content-Type") == "application/pem-certificate-chain", "download")
    return r.json, cr.body.decode(), time.time() - t0


def cert_id(pem):
    cert = x509.load_pem_x509_certificate(pem.encode())
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    sn = cert.serial_number.to_bytes((cert.serial_number.bit_length() + 8) // 8, "big")
    while len(sn) > 1 and sn[0] == 0 and sn[1] < 0x80:
        sn = sn[1:]
    return b64u(aki) + "." + b64u(sn), cert


def expect(r, ptype, what, status=None):
    check(r.ptype() == ptype, "%s: want %s, got %d %s" % (what, ptype, r.status, r.body[:300]))
    if status:
        check(r.status == status, "%s: want HTTP %d, got %d" % (what, status, r.status))
    check(r.h("Replay-Nonce"), "%s: no Replay-Nonce" % what)


def protocol():
    start_http01()
    d = request("GET", DIR_URL)
    check(d.status == 200 and d.h("Replay-Nonce"), "directory")
    meta = d.json["meta"]
    check(set(meta["profiles"]) >= {"classic", "tlsserver", "shortlived"}, "profiles in meta")
    check("trustbox" in meta["caaIdentities"] and meta["externalAccountRequired"] is False, "meta")
    check("renewalInfo" in d.json, "renewalInfo in directory")
    r = request("HEAD", d.json["newNonce"])
    check(r.status == 200 and r.h("Replay-Nonce") and r.h("Cache-Control") == "no-store", "HEAD newNonce")
    check(request("GET", d.json["newNonce"]).status == 204, "GET newNonce")
    check(any('rel="index"' in l for l in r.hs("Link")), "Link rel=index")
    ok("directory (meta, profiles, renewalInfo), newNonce HEAD 200 / GET 204, Link index")

    c = Client()
    # ---- hostile requests before the account exists: none may create it ----
    na = c.dir["newAccount"]
    pl = {"termsOfServiceAgreed": True}
    n1 = c.new_nonce()
    r = c.post_raw(na, c.jws(na, pl, use_jwk=True, nonce=n1))
    check(r.status == 201, "newAccount: %d %s" % (r.status, r.body))
    c.kid = r.h("Location")
    check(c.kid and "/acct/" in c.kid, "account Location")
    r2 = c.post_raw(na, c.jws(na, pl, use_jwk=True, nonce=n1))
    expect(r2, "badNonce", "replayed nonce")
    expect(c.post_raw(na, c.jws(na, pl, use_jwk=True, nonce="AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")), "badNonce", "unknown nonce")
    expect(c.post_raw(na, c.jws(na, pl, use_jwk=True, protected_extra={"nonce": None})), "badNonce", "missing nonce")
    ok("newAccount 201 + Location; replayed, unknown and missing nonces -> badNonce")

    k2 = Client()
    na2 = k2.dir["newAccount"]

    def none_exists(what):
        r = k2.post(na2, {"onlyReturnExisting": True}, use_jwk=True)
        expect(r, "accountDoesNotExist", "no state change after " + what)

    expect(k2.post(na2 + "x", pl, use_jwk=True), "malformed", "unknown resource", 404)
    r = k2.post_raw(na2, k2.jws(na2.replace("new-account", "new-order"), pl, use_jwk=True))
    expect(r, "unauthorized", "wrong url")
    none_exists("wrong url")
    j = k2.jws(na2, pl, use_jwk=True, protected_extra={"alg": "none"})
    j["signature"] = ""
    expect(k2.post_raw(na2, j), "badSignatureAlgorithm", "alg none")
    # HS256 keyed with the public key's text (the classic confusion)
    prot = b64u(json.dumps({"alg": "HS256", "nonce": k2.new_nonce(), "url": na2, "jwk": k2.key.jwk()}).encode())
    pay = b64u(json.dumps(pl).encode())
    mac = hmac.new(json.dumps(k2.key.jwk()).encode(), (prot + "." + pay).encode(), hashlib.sha256).digest()
    expect(k2.post_raw(na2, {"protected": prot, "payload": pay, "signature": b64u(mac)}), "badSignatureAlgorithm", "HS256")
    expect(k2.post_raw(na2, k2.jws(na2, pl, use_jwk=True, protected_extra={"kid": c.kid})), "malformed", "jwk and kid")
    none_exists("alg none / HS256 / jwk+kid")
    j = k2.jws(na2, pl, use_jwk=True)
    j["payload"] = b64u(json.dumps({"termsOfServiceAgreed": True, "contact": ["mailto:evil@b.test"]}).encode())
    expect(k2.post_raw(na2, j), "malformed", "tampered payload")
    none_exists("tampered payload")
    j = k2.jws(na2, pl, use_jwk=True)
    j["payload"] = b64u(json.dumps({"x": "A" * (300 * 1024)}).encode())
    r = k2.post_raw(na2, j)
    check(r.status in (400, 413) and r.ptype() in ("malformed", None), "oversized body: %d %s" % (r.status, r.body[:200]))
    expect(k2.post_raw(na2, k2.jws(na2, pl, use_jwk=True), ctype="application/json"), "malformed", "wrong content type")
    expect(k2.post_raw(na2, b"{not json"), "malformed", "not JSON")
    expect(k2.post_raw(na2, "e30.e30.e30".encode()), "malformed", "compact serialization")
    none_exists("oversized / content type / not JSON / compact")
    k3 = Client()
    k3.kid = c.kid.rsplit("/", 1)[0] + "/unknownAcct0"
    expect(k3.post(k3.dir["newOrder"], {"identifiers": [{"type": "dns", "value": "x.lab.test"}]}), "accountDoesNotExist", "unknown kid")
    k3.kid = c.kid  # the right kid, signed with another key
    r = k3.post(k3.dir["newOrder"], {"identifiers": [{"type": "dns", "value": "x.lab.test"}]})
    expect(r, "malformed", "kid with a foreign key")
    expect(k2.post(k2.dir["newOrder"], {"identifiers": [{"type": "dns", "value": "x.lab.test"}]}, use_jwk=True),
           "malformed", "newOrder with jwk")
    ok("wrong url, alg none, HS256, jwk+kid, tampered payload, oversized, content type, unknown kid, foreign key: "
       "right problem types, no account created")

    # ---- account resource ----
    r = c.post(c.kid, None)
    check(r.status == 200 and r.json["status"] == "valid" and r.json["orders"].endswith("/orders"), "account GET")
    r = c.post(c.kid, {"contact": ["mailto:new@b.test"]})
    check(r.status == 200 and r.json["contact"] == ["mailto:new@b.test"], "contact update")
    expect(c.post(c.kid, {"contact": ["tel:+1555"]}), "unsupportedContact", "tel contact")
    expect(c.post(c.kid, {"contact": ["mailto:nobody"]}), "invalidContact", "bad mailto")
    r = c.post(na, {"onlyReturnExisting": True}, use_jwk=True)
    check(r.status == 200 and r.h("Location") == c.kid, "onlyReturnExisting finds the account")
    ok("account POST-as-GET, contact update, unsupportedContact/invalidContact, onlyReturnExisting")

    # ---- orders ----
    no = c.dir["newOrder"]
    expect(c.post(no, {"identifiers": [{"type": "dns", "value": "a.lab.test"}], "profile": "nope"}), "invalidProfile", "unknown profile")
    expect(c.post(no, {"identifiers": [{"type": "dns", "value": "a.lab.test"}], "notAfter": "2030-01-01T00:00:00Z"}), "malformed", "notAfter")
    expect(c.post(no, {"identifiers": [{"type": "dns", "value": "localhost"}]}), "rejectedIdentifier", "localhost")
    r = c.post(no, {"identifiers": [{"type": "dns", "value": "bad_name.lab.test"}, {"type": "dns", "value": "-x.lab.test"}]})
    expect(r, "rejectedIdentifier", "two bad names")
    check(len(r.json.get("subproblems", [])) == 2, "subproblems for each bad identifier")
    expect(c.post(no, {"identifiers": [{"type": "ip", "value": "127.0.0.1"}]}), "unsupportedIdentifier", "IP in classic")
    expect(c.post(no, {"identifiers": [{"type": "email", "value": "a@b.test"}]}), "unsupportedIdentifier", "email identifier")
    expect(c.post(no, {"identifiers": []}), "malformed", "no identifiers")
    r = c.post(no, {"identifiers": [{"type": "dns", "value": "p.lab.test"}]})
    check(r.status == 201 and r.json["status"] == "pending", "pending order")
    expect(c.post(r.json["finalize"], {"csr": "AA"}), "orderNotReady", "finalize a pending order", 403)
    ok("invalidProfile, notAfter, rejectedIdentifier with subproblems, unsupportedIdentifier, orderNotReady")

    r = c.post(no, {"identifiers": [{"type": "dns", "value": "*.w.lab.test"}]})
    check(r.status == 201, "wildcard order")
    a = c.post(r.json["authorizations"][0], None).json
    check(a.get("wildcard") is True and [x["type"] for x in a["challenges"]] == ["dns-01"], "wildcard: dns-01 only")
    check(a["identifier"]["value"] == "w.lab.test", "wildcard authz names the base domain")
    ok("wildcard order offers dns-01 only")

    # ---- issuance in each profile ----
    order, pem, lat = issue(c, ["one.lab.test", "two.lab.test"], cn="two.lab.test")
    cid, cert = cert_id(pem)
    life = (cert.not_valid_after_utc - cert.not_valid_before_utc).total_seconds()
    check(abs(life - 90 * 86400) <= 1, "classic lifetime %s" % life)
    check(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "two.lab.test", "classic keeps the CN")
    r = c.post(c.kid + "/orders", None)
    check(r.status == 200 and any(o.endswith(order["finalize"].rsplit("/", 2)[1]) for o in r.json["orders"]), "orders list")
    ok("classic issuance (2 names, CN kept, 90 days) in %.3f s; orders list" % lat)

    _, pem2, _ = issue(c, ["t.lab.test"], profile="tlsserver", cn="t.lab.test")
    _, cert2 = cert_id(pem2)
    check(len(cert2.subject) == 0, "tlsserver has no CN")
    check(cert2.extensions.get_extension_for_class(x509.SubjectAlternativeName).critical, "SAN critical without subject")
    check(abs((cert2.not_valid_after_utc - cert2.not_valid_before_utc).total_seconds() - 45 * 86400) <= 1, "tlsserver 45 days")
    ok("tlsserver: no CN, critical SAN, 45 days")

    _, pem3, _ = issue(c, [], ips=["127.0.0.1"], profile="shortlived")
    _, cert3 = cert_id(pem3)
    ipsan = cert3.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    check([str(i) for i in ipsan.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"], "IP SAN")
    check(abs((cert3.not_valid_after_utc - cert3.not_valid_before_utc).total_seconds() - 160 * 3600) <= 1, "shortlived 160 h")
    ok("shortlived: IP identifier (RFC 8738) validated over http-01, 160 hours")

    # finalize with the account key as certificate key
    r = c.post(no, {"identifiers": [{"type": "dns", "value": "one.lab.test"}]})
    o = r.json
    check(c.post(o["authorizations"][0], None).json["status"] == "valid", "authorization reused")
    _, csr = make_csr(["one.lab.test"], key=c.key.k)
    expect(c.post(o["finalize"], {"csr": b64u(csr)}), "badCSR", "CSR with the account key")
    _, csr = make_csr(["other.lab.test"])
    expect(c.post(o["finalize"], {"csr": b64u(csr)}), "badCSR", "CSR names differ from the order")
    ok("authorization reuse; badCSR for the account key and for other names")

    # ---- ARI ----
    r = request("GET", c.dir["renewalInfo"] + "/" + cid)
    check(r.status == 200 and r.h("Retry-After") and "suggestedWindow" in r.json, "renewalInfo: %d %s" % (r.status, r.body))
    check(request("GET", c.dir["renewalInfo"] + "/notacertid").status == 400, "renewalInfo malformed")
    check(request("GET", c.dir["renewalInfo"] + "/AAAAAAAA." + cid.split(".")[1]).status == 404, "renewalInfo with another AKI")
    _, pem4, _ = issue(c, ["one.lab.test", "two.lab.test"], replaces=cid)
    r = c.post(no, {"identifiers": [{"type": "dns", "value": "one.lab.test"}], "replaces": cid})
    expect(r, "alreadyReplaced", "second replacement", 409)
    ok("ARI renewalInfo (suggestedWindow, Retry-After), replaces, alreadyReplaced")

    # ---- revocation ----
    rv = c.dir["revokeCert"]
    der3 = cert3.public_bytes(serialization.Encoding.DER)
    expect(c.post(rv, {"certificate": b64u(der3), "reason": 7}), "badRevocationReason", "reason 7")
    other = Client()
    other.register()
    expect(other.post(rv, {"certificate": b64u(der3)}), "unauthorized", "revocation by another account")
    r = c.post(rv, {"certificate": b64u(der3), "reason": 4})
    check(r.status == 200, "revoke by account: %d %s" % (r.status, r.body))
    expect(c.post(rv, {"certificate": b64u(der3)}), "alreadyRevoked", "revoke twice")
    # by certificate key: sign with the certificate's private key, embedded jwk
    ck = ec.generate_private_key(ec.SECP256R1())
    _, pem5, _ = issue(c, ["k.lab.test"], csr_key=ck)
    _, cert5 = cert_id(pem5)
    certkey = Key()
    certkey.k = ck
    r = other.post(rv, {"certificate": b64u(cert5.public_bytes(serialization.Encoding.DER)), "reason": 1}, key=certkey, use_jwk=True)
    check(r.status == 200, "revoke by certificate key: %d %s" % (r.status, r.body))
    r = request("GET", c.dir["renewalInfo"] + "/" + cert_id(pem5)[0])
    check(r.status == 200, "renewalInfo of a revoked certificate")
    ok("revocation: badRevocationReason, unauthorized, by account, alreadyRevoked, by certificate key")

    # ---- keyChange and deactivation ----
    kc = Client()
    kc.register()
    newk = Key("ec384")
    inner = kc.jws(kc.dir["keyChange"], {"account": kc.kid, "oldKey": kc.key.jwk()}, use_jwk=True, key=newk,
                   protected_extra={"nonce": None})
    r = kc.post(kc.dir["keyChange"], inner)
    check(r.status == 200, "keyChange: %d %s" % (r.status, r.body))
    old = kc.key
    kc.key = newk
    check(kc.post(kc.kid, None).status == 200, "new key works")
    kc.key = old
    r = kc.post(kc.kid, None)
    check(r.status == 400 and r.ptype() in ("malformed", "badSignatureAlgorithm"), "old key after keyChange: %s" % r.body)
    o2 = Client(old)
    expect(o2.post(o2.dir["newAccount"], {"onlyReturnExisting": True}, use_jwk=True), "accountDoesNotExist", "old key lookup")
    kc.key = newk
    r = kc.post(kc.kid, {"status": "deactivated"})
    check(r.status == 200 and r.json["status"] == "deactivated", "deactivate")
    expect(kc.post(kc.kid, None), "unauthorized", "deactivated account")
    ok("keyChange (ES256 -> ES384), old key refused, deactivation")

    # ---- EAB ----
    e = Client()
    url = e.dir["newAccount"]
    eab_key = ub64u("c2VjcmV0LWhtYWMta2V5LWZvci10ZXN0cy0wMDAwMDAwMA")
    prot = b64u(json.dumps({"alg": "HS256", "kid": "kid-1", "url": url}).encode())
    pay = b64u(json.dumps(e.key.jwk()).encode())
    eab = {"protected": prot, "payload": pay,
           "signature": b64u(hmac.new(eab_key, (prot + "." + pay).encode(), hashlib.sha256).digest())}
    bad = dict(eab, signature=b64u(b"\0" * 32))
    r = e.post(url, {"termsOfServiceAgreed": True, "externalAccountBinding": bad}, use_jwk=True)
    check(r.status >= 400, "EAB with a wrong MAC accepted")
    r = e.register(externalAccountBinding=eab)
    check(r.status == 201, "EAB account: %d %s" % (r.status, r.body))
    ok("External Account Binding (HS256): wrong MAC refused, right MAC accepted")

    # ---- rate limit: 40 new orders per account per hour ----
    rl = Client()
    rl.register()
    got = None
    for i in range(45):
        r = rl.post(rl.dir["newOrder"], {"identifiers": [{"type": "dns", "value": "rl%d.lab.test" % i}]})
        if r.status != 201:
            got = r
            break
    check(got is not None and got.ptype() == "rateLimited" and got.status == 429 and got.h("Retry-After"),
          "rate limit: %s" % (got.body if got else "never limited"))
    ok("rateLimited (429, Retry-After) after 40 new orders")

    # ---- a failing http-01 validation ----
    r = c.post(no, {"identifiers": [{"type": "dns", "value": "fail.lab.test"}]})
    a = c.post(r.json["authorizations"][0], None).json
    ch = [x for x in a["challenges"] if x["type"] == "http-01"][0]
    TOKENS[ch["token"]] = "wrong"
    c.post(ch["url"], {})
    a = poll(c, r.json["authorizations"][0], ("valid", "invalid"))
    check(a.json["status"] == "invalid", "failed validation leaves authz invalid")
    chs = [x for x in a.json["challenges"] if x["type"] == "http-01"][0]
    check(chs["error"]["type"].endswith("unauthorized"), "challenge error: %s" % chs)
    check(c.post(r.h("Location"), None).json["status"] == "invalid", "order invalid")
    ok("wrong key authorization: challenge error unauthorized, authz and order invalid")
    r = c.post(no, {"identifiers": [{"type": "dns", "value": "fail.lab.test"}]})
    a = c.post(r.json["authorizations"][0], None).json
    ch = [x for x in a["challenges"] if x["type"] == "http-01"][0]
    r = c.post(ch["url"], {})
    check(r.ptype() == "rateLimited" and r.h("Retry-After"), "failed validations limit: %s" % r.body)
    ok("rateLimited after one failed validation per identifier and hour")

    print("protocol: %d groups passed" % PASSED)


def strict():
    """Run against a CA with policy = "strict" and no resolver."""
    start_http01()
    c = Client()
    c.register()
    no = c.dir["newOrder"]
    r = c.post(no, {"identifiers": [{"type": "ip", "value": "127.0.0.1"}], "profile": "shortlived"})
    expect(r, "rejectedIdentifier", "loopback IP under the strict policy")
    r = c.post(no, {"identifiers": [{"type": "dns", "value": "s.lab.test"}]})
    check(r.status == 201, "order under strict policy")
    a = c.post(r.json["authorizations"][0], None).json
    ch = [x for x in a["challenges"] if x["type"] == "http-01"][0]
    TOKENS[ch["token"]] = ch["token"] + "." + c.key.thumbprint()
    c.post(ch["url"], {})
    a = poll(c, r.json["authorizations"][0], ("valid", "invalid"))
    check(a.json["status"] == "invalid", "strict policy validated a lab name via the loopback fallback")
    err = [x for x in a.json["challenges"] if x["type"] == "http-01"][0]["error"]["type"]
    check(err.rsplit(":", 1)[-1] in ("dns", "connection"), "strict: error %s" % err)
    ok("strict policy: loopback IP identifiers refused, no 127.0.0.1 fallback for lab names (%s)" % err.rsplit(":", 1)[-1])


def lab():
    """Run against a CA with lab_always_valid, lab_reject_nonce_fraction = 0.3, lab_validation_delay_ms = 300."""
    Client.RETRIES = 20
    c = Client()
    rejected = 0
    for _ in range(30):
        r = c.post_raw(c.dir["newAccount"],
                       c.jws(c.dir["newAccount"], {"onlyReturnExisting": True}, use_jwk=True))
        rejected += r.ptype() == "badNonce"
    check(1 <= rejected <= 22, "lab nonce rejection: %d of 30" % rejected)
    c.register()
    r = c.post(c.dir["newOrder"], {"identifiers": [{"type": "dns", "value": "nobody-serves-this.lab.test"}]})
    check(r.status == 201, "lab order")
    az = r.json["authorizations"][0]
    a = c.post(az, None).json
    ch = [x for x in a["challenges"] if x["type"] == "http-01"][0]
    t0 = time.time()
    c.post(ch["url"], {})
    check(c.post(az, None).json["status"] == "pending", "lab delay: validated at once")
    a = poll(c, az, ("valid", "invalid"))
    check(a.json["status"] == "valid" and time.time() - t0 >= 0.3, "lab_always_valid / delay: %s" % a.body[:200])
    ok("lab switches: %d of 30 good nonces refused, validation delayed, every challenge valid" % rejected)


def hdr_checks(r, what):
    check(r.h("Replay-Nonce"), "%s: no Replay-Nonce" % what)
    check(any('rel="index"' in l for l in r.hs("Link")), "%s: no Link rel=index" % what)


def qa():
    """Behaviour RFC 8555 implies that the protocol mode does not name."""
    start_http01()
    c = Client()
    r = c.register()
    check(r.status == 201 and r.h("Location") == c.kid and "/acct/" in c.kid, "newAccount 201 + Location")
    hdr_checks(r, "newAccount")
    r = c.register()
    check(r.status == 200 and r.h("Location") == c.kid, "newAccount with a known key: 200 + the same Location")

    # RFC 8555 6.2: a POST whose Content-Type is not application/jose+json: 415 malformed (Boulder, Pebble)
    no = c.dir["newOrder"]
    for ct in ("application/json", "text/plain", "application/jose+json-x"):
        r = c.post_raw(no, c.jws(no, {"identifiers": [{"type": "dns", "value": "ct.lab.test"}]}), ctype=ct)
        expect(r, "malformed", "Content-Type " + ct, 415)
        hdr_checks(r, "415 answer")
    # RFC 8555 6.3: GET on anything but the directory, newNonce (and renewalInfo, RFC 9773): 405 malformed
    r = c.post(no, {"identifiers": [{"type": "dns", "value": "get.lab.test"}]})
    check(r.status == 201 and r.h("Location") and "/order/" in r.h("Location"), "newOrder 201 + Location")
    hdr_checks(r, "newOrder")
    order_url, order = r.h("Location"), r.json
    for what, url in (("account", c.kid), ("orders list", c.kid + "/orders"), ("order", order_url),
                      ("authz", order["authorizations"][0]), ("finalize", order["finalize"]),
                      ("newAccount", c.dir["newAccount"]), ("newOrder", no)):
        r = request("GET", url)
        expect(r, "malformed", "GET " + what, 405)
        hdr_checks(r, "405 answer")
        check(r.h("Allow") is not None and "POST" in r.h("Allow"), "GET %s: Allow header" % what)
    ok("Content-Type other than application/jose+json -> 415 malformed; GET on account/order/authz -> 405 malformed "
       "with Allow; Replay-Nonce and Link rel=index on errors; Location on newAccount and newOrder")

    # RFC 8555 7.2: newNonce takes POST-as-GET too; it must not take a payload
    r = c.post(c.dir["newNonce"], None)
    check(r.status in (200, 204) and r.h("Replay-Nonce"), "POST-as-GET newNonce: %d %s" % (r.status, r.body[:200]))
    expect(c.post(c.dir["newNonce"], {}), "malformed", "newNonce with a payload")
    ok("POST-as-GET newNonce answers a nonce")

    # the directory has termsOfService: a new account must agree (Boulder, Pebble); a known key needs not
    u = Client()
    for pl in ({}, {"termsOfServiceAgreed": False}, {"contact": ["mailto:x@b.test"]}):
        expect(u.post(u.dir["newAccount"], pl, use_jwk=True), "malformed", "newAccount %s" % json.dumps(pl))
    r = c.post(c.dir["newAccount"], {}, use_jwk=True)
    check(r.status == 200 and r.h("Location") == c.kid, "newAccount {} for a known key: %d" % r.status)
    # a NUL inside a JSON string must not cut it short
    raw = b'{"identifiers":[{"type":"dns","value":"nul.lab.test\\u0000.evil.test"}]}'
    prot = b64u(json.dumps({"alg": c.key.alg(), "nonce": c.new_nonce(), "url": no, "kid": c.kid}).encode())
    pl64 = b64u(raw)
    r = c.post_raw(no, {"protected": prot, "payload": pl64, "signature": b64u(c.key.sign((prot + "." + pl64).encode()))})
    expect(r, "malformed", "identifier with \\u0000")
    ok("newAccount without termsOfServiceAgreed -> malformed (known key still found); \\u0000 in a payload -> malformed")

    # onlyReturnExisting for an unknown key
    u = Client()
    r = u.post(u.dir["newAccount"], {"onlyReturnExisting": True}, use_jwk=True)
    expect(r, "accountDoesNotExist", "onlyReturnExisting, unknown key", 400)
    hdr_checks(r, "accountDoesNotExist")

    # finalize before the authorizations are valid, then twice after issuance
    expect(c.post(order["finalize"], {"csr": b64u(make_csr(["get.lab.test"])[1])}), "orderNotReady", "finalize a pending order", 403)
    order2, pem, _ = issue(c, ["fin.lab.test"])
    r = c.post(order2["finalize"], {"csr": b64u(make_csr(["fin.lab.test"])[1])})
    expect(r, "orderNotReady", "second finalize", 403)
    # certificates by POST-as-GET only
    r = request("GET", order2["certificate"])
    expect(r, "malformed", "GET certificate", 405)
    ok("onlyReturnExisting unknown key -> accountDoesNotExist; finalize pending -> orderNotReady; "
       "second finalize -> orderNotReady; certificate GET -> 405")

    # CSR names: case-insensitive match, CN among the SANs, names differing -> badCSR
    order3, case_pem, _ = issue(c, ["case.lab.test", "www.case.lab.test"])
    r = c.post(no, {"identifiers": [{"type": "dns", "value": "case.lab.test"}]})
    o = r.json
    for az in o["authorizations"]:
        a = c.post(az, None).json
        check(a["status"] == "valid", "authorization reused")
    ou = r.h("Location")
    expect(c.post(o["finalize"], {"csr": b64u(make_csr(["case.lab.test", "other.lab.test"])[1])}), "badCSR", "extra name")
    expect(c.post(o["finalize"], {"csr": b64u(make_csr(["nope.lab.test"])[1])}), "badCSR", "other name")
    expect(c.post(o["finalize"], {"csr": b64u(make_csr(["case.lab.test"], cn="other.lab.test")[1])}), "badCSR", "CN not in the order")
    r = c.post(o["finalize"], {"csr": b64u(make_csr(["CASE.Lab.Test"])[1])})
    check(r.status == 200, "CSR names in upper case: %d %s" % (r.status, r.body[:300]))
    ok("CSR names compared case-insensitively; extra name, other name, foreign CN -> badCSR")

    # a first name longer than a CN may be (64): the subject has no CN
    long = "a" * 60 + ".lab.test"
    _, pem, _ = issue(c, [long])
    cert = x509.load_pem_x509_certificate(pem.encode())
    check(not cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME), "CN of %d chars: %s" % (len(long), cert.subject.rfc4514_string()))
    # processing carries Retry-After: poll the order from a second connection while it is finalized
    r = c.post(no, {"identifiers": [{"type": "dns", "value": "proc.lab.test"}]})
    pu, po = r.h("Location"), r.json
    a = c.post(po["authorizations"][0], None).json
    ch = [x for x in a["challenges"] if x["type"] == "http-01"][0]
    TOKENS[ch["token"]] = ch["token"] + "." + c.key.thumbprint()
    c.post(ch["url"], {})
    check(poll(c, po["authorizations"][0], ("valid", "invalid")).json["status"] == "valid", "proc authz")
    seen, stop = [], []
    p2 = Client(c.key)
    p2.kid = c.kid

    def poller():
        while not stop:
            rr = p2.post(pu, None)
            seen.append((rr.json.get("status"), rr.h("Retry-After")))
    th = threading.Thread(target=poller)
    th.start()
    time.sleep(0.1)
    r = c.post(po["finalize"], {"csr": b64u(make_csr(["proc.lab.test"])[1])})
    time.sleep(0.1)
    stop.append(1)
    th.join()
    check(r.status == 200 and r.json["status"] == "valid", "finalize proc: %s" % r.body[:200])
    check(all(ra for st, ra in seen if st == "processing"), "processing without Retry-After: %s" % seen)
    check(all(ra is None for st, ra in seen if st != "processing"), "Retry-After outside processing: %s" % seen)
    ok("a 69-character name gets no CN; processing answers carry Retry-After (%d processing polls seen)"
       % sum(1 for st, _ in seen if st == "processing"))

    # 101 names on a max-100 profile
    ids = [{"type": "dns", "value": "n%d.lab.test" % i} for i in range(101)]
    r = c.post(no, {"identifiers": ids})
    check(r.status == 400 and r.ptype() in ("rejectedIdentifier", "malformed"), "101 names: %d %s" % (r.status, r.body[:200]))
    ids = [{"type": "dns", "value": "n%d.lab.test" % i} for i in range(100)]
    r = c.post(no, {"identifiers": ids})
    check(r.status == 201 and len(r.json["authorizations"]) == 100, "100 names: %d %s" % (r.status, r.body[:200]))
    # duplicates collapse
    r = c.post(no, {"identifiers": [{"type": "dns", "value": "dup.lab.test"}, {"type": "dns", "value": "DUP.lab.test"}]})
    check(r.status == 201 and len(r.json["identifiers"]) == 1 and len(r.json["authorizations"]) == 1, "duplicate identifiers: %s" % r.body[:300])
    ok("101 names -> %s; 100 names accepted; duplicate identifiers collapse" % "rejected")

    # wildcard together with its base name
    r = c.post(no, {"identifiers": [{"type": "dns", "value": "*.wb.lab.test"}, {"type": "dns", "value": "wb.lab.test"}]})
    check(r.status == 201 and len(r.json["authorizations"]) == 2, "wildcard + base: %s" % r.body[:300])
    kinds = sorted([x["type"] for x in c.post(a, None).json["challenges"]] for a in r.json["authorizations"])
    check(["dns-01"] in kinds and any("http-01" in k for k in kinds), "wildcard + base: challenges %s" % kinds)
    ok("wildcard and base name: two authorizations, http-01 only for the base")

    # order list paging: more than one page
    c2 = Client()
    c2.register()
    made = set()
    for i in range(103):
        r = c2.post(no, {"identifiers": [{"type": "dns", "value": "pg%d.lab.test" % i}]})
        check(r.status == 201, "paging order %d: %d %s" % (i, r.status, r.body[:200]))
        made.add(r.h("Location"))
    seen, url, pages = [], c2.kid + "/orders", 0
    while url and pages < 5:
        r = c2.post(url, None)
        check(r.status == 200, "orders page: %d %s" % (r.status, r.body[:200]))
        seen += r.json["orders"]
        pages += 1
        url = None
        for l in r.hs("Link"):
            for part in l.split(","):
                if 'rel="next"' in part:
                    url = part.split("<", 1)[1].split(">", 1)[0]
    check(pages >= 2 and len(seen) == len(set(seen)) and set(seen) == made, "paging: %d pages, %d orders (%d unique), want %d"
          % (pages, len(seen), len(set(seen)), len(made)))
    ok("orders list: %d orders over %d pages with Link rel=next, none twice" % (len(seen), pages))

    # keyChange to a key another account uses: 409 + Location of that account
    kc = c.dir["keyChange"]
    inner_key = c2.key
    inner = c.jws(kc, {"account": c.kid, "oldKey": c.key.jwk()}, use_jwk=True, key=inner_key, nonce="x")
    del_n = json.loads(ub64u(inner["protected"]))
    del_n.pop("nonce", None)
    p64 = b64u(json.dumps(del_n).encode())
    inner = {"protected": p64, "payload": inner["payload"],
             "signature": b64u(inner_key.sign((p64 + "." + inner["payload"]).encode()))}
    r = c.post(kc, inner)
    check(r.status == 409 and r.h("Location") == c2.kid, "keyChange to a key in use: %d %s %s" % (r.status, r.h("Location"), r.body[:200]))
    ok("keyChange to a key already in use -> 409 with the other account's Location")

    # a deactivated account is refused everywhere
    r = c2.post(c2.kid, {"status": "deactivated"})
    check(r.status == 200 and r.json["status"] == "deactivated", "deactivate")
    expect(c2.post(no, {"identifiers": [{"type": "dns", "value": "d.lab.test"}]}), "unauthorized", "newOrder, deactivated", 403)
    expect(c2.post(c2.kid, None), "unauthorized", "account POST-as-GET, deactivated", 403)
    expect(c2.post(sorted(made)[0], None), "unauthorized", "order POST-as-GET, deactivated", 403)
    r = c2.post(c2.dir["newAccount"], {"termsOfServiceAgreed": True}, use_jwk=True)
    check(r.status in (401, 403) and r.ptype() == "unauthorized", "newAccount with a deactivated key: %d %s" % (r.status, r.body[:200]))
    ok("deactivated account: newOrder, account, order, newAccount -> unauthorized")

    # another account's resources
    c3 = Client()
    c3.register()
    r = c3.post(order_url, None)
    check(r.status in (403, 404) and r.ptype() in ("unauthorized", "malformed"), "foreign order: %d %s" % (r.status, r.body[:200]))
    r = c3.post(order["authorizations"][0], None)
    check(r.status in (403, 404) and r.ptype() in ("unauthorized", "malformed"), "foreign authz: %d %s" % (r.status, r.body[:200]))
    base = order_url.rsplit("/order/", 1)[0]
    for what, url, pl in (("foreign finalize", order["finalize"], {"csr": "AA"}),
                          ("unknown order", base + "/order/AAAAAAAAAAAAAAAA", None),
                          ("unknown finalize", base + "/order/AAAAAAAAAAAAAAAA/finalize", {"csr": "AA"}),
                          ("unknown authz", base + "/authz/AAAAAAAAAAAAAAAA", None),
                          ("unknown challenge", base + "/chall/AAAAAAAAAAAAAAAA", {}),
                          ("unknown certificate", base + "/cert/00", None)):
        r = c3.post(url, pl)
        check(r.status == 404 and r.ptype() == "malformed", "%s: %d %s" % (what, r.status, r.body[:200]))
    r = c3.post(c.kid, None)
    check(r.status in (403, 404) and r.ptype() in ("unauthorized", "malformed"), "foreign account: %d %s" % (r.status, r.body[:200]))
    r = c3.post(order2["certificate"], None)
    check(r.status == 200 or r.ptype() in ("unauthorized", "malformed"), "foreign certificate: %d" % r.status)
    ok("another account's order, authorization and account URL refused")

    # RFC 8555 7.6: an account holding valid authorizations for every name may revoke
    rv = c.dir["revokeCert"]
    der = x509.load_pem_x509_certificate(case_pem.encode()).public_bytes(serialization.Encoding.DER)
    names = ["case.lab.test", "www.case.lab.test"]
    expect(c3.post(rv, {"certificate": b64u(der)}), "unauthorized", "revocation without the names")
    r = c3.post(no, {"identifiers": [{"type": "dns", "value": n} for n in names[:1]]})
    a = c3.post(r.json["authorizations"][0], None).json
    ch = [x for x in a["challenges"] if x["type"] == "http-01"][0]
    TOKENS[ch["token"]] = ch["token"] + "." + c3.key.thumbprint()
    c3.post(ch["url"], {})
    check(poll(c3, r.json["authorizations"][0], ("valid", "invalid")).json["status"] == "valid", "c3 authz")
    expect(c3.post(rv, {"certificate": b64u(der)}), "unauthorized", "revocation holding one of two names")
    r = c3.post(no, {"identifiers": [{"type": "dns", "value": n} for n in names[1:]]})
    a = c3.post(r.json["authorizations"][0], None).json
    ch = [x for x in a["challenges"] if x["type"] == "http-01"][0]
    TOKENS[ch["token"]] = ch["token"] + "." + c3.key.thumbprint()
    c3.post(ch["url"], {})
    check(poll(c3, r.json["authorizations"][0], ("valid", "invalid")).json["status"] == "valid", "c3 authz 2")
    expect(c3.post(rv, {"certificate": b64u(der), "reason": 1}), "badRevocationReason", "holder claims keyCompromise")
    r = c3.post(rv, {"certificate": b64u(der)})
    check(r.status == 200, "revocation by the holder of every name: %d %s" % (r.status, r.body[:200]))
    expect(c.post(rv, {"certificate": b64u(der)}), "alreadyRevoked", "subscriber after the holder")
    ok("revocation by another account: refused without the names and with one of two, "
       "accepted (cessationOfOperation) with valid authorizations for both")

    # payloads of the wrong JSON type
    for bad in ([], "x", 1, None):
        r = c.post_raw(no, c.jws(no, bad) if bad is not None else c.jws(no, None))
        check(r.status == 400 and r.ptype() == "malformed", "newOrder payload %r: %d %s" % (bad, r.status, r.body[:200]))
    ok("newOrder payloads [] \"x\" 1 and POST-as-GET -> malformed")


def expiry():
    """Against a CA whose pending orders and authorizations live 4 s."""
    c = Client()
    c.register()
    no = c.dir["newOrder"]
    r = c.post(no, {"identifiers": [{"type": "dns", "value": "exp.lab.test"}]})
    check(r.status == 201, "order")
    ou, o = r.h("Location"), r.json
    az = o["authorizations"][0]
    a = c.post(az, None).json
    ch = [x for x in a["challenges"] if x["type"] == "http-01"][0]
    time.sleep(5.2)
    r = c.post(ou, None)
    check(r.status == 200 and r.json["status"] == "invalid", "expired order: %s" % r.body[:300])
    r = c.post(az, None)
    check(r.status == 200 and r.json["status"] == "expired", "expired authz: %s" % r.body[:300])
    r = c.post(ch["url"], {})
    check(r.status >= 400 or (r.json and r.json.get("status") != "valid"), "challenge of an expired authz: %d %s" % (r.status, r.body[:200]))
    TOKENS[ch["token"]] = ch["token"] + "." + c.key.thumbprint()
    time.sleep(0.5)
    check(c.post(az, None).json["status"] == "expired", "expired authz stays expired")
    expect(c.post(o["finalize"], {"csr": b64u(make_csr(["exp.lab.test"])[1])}), "orderNotReady", "finalize an expired order", 403)
    r = c.post(c.kid + "/orders", None)
    check(ou not in r.json["orders"], "expired order still listed")
    # a new order for the same name gets a fresh authorization
    r = c.post(no, {"identifiers": [{"type": "dns", "value": "exp.lab.test"}]})
    check(r.status == 201 and r.json["status"] == "pending" and r.json["authorizations"][0] != az, "new order after expiry")
    ok("expired order -> invalid, expired authorization -> expired (challenge refused), finalize -> orderNotReady, "
       "not listed, fresh authorization for a new order")

    # a ready order that outlives its lifetime cannot be finalized
    start_http01()
    r = c.post(no, {"identifiers": [{"type": "dns", "value": "rdy.lab.test"}]})
    ou, o = r.h("Location"), r.json
    a = c.post(o["authorizations"][0], None).json
    ch = [x for x in a["challenges"] if x["type"] == "http-01"][0]
    TOKENS[ch["token"]] = ch["token"] + "." + c.key.thumbprint()
    c.post(ch["url"], {})
    check(poll(c, o["authorizations"][0], ("valid", "invalid", "expired"), timeout=4).json["status"] == "valid", "rdy authz")
    check(c.post(ou, None).json["status"] == "ready", "rdy order ready")
    while c.post(ou, None).json["status"] == "ready":
        time.sleep(0.2)
    check(c.post(ou, None).json["status"] == "invalid", "ready order past its lifetime is invalid")
    expect(c.post(o["finalize"], {"csr": b64u(make_csr(["rdy.lab.test"])[1])}), "orderNotReady", "finalize an expired ready order", 403)
    check(c.post(o["authorizations"][0], None).json["status"] == "valid", "its valid authorization stays valid")
    ok("a ready order past its lifetime turns invalid and finalize answers orderNotReady")


def bench(n, conc):
    start_http01()
    clients = [Client() for _ in range(conc)]
    for c in clients:
        c.register()
    lat = []
    lock = threading.Lock()
    counter = [0]

    def worker(c, w):
        while True:
            with lock:
                if counter[0] >= n:
                    return
                counter[0] += 1
                i = counter[0]
            _, _, l = issue(c, ["b%d-%d.lab.test" % (w, i)])
            with lock:
                lat.append(l)

    cpu0 = os.times()
    t0 = time.time()
    ts = [threading.Thread(target=worker, args=(c, w)) for w, c in enumerate(clients)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    dt = time.time() - t0
    lat.sort()

    def pct(p):
        return lat[min(len(lat) - 1, int(p * len(lat)))]

    print("bench: %d issuances, %d workers, %.2f s: %.1f issuances/s; latency p50 %.0f ms, p90 %.0f ms, p99 %.0f ms"
          % (len(lat), conc, dt, len(lat) / dt, pct(0.5) * 1000, pct(0.9) * 1000, pct(0.99) * 1000))


if __name__ == "__main__":
    if sys.argv[1] == "protocol":
        protocol()
    elif sys.argv[1] == "lab":
        lab()
    elif sys.argv[1] == "qa":
        qa()
    elif sys.argv[1] == "expiry":
        expiry()
    elif sys.argv[1] == "strict":
        strict()
    elif sys.argv[1] == "bench":
        bench(int(sys.argv[2]), int(sys.argv[3]))
    else:
        sys.exit("unknown mode " + sys.argv[1])
