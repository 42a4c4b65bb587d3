#!/usr/bin/env bash
# Independent review of the DNS server with clients and cases beyond test_dns.sh:
# dig, kdig and delv on EDNS corners (versions, unknown options, DO, cookies,
# padding), header corners (QDCOUNT, opcodes, CHAOS), ANY (RFC 8482), names with
# escapes and of 255 octets, wildcard vs empty non-terminal, CNAME at a wildcard,
# DNAME, zone cuts; a zone file checked by BIND's named-checkzone and every RRset
# compared with its canonical form; nsupdate prerequisites, protections, TSIG
# replay and time skew; TCP pipelining, stalls, zero length, answers over 64 KiB;
# forwarding to a small upstream written here (TTL countdown, RFC 2308 negative
# caching, 0x20 mismatch, upstream down); an update surviving kill -9.
set -u
. "$(dirname "$0")/lib.sh"
need dig bind9-dnsutils
need kdig knot-dnsutils
need delv bind9-dnsutils
need nsupdate bind9-dnsutils
need named-checkzone bind9-utils
need python3
tmp=$TB_WORK

# ---------------------------------------------------------------------------
# A small upstream server for the forwarding checks (standard library only).
#   <name> A        -> 192.0.2.7, TTL 100
#   nx.<...>        -> NXDOMAIN, SOA TTL 3600 with MINIMUM 5
#   nodata.<...> A  -> NOERROR, no answer, SOA TTL 3600 MINIMUM 5
#   badcase.<...>   -> the question echoed all lowercase (breaks 0x20)
# Every query received is appended to a log.
cat > "$tmp/upstream.py" <<'EOF'
import socket, struct, sys
portfile, logfile = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
open(portfile, "w").write(str(s.getsockname()[1]))
def qname(m, o):
    labels = []
    while m[o]:
        l = m[o]; labels.append(m[o + 1:o + 1 + l]); o += 1 + l
    return labels, o + 1
while True:
    m, a = s.recvfrom(4096)
    if len(m) < 12: continue
    labels, o = qname(m, 12)
    qt, qc = struct.unpack(">HH", m[o:o + 4])
    qraw = m[12:o + 4]
    name = b".".join(labels).decode("ascii", "replace")
    with open(logfile, "a") as f: f.write("%s %d\n" % (name, qt))
    low = name.lower()
    if low.startswith("badcase."):
        qraw = qraw.lower()
    hdr = lambda rc, an, ns: struct.pack(">HHHHHH", struct.unpack(">H", m[:2])[0], 0x8180 | rc, 1, an, ns, 0)
    soa = (b"\xc0\x0c" if False else b"\x00") + struct.pack(">HHIH", 6, 1, 3600, 22) + b"\x00\x00" + struct.pack(">IIIII", 1, 2, 3, 4, 5)
    if low.startswith("nx."):
        r = hdr(3, 0, 1) + qraw + soa
    elif low.startswith("nodata."):
        r = hdr(0, 0, 1) + qraw + soa
    else:
        r = hdr(0, 1, 0) + qraw + b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 100, 4) + bytes([192, 0, 2, 7])
    s.sendto(r, a)
EOF
python3 "$tmp/upstream.py" "$tmp/up.port" "$tmp/up.log" &
upid=$!
track "$upid"
for _ in $(seq 1 50); do [ -s "$tmp/up.port" ] && break; sleep 0.1; done
uport=$(cat "$tmp/up.port")
# a port nobody listens on
dead=$(free_port)

# ---------------------------------------------------------------------------
# A zone written for BIND: $TTL, $ORIGIN changes, parenthesised SOA with time
# units, escapes, CAA flags 128 and iodef, SRV, TLSA, SVCB/HTTPS with parameters,
# NSEC3PARAM, TTL units, class before TTL, multi-line records, RFC 3597 RDATA.
cat > "$tmp/qa.zone" <<'EOF'
$TTL 3600
$ORIGIN qa.test.
@ IN SOA ns1.qa.test. admin.qa.test. (
        2024060101 ; serial
        2h         ; refresh, in BIND's units
        1h 2w
        5m )
  IN NS ns1
