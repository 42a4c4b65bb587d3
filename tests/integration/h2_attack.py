#!/usr/bin/env python3
"""Raw HTTP/2 frames over TLS (ALPN h2) for the attack cases of
test_core_http2_attacks.sh: no HTTP/2 library, so that every frame is the
one we mean to send.

usage: h2_attack.py PORT CAFILE MODE [N]
MODE: rapid-reset | continuation | settings | ping | empty-data | hpack-bomb |
      window-update | window-update-stream | window-update-closed |
      zero-window | polite
Prints "goaway CODE" (hex error code) when the server sent GOAWAY, "eof"
when it closed without one, "open" when it still answered at the end, and
for zero-window "held N" (the connection still open after N seconds with
responses blocked) or "goaway"/"eof" when the server gave up on it.
"""
import socket
import ssl
import struct
import sys
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST, SETTINGS, PUSH, PING, GOAWAY, WINDOW, CONT = range(10)
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1


def frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", sid) + payload


def lit(name, value):
    """A literal header field without indexing, no Huffman (RFC 7541 6.2.2)."""
    def s(b):
        assert len(b) < 127
        return bytes([len(b)]) + b
    return b"\x00" + s(name) + s(value)


def request_block(path=b"/healthz", method=b"GET"):
    return lit(b":method", method) + lit(b":scheme", b"https") + lit(b":path", path) + \
        lit(b":authority", b"localhost")


class Conn:
    def __init__(self, port, cafile, settings=b""):
        ctx = ssl.create_default_context(cafile=cafile)
        ctx.set_alpn_protocols(["h2"])
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.s = ctx.wrap_socket(raw, server_hostname="localhost")
        if self.s.selected_alpn_protocol() != "h2":
            raise SystemExit("no h2: %r" % self.s.selected_alpn_protocol())
        self.buf = b""
        self.goaway = None
        self.eof = False
        self.frames = []
        self.send(PREFACE + frame(SETTINGS, 0, 0, settings))

    def send(self, data):
        try:
            self.s.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            return False

    def pump(self, timeout):
        """Reads frames for up to timeout seconds (until GOAWAY or EOF)."""
        end = time.time() + timeout
        while not self.eof and self.goaway is None and time.time() < end:
            self.s.settimeout(max(0.01, end - time.time()))
            try:
                d = self.s.recv(65536)
            except socket.timeout:
                break
            except (ConnectionResetError, ssl.SSLError, OSError):
                self.eof = True
                break
            if not d:
                self.eof = True
                break
            self.buf += d
            while len(self.buf) >= 9:
                n = int.from_bytes(self.buf[:3], "big")
                if len(self.buf) < 9 + n:
                    break
                t, fl = self.buf[3], self.buf[4]
                sid = int.from_bytes(self.buf[5:9], "big") & 0x7fffffff
                pl = self.buf[9:9 + n]
                self.buf = self.buf[9 + n:]
                self.frames.append((t, fl, sid, pl))
                if t == SETTINGS and not fl & ACK:
                    self.send(frame(SETTINGS, ACK, 0))
                if t == GOAWAY:
                    self.goaway = int.from_bytes(pl[4:8], "big")

    def result(self):
        if self.goaway is not None:
            return "goaway 0x%x" % self.goaway
        return "eof" if self.eof else "open"


def main():
    port, cafile, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    n = int(sys.argv[4]) if len(sys.argv) > 4 else 2000
    if mode == "zero-window":
        # SETTINGS_INITIAL_WINDOW_SIZE = 0: no response DATA may come; many streams wait.
        c = Conn(port, cafile, settings=struct.pack(">HI", 4, 0))
        c.pump(0.5)
        out = b""
        for i in range(100):
            out += frame(HEADERS, END_STREAM | END_HEADERS, 1 + 2 * i, request_block(b"/api/v1/status"))
        c.send(out)
        c.pump(n)
        data = sum(1 for f in c.frames if f[0] == DATA and f[3])
        print("held %d data=%d" % (n, data) if c.result() == "open" else c.result())
        return
    c = Conn(port, cafile)
    c.pump(0.3)
    out = []
    if mode == "polite":
        c.send(frame(HEADERS, END_STREAM | END_HEADERS, 1, request_block()))
        c.pump(2)
        ok = any(f[0] == HEADERS and f[2] == 1 for f in c.frames)
        print("answered" if ok else c.result())
        return
    if mode == "rapid-reset":
        for i in range(n):
            sid = 1 + 2 * i
            out.append(frame(HEADERS, END_HEADERS, sid, request_block()))
            out.append(frame(RST, 0, sid, struct.pack(">I", 8)))  # CANCEL
    elif mode == "continuation":
        # HEADERS without END_HEADERS, then CONTINUATION frames that never end the block.
        out.append(frame(HEADERS, 0, 1, request_block()))
        for i in range(n):
            out.append(frame(CONT, 0, 1, lit(b"x-pad", b"%05d" % i)))
    elif mode == "settings":
        for _ in range(n):
            out.append(frame(SETTINGS, 0, 0, struct.pack(">HI", 3, 100)))
    elif mode == "ping":
        for i in range(n):
            out.append(frame(PING, 0, 0, struct.pack(">Q", i)))
    elif mode == "empty-data":
        out.append(frame(HEADERS, END_HEADERS, 1, request_block(b"/healthz", b"POST")))
        for _ in range(n):
            out.append(frame(DATA, 0, 1))
    elif mode.startswith("window-update"):
        # WINDOW_UPDATE (increment 1) that no DATA of the server's asked for: on the
        # connection, on a stream whose request is still open, or on a finished stream.
        sid = 0
        if mode == "window-update-stream":
            sid = 1
            c.send(frame(HEADERS, END_HEADERS, sid, request_block(b"/healthz", b"POST")))
        elif mode == "window-update-closed":
            sid = 1
            c.send(frame(HEADERS, END_STREAM | END_HEADERS, sid, request_block()))
            end = time.time() + 2
            while time.time() < end and not any(f[2] == sid and f[1] & END_STREAM for f in c.frames):
                c.pump(0.1)
        for _ in range(n):
            out.append(frame(WINDOW, 0, sid, struct.pack(">I", 1)))
    elif mode == "hpack-bomb":
        # One 100-byte value into the dynamic table (literal with incremental indexing),
        # then a header block that refers to it thousands of times (index 62).
        big = b"\x40" + bytes([6]) + b"x-bomb" + bytes([100]) + b"b" * 100
        block = request_block() + big + b"\xbe" * 16000
        out.append(frame(HEADERS, END_STREAM | END_HEADERS, 1, block))
    else:
        raise SystemExit("unknown mode " + mode)
    data = b"".join(out)
    for i in range(0, len(data), 65536):
        if not c.send(data[i:i + 65536]):
            break
        c.pump(0)
    c.pump(5)
    print(c.result())


if __name__ == "__main__":
    main()
