#!/usr/bin/env python3
"""Validation-authority checks driven with the hand-made ACME client
(test_acme_client.py, imported). Modes:

  ssrf   run inside a private network namespace where 1.2.3.4 is on lo,
         against a CA with policy = "strict" and http01_port = 80 whose
         names *.ssrf.test resolve to 1.2.3.4 and internal.ssrf.test to
         127.0.0.1 (trustbox's own DNS zone, or /etc/hosts without a
         resolver): http-01 servers that redirect to internal addresses must
         fail with a connection problem naming the refused address and port,
         no error may quote a body fetched after a redirect, and the
         internal listeners must see no request.
  caps   against a lab CA with http01_port at a tarpit on 127.0.0.1 and
         max_validations = 3, max_validations_per_account = 2,
         max_queued_validations = 3, validation_timeout_ms = 3000 and
         failed_validations_per_identifier_per_hour = 2: at most the caps of
         connections at once, queue overflow answered rateLimited with
         Retry-After, the failed-validation bucket charged at start.

Environment: ACME_DIR, ACME_CA (as test_acme_client.py), TARPIT_PORT (caps).
"""
import http.server
import os
import socket
import socketserver
import sys
import threading
import time

sys.dont_write_bytecode = True  # nothing written into the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_acme_client as tac  # noqa: E402

check, ok, Client, poll = tac.check, tac.ok, tac.Client, tac.poll
CONNECTION = "urn:ietf:params:acme:error:connection"


class TS(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class TS6(TS):
    address_family = socket.AF_INET6


def serve(cls, addr, handler):
    s = cls(addr, handler)
    threading.Thread(target=s.serve_forever, daemon=True).start()
    return s


def reply(h, status, body=b"", headers=()):
    h.send_response(status)
    for k, v in headers:
        h.send_header(k, v)
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body)


def http01(c, name):
    """New order for name, POST its http-01 challenge; returns the authz URL (or the refusing response)."""
    r = c.post(c.dir["newOrder"], {"identifiers": [{"type": "dns", "value": name}]})
    check(r.status == 201, "newOrder %s: %d %s" % (name, r.status, r.body[:300]))
    az = r.json["authorizations"][0]
    a = c.post(az, None).json
    ch = [x for x in a["challenges"] if x["type"] == "http-01"][0]
    tac.TOKENS[ch["token"]] = ch["token"] + "." + c.key.thumbprint()
    return az, ch, c.post(ch["url"], {})


# ---- ssrf ----

SECRET = b"INTERNAL-SECRET-0123456789"
LEAK = b"LEAK-BODY-0123456789"
REDIRECTS = {
    # label -> (Location, the address:port the detail must name)
    "redir-ip": ("http://127.0.0.1/secret", "127.0.0.1:80"),
    "redir-name": ("http://internal.ssrf.test/secret", "127.0.0.1:80"),
    "redir-v6": ("http://[::1]/secret", "[::1]:80"),
    "redir-mapped": ("http://[::ffff:127.0.0.1]/secret", "[::ffff:127.0.0.1]:80"),
    "redir-port": ("http://1.2.3.4:8080/secret", "1.2.3.4:8080"),
}


