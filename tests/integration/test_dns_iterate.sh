#!/usr/bin/env bash
# Iterative resolution from root hints, through a hermetic lab of NSD servers
# on 127.53.0.x, all inside a private network namespace the script creates (so
# no query can leave the machine, and port 53 is ours): a root, the TLDs test.
# and org., child zones, and one authority written here that lies. trustbox,
# with dns.iterate on and root_hints naming the lab's root, must answer through
# referrals with glue, a glueless delegation (the NS name resolved through
# another TLD), CNAME chains from one zone into another, NXDOMAIN and NODATA
# with the zone's SOA, a large RRset over TCP after TC; ignore answers with
# another ID, another question or from another port, records outside the
# answering zone and out-of-bailiwick glue; and answer SERVFAIL with an EDE for
# a referral that points back up the tree, for delegations whose NS names need
# each other, for a dead server, for an NXNS-style fan-out of glueless NS names
# (with at most iterate_ns_lookups_max of them looked up), and when the query,
# referral or CNAME limits are reached; and stop cleanly mid-iteration.
# Priming replaces the hints with the root's NS set. Local zones keep precedence.
set -u
. "$(dirname "$0")/netns.sh" # re-runs this script in a private network namespace
. "$(dirname "$0")/lib.sh"
need dig bind9-dnsutils
need nsd
need ip iproute2
ip link set lo up || die "cannot bring lo up in the namespace"
tmp=$TB_WORK

# ---- the lab: one NSD per server address, each with its own zones ----
zone() { # zone FILE ORIGIN: writes an SOA + NS header, then stdin
	{
		printf '$ORIGIN %s\n$TTL 300\n' "$2"
		printf '@ SOA a.root-servers.lab. hostmaster.lab. 1 3600 600 86400 60\n'
		cat
	} > "$tmp/$1"
}
zone root.zone . <<'EOF'
@ NS a.root-servers.lab.
a.root-servers.lab. A 127.53.0.1
test. NS ns.test.
ns.test. A 127.53.0.2
org. NS ns.org.
ns.org. A 127.53.0.4
EOF
zone test.zone test. <<EOF
@ NS ns.test.
ns A 127.53.0.2
example NS ns.example
ns.example A 127.53.0.3
glueless NS ns.glueless-host.org.
loop NS ns.loop
ns.loop A 127.53.0.5
cyc NS ns.cyc.org.
spoof NS ns.spoof
ns.spoof A 127.53.0.6
dead NS ns.dead
ns.dead A 127.53.0.98
$(for i in $(seq 1 12); do echo "fan NS n$i.fan.spoof.test."; done)
EOF
zone org.zone org. <<'EOF'
@ NS ns.org.
ns A 127.53.0.4
ns.glueless-host A 127.53.0.3
www.other A 192.0.2.20
cyc NS ns.cyc.test.
EOF
zone example.zone example.test. <<EOF
@ NS ns
ns A 127.53.0.3
host A 192.0.2.1
host TXT "child"
www CNAME www.other.org.
two CNAME three
three CNAME www.other.org.
$(for i in $(seq 1 40); do echo "big TXT \"record $i padding-padding-padding-padding-padding\""; done)
EOF
zone glueless.zone glueless.test. <<'EOF'
@ NS ns.glueless-host.org.
host A 192.0.2.2
EOF
zone badglue.zone bad-glue.spoof.test. <<'EOF'
@ NS ns.glueless-host.org.
host A 192.0.2.7
EOF
# loop.test delegates sub.loop.test back to the test. server, which can only
# refer the resolver up again to loop.test: a referral loop.
zone loop.zone loop.test. <<'EOF'
@ NS ns
ns A 127.53.0.5
sub NS ns.test.
EOF

