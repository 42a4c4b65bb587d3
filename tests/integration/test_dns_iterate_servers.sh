#!/usr/bin/env bash
# How the iterator treats the servers it asks, through a lab of small Python
# authorities (tests/integration/dns/authority.py) on 127.53.1.x inside a
# private network namespace the script creates:
#   - server selection by smoothed RTT with back-off: rtt. has two servers, one
#     of which never answers; once it has timed out, later cache misses go to
#     the live one first and do not wait for the timeout again;
#   - EDNS fallback: old. is served by an authority that answers FORMERR to any
#     query with OPT: asked again without it, and remembered;
#   - 0x20: questions go out in a random case; lowercasing. is served by an
#     authority that answers in lower case (asked again in lower case after
#     the attempt's wait, and remembered), spoofcase. by one that first sends
#     an answer (a lie) whose question has another case: dropped;
#   - QNAME minimisation: the servers of . and deep. see only the next label
#     (type A), then the full question; a name of many labels resolves; the
#     server of sub.deep. answers NXDOMAIN for empty non-terminals (broken, as
#     RFC 9156 2.3 fears): relaxed mode asks the full name and still resolves;
#   - AAAA of glueless NS names: v6only.'s only server is ns6.deep., which has
#     an AAAA record (::1) and no A record;
#   - DNAME (RFC 6672): alias.deep. redirects to target.sub.deep. (another zone,
#     another server); dl.deep. redirects into itself, without end;
#   - iterate_0x20 and iterate_qname_minimisation turned off: full names, lower case;
# each checked by what the clients see (latency, answers) and by /metrics.
set -u
. "$(dirname "$0")/netns.sh" # re-runs this script in a private network namespace
. "$(dirname "$0")/lib.sh"
need dig bind9-dnsutils
need ip iproute2
need curl
ip link set lo up || die "cannot bring lo up in the namespace"
tmp=$TB_WORK
auth=$(dirname "$0")/dns/authority.py

# authority NAME ADDRESS [--zone ORIGIN=FILE | --quirk Q]...: one authority, its queries in NAME.queries
authority() {
	local name=$1 addr=$2
	shift 2
	python3 "$auth" "$addr" --log "$tmp/$name.queries" "$@" > "$tmp/$name.log" 2>&1 &
	track $!
	show_on_failure "$tmp/$name.log"
}

cat > "$tmp/root.zone" <<'EOF'
a.root-servers.lab. A 127.53.1.1
rtt. NS ns1.rtt.
rtt. NS ns2.rtt.
ns1.rtt. A 127.53.1.98
ns2.rtt. A 127.53.1.2
old. NS ns.old.
ns.old. A 127.53.1.3
lowercasing. NS ns.lowercasing.
ns.lowercasing. A 127.53.1.4
spoofcase. NS ns.spoofcase.
ns.spoofcase. A 127.53.1.5
deep. NS ns.deep.
ns.deep. A 127.53.1.6
v6only. NS ns6.deep.
EOF
cat > "$tmp/deep.zone" <<'EOF'
a.b.c.d.e.f.g.h.i.j.k.l.deep. A 192.0.2.61
sub.deep. NS ns.sub.deep.
ns.sub.deep. A 127.53.1.7
ns6.deep. AAAA ::1
alias.deep. DNAME target.sub.deep.
dl.deep. DNAME a.dl.deep.
EOF
printf 'www.v6only. A 192.0.2.81\n' > "$tmp/v6only.zone"
printf 'x.y.z.sub.deep. A 192.0.2.71\nwww.target.sub.deep. A 192.0.2.91\n' > "$tmp/sub.zone"
printf 'name-one.lowercasing. A 192.0.2.41\nname-two.lowercasing. A 192.0.2.42\n' > "$tmp/lc.zone"
printf 'www.spoofcase. A 192.0.2.51\n' > "$tmp/sc.zone"
printf 'h1.old. A 192.0.2.31\nh2.old. A 192.0.2.32\n' > "$tmp/old.zone"
: > "$tmp/rtt.zone"
for i in $(seq 1 12); do echo "a$i.rtt. A 192.0.2.$i" >> "$tmp/rtt.zone"; done
authority root 127.53.1.1 --zone .="$tmp/root.zone"
authority rtt 127.53.1.2 --zone rtt.="$tmp/rtt.zone"
authority old 127.53.1.3 --zone old.="$tmp/old.zone" --quirk formerr-edns
authority lc 127.53.1.4 --zone lowercasing.="$tmp/lc.zone" --quirk lowercase
authority sc 127.53.1.5 --zone spoofcase.="$tmp/sc.zone" --quirk wrong-case-first
authority deep 127.53.1.6 --zone deep.="$tmp/deep.zone"
authority sub 127.53.1.7 --zone sub.deep.="$tmp/sub.zone" --quirk ent-nxdomain
authority v6only ::1 --zone v6only.="$tmp/v6only.zone"
lab_wait 127.53.1.1 127.53.1.2 127.53.1.4 127.53.1.5 127.53.1.6 127.53.1.7 ::1
for _ in $(seq 1 100); do # lab_wait's dig would send EDNS
	dig @127.53.1.3 +noedns +norec +time=1 +tries=1 h1.old A 2>/dev/null | grep -q 'status: NOERROR' && break
	sleep 0.1
