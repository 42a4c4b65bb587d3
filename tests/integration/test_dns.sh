#!/usr/bin/env bash
# DNS server against real clients (dig from BIND, kdig from Knot): every record
# type, EDNS and cookies, NXDOMAIN/NODATA with SOA, wildcards, CNAME chasing,
# delegations, TCP, UDP truncation and TCP retry, ACL refusals, FORMERR for a
# malformed packet, and the default lab.test zone.
set -u
. "$(dirname "$0")/lib.sh"
need dig bind9-dnsutils
need kdig knot-dnsutils
need python3
tmp=$TB_WORK

# A zone file with every type, plus a large TXT RRset that cannot fit 1232 octets.
cat > "$tmp/example.zone" <<'EOF'
$ORIGIN example.test.
$TTL 300
@       IN SOA ns1 hostmaster ( 2024010101 7200 3600 1209600 120 )
        NS   ns1
        MX   10 mail
        TXT  "v=spf1 -all"
        CAA  0 issue "trustbox.test"
        DNSKEY 257 3 15 l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4=
        NSEC3PARAM 1 0 0 -
        HTTPS 1 . alpn="h2,h3" port=8443
ns1     A    192.0.2.1
        AAAA 2001:db8::1
mail    A    192.0.2.25
www     CNAME web
web     A    192.0.2.80
chain   CNAME www
out     CNAME elsewhere.invalid.
*.wild  A    192.0.2.99
        TXT  "wildcard"
_sip._tcp SRV 0 5 5060 sip
sip     A    192.0.2.60
_443._tcp.web TLSA 3 1 1 0C72AC70B745AC19998811B131D662C9AC69DBDBE7CB23E5B514B56664C5D3D6
svc     SVCB 1 . port=8443 ipv4hint=192.0.2.80
ptr     PTR  web
sub     NS   ns.sub
        DS   60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118
ns.sub  A    192.0.2.53
rr      NSEC web A RRSIG NSEC
rr      RRSIG A 15 2 3600 20250101000000 20241201000000 12345 example.test. aGVsbG8=
unk     TYPE65280 \# 4 0A000001
dn      DNAME example.net.
EOF
{
	for i in $(seq 1 40); do
		printf 'big TXT "record %02d %s"\n' "$i" "padding-padding-padding-padding-padding-padding"
	done
} >> "$tmp/example.zone"

cat > "$tmp/trustbox.lua" <<EOF
core { data_dir = "$tmp/data", log_level = "warn" }
-- other subsystems mount their routes on the usual listener names; port 0 keeps them out of the way
listen { name = "https", address = "127.0.0.1", port = 0, tls = true }
listen { name = "http", address = "127.0.0.1", port = 0, tls = false }
dns {
  listen = { "127.0.0.1:0" },
  iterate = false,
  allow_query = { "127.0.0.0/8" },
  tcp_idle_ms = 2000,
  policy = function(name, qtype, client)
    if name == "blocked.example.test." then return "refuse" end
    if name:match("^ads%.") then return "nxdomain" end
    if name == "rewrite.example.test." and client == "127.0.0.1" then
      if qtype == "AAAA" then return "2001:db8::53" end
      return "192.0.2.123"
    end
    if name == "broken.example.test." then error("deliberate") end
    if name == "spin.example.test." then while true do end end
  end,
  zones = {
    { name = "example.test", file = "$tmp/example.zone" },
    { name = "lab.test", records = {
        "@ SOA ns.lab.test. hostmaster.lab.test. 1 3600 600 86400 60",
        "@ NS ns", "ns A 127.0.0.1", "* A 127.0.0.1", "* AAAA ::1",
        '@ CAA 0 issue "trustbox.test"' } },
  },
}
EOF

tb_start "$tmp/trustbox.lua" "$tmp/out.log" "$tmp/err.log"
port=$(tb_port 'DNS (udp+tcp)')
echo "trustbox DNS on 127.0.0.1:$port"

D="dig @127.0.0.1 -p $port +time=2 +tries=1"
K="kdig @127.0.0.1 -p $port +time=2 +retry=0"