ns1 IN A 192.0.2.1
txt IN TXT "a\"quote" "semi\;colon" "back\\slash" "\065BC" "tab\009x"
caa CAA 128 issue "ca.example; account=1"
caa CAA 0 iodef "mailto:sec@qa.test"
_sip._udp SRV 10 60 5060 sip.qa.test.
_443._tcp TLSA 3 1 1 0C72AC70B745AC19998811B131D662C9AC69DBDBE7CB23E5B514B56664C5D3D6
svc SVCB 1 svc-target.qa.test. alpn=h2,h3 port=8443 ipv4hint=192.0.2.1,192.0.2.2 ech=AEX+DQBBpQAgACBx7d9EF1DtsNfXCyKjPnCcgT8s12Q4VkGU4S1g0rJmGAAEAAEAAQASY2xvdWRmbGFyZS1lY2guY29tAAA=
@ HTTPS 1 . alpn=h3 ipv6hint=2001:db8::1
@ NSEC3PARAM 1 0 10 AABBCCDD
$ORIGIN sub.qa.test.
host A 192.0.2.10
$TTL 60
short A 192.0.2.11
$ORIGIN qa.test.
a\.b TXT "escaped dot"
bin\000ary TXT "binary label"
*.w A 192.0.2.99
x.ent.w A 192.0.2.98
*.cw CNAME target
target A 192.0.2.77
dn DNAME other.test.
deleg NS ns.deleg
ns.deleg A 192.0.2.53
outcn CNAME www.example.com.
mx MX 10 mail.outside.test.
units 1D IN A 192.0.2.20
classfirst IN 300 A 192.0.2.21
multi TXT ( "multi"
            "line" ) ; a comment
atorigin MX 10 @
generic A \# 4 C0000216
Mixed A 192.0.2.23
mixed A 192.0.2.24
EOF
python3 - "$tmp/qa.zone" <<'EOF'
import sys
with open(sys.argv[1], "a") as f:
    # 20 strings of 255 octets in one TXT record
    f.write("bigtxt TXT " + " ".join('"%s"' % (chr(97 + i % 26) * 255) for i in range(20)) + "\n")
    # a name of exactly 255 octets in wire form (qa.test. takes 9)
    f.write("%s.%s.%s.%s TXT \"long\"\n" % ("a" * 63, "b" * 63, "c" * 63, "d" * 53))
EOF
# an RRset of about 77 KB, more than one TCP message can carry (a zone of its own:
# BIND refuses to load such an RRset at all)
python3 -c 'for i in range(300): print("huge TXT \"%03d %s\"" % (i, "y" * 250))' > "$tmp/big.zone"
long="$(printf 'a%.0s' $(seq 63)).$(printf 'b%.0s' $(seq 63)).$(printf 'c%.0s' $(seq 63)).$(printf 'd%.0s' $(seq 53)).qa.test."
expect "named-checkzone accepts the zone" "$(named-checkzone qa.test "$tmp/qa.zone" 2>&1)" '^OK$'

KEY_SECRET="c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0IQ=="
cat > "$tmp/trustbox.lua" <<EOF
core { data_dir = "$tmp/data", log_level = "warn" }
listen { name = "https", address = "127.0.0.1", port = 0, tls = true }
listen { name = "http", address = "127.0.0.1", port = 0, tls = false }
dns {
  listen = { "127.0.0.1:0" },
  iterate = false,
  dnssec = "off",
  tcp_idle_ms = 1500,
  use_0x20 = true,
  forward_attempt_ms = 300,
  forward_timeout_ms = 1200,
  forwarders = { { zone = "up.test", servers = { "127.0.0.1:$uport" } },
                 { zone = "down.test", servers = { "127.0.0.1:$dead" } } },
  zones = { { name = "qa.test", file = "$tmp/qa.zone" }, { name = "big.test", file = "$tmp/big.zone" } },
  tsig_keys = { { name = "k1", secret = "$KEY_SECRET", zones = { "qa.test" } } },
}
EOF

start() {
	tb_start "$tmp/trustbox.lua" "$tmp/out.log" "$tmp/err.log"
	port=$(tb_port 'DNS (udp+tcp)')
	D="dig @127.0.0.1 -p $port +time=2 +tries=1"
	K="kdig @127.0.0.1 -p $port +time=2 +retry=0"
}
start
echo "trustbox DNS on 127.0.0.1:$port, upstream on $uport"