def ssrf():
    hits = []

    class Target(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            label = (self.headers.get("Host") or "").split(".")[0]
            p = "/.well-known/acme-challenge/"
            if self.path == "/leak":
                reply(self, 200, LEAK)
            elif label == "ok" and self.path.startswith(p) and self.path[len(p):] in tac.TOKENS:
                reply(self, 200, tac.TOKENS[self.path[len(p):]].encode())
            elif label == "redir-leak":
                reply(self, 302, headers=[("Location", "http://1.2.3.4/leak")])
            elif label in REDIRECTS:
                reply(self, 302, headers=[("Location", REDIRECTS[label][0])])
            else:
                reply(self, 404)

        def log_message(self, *a):
            pass

    class Internal(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append((self.server.server_address, self.headers.get("Host"), self.path))
            reply(self, 200, SECRET)

        def log_message(self, *a):
            pass

    serve(TS, ("1.2.3.4", 80), Target)
    serve(TS, ("127.0.0.1", 80), Internal)
    serve(TS6, ("::1", 80), Internal)
    serve(TS, ("1.2.3.4", 8080), Internal)

    c = Client()
    c.register()
    labels = ["ok", "redir-leak", "internal"] + list(REDIRECTS)
    started = {}
    for label in labels:
        az, ch, r = http01(c, label + ".ssrf.test")
        check(r.status == 200, "challenge POST %s: %d %s" % (label, r.status, r.body[:200]))
        started[label] = az
    res = {}
    for label, az in started.items():
        a = poll(c, az, ("valid", "invalid"), timeout=40)
        res[label] = a.json
        check(a.json["status"] in ("valid", "invalid"), "%s: still %s" % (label, a.json["status"]))

    # The policy lets the public address through: the checks below are not vacuous.
    check(res["ok"]["status"] == "valid", "ok.ssrf.test at 1.2.3.4 not valid under strict: %s" % res["ok"])

    def err(label):
        check(res[label]["status"] == "invalid", "%s: %s, want invalid" % (label, res[label]["status"]))
        return [x for x in res[label]["challenges"] if x["type"] == "http-01"][0].get("error", {})

    for label, (loc, where) in list(REDIRECTS.items()) + [("internal", (None, "127.0.0.1:80"))]:
        e = err(label)
        d = e.get("detail", "")
        check(e.get("type") == CONNECTION, "%s: error type %s, want %s (%s)" % (label, e.get("type"), CONNECTION, d))
        check(where in d, "%s: detail does not name %s: %r" % (label, where, d))
        check("SECRET" not in d and "INTERNAL" not in d, "%s: detail quotes the internal body: %r" % (label, d))
    e = err("redir-leak")
    check(e.get("type", "").endswith(":unauthorized"), "redir-leak: %s" % e)
    check("LEAK" not in e.get("detail", ""), "redir-leak: body of a redirect target quoted: %r" % e.get("detail"))
    time.sleep(0.5)
    check(not hits, "internal listeners were reached: %s" % hits)
    ok("strict: redirects to 127.0.0.1, ::1, ::ffff:127.0.0.1, a name at 127.0.0.1 and port 8080, and a name "
       "at 127.0.0.1, all refused as connection problems naming address:port; no internal request; "
       "no body of a redirect target quoted")


# ---- caps ----

class Tarpit:
    """Accepts connections and never answers; counts them."""

    def __init__(self, port):
        self.lock = threading.Lock()
        self.now = self.peak = self.total = 0
        self.s = socket.socket()
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.s.bind(("127.0.0.1", port))
        self.s.listen(128)
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            conn, _ = self.s.accept()
            with self.lock:
                self.now += 1
                self.total += 1
                self.peak = max(self.peak, self.now)
            threading.Thread(target=self.hold, args=(conn,), daemon=True).start()

    def hold(self, conn):
        try:
            while conn.recv(4096):
                pass
        except OSError:
            pass
        conn.close()
        with self.lock:
            self.now -= 1

    def counts(self):
        with self.lock:
            return self.now, self.peak, self.total


def refused(r, what):
    check(r.status == 429 and r.ptype() == "rateLimited", "%s: want 429 rateLimited, got %d %s"
          % (what, r.status, r.body[:200]))
    ra = r.h("Retry-After")
    check(ra and ra.isdigit() and int(ra) >= 1, "%s: Retry-After %r" % (what, ra))
    return r.json.get("detail", "")


def caps():
    tarpit = Tarpit(int(os.environ["TARPIT_PORT"]))
    a, b, c3 = Client(), Client(), Client()
    for x in (a, b, c3):
        x.register()
    # Account a: 6 challenge POSTs; 2 run (per-account cap), 3 wait (queue), 1 is refused.
    started, refused_chs = [], []
    for i in range(6):
        az, ch, r = http01(a, "t%d.lab.test" % i)
        if i < 5:
            check(r.status == 200, "a: challenge %d: %d %s" % (i, r.status, r.body[:200]))
            started.append((a, az))
        else:
            d = refused(r, "a: challenge beyond the queue")
            check("validations in flight" in d, "a: detail %r" % d)
            refused_chs.append((a, ch))
    time.sleep(0.8)
    now, peak, _ = tarpit.counts()
    check(peak == 2, "per-account cap 2: %d connections at the tarpit at once" % peak)
    # Account b: below its own cap, a global slot is free: runs at once.
    az, ch, r = http01(b, "u0.lab.test")
    check(r.status == 200, "b: challenge: %d %s" % (r.status, r.body[:200]))
    started.append((b, az))
    time.sleep(0.8)
    now, peak, _ = tarpit.counts()
    check(now == 3 and peak == 3, "global cap 3: %d connections now, %d at most" % (now, peak))
    # Account c3: every slot taken and the queue full.
    az, ch, r = http01(c3, "v0.lab.test")
    refused(r, "c3: challenge with every slot and queue place taken")
    refused_chs.append((c3, ch))
    for x, ch in refused_chs:
        st = x.post(ch["url"], None).json["status"]
        check(st == "pending", "a refused challenge POST changed the challenge: %s" % st)
    # Everything accepted runs in the end (the queue drains, nothing is dropped).
    for x, az in started:
        r = poll(x, az, ("valid", "invalid"), timeout=60)
        check(r.json["status"] == "invalid", "tarpit validation: %s" % r.body[:300])
    now, peak, total = tarpit.counts()
    check(peak == 3 and total == 6, "tarpit: %d at most (want 3), %d in all (want 6)" % (peak, total))
    ok("validation caps: %d connections at most (per account 2, global 3), queue of 3 drained, "
       "overflow rateLimited with Retry-After" % peak)

    # The failed-validation bucket (2 per identifier) is charged when a validation starts:
    # a third validation of one name is refused while the first two still hang at the tarpit.
    d_, e_, f_ = Client(), Client(), Client()
    for x in (d_, e_, f_):
        x.register()
    for x in (d_, e_):
        az, ch, r = http01(x, "same.lab.test")
        check(r.status == 200, "same.lab.test: %d %s" % (r.status, r.body[:200]))
    az, ch, r = http01(f_, "same.lab.test")
    d = refused(r, "third validation of one name with two in flight")
    check("failed validations" in d, "bucket detail %r" % d)
    ok("failed-validation bucket charged at start: third concurrent validation of a name refused")


if __name__ == "__main__":
    {"ssrf": ssrf, "caps": caps}[sys.argv[1]]()