# --- positive answers, every type ---
out=$($D example.test SOA +norec)
expect "SOA authoritative" "$out" 'flags: qr aa;'
expect "SOA data" "$out" 'example\.test\.[[:space:]]+300[[:space:]]+IN[[:space:]]+SOA[[:space:]]+ns1\.example\.test\. hostmaster\.example\.test\. 2024010101 7200 3600 1209600 120'
expect "A" "$($D +short web.example.test A)" '^192\.0\.2\.80$'
expect "AAAA" "$($D +short ns1.example.test AAAA)" '^2001:db8::1$'
expect "NS" "$($D +short example.test NS)" '^ns1\.example\.test\.$'
expect "MX" "$($D +short example.test MX)" '^10 mail\.example\.test\.$'
out=$($D example.test MX)
expect "MX additional A" "$out" 'mail\.example\.test\..*IN[[:space:]]+A[[:space:]]+192\.0\.2\.25'
expect "TXT" "$($D +short example.test TXT)" '^"v=spf1 -all"$'
expect "CAA" "$($D +short example.test CAA)" '^0 issue "trustbox\.test"$'
expect "SRV" "$($D +short _sip._tcp.example.test SRV)" '^0 5 5060 sip\.example\.test\.$'
expect "PTR" "$($D +short ptr.example.test PTR)" '^web\.example\.test\.$'
expect "TLSA" "$($D +short _443._tcp.web.example.test TLSA | tr -d ' ')" '^3110C72AC70B745AC19998811B131D662C9AC69DBDBE7CB23E5B514B56664C5D3D6$'
expect "DNSKEY" "$($D +short example.test DNSKEY | tr -d ' ')" '^257315l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4=$'
expect "NSEC3PARAM" "$($D +short example.test NSEC3PARAM)" '^1 0 0 -$'
expect "HTTPS" "$($K +short example.test HTTPS)" '^1 \. alpn=h2,h3 port=8443$'
expect "SVCB" "$($K +short svc.example.test SVCB)" '^1 \. port=8443 ipv4hint=192\.0\.2\.80$'
expect "NSEC" "$($D +short rr.example.test NSEC)" '^web\.example\.test\. A RRSIG NSEC$'
expect "RRSIG" "$($D +short rr.example.test RRSIG)" '^A 15 2 3600 20250101000000 20241201000000 12345 example\.test\. aGVsbG8=$'
expect "DS at the parent side of a cut" "$($D +short sub.example.test DS)" '^60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118$'
expect "DNAME" "$($D +short dn.example.test DNAME)" '^example\.net\.$'
expect "unknown type (RFC 3597)" "$($D +short unk.example.test TYPE65280)" '^\\# 4 0A000001$'
expect "kdig A" "$($K +short web.example.test A)" '^192\.0\.2\.80$'

# --- negative answers ---
out=$($D nothere.example.test A)
expect "NXDOMAIN" "$out" 'status: NXDOMAIN'
expect "NXDOMAIN is authoritative" "$out" 'flags: qr aa'
expect "NXDOMAIN SOA in authority, negative TTL" "$out" '^example\.test\.[[:space:]]+120[[:space:]]+IN[[:space:]]+SOA'
out=$($D web.example.test MX)
expect "NODATA status" "$out" 'status: NOERROR'
expect "NODATA no answer" "$out" 'ANSWER: 0, AUTHORITY: 1'
expect "NODATA SOA" "$out" 'IN[[:space:]]+SOA[[:space:]]+ns1\.example\.test\.'
out=$($D tcp.example.test A)
expect "empty non-terminal is NODATA" "$($D _tcp.example.test A)" 'status: NOERROR'

# --- wildcards (RFC 4592) ---
out=$($D anything.wild.example.test A)
expect "wildcard A" "$out" '^anything\.wild\.example\.test\.[[:space:]]+300[[:space:]]+IN[[:space:]]+A[[:space:]]+192\.0\.2\.99'
expect "wildcard deeper name" "$($D +short a.b.wild.example.test TXT)" '^"wildcard"$'
expect "wildcard NODATA" "$($D x.wild.example.test MX)" 'ANSWER: 0, AUTHORITY: 1'
expect "wildcard does not cover the parent" "$($D wild.example.test A)" 'status: NOERROR'