# --- every RRset as BIND canonicalises it ---
named-checkzone -q -D -o "$tmp/canon.txt" qa.test "$tmp/qa.zone"
mism=0
while read -r n t; do
	# names below the zone cut are answered with a referral, compared further down
	case "$n" in deleg.qa.test.|*.deleg.qa.test.) continue ;; esac
	exp=$(N="$n" T="$t" awk '$1==ENVIRON["N"] && $4==ENVIRON["T"]' "$tmp/canon.txt" | sed -E 's/^[^[:space:]]+[[:space:]]+//' | awk '{$1=$1;print}' | sort)
	got=$($D +norec +noall +answer "$n" "$t" | sed -E 's/^[^[:space:]]+[[:space:]]+//' | awk '{$1=$1;print}' | sort)
	if [ "$exp" != "$got" ]; then
		mism=$((mism + 1)); echo "     $n $t: named-checkzone: $exp"; echo "     $n $t: trustbox:        $got"
	fi
done < <(awk '{print $1, $4}' "$tmp/canon.txt" | sort -u)
expect "every RRset equals named-checkzone -D ($(awk '{print $1, $4}' "$tmp/canon.txt" | sort -u | wc -l) RRsets)" "$mism" '^0$'
expect "kdig reads SVCB parameters back" "$($K +short svc.qa.test SVCB)" 'alpn=h2,h3 port=8443 ipv4hint=192\.0\.2\.1,192\.0\.2\.2 ech='

# --- EDNS ---
expect "EDNS version 1: BADVERS" "$($D ns1.qa.test +edns=1 +noednsneg)" 'status: BADVERS'
expect "BADVERS answer carries version 0" "$($D ns1.qa.test +edns=1 +noednsneg)" 'EDNS: version: 0'
out=$($D ns1.qa.test +ednsopt=65001:abcd)
expect "unknown EDNS option ignored" "$out" 'ANSWER: 1,'
expect_not "unknown EDNS option not echoed" "$out" 'OPT=65001'
expect "dig +dnssec: DO echoed (RFC 3225)" "$($D ns1.qa.test +dnssec)" 'EDNS: version: 0, flags: do;'
expect "dig +dnssec NXDOMAIN: DO echoed" "$($D nope.qa.test +dnssec)" 'flags: do;'
expect_not "no DO without +dnssec" "$($D ns1.qa.test)" 'flags: do;'
out=$($K ns1.qa.test +dnssec +nsid +cookie +padding=128)
expect "kdig +dnssec +nsid +cookie +padding: answered" "$out" 'status: NOERROR'
expect "kdig: DO echoed" "$out" 'flags: do;'
expect "kdig: server cookie" "$out" 'COOKIE: [0-9A-F]{48}'
# padding (RFC 7830) is for encrypted transports (RFC 8467): none on plain UDP
expect_not "no padding on clear-text UDP" "$out" 'PADDING'
out=$($D ns1.qa.test +cookie=0102030405060708)
expect "client cookie only: server cookie added" "$out" 'COOKIE: 0102030405060708[0-9a-f]{32} \(good\)'
sc=$(printf '%s\n' "$out" | sed -n 's/.*COOKIE: \([0-9a-f]*\).*/\1/p')
expect "full cookie round trip" "$($D ns1.qa.test +cookie="$sc")" "COOKIE: 0102030405060708[0-9a-f]{32} \(good\)"
out=$($D ns1.qa.test +cookie=010203040506070801000000000000000000000000000000)
expect "bogus server cookie: answered with a fresh one" "$out" 'status: NOERROR'
expect "bogus server cookie replaced" "$out" 'COOKIE: 0102030405060708[0-9a-f]{32} \(good\)'
expect "delv -i (no validation) reads an authoritative answer" "$(delv @127.0.0.1 -p "$port" -i ns1.qa.test A 2>&1)" '^ns1\.qa\.test\..*A[[:space:]]+192\.0\.2\.1'
expect "delv -i sees NXDOMAIN with the SOA" "$(delv @127.0.0.1 -p "$port" -i nope.qa.test A 2>&1)" 'NXDOMAIN'