done
: > "$tmp/old.queries"

cat > "$tmp/hints" <<'EOF'
.                     3600000 NS a.root-servers.lab.
a.root-servers.lab.   3600000 A  127.53.1.1
EOF
hport=$(free_port)
cat > "$tmp/trustbox.lua" <<EOF
core { data_dir = "$tmp/data", log_level = "info" }
listen { name = "https", address = "127.0.0.1", port = 0, tls = true }
listen { name = "http", address = "127.0.0.1", port = $hport, tls = false }
dns {
  listen = { "127.0.0.1:0" },
  iterate = true,
  root_hints = "$tmp/hints",
  dnssec = "off",
  forward_attempt_ms = 600,
  forward_timeout_ms = 3000,
}
EOF
tb_start "$tmp/trustbox.lua" "$tmp/out.log" "$tmp/err.log"
port=$(tb_port 'DNS (udp+tcp)')
D="dig @127.0.0.1 -p $port +time=5 +tries=1"
metric() { # metric NAME_AND_LABELS: its value in /metrics (0 when absent)
	curl -sf "http://127.0.0.1:$hport/metrics" | awk -v m="$1" '$1 == m { print $2; f = 1 } END { if (!f) print 0 }'
}

# ---- 1. SRTT server selection and back-off ----
slow=0 times=
for i in $(seq 1 12); do
	out=$($D a$i.rtt A)
	expect "rtt: a$i.rtt answered" "$out" "^a$i\.rtt\..*IN[[:space:]]+A[[:space:]]+192\.0\.2\.$i\$"
	ms=$(printf '%s\n' "$out" | sed -n 's/.*Query time: \([0-9]*\) msec.*/\1/p')
	times="$times ${ms:-?}"
	[ "${ms:-9999}" -ge 500 ] && slow=$((slow + 1))
done
# the dead server may be asked once (first, or when explored as unknown); after its
# timeout it backs off behind the live one. Random choice would wait in about half.
expect "rtt: at most one of 12 cache misses waits for the dead server (ms:$times)" "$slow" '^[01]$'
n=$(grep -ic '^a[0-9]*\.rtt\. ' "$tmp/rtt.queries" || true)
expect "rtt: the live server answered every query ($n)" "$n" '^12$'
t=$(metric tb_dns_upstream_timeouts_total)
expect "rtt: timeouts counted in /metrics ($t)" "$t" '^[1-9]'

# ---- 2. EDNS fallback ----
expect "no EDNS: answered after FORMERR to EDNS" "$($D h1.old A)" '^h1\.old\..*IN[[:space:]]+A[[:space:]]+192\.0\.2\.31$'
expect "no EDNS: asked again without OPT" "$(grep -i '^h1\.old\. ' "$tmp/old.queries" | tr A-Z a-z)" 'h1\.old\. 1 noedns'
expect "no EDNS: answered again" "$($D h2.old A +short)" '^192\.0\.2\.32$'
expect "no EDNS: remembered, the next name is asked without OPT at once" \
	"$(grep -i '^h2\.old\. ' "$tmp/old.queries" | tr '\nA-Z' ' a-z')" '^h2\.old\. 1 noedns $'
t=$(metric 'tb_dns_upstream_fallbacks_total{kind="no_edns"}')
expect "no EDNS: the fallback counted in /metrics ($t)" "$t" '^1$'

# ---- 3. 0x20 ----
expect "0x20: questions go out in mixed case" "$(cut -d' ' -f1 "$tmp/rtt.queries" | tr -d 'a-z0-9.\n')" '[A-Z]'
out=$($D www.spoofcase A)
expect "0x20: the answer in our case is taken" "$out" '^www\.spoofcase\..*IN[[:space:]]+A[[:space:]]+192\.0\.2\.51$'
expect_not "0x20: the answer in another case (with our ID) is dropped" "$out" '6\.6\.6\.6'
out=$($D name-one.lowercasing A)
expect "0x20: a server that lowercases still answers (in lower case)" "$out" \
	'^name-one\.lowercasing\..*IN[[:space:]]+A[[:space:]]+192\.0\.2\.41$'
expect "0x20: asked first in mixed case, then in lower case" \
	"$(grep -i '^name-one\.' "$tmp/lc.queries" | cut -d' ' -f1 | tr '\n' ' ')" '[A-Z].* name-one\.lowercasing\. $'
out=$($D name-two.lowercasing A)
ms=$(printf '%s\n' "$out" | sed -n 's/.*Query time: \([0-9]*\) msec.*/\1/p')
expect "0x20: remembered, the next name is answered at once (${ms:-?} ms)" "${ms:-9999}" '^[0-9]{1,3}$'
expect "0x20: remembered, asked in lower case only" \
	"$(grep -i '^name-two\.' "$tmp/lc.queries" | cut -d' ' -f1 | tr '\n' ' ')" '^name-two\.lowercasing\. $'
