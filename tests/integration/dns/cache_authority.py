#!/usr/bin/env python3
"""A small authoritative server for the cache tests: every name under cache.test.

    cache_authority.py ADDRESS PORT

Answers over UDP only (nothing here is ever truncated):
  - NAME A       -> one A record; the TTL is N when the first label is tN-...,
                    otherwise 300 (so a test picks short TTLs by name);
  - a first label containing "slow": the answer is sent after 400 ms;
  - a first label containing "stall": only the first query is answered;
  - nx-... A     -> NXDOMAIN with the zone's SOA (negative TTL 60);
  - _count.NAME TXT -> how many queries for NAME (any type) were seen: the
                    test reads the authority's counter this way (asked directly,
                    never through the resolver);
  - anything outside cache.test -> REFUSED.
The question is echoed as received (0x20 case included).
"""
import socket
import struct
import sys
import threading

ZONE = b"\x05cache\x04test\x00"


def read_name(p, o):
    labels = []
    while True:
        n = p[o]
        o += 1
        if n == 0:
            return labels, o
        if n >= 64:
            raise ValueError("compression in a question")
        labels.append(p[o:o + n])
        o += n


def soa_record():
    rdata = b"\x02ns" + ZONE + b"\x01h" + ZONE + struct.pack(">IIIII", 1, 3600, 600, 86400, 60)
    return ZONE + struct.pack(">HHIH", 6, 1, 60, len(rdata)) + rdata


def main():
    addr, port = sys.argv[1], int(sys.argv[2])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, port))
    counts = {}
    serial = 0
    while True:
        p, peer = s.recvfrom(4096)
        if len(p) < 12:
            continue
        qid, flags, qd = struct.unpack(">HHH", p[:6])
        if qd != 1 or flags & 0x8000:
            continue
        try:
            labels, o = read_name(p, 12)
        except (ValueError, IndexError):
            continue
        qtype, qclass = struct.unpack(">HH", p[o:o + 4])
        question = p[12:o + 4]
        low = [l.lower() for l in labels]
        key = b".".join(low)
        counts[key] = counts.get(key, 0) + 1
        rd = flags & 0x0100
        answers, auth, rcode = [], [], 0
        if low[-2:] != [b"cache", b"test"]:
            rcode = 5
        elif low[0] == b"_count" and qtype == 16:
            txt = str(counts.get(b".".join(low[1:]), 0)).encode()
            answers.append(b"\xc0\x0c" + struct.pack(">HHIH", 16, 1, 0, len(txt) + 1) + bytes([len(txt)]) + txt)
        elif low[0].startswith(b"nx-"):
            rcode = 3
            auth.append(soa_record())
        elif qtype == 1:
            ttl = 300
            first = low[0]
            if first.startswith(b"t") and b"-" in first:
                try:
                    ttl = int(first[1:first.index(b"-")])
                except ValueError:
                    pass
            serial += 1
            ip = bytes([192, 0, 2, 1 + serial % 250])
            answers.append(b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, ttl, 4) + ip)
        else:
            auth.append(soa_record())  # NODATA
        hdr = struct.pack(">HHHHHH", qid, 0x8400 | rd | rcode, 1, len(answers), len(auth), 0)
        msg = hdr + question + b"".join(answers) + b"".join(auth)
        if b"stall" in low[0] and counts[key] > 1:
            continue
        if b"slow" in low[0]:
            threading.Timer(0.4, s.sendto, (msg, peer)).start()
        else:
            s.sendto(msg, peer)


if __name__ == "__main__":
    main()