nsd_start() { # nsd_start NAME ADDRESS ZONE:FILE...
	local name=$1 addr=$2 z
	shift 2
	mkdir -p "$tmp/$name"
	{
		cat <<EOF
server:
  ip-address: $addr@53
  username: ""
  chroot: ""
  zonesdir: "$tmp"
  pidfile: "$tmp/$name/nsd.pid"
  database: ""
  zonelistfile: "$tmp/$name/zone.list"
  xfrdfile: "$tmp/$name/xfrd.state"
  xfrdir: "$tmp/$name"
  logfile: "$tmp/$name/nsd.log"
  server-count: 1
  verbosity: 1
remote-control:
  control-enable: no
EOF
		for z in "$@"; do
			printf 'zone:\n  name: "%s"\n  zonefile: "%s"\n' "${z%%:*}" "${z#*:}"
		done
	} > "$tmp/$name/nsd.conf"
	nsd -d -c "$tmp/$name/nsd.conf" > "$tmp/$name/out.log" 2>&1 &
	track $!
	show_on_failure "$tmp/$name/nsd.log"
}
nsd_start root 127.53.0.1 .:root.zone
nsd_start tld-test 127.53.0.2 test.:test.zone
nsd_start child 127.53.0.3 example.test.:example.zone glueless.test.:glueless.zone \
	bad-glue.spoof.test.:badglue.zone
nsd_start tld-org 127.53.0.4 org.:org.zone
nsd_start loop 127.53.0.5 loop.test.:loop.zone
# spoof.test: an authority written here that lies. For a.spoof.test it first
# sends answers with another ID, for another question and from another port
# (each saying 6.6.6.6), then the true one; for c.spoof.test it adds records
# for names outside its zone; for bad-glue.spoof.test it refers with glue for
# an NS name outside its zone that points at an address where nobody listens.
cat > "$tmp/evil.py" <<'EOF'
import socket, struct, sys
addr = sys.argv[1]
main = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
main.bind((addr, 53))
alt = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
alt.bind((addr, 0))
def name(s):
    out = b""
    for l in s.strip(".").split("."):
        if l:
            out += bytes([len(l)]) + l.encode()
    return out + b"\0"
def rr(owner, t, rdata, ttl=300):
    return name(owner) + struct.pack(">HHIH", t, 1, ttl, len(rdata)) + rdata
def a(ip):
    return socket.inet_aton(ip)
def msg(qid, flags, q, an=(), ns=(), ad=()):
    return struct.pack(">HHHHHH", qid, flags, 1, len(an), len(ns), len(ad)) + q + b"".join(an) + b"".join(ns) + b"".join(ad)
while True:
    data, peer = main.recvfrom(4096)
    qid = struct.unpack(">H", data[:2])[0]
    o, labels = 12, []
    while data[o]:
        labels.append(data[o + 1:o + 1 + data[o]].decode().lower())
        o += 1 + data[o]
    qname = ".".join(labels) + "."
    qt = struct.unpack(">H", data[o + 1:o + 3])[0]
    with open(sys.argv[2], "a") as log:
        log.write(qname + "\n")
    q = data[12:o + 5]
    AA, REF = 0x8400, 0x8000
    if qname == "a.spoof.test." and qt == 1:
        lie = [rr(qname, 1, a("6.6.6.6"))]
        main.sendto(msg(qid ^ 0x5a5a, AA, q, lie), peer)
        other = name("b.spoof.test.") + q[-4:]
        main.sendto(msg(qid, AA, other, [rr("b.spoof.test.", 1, a("6.6.6.6"))]), peer)
        alt.sendto(msg(qid, AA, q, lie), peer)
        main.sendto(msg(qid, AA, q, [rr(qname, 1, a("192.0.2.6"))]), peer)
    elif qname == "c.spoof.test." and qt == 1:
        main.sendto(msg(qid, AA, q, [rr(qname, 1, a("192.0.2.8")), rr("host.example.test.", 1, a("6.6.6.6"))],
                        [rr("example.test.", 2, name("ns.spoof.test."))]), peer)
    elif qname.endswith("bad-glue.spoof.test."):
        main.sendto(msg(qid, REF, q, [], [rr("bad-glue.spoof.test.", 2, name("ns.glueless-host.org."))],
                        [rr("ns.glueless-host.org.", 1, a("127.53.0.99"))]), peer)
    else:
        main.sendto(msg(qid, AA | 3, q), peer)
EOF
python3 "$tmp/evil.py" 127.53.0.6 "$tmp/evil.queries" > "$tmp/evil.log" 2>&1 &
track $!
show_on_failure "$tmp/evil.log"
for a in 1 2 3 4 5 6; do
	up=
	for _ in $(seq 1 100); do
		if dig @127.53.0.$a +norec +time=1 +tries=1 . SOA 2>/dev/null | grep -q 'status: \(NOERROR\|REFUSED\|NXDOMAIN\)'; then
			up=1
			break
		fi
		sleep 0.1
	done
	[ -n "$up" ] || die "the lab server 127.53.0.$a never answered"