t=$(metric 'tb_dns_upstream_fallbacks_total{kind="no_0x20"}')
expect "0x20: the fallback counted in /metrics ($t)" "$t" '^1$'

# ---- 4. QNAME minimisation ----
asked() { # asked NAME.queries: "qname type" per query for names under deep., lower case, one line
	grep -i 'deep\. ' "$tmp/$1" | cut -d' ' -f1-2 | tr 'A-Z\n' 'a-z,'
}
out=$($D f.g.h.i.j.k.l.deep A)
expect "qmin: an empty non-terminal deep down is NODATA" "$out" 'status: NOERROR'
out=$($D a.b.c.d.e.f.g.h.i.j.k.l.deep A)
expect "qmin: a name of 13 labels resolves" "$out" \
	'^a\.b\.c\.d\.e\.f\.g\.h\.i\.j\.k\.l\.deep\..*IN[[:space:]]+A[[:space:]]+192\.0\.2\.61$'
expect "qmin: the root saw only deep. (type A)" "$(asked root.queries)" '^(deep\. 1,)+$'
expect "qmin: deep. saw one label at a time (type A), then the full question" "$(asked deep.queries)" \
	'^l\.deep\. 1,k\.l\.deep\. 1,j\.k\.l\.deep\. 1,i\.j\.k\.l\.deep\. 1,'
n=$(grep -ic '^a\.b\.c\.d\.e\.f\.g\.h\.i\.j\.k\.l\.deep\. ' "$tmp/deep.queries")
expect "qmin: the full question asked once ($n)" "$n" '^1$'
n=$(grep -c . "$tmp/deep.queries")
expect "qmin: at most 10 shortened names per name, then the full one ($n queries)" "$n" '^([1-9]|1[0-9]|2[0-2])$'
out=$($D x.y.z.sub.deep A)
expect "qmin relaxed: a server answering NXDOMAIN to empty non-terminals still resolves" "$out" \
	'^x\.y\.z\.sub\.deep\..*IN[[:space:]]+A[[:space:]]+192\.0\.2\.71$'
expect "qmin relaxed: the shortened name, then the full one" "$(asked sub.queries)" '^z\.sub\.deep\. 1,x\.y\.z\.sub\.deep\. 1,$'
expect "qmin relaxed: a name that does not exist is still NXDOMAIN" "$($D nope.y.z.sub.deep A)" 'status: NXDOMAIN'

# ---- 5. AAAA of glueless NS names ----
out=$($D www.v6only A)
expect "an NS name with only an AAAA record: its server (::1) is asked" "$out" \
	'^www\.v6only\..*IN[[:space:]]+A[[:space:]]+192\.0\.2\.81$'
expect "the NS name's A, then its AAAA looked up" "$(grep -i '^ns6\.deep\. ' "$tmp/deep.queries" | cut -d' ' -f2 | tr '\n' ' ')" '^1 28 $'

# ---- 6. DNAME ----
out=$($D www.alias.deep A)
expect "DNAME: the DNAME is in the answer" "$out" '^alias\.deep\..*IN[[:space:]]+DNAME[[:space:]]+target\.sub\.deep\.$'
expect "DNAME: the CNAME it implies (the DNAME's TTL, not the server's 0)" "$out" \
	'^www\.alias\.deep\.[[:space:]]+300[[:space:]]+IN[[:space:]]+CNAME[[:space:]]+www\.target\.sub\.deep\.$'
expect "DNAME: the target resolved in its own zone" "$out" \
	'^www\.target\.sub\.deep\..*IN[[:space:]]+A[[:space:]]+192\.0\.2\.91$'
out=$($D x.dl.deep A)
expect "DNAME into itself: SERVFAIL" "$out" 'status: SERVFAIL'
expect "DNAME into itself: stopped at cname_max" "$out" 'EDE: 0 \(Other\).*cname_max'

rc=0
tb_stop || rc=$?
expect "clean exit" "$rc" '^0$'

# ---- both new defaults turned off ----
sed -i 's/^  iterate = true,/  iterate = true,\n  iterate_0x20 = false,\n  iterate_qname_minimisation = false,/' "$tmp/trustbox.lua"
tb_start "$tmp/trustbox.lua" "$tmp/out.log" "$tmp/err.log"
port=$(tb_port 'DNS (udp+tcp)')
D="dig @127.0.0.1 -p $port +time=5 +tries=1"
out=$($D one.two.three.deep A)
expect "options off: resolved (NXDOMAIN)" "$out" 'status: NXDOMAIN'
expect "iterate_qname_minimisation = false: the root asked the full name, in lower case (no 0x20)" \
	"$(grep -i 'three\.deep\. ' "$tmp/root.queries" | cut -d' ' -f1 | tr '\n' ' ')" '^one\.two\.three\.deep\. $'
rc=0
tb_stop || rc=$?
expect "clean exit" "$rc" '^0$'
finish
