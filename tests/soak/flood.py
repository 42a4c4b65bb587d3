#!/usr/bin/env python3
"""Connection flood for the reliability soak (run.sh, SOAK_FLOOD=N): N TCP
connections from each of 127.0.0.2-9, spread over the plain HTTP listener,
the HTTPS listener and DNS over TCP, half of them idle, half slowloris (HTTP:
a request line and one header line every few seconds, never the end of the
headers; HTTPS: a TLS record header and a byte now and then; DNS: one byte
of the length prefix). A connection the server closes is opened again within
3 s, as a hostile client would. Runs until W/stop-flood exists; prints how
many connections were open at the end and how many the server closed.

  flood.py W N HTTP_PORT HTTPS_PORT DNS_PORT
"""
import os
import resource
import selectors
import socket
import sys
import time

W, N = sys.argv[1], int(sys.argv[2])
HP, SP, DP = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
SOURCES = ["127.0.0.%d" % i for i in range(2, 10)]
sel = selectors.DefaultSelector()
conns = {}
pending = []
closed = opened = failed = 0


def open_one(src, port, kind):
    global opened, failed
    s = socket.socket()
    s.setblocking(False)
    try:
        s.bind((src, 0))
        s.connect_ex(("127.0.0.1", port))
    except OSError:
        failed += 1
        s.close()
        return
    conns[s] = (src, port, kind, time.time())
    sel.register(s, selectors.EVENT_READ)
    opened += 1


def start():
    for src in SOURCES:
        for i in range(N):
            port = (HP, HP, SP, DP)[i % 4]
            open_one(src, port, "slow" if i % 2 else "idle")


def tick():
    while pending:
        open_one(*pending.pop())
    for s, (src, port, kind, _) in list(conns.items()):
        if kind != "slow":
            continue
        try:
            if port == DP:
                s.send(b"\x00")
            elif port == SP:
                s.send(b"\x16\x03\x01" if time.time() % 30 < 3 else b"\x00")
            else:
                s.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" if time.time() % 30 < 3 else b"X-a: b\r\n")
        except OSError:
            pass


def main():
    global closed
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 16 * N + 256)), hard))
    start()
    last = 0
    while not os.path.exists(os.path.join(W, "stop-flood")):
        for key, _ in sel.select(timeout=1):
            s = key.fileobj
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if not data:
                src, port, kind, _ = conns.pop(s)
                sel.unregister(s)
                s.close()
                closed += 1
                pending.append((src, port, kind))
        if time.time() - last > 3:
            tick()
            last = time.time()
    print("flood: %d connections open from %d addresses, %d opened, %d closed by the server, %d failed"
          % (len(conns), len(SOURCES), opened, closed, failed))


if __name__ == "__main__":
    main()