done

cat > "$tmp/hints" <<'EOF'
.                     3600000 NS a.root-servers.lab.
a.root-servers.lab.   3600000 A  127.53.0.1
EOF
# root hints that cannot work are configuration errors naming the option
printf '. 3600 NS a.root-servers.lab.\n' > "$tmp/hints-noaddr"
printf 'test. 3600 NS ns.test.\nns.test. 3600 A 127.53.0.2\n' > "$tmp/hints-notroot"
for h in hints-noaddr hints-notroot hints-missing; do
	printf 'dns { iterate = true, root_hints = "%s" }\n' "$tmp/$h" > "$tmp/bad.lua"
	expect "bad root hints ($h): a config error" "$("$TRUSTBOX" config check "$tmp/bad.lua" 2>&1)" "dns\.root_hints: .*$h"
done

cat > "$tmp/trustbox.lua" <<EOF
core { data_dir = "$tmp/data", log_level = "info" }
listen { name = "https", address = "127.0.0.1", port = 0, tls = true }
listen { name = "http", address = "127.0.0.1", port = 0, tls = false }
dns {
  listen = { "127.0.0.1:0" },
  iterate = true,
  root_hints = "$tmp/hints",
  dnssec = "off",
  iterate_queries_max = 24,
  forward_attempt_ms = 500,
  forward_timeout_ms = 3000,
}
EOF
tb_start "$tmp/trustbox.lua" "$tmp/out.log" "$tmp/err.log"
port=$(tb_port 'DNS (udp+tcp)')
D="dig @127.0.0.1 -p $port +time=5 +tries=1"

out=$($D host.example.test A)
expect "answer through two referrals" "$out" '^host\.example\.test\..*IN[[:space:]]+A[[:space:]]+192\.0\.2\.1$'
expect "recursive answer: RA set, AA clear" "$out" 'flags: qr rd ra;'
expect "upstream truncated: asked again over TCP, all records" "$($D +tcp big.example.test TXT)" 'ANSWER: 40,'
expect "TXT through the same path" "$($D host.example.test TXT +short)" '"child"'
out=$($D host.glueless.test A)
expect "glueless delegation: NS address found through org." "$out" \
	'^host\.glueless\.test\..*IN[[:space:]]+A[[:space:]]+192\.0\.2\.2$'
out=$($D www.example.test A)
expect "CNAME across zones: the link" "$out" '^www\.example\.test\..*CNAME[[:space:]]+www\.other\.org\.$'
expect "CNAME across zones: the target's address" "$out" '^www\.other\.org\..*IN[[:space:]]+A[[:space:]]+192\.0\.2\.20$'
out=$($D two.example.test A)
expect "CNAME chain of two links, then across zones" "$out" '^www\.other\.org\..*IN[[:space:]]+A[[:space:]]+192\.0\.2\.20$'
expect "the whole chain is returned" "$out" 'ANSWER: 3,'
expect "ANY through the lab: records of the name" "$($D host.example.test ANY)" '^host\.example\.test\..*IN[[:space:]]+(A|TXT)[[:space:]]'
out=$($D nope.example.test A)
expect "NXDOMAIN" "$out" 'status: NXDOMAIN'
expect "NXDOMAIN with the child zone's SOA" "$out" '^example\.test\..*IN[[:space:]]+SOA'
out=$($D host.example.test AAAA)
expect "NODATA: NOERROR" "$out" 'status: NOERROR'
expect "NODATA: no answer records" "$out" 'ANSWER: 0,'
expect "NODATA with the child zone's SOA" "$out" '^example\.test\..*IN[[:space:]]+SOA'
out=$($D host.sub.loop.test A)
expect "referral loop: SERVFAIL" "$out" 'status: SERVFAIL'
expect "referral loop: EDE 22" "$out" 'EDE: 22 \(No Reachable Authority\)'
out=$($D host.cyc.test A)
expect "NS names that need each other: SERVFAIL" "$out" 'status: SERVFAIL'
expect "NS names that need each other: EDE" "$out" 'EDE: 22'
out=$($D a.spoof.test A)
expect "spoofed answers ignored: the true one is taken" "$out" '^a\.spoof\.test\..*IN[[:space:]]+A[[:space:]]+192\.0\.2\.6$'
expect_not "wrong ID, wrong question, wrong port: none taken" "$out" '6\.6\.6\.6'
out=$($D c.spoof.test A)
expect "answer with out-of-zone extras: the answer" "$out" '192\.0\.2\.8'
expect_not "answer with out-of-zone extras: the extras dropped" "$out" '6\.6\.6\.6|example\.test'
expect "out-of-zone data not cached: example.test unharmed" "$($D host.example.test A +short)" '^192\.0\.2\.1$'
out=$($D host.bad-glue.spoof.test A)
expect "out-of-bailiwick glue ignored, NS resolved instead" "$out" \
	'^host\.bad-glue\.spoof\.test\..*IN[[:space:]]+A[[:space:]]+192\.0\.2\.7$'
