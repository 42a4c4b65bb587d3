#!/usr/bin/env python3
"""Connection flood for test_core_conn_flood.sh: N TCP connections to
127.0.0.1:PORT from the given source addresses (round robin), held open for
SECONDS. Modes: idle (connect, send nothing), slowloris (an HTTP request line
and one header line, then one more header byte per second, never the end),
dns-slow (one octet of a DNS/TCP length prefix, then nothing). With
--reconnect every connection the server closes is opened again at once.

usage: conn_flood.py PORT N SECONDS MODE [--reconnect] ADDR...
Writes "ready" on stdout once N connections were attempted, and at the end
"open O closed C" (connections open at the end, closes seen by the client).
"""
import errno
import selectors
import socket
import sys
import time

port, n, secs, mode = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
args = sys.argv[5:]
reconnect = "--reconnect" in args
addrs = [a for a in args if a != "--reconnect"]
sel = selectors.DefaultSelector()
conns = {}
closed = 0
k = 0


def first_bytes():
    if mode == "slowloris":
        return b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
    if mode == "dns-slow":
        return b"\x00"
    return b""


def open_one():
    global k
    src = addrs[k % len(addrs)]
    k += 1
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((src, 0))
    s.setblocking(False)
    rc = s.connect_ex(("127.0.0.1", port))
    if rc not in (0, errno.EINPROGRESS):
        s.close()
        return
    conns[s.fileno()] = [s, False]
    sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)


def drop(s):
    global closed
    closed += 1
    sel.unregister(s)
    del conns[s.fileno()]
    s.close()
    if reconnect:
        open_one()


for _ in range(n):
    open_one()
print("ready", flush=True)
end = time.time() + secs
next_trickle = time.time() + 1
while time.time() < end:
    for key, ev in sel.select(timeout=0.2):
        s = key.fileobj
        ent = conns.get(s.fileno())
        if ent is None:
            continue
        if ev & selectors.EVENT_WRITE and not ent[1]:
            ent[1] = True
            if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                drop(s)
                continue
            sel.modify(s, selectors.EVENT_READ)
            b = first_bytes()
            if b:
                try:
                    s.send(b)
                except OSError:
                    drop(s)
                    continue
        if ev & selectors.EVENT_READ:
            try:
                d = s.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                d = b""
            if not d:
                drop(s)
    if mode == "slowloris" and time.time() >= next_trickle:
        next_trickle = time.time() + 1
        for fd, (s, up) in list(conns.items()):
            if up:
                try:
                    s.send(b"X")
                except OSError:
                    pass
print("open %d closed %d" % (len(conns), closed), flush=True)