# --- CNAME ---
out=$($D www.example.test A)
expect "CNAME in answer" "$out" '^www\.example\.test\..*CNAME[[:space:]]+web\.example\.test\.'
expect "CNAME chased" "$out" '^web\.example\.test\..*IN[[:space:]]+A[[:space:]]+192\.0\.2\.80'
out=$($D chain.example.test A)
expect "CNAME chain of two" "$out" 'ANSWER: 3,'
expect "CNAME query returns the CNAME only" "$($D www.example.test CNAME)" 'ANSWER: 1,'
out=$($D out.example.test A)
expect "CNAME leaving the zone" "$out" 'ANSWER: 1,.*'
expect "CNAME leaving the zone: CNAME present" "$out" 'CNAME[[:space:]]+elsewhere\.invalid\.'

# --- DNAME (RFC 6672) ---
out=$($D www.dn.example.test A)
expect "DNAME in answer" "$out" '^dn\.example\.test\..*DNAME[[:space:]]+example\.net\.'
expect "CNAME synthesised from the DNAME" "$out" '^www\.dn\.example\.test\..*CNAME[[:space:]]+www\.example\.net\.'

# --- delegation ---
out=$($D host.sub.example.test A +norec)
expect "referral is not authoritative" "$out" 'flags: qr;'
expect "referral NS in authority" "$out" '^sub\.example\.test\..*NS[[:space:]]+ns\.sub\.example\.test\.'
expect "referral glue" "$out" '^ns\.sub\.example\.test\..*A[[:space:]]+192\.0\.2\.53'

# --- EDNS and cookies ---
out=$($D web.example.test A +cookie)
expect "EDNS udp size 1232" "$out" 'udp: 1232'
expect "server cookie returned" "$out" 'COOKIE: [0-9a-f]{16}[0-9a-f]{32} \(good\)'
out=$($D web.example.test A +noedns)
expect_not "no OPT without EDNS" "$out" 'OPT PSEUDOSECTION'
expect "BADVERS for EDNS version 1" "$($D web.example.test A +edns=1 +noednsneg)" 'status: BADVERS'
out=$($K web.example.test A +nsid)
expect "kdig EDNS" "$out" 'EDNS PSEUDOSECTION'

# --- TCP ---
out=$($D web.example.test A +tcp)
expect "TCP answer" "$out" '192\.0\.2\.80'
expect "TCP answer over TCP" "$out" '\(TCP\)'
out=$($K +tcp +keepopen web.example.test A mail.example.test A ns1.example.test AAAA)
expect "TCP pipelining (three queries on one connection)" "$(printf '%s\n' "$out" | grep -c 'status: NOERROR')" '^3$'

out=$(python3 - "$port" <<'EOF'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(6)
t0 = time.time()
try:
    d = s.recv(10)
    print("closed after %.1f s" % (time.time() - t0) if d == b"" else "data")
except socket.timeout:
    print("still open")
EOF
)
expect "idle TCP connection closed after tcp_idle_ms (2 s)" "$out" '^closed after (1\.9|2\.[0-9]) s$'

# --- truncation and TCP retry ---
out=$($D big.example.test TXT +ignore +bufsize=1232)
expect "UDP response truncated" "$out" 'flags: qr aa tc'
expect "truncated response has no partial answer" "$out" 'ANSWER: 0'
out=$($D big.example.test TXT +notcp)
expect "dig retries over TCP and gets all 40" "$out" 'ANSWER: 40,'
out=$($D big.example.test TXT +ignore +noedns)
expect "truncated at 512 without EDNS" "$out" 'flags: qr aa tc'
out=$($K big.example.test TXT)
expect "kdig retries over TCP too" "$out" 'ANSWER: 40;'

# --- malformed input ---
py_send() {
	python3 - "$port" "$1" <<'EOF'
import socket, sys
port = int(sys.argv[1]); data = bytes.fromhex(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1.5)
s.sendto(data, ("127.0.0.1", port))
try:
    r, _ = s.recvfrom(4096)
    print("rcode=%d qr=%d id=%02x%02x len=%d" % (r[3] & 15, r[2] >> 7, r[0], r[1], len(r)))
except socket.timeout:
    print("no answer")
EOF
}
# question with a compression pointer to itself
expect "compression loop: FORMERR" "$(py_send 'beef01000001000000000000c00c00010001')" '^rcode=1 qr=1 id=beef'
# truncated question
expect "truncated question: FORMERR" "$(py_send 'beef0100000100000000000003777777')" '^rcode=1 qr=1'
# counts larger than the packet
expect "oversized counts: FORMERR" "$(py_send 'beef0100ffffffffffffffff')" '^rcode=1 qr=1'
# short packet and responses are dropped
expect "runt packet dropped" "$(py_send 'beef01')" '^no answer'
expect "response packet dropped" "$(py_send 'beef81000000000000000000')" '^no answer'
expect "server alive after garbage" "$($D +short web.example.test A)" '^192\.0\.2\.80$'
# NOTIFY opcode
expect "unknown opcode (NOTIFY): NOTIMP" "$(py_send 'beef20000001000000000000076578616d706c6504746573740000060001')" '^rcode=4 qr=1'
expect "AXFR refused as not implemented" "$($D example.test AXFR +tcp 2>&1)" 'NOTIMP|Transfer failed'