# --- raw header corners ---
raw() {
	python3 - "$port" "$1" <<'EOF'
import socket, struct, sys
port = int(sys.argv[1]); case = sys.argv[2]
qn = b"\x03ns1\x02qa\x04test\x00"
q = qn + b"\x00\x01\x00\x01"
def opt(cookie):
    return b"\x00" + struct.pack(">HHIH", 41, 1232, 0, 4 + len(cookie)) + struct.pack(">HH", 10, len(cookie)) + cookie
msgs = {
    "qd0": struct.pack(">HHHHHH", 1, 0x0100, 0, 0, 0, 0),
    "qd2": struct.pack(">HHHHHH", 2, 0x0100, 2, 0, 0, 0) + q + q,
    "iquery": struct.pack(">HHHHHH", 3, 0x0800, 1, 0, 0, 0) + q,
    "status": struct.pack(">HHHHHH", 4, 0x1000, 1, 0, 0, 0) + q,
    "cookieonly": struct.pack(">HHHHHH", 5, 0, 0, 0, 0, 1) + opt(b"clientck"),
    "twoopt": struct.pack(">HHHHHH", 6, 0x0100, 1, 0, 0, 2) + q + opt(b"clientck") + opt(b"clientck"),
}
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1.5)
s.sendto(msgs[case], ("127.0.0.1", port))
try:
    r, _ = s.recvfrom(4096)
    rc = r[3] & 15
    # the extended RCODE of an answer that holds nothing but an OPT record
    if r[4:10] == b"\x00" * 6 and r[10:12] == b"\x00\x01" and len(r) >= 23:
        rc |= r[17] << 4
    print("rcode=%d qr=%d opcode=%d qd=%d" % (rc, r[2] >> 7, (r[2] >> 3) & 15, struct.unpack(">H", r[4:6])[0]))
except socket.timeout:
    print("no answer")
EOF
}
expect "QDCOUNT=0: FORMERR" "$(raw qd0)" '^rcode=1 qr=1'
expect "QDCOUNT=2: FORMERR (RFC 9619)" "$(raw qd2)" '^rcode=1 qr=1'
expect "opcode IQUERY: NOTIMP" "$(raw iquery)" '^rcode=4 qr=1 opcode=1'
expect "opcode STATUS: NOTIMP" "$(raw status)" '^rcode=4 qr=1 opcode=2'
expect "QDCOUNT=0 with a client cookie: BADCOOKIE (RFC 7873 5.4)" "$(raw cookieonly)" '^rcode=23 qr=1 opcode=0 qd=0'
expect "two OPT records: FORMERR" "$(raw twoopt)" '^rcode=1 qr=1'

# --- CHAOS: no built-in version.bind / id.server, documented as REFUSED ---
out=$($D version.bind TXT CH)
expect "CHAOS version.bind: REFUSED" "$out" 'status: REFUSED'
expect "CHAOS id.server: REFUSED" "$($D id.server TXT CH)" 'status: REFUSED'

# --- ANY (RFC 8482) ---
out=$($D qa.test ANY +notcp)
expect "ANY over UDP: one RRset" "$(printf '%s\n' "$out" | grep -E '^qa\.test\.' | awk '{print $4}' | sort -u | wc -l)" '^1$'
expect "ANY over UDP: authoritative" "$out" 'flags: qr aa'
expect "ANY over UDP: over UDP" "$out" '\(UDP\)'
out=$($D qa.test ANY +tcp)
expect "ANY over TCP: every RRset (SOA NS HTTPS NSEC3PARAM)" "$(printf '%s\n' "$out" | grep -E '^qa\.test\.' | awk '{print $4}' | sort -u | tr '\n' ' ')" '^HTTPS NS NSEC3PARAM SOA $'