out=$($D host.dead.test A)
expect "delegation to a server that never answers: SERVFAIL" "$out" 'status: SERVFAIL'
expect "delegation to a server that never answers: EDE 22" "$out" 'EDE: 22 \(No Reachable Authority\)'
out=$($D host.fan.test A)
expect "NXNS-style fan-out (12 glueless NS names): SERVFAIL" "$out" 'status: SERVFAIL'
# distinct NS names (with QNAME minimisation each lookup also asks for fan.spoof.test. itself)
n=$(grep '^n[0-9]*\.fan\.spoof\.test\.$' "$tmp/evil.queries" | sort -u | wc -l)
expect "NXNS-style fan-out: at most iterate_ns_lookups_max (4) NS names looked up, got $n" "$n" '^[1-4]$'
out=$($D nope.nowhere. A)
expect "nonexistent TLD: NXDOMAIN from the root" "$out" 'status: NXDOMAIN'
expect "local zone keeps precedence" "$($D anything.lab.test A)" 'flags: qr aa rd ra'
out=$($D +norec host.example.test A)
expect "no recursion desired: refused" "$out" 'status: REFUSED'
if grep -q 'root NS set primed' "$tmp/err.log" "$tmp/out.log" 2>/dev/null; then
	ok "priming: the root's NS set replaced the hints"
else
	fail "priming did not replace the hints"
fi

# the limits, each in a run of its own
restart() { # restart OPTION=VALUE...: trustbox again with these limits
	tb_stop || fail "exit status before restarting with $*"
	sed -i '/^  iterate_[a-z_]*max = \|^  cname_max = /d' "$tmp/trustbox.lua"
	local o
	for o in "$@"; do sed -i "s/^  iterate = true,/  iterate = true,\n  ${o%%=*} = ${o#*=},/" "$tmp/trustbox.lua"; done
	tb_start "$tmp/trustbox.lua" "$tmp/out.log" "$tmp/err.log"
	port=$(tb_port 'DNS (udp+tcp)')
	D="dig @127.0.0.1 -p $port +time=5 +tries=1"
}
restart iterate_queries_max=4 cname_max=1
out=$($D host.glueless.test A)
expect "query budget exceeded: SERVFAIL" "$out" 'status: SERVFAIL'
expect "query budget exceeded: EDE names the limit" "$out" 'EDE: 0 \(Other\).*iterate_queries_max'
out=$($D host.example.test A)
expect "within the budget still answered" "$out" '192\.0\.2\.1'
out=$($D two.example.test A)
expect "CNAME chain over cname_max: SERVFAIL" "$out" 'status: SERVFAIL'
expect "CNAME chain over cname_max: EDE names the limit" "$out" 'EDE: 0 \(Other\).*cname_max'
restart iterate_referrals_max=2
out=$($D host.glueless.test A)
expect "referral limit: SERVFAIL" "$out" 'status: SERVFAIL'
expect "referral limit: EDE names the limit" "$out" 'EDE: 0 \(Other\).*iterate_referrals_max'
expect "two referrals still allowed" "$($D host.example.test A +short)" '^192\.0\.2\.1$'

# a stop with an iteration still waiting for its upstream
$D +time=10 other.dead.test A > "$tmp/inflight.out" 2>&1 &
sleep 0.1
rc=0
tb_stop || rc=$?
if [ "$rc" -ne 0 ] && grep -q LeakSanitizer "$tmp/err.log" && ! grep -q '/dns/' "$tmp/err.log"; then rc=0; fi
expect "clean exit" "$rc" '^0$'
finish