# --- refusals and ACLs ---
out=$($D www.other.test A)
expect "name outside local zones: REFUSED" "$out" 'status: REFUSED'
expect "name outside local zones: EDE" "$out" 'EDE: 20 \(Not Authoritative\)'

# --- the Lua policy hook ---
out=$($D blocked.example.test A)
expect "policy refuse" "$out" 'status: REFUSED'
expect "policy refuse EDE 15" "$out" 'EDE: 15 \(Blocked\)'
out=$($D ads.example.test A)
expect "policy nxdomain" "$out" 'status: NXDOMAIN'
expect "policy nxdomain EDE 17" "$out" 'EDE: 17 \(Filtered\)'
expect "policy rewrite A" "$($D +short rewrite.example.test A)" '^192\.0\.2\.123$'
expect "policy rewrite AAAA" "$($D +short rewrite.example.test AAAA)" '^2001:db8::53$'
expect "policy error answers normally" "$($D broken.example.test A)" 'status: NXDOMAIN'
expect "policy that never ends is stopped" "$($D spin.example.test A)" 'status: NXDOMAIN'
expect "policy nil answers normally" "$($D +short web.example.test A)" '^192\.0\.2\.80$'

# --- the lab zone ---
expect "lab wildcard A" "$($D +short anything.lab.test A)" '^127\.0\.0\.1$'
expect "lab wildcard AAAA" "$($D +short x.y.lab.test AAAA)" '^::1$'
expect "lab CAA" "$($D +short lab.test CAA)" 'issue "trustbox\.test"'
expect "0x20 case preserved in question" "$($D WwW.LaB.tEsT A)" 'WwW\.LaB\.tEsT\.'

rc=0
tb_stop || rc=$?
# Under ASan a leak report turns the exit code into 134; only leaks in dns/ count here.
if [ "$rc" -ne 0 ] && grep -q LeakSanitizer "$tmp/err.log" && ! grep -q '/dns/' "$tmp/err.log"; then
	echo "note: leak reported outside dns/ at exit:"; grep -m3 -A6 'Direct leak' "$tmp/err.log" | sed 's/^/     /'
	rc=0
fi
if [ "$rc" -ne 0 ]; then tail -30 "$tmp/err.log"; fi
expect "clean exit on SIGTERM" "$rc" '^0$'

# --- ACL: a server that only allows ::1 refuses 127.0.0.1 ---
cat > "$tmp/acl.lua" <<EOF
core { data_dir = "$tmp/data2", log_level = "warn" }
-- other subsystems mount their routes on the usual listener names; port 0 keeps them out of the way
listen { name = "https", address = "127.0.0.1", port = 0, tls = true }
listen { name = "http", address = "127.0.0.1", port = 0, tls = false }
dns { listen = { "127.0.0.1:0" }, allow_query = { "::1" }, iterate = false }
EOF
tb_start "$tmp/acl.lua" "$tmp/out2.log" "$tmp/out2.log"
port=$(tb_port 'DNS (udp+tcp)')
out=$(dig @127.0.0.1 -p "$port" +time=2 +tries=1 anything.lab.test A)
expect "ACL refusal" "$out" 'status: REFUSED'
expect "ACL refusal EDE" "$out" 'EDE: 18 \(Prohibited\)'

# --- configuration errors name the option ---
cat > "$tmp/bad.lua" <<EOF
core { data_dir = "$tmp/data3" }
dns { zones = { { name = "bad.test", records = { "www A 999.1.1.1" } } } }
EOF
out=$("$TRUSTBOX" config check "$tmp/bad.lua" 2>&1)
expect "bad zone record names the option" "$out" 'dns\.zones\[1\]\.records\[1\].*IPv4'

finish