# --- names ---
out=$($D NS1.Qa.TeSt A)
expect "0x20: question case preserved" "$out" '^;NS1\.Qa\.TeSt\.[[:space:]]+IN[[:space:]]+A'
expect "0x20: answer owner in the client's case" "$out" '^NS1\.Qa\.TeSt\..*192\.0\.2\.1'
expect "escaped dot in a label" "$($D 'a\.b.qa.test' TXT +noall +answer)" '^a\\\.b\.qa\.test\..*"escaped dot"'
expect "escaped dot is not a label boundary" "$($D a.b.qa.test TXT)" 'status: NXDOMAIN'
expect "binary label \\000" "$($D 'bin\000ary.qa.test' TXT +noall +answer)" '^bin\\000ary\.qa\.test\..*"binary label"'
expect "kdig binary label" "$($K +short 'bin\000ary.qa.test' TXT)" '^"binary label"$'
expect "255-octet name" "$($D "$long" TXT +short)" '^"long"$'
expect "256-octet name refused by the client" "$($D "x$long" TXT 2>&1)" 'too long|label too long|not a valid name|ran out of space'
out=$($D bigtxt.qa.test TXT +tcp +short)
expect "TXT with 20 strings of 255 octets" "$(printf '%s\n' "$out" | grep -o '"[a-z]*"' | awk '{print length($0)}' | sort -u | tr '\n' ' ')" '^257 $'
expect "TXT string count" "$(printf '%s\n' "$out" | grep -o '"[a-z]*"' | wc -l)" '^20$'
out=$($D bigtxt.qa.test TXT +ignore)
expect "5 KB TXT over UDP: TC" "$out" 'flags: qr aa tc'

# --- CNAME leaving the zone: CNAME only, no chasing (RD set, no forwarder covers it) ---
out=$($D outcn.qa.test A)
expect "CNAME out of zone: NOERROR" "$out" 'status: NOERROR'
expect "CNAME out of zone: only the CNAME" "$out" 'ANSWER: 1,'
expect "CNAME out of zone: target" "$out" 'CNAME[[:space:]]+www\.example\.com\.'

# --- wildcards (RFC 4592) ---
expect "wildcard matches a non-existent name" "$($D +short other.w.qa.test A)" '^192\.0\.2\.99$'
out=$($D ent.w.qa.test A)
expect "empty non-terminal does not match the wildcard: NODATA" "$out" 'status: NOERROR'
expect "ENT NODATA: no answer, SOA" "$out" 'ANSWER: 0, AUTHORITY: 1'
expect "below an ENT, no wildcard there: NXDOMAIN" "$($D y.ent.w.qa.test A)" 'status: NXDOMAIN'
out=$($D foo.cw.qa.test A +noall +answer)
expect "CNAME at a wildcard: synthesised owner" "$out" '^foo\.cw\.qa\.test\..*CNAME[[:space:]]+target\.qa\.test\.'
expect "CNAME at a wildcard: target chased" "$out" '^target\.qa\.test\..*A[[:space:]]+192\.0\.2\.77'

# --- DNAME (RFC 6672) ---
out=$($D a.b.dn.qa.test A +noall +answer)
expect "DNAME in the answer" "$out" '^dn\.qa\.test\..*DNAME[[:space:]]+other\.test\.'
expect "synthesised CNAME" "$out" '^a\.b\.dn\.qa\.test\..*CNAME[[:space:]]+a\.b\.other\.test\.'
expect "DNAME owner itself: NODATA for A" "$($D dn.qa.test A)" 'ANSWER: 0, AUTHORITY: 1'

# --- zone cuts ---
out=$($D x.deleg.qa.test A +norec)
expect "below a cut: referral, AA clear" "$out" 'flags: qr( ra)?;'
expect "referral NS" "$out" '^deleg\.qa\.test\..*NS[[:space:]]+ns\.deleg\.qa\.test\.'
expect "referral glue" "$out" '^ns\.deleg\.qa\.test\..*A[[:space:]]+192\.0\.2\.53'
out=$($D deleg.qa.test NS +norec)
expect "NS at the cut asked of the parent: referral, AA clear" "$out" 'flags: qr( ra)?;'
expect "NS at the cut: in authority" "$out" 'ANSWER: 0, AUTHORITY: 1, ADDITIONAL: 2'
expect "glue name asked directly: referral" "$($D ns.deleg.qa.test A +norec)" 'flags: qr( ra)?;'

