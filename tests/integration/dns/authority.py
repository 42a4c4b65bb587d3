#!/usr/bin/env python3
"""A small authoritative DNS server over UDP for iterator tests, with quirks.

authority.py ADDRESS --zone ORIGIN=FILE... [--log FILE] [--quirk NAME...]

Zone files hold one record a line, "owner type rdata" with absolute names
(types A, AAAA, NS, CNAME, DNAME, TXT); every zone gets an SOA. Answers follow
RFC 1034 4.3.2: a referral (no AA, NS in authority, glue in additional) below a
cut, the records of the name (AA), a CNAME, a DNAME with its synthesized CNAME,
NODATA or NXDOMAIN with the SOA; a name outside every zone is REFUSED. Each
query is logged as "qname type edns" (qname as received). Quirks make it break
the way real servers do:
  formerr-edns      FORMERR to any query with an OPT record (without the
                    question, as some old servers do)
  lowercase         echo the question lowercased (no 0x20 support)
  wrong-case-first  for names starting with "w", first send an answer whose
                    question has the case flipped and whose A is 6.6.6.6,
                    then the true answer
  ent-nxdomain      NXDOMAIN for empty non-terminals (RFC 9156's broken servers)
Only UDP: an answer that does not fit 512 octets (or the EDNS size) is
truncated to the header and question with TC set.
"""
import argparse
import ipaddress
import socket
import struct

T = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "TXT": 16, "AAAA": 28, "OPT": 41, "DNAME": 39}


def wire(name):
    out = b""
    for label in name.strip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def norm(name):
    return name.lower().rstrip(".") + "."


def under(name, zone):
    return zone == "." or name == zone or name.endswith("." + zone)


def rdata(t, v):
    if t == T["A"]:
        return socket.inet_aton(v)
    if t == T["AAAA"]:
        return ipaddress.IPv6Address(v).packed
    if t in (T["NS"], T["CNAME"], T["DNAME"]):
        return wire(v)
    if t == T["TXT"]:
        return bytes([len(v)]) + v.encode()
    if t == T["SOA"]:
        return wire("ns." + v) + wire("hostmaster." + v) + struct.pack(">IIIII", 1, 3600, 600, 86400, 60)
    raise ValueError(t)


def rr(owner, t, v, ttl=300):
    d = rdata(t, v)
    return wire(owner) + struct.pack(">HHIH", t, 1, ttl, len(d)) + d


class Zone:
    def __init__(self, origin, path):
        self.origin = norm(origin)
        self.rrs = [(self.origin, T["SOA"], self.origin)]
        for line in open(path):
            f = line.split(None, 2)
            if len(f) == 3 and not line.startswith("#"):
                self.rrs.append((norm(f[0]), T[f[1].upper()], f[2].strip()))

    def at(self, name, t=None):
        return [r for r in self.rrs if r[0] == name and (t is None or r[1] == t)]

    def exists(self, name):
        return any(r[0] == name or r[0].endswith("." + name) for r in self.rrs)


def answer(zones, qname, qt, quirks):
    """(flags, answer, authority, additional) for a lowercased qname."""
    zone = None
    for z in zones:
        if under(qname, z.origin) and (zone is None or len(z.origin) > len(zone.origin)):
            zone = z
    if zone is None:
        return 0x8005, [], [], []
    soa = [rr(zone.origin, T["SOA"], zone.origin)]
    # a cut between the apex and the name (the name itself too, unless DS is asked there)
    labels = qname.rstrip(".").split(".")
    apex_len = 0 if zone.origin == "." else len(zone.origin.rstrip(".").split("."))
    for n in range(apex_len + 1, len(labels) + 1):
        name = ".".join(labels[-n:]) + "."
        if n == len(labels) and qt == 43:
            break
        ns = zone.at(name, T["NS"])
        if ns:
            glue = [rr(a[0], a[1], a[2]) for r in ns for a in zone.rrs
                    if a[0] == norm(r[2]) and a[1] in (T["A"], T["AAAA"])]
            return 0x8000, [], [rr(r[0], r[1], r[2]) for r in ns], glue
        dname = zone.at(name, T["DNAME"])
        if dname and name != qname:
            target = qname[: -len(name)] + norm(dname[0][2])
            return 0x8400, [rr(name, T["DNAME"], dname[0][2]), rr(qname, T["CNAME"], target, 0)], [], []
    recs = zone.at(qname)
    hit = [r for r in recs if r[1] == qt]
    if hit:
        return 0x8400, [rr(*r) for r in hit], [], []
    cname = zone.at(qname, T["CNAME"])
    if cname:
        return 0x8400, [rr(*cname[0])], [], []
    if recs or (zone.exists(qname) and "ent-nxdomain" not in quirks):
        return 0x8400, [], soa, []
    return 0x8403, [], soa, []


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("address")
    ap.add_argument("--zone", action="append", default=[])
    ap.add_argument("--log")
    ap.add_argument("--quirk", action="append", default=[])
    a = ap.parse_args()
    zones = [Zone(*z.split("=", 1)) for z in a.zone]
    sock = socket.socket(socket.AF_INET6 if ":" in a.address else socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((a.address, 53))
    while True:
        data, peer = sock.recvfrom(4096)
        try:
            qid, flags, qd, an, ns, ad = struct.unpack(">HHHHHH", data[:12])
            o, labels = 12, []
            while data[o]:
                labels.append(data[o + 1:o + 1 + data[o]].decode())
                o += 1 + data[o]
            qt = struct.unpack(">H", data[o + 1:o + 3])[0]
            question = data[12:o + 5]
            edns = ad > 0 and data[o + 5:o + 8] == b"\0\0\x29"
            size = struct.unpack(">H", data[o + 8:o + 10])[0] if edns else 512
        except (IndexError, struct.error, UnicodeDecodeError):
            continue
        qname = ".".join(labels) + "."
        if a.log:
            with open(a.log, "a") as log:
                log.write("%s %d %s\n" % (qname, qt, "edns" if edns else "noedns"))
        if edns and "formerr-edns" in a.quirk:
            sock.sendto(struct.pack(">HHHHHH", qid, 0x8001, 0, 0, 0, 0), peer)
            continue
        if "lowercase" in a.quirk:
            question = wire(qname.lower()) + question[-4:]
        flags, an, ns, ad = answer(zones, norm(qname), qt, a.quirk)
        opt = [b"\0" + struct.pack(">HHIH", T["OPT"], 1232, 0, 0)] if edns else []

        def msg(q, an):
            m = struct.pack(">HHHHHH", qid, flags, 1, len(an), len(ns), len(ad) + len(opt))
            return m + q + b"".join(an + ns + ad + opt)
        if "wrong-case-first" in a.quirk and labels and labels[0][:1].lower() == "w":
            flipped = wire(qname.swapcase()) + question[-4:]
            sock.sendto(msg(flipped, [rr(qname, 1, "6.6.6.6")] if qt == 1 else []), peer)
        out = msg(question, an)
        if len(out) > max(size, 512):
            out = struct.pack(">HHHHHH", qid, flags | 0x200, 1, 0, 0, 0) + question
        sock.sendto(out, peer)


if __name__ == "__main__":
    main()