# --- TCP ---
tcp_py() {
	python3 - "$port" "$1" <<'EOF'
import socket, struct, sys, time
port = int(sys.argv[1]); case = sys.argv[2]
def msg(i, name=b"\x03ns1\x02qa\x04test\x00", t=1):
    m = struct.pack(">HHHHHH", i, 0x0100, 1, 0, 0, 0) + name + struct.pack(">HH", t, 1)
    return struct.pack(">H", len(m)) + m
def closed_after(s, wait):
    s.settimeout(wait); t = time.time()
    try:
        d = s.recv(10)
        return "closed after %.1f s" % (time.time() - t) if d == b"" else "data"
    except socket.timeout:
        return "still open"
    except ConnectionResetError:
        return "closed after %.1f s" % (time.time() - t)
s = socket.create_connection(("127.0.0.1", port))
if case == "pipeline":
    s.sendall(b"".join(msg(1000 + i) for i in range(200)))
    s.settimeout(5); buf = b""; ids = set()
    try:
        while len(ids) < 200:
            d = s.recv(65536)
            if not d: break
            buf += d
            while len(buf) >= 2 and len(buf) >= 2 + struct.unpack(">H", buf[:2])[0]:
                l = struct.unpack(">H", buf[:2])[0]
                ids.add(struct.unpack(">H", buf[2:4])[0]); buf = buf[2 + l:]
    except socket.timeout:
        pass
    print("answered %d of 200, ids %s" % (len(ids), "match" if ids == set(range(1000, 1200)) else "differ"))
elif case == "stall":
    s.sendall(b"\x00\x20")
    print(closed_after(s, 5))
elif case == "zero":
    s.sendall(b"\x00\x00")
    print(closed_after(s, 3))
elif case == "huge":
    s.sendall(msg(9, b"\x04huge\x03big\x04test\x00", 16))
    s.settimeout(3); buf = b""
    while len(buf) < 2 or len(buf) < 2 + struct.unpack(">H", buf[:2])[0]:
        d = s.recv(65536)
        if not d: break
        buf += d
    r = buf[2:]
    print("tc=%d rcode=%d an=%d len=%d" % ((r[2] >> 1) & 1, r[3] & 15, struct.unpack(">H", r[6:8])[0], len(r)))
EOF
}
expect "200 pipelined queries on one connection, matched by ID" "$(tcp_py pipeline)" '^answered 200 of 200, ids match$'
expect "length prefix then silence: closed after tcp_idle_ms (1.5 s)" "$(tcp_py stall)" '^closed after (1\.[4-9]|2\.[0-9]) s$'
expect "zero length prefix: closed at once" "$(tcp_py zero)" '^closed after 0\.[0-4] s$'
expect "answer over 64 KiB on TCP: TC with an empty answer" "$(tcp_py huge)" '^tc=1 rcode=0 an=0'
expect "server still answers after the TCP checks" "$($D +short ns1.qa.test A)" '^192\.0\.2\.1$'

# --- dynamic update ---
KEY="hmac-sha256:k1:$KEY_SECRET"
nu() {
	printf 'server 127.0.0.1 %s\nzone qa.test\n%b\nsend\n' "$port" "$1" | nsupdate -y "${2:-$KEY}" 2>&1
}
serial() { $D +short qa.test SOA | awk '{print $3}'; }
s0=$(serial)
expect "prereq yxdomain on a missing name: NXDOMAIN" "$(nu 'prereq yxdomain nope.qa.test\nupdate add u1.qa.test 60 A 192.0.2.1')" 'NXDOMAIN'
expect "prereq nxdomain on an existing name: YXDOMAIN" "$(nu 'prereq nxdomain ns1.qa.test\nupdate add u1.qa.test 60 A 192.0.2.1')" 'YXDOMAIN'
expect "prereq yxrrset on a missing RRset: NXRRSET" "$(nu 'prereq yxrrset ns1.qa.test MX\nupdate add u1.qa.test 60 A 192.0.2.1')" 'NXRRSET'
expect "prereq yxrrset with a value not there: NXRRSET" "$(nu 'prereq yxrrset ns1.qa.test A 192.0.2.9\nupdate add u1.qa.test 60 A 192.0.2.1')" 'NXRRSET'
expect "prereq nxrrset on an existing RRset: YXRRSET" "$(nu 'prereq nxrrset ns1.qa.test A\nupdate add u1.qa.test 60 A 192.0.2.1')" 'YXRRSET'
expect "failed prerequisites change nothing" "$(serial)" "^$s0$"
expect "all prerequisites true: applied" "$(nu 'prereq yxrrset ns1.qa.test A 192.0.2.1\nprereq nxdomain u1.qa.test\nupdate add u1.qa.test 60 A 192.0.2.1\nupdate add u1.qa.test 60 A 192.0.2.2\nupdate add u2.qa.test 60 TXT two')" '^$'
expect "one update message, one serial increment" "$(serial)" "^$((s0 + 1))$"
expect "both records there" "$($D +short u1.qa.test A | sort | tr '\n' ' ')" '^192\.0\.2\.1 192\.0\.2\.2 $'
nu 'update delete u1.qa.test A' >/dev/null
expect "delete a whole RRset" "$($D u1.qa.test A)" 'status: NXDOMAIN'
expect "serial after the delete" "$(serial)" "^$((s0 + 2))$"
expect "no-op update (record already there) leaves the serial" "$(nu 'update add u2.qa.test 60 TXT two'; serial)" "^$((s0 + 2))$"
nu 'update delete qa.test SOA' >/dev/null
expect "deleting the SOA is ignored" "$($D +short qa.test SOA)" "^ns1\.qa\.test\. admin\.qa\.test\. $((s0 + 2)) "
nu 'update delete qa.test NS' >/dev/null
expect "deleting the apex NS RRset is ignored" "$($D +short qa.test NS)" '^ns1\.qa\.test\.$'
sx=$(( $(serial) + 1000 ))
nu "update add qa.test 3600 SOA ns1.qa.test. admin.qa.test. $sx 7200 3600 1209600 300\nupdate add u4.qa.test 60 A 192.0.2.4" >/dev/null
expect "a serial set by the update is kept, not incremented again" "$(serial)" "^$sx$"
expect "name outside the zone: NOTZONE" "$(nu 'update add x.other.test 60 A 192.0.2.1')" 'NOTZONE'
expect "unknown key name: NOTAUTH(BADKEY)" "$(nu 'update add u3.qa.test 60 A 192.0.2.1' "hmac-sha256:nokey:$KEY_SECRET")" 'NOTAUTH\(BADKEY\)'
expect "wrong secret: NOTAUTH(BADSIG)" "$(nu 'update add u3.qa.test 60 A 192.0.2.1' "hmac-sha256:k1:c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0JQ==")" 'NOTAUTH\(BADSIG\)'

# A signed update built here (RFC 8945 MAC), sent twice, and once signed 10 minutes late.
tsig_py() {
	python3 - "$port" "$KEY_SECRET" "$1" "$2" <<'EOF'
import base64, hashlib, hmac, socket, struct, sys, time
port, secret, name, skew = int(sys.argv[1]), base64.b64decode(sys.argv[2]), sys.argv[3], int(sys.argv[4])
def wire(n):
    return b"".join(bytes([len(l)]) + l.encode() for l in n.rstrip(".").split(".")) + b"\x00"
zone, key, alg = wire("qa.test"), wire("k1"), wire("hmac-sha256")
rdata = b"\x04seen"
msg = struct.pack(">HHHHHH", 0x3131, 5 << 11, 1, 0, 1, 0) + zone + struct.pack(">HH", 6, 1)
msg += wire(name) + struct.pack(">HHIH", 16, 1, 60, len(rdata)) + rdata
now = int(time.time()) + skew
tvars = key + struct.pack(">HI", 255, 0) + alg + struct.pack(">HIH", now >> 32, now & 0xffffffff, 300) + struct.pack(">HH", 0, 0)
mac = hmac.new(secret, msg + tvars, hashlib.sha256).digest()
trd = alg + struct.pack(">HIH", now >> 32, now & 0xffffffff, 300) + struct.pack(">H", 32) + mac + struct.pack(">HHH", 0x3131, 0, 0)
signed = msg[:10] + struct.pack(">H", 1) + msg[12:] + key + struct.pack(">HHIH", 250, 255, 0, len(trd)) + trd
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
out = []
for _ in range(2 if skew == 0 else 1):
    s.sendto(signed, ("127.0.0.1", port))
    r, _ = s.recvfrom(4096)
    # TSIG error: after the MAC and original ID; walk the TSIG RDATA from its start
    i = r.rfind(key + struct.pack(">HH", 250, 255))
    o = i + len(key) + 10 + len(alg) + 8
    ml = struct.unpack(">H", r[o:o + 2])[0]
    o += 2 + ml + 2
    out.append("rcode=%d tsig=%d" % (r[3] & 15, struct.unpack(">H", r[o:o + 2])[0]))
print(" ".join(out))
EOF
}
s1=$(serial)
expect "signed update, then the same message replayed: BADTIME" "$(tsig_py replay.qa.test 0)" '^rcode=0 tsig=0 rcode=9 tsig=18$'
expect "the replay did not bump the serial again" "$(serial)" "^$((s1 + 1))$"
expect "signed 600 s in the past (fudge 300): BADTIME" "$(tsig_py skew.qa.test -600)" '^rcode=9 tsig=18$'
expect "the late update was not applied" "$($D skew.qa.test TXT)" 'status: NXDOMAIN'

# --- forwarding through the upstream above ---
: > "$tmp/up.log"
out=$($D ans.up.test A)
expect "forwarded answer" "$out" '^ans\.up\.test\..*[[:space:]]100[[:space:]]+IN[[:space:]]+A[[:space:]]+192\.0\.2\.7'
expect "forwarded answer has RA" "$out" 'flags: qr rd ra'
sleep 2.2
out=$($D ans.up.test A)
expect "cached answer: TTL counted down" "$out" '^ans\.up\.test\.[[:space:]]+9[5-8][[:space:]]'
expect "cached answer came from the cache (one upstream query)" "$(grep -ci '^ans\.up\.test 1$' "$tmp/up.log")" '^1$'
out=$($D nx.up.test A)
expect "forwarded NXDOMAIN" "$out" 'status: NXDOMAIN'
expect "negative answer SOA with TTL min(SOA TTL, MINIMUM) = 5" "$out" '^\.[[:space:]]+5[[:space:]]+IN[[:space:]]+SOA'
$D nx.up.test A >/dev/null
expect "NXDOMAIN cached (RFC 2308)" "$(grep -ci '^nx\.up\.test 1$' "$tmp/up.log")" '^1$'
$D nodata.up.test A >/dev/null; $D nodata.up.test A >/dev/null
expect "NODATA cached" "$(grep -ci '^nodata\.up\.test 1$' "$tmp/up.log")" '^1$'
sleep 5.5
$D nx.up.test A >/dev/null
expect "negative entry expired after 5 s: asked again" "$(grep -ci '^nx\.up\.test 1$' "$tmp/up.log")" '^2$'
out=$($D badcase.up.test A +time=4)
expect "0x20 not echoed by the upstream: answer rejected, SERVFAIL" "$out" 'status: SERVFAIL'
expect "0x20 mismatch: EDE 22" "$out" 'EDE: 22'
expect "0x20: upstream asked with a randomised case" "$(grep -i '^badcase\.up\.test' "$tmp/up.log" | grep -vc '^badcase\.up\.test')" '^[1-9]'
out=$($D www.down.test A +time=4)
expect "upstream down: SERVFAIL" "$out" 'status: SERVFAIL'
expect "upstream down: EDE 22 (No Reachable Authority)" "$out" 'EDE: 22'

# --- an update survives kill -9 right after its answer ---
expect "durable update answered" "$(nu 'update add durable.qa.test 60 TXT kept')" '^$'
sd=$(serial)
tb_stop KILL || true
start
expect "after kill -9 and restart: the update is there" "$($D +short durable.qa.test TXT)" '^"kept"$'
expect "after kill -9 and restart: the serial too" "$(serial)" "^$sd$"

rc=0
tb_stop || rc=$?
if [ "$rc" -ne 0 ] && grep -q LeakSanitizer "$tmp/err.log" && ! grep -q '/dns/' "$tmp/err.log"; then
	echo "note: leak reported outside dns/ at exit"; rc=0
fi
[ "$rc" -ne 0 ] && tail -30 "$tmp/err.log"
expect "clean exit on SIGTERM" "$rc" '^0$'

finish
