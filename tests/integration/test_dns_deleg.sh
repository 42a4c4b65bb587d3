#!/usr/bin/env bash
# The iterator's zone cut cache (dns/deleg.c), through a lab of small Python
# authorities (tests/integration/dns/authority.py, each logging the queries it
# gets) on 127.53.2.x inside a private network namespace the script creates:
#   - after a first name under zone.tld., a second one goes straight to
#     zone.tld.'s server: the root and tld.'s server see no new query;
#   - tld.'s server refers poison.tld. to ns.victim. with an address for it
#     (out of its bailiwick): the address is never used, and the cut of
#     victim. (learned from the root) still leads to victim.'s true server;
#   - moved.'s only server goes away and the root now delegates moved. to
#     another one: the kept cut fails, is dropped, and the query goes on from
#     the root to the new server;
#   - `trustbox dns flush zone.tld` drops the cut: the next name under it is
#     asked of tld.'s server again (not the root: tld. is still kept);
#   - iterate_deleg_cache_size = 0: every cache miss starts at the root;
#   - iterate_deleg_ttl_max = 2: the cuts (TTL 300 in the lab) are asked for again
#     after 2 s;
# each checked by the answers dig gets, by the authorities' query logs and by
# /metrics.
set -u
. "$(dirname "$0")/netns.sh" # re-runs this script in a private network namespace
. "$(dirname "$0")/lib.sh"
need dig bind9-dnsutils
need ip iproute2
need curl
need python3
ip link set lo up || die "cannot bring lo up in the namespace"
tmp=$TB_WORK
auth=$(dirname "$0")/dns/authority.py

# authority NAME ADDRESS [--zone ORIGIN=FILE]...: one authority, its queries in NAME.queries; its pid in pid_NAME
authority() {
	local name=$1 addr=$2
	shift 2
	python3 "$auth" "$addr" --log "$tmp/$name.queries" "$@" >> "$tmp/$name.log" 2>&1 &
	track $!
	eval "pid_$name=$!"
	show_on_failure "$tmp/$name.log"
}

cat > "$tmp/root.zone" <<'EOF'
a.root-servers.lab. A 127.53.2.1
tld. NS ns.nic.tld.
ns.nic.tld. A 127.53.2.2
victim. NS ns.victim.
ns.victim. A 127.53.2.6
moved. NS ns.moved.
ns.moved. A 127.53.2.5
EOF
cat > "$tmp/tld.zone" <<'EOF'
zone.tld. NS ns.zone.tld.
ns.zone.tld. A 127.53.2.3
poison.tld. NS ns.victim.
poison.tld. NS ns.poison.tld.
ns.poison.tld. A 127.53.2.4
ns.victim. A 127.53.2.66
EOF
printf 'a.zone.tld. A 192.0.2.1\nb.zone.tld. A 192.0.2.2\nc.zone.tld. A 192.0.2.3\nd.zone.tld. A 192.0.2.4\n' \
	> "$tmp/zone.zone"
printf 'www.poison.tld. A 192.0.2.21\nw2.poison.tld. A 192.0.2.22\n' > "$tmp/poison.zone"
printf 'www.victim. A 192.0.2.31\nw2.victim. A 192.0.2.32\n' > "$tmp/victim.zone"
printf 'www.victim. A 6.6.6.6\nw2.victim. A 6.6.6.6\nwww.poison.tld. A 6.6.6.6\nw2.poison.tld. A 6.6.6.6\n' \
	> "$tmp/evil.zone"
printf 'x.moved. A 192.0.2.51\n' > "$tmp/moved1.zone"
printf 'x.moved. A 192.0.2.51\ny.moved. A 192.0.2.52\n' > "$tmp/moved2.zone"
authority root 127.53.2.1 --zone .="$tmp/root.zone"
authority tld 127.53.2.2 --zone tld.="$tmp/tld.zone"
authority zone 127.53.2.3 --zone zone.tld.="$tmp/zone.zone"
authority poison 127.53.2.4 --zone poison.tld.="$tmp/poison.zone"
authority victim 127.53.2.6 --zone victim.="$tmp/victim.zone" --zone poison.tld.="$tmp/poison.zone"
authority evil 127.53.2.66 --zone victim.="$tmp/evil.zone" --zone poison.tld.="$tmp/evil.zone"
authority moved1 127.53.2.5 --zone moved.="$tmp/moved1.zone"
authority moved2 127.53.2.7 --zone moved.="$tmp/moved2.zone"
lab_wait 127.53.2.1 127.53.2.2 127.53.2.3 127.53.2.4 127.53.2.5 127.53.2.6 127.53.2.7 127.53.2.66
for n in root tld zone poison victim evil moved1 moved2; do : > "$tmp/$n.queries"; done

cat > "$tmp/hints" <<'EOF'
.                     3600000 NS a.root-servers.lab.
a.root-servers.lab.   3600000 A  127.53.2.1
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
  dnssec = "off", -- an unsigned lab (validation is the default)
  forward_attempt_ms = 600,
  forward_timeout_ms = 4000,
}
EOF
tb_start "$tmp/trustbox.lua" "$tmp/out.log" "$tmp/err.log"
port=$(tb_port 'DNS (udp+tcp)')
D="dig @127.0.0.1 -p $port +time=6 +tries=1"
metric() { # metric NAME_AND_LABELS: its value in /metrics (0 when absent)
	curl -sf "http://127.0.0.1:$hport/metrics" | awk -v m="$1" '$1 == m { print $2; f = 1 } END { if (!f) print 0 }'
}
count() { grep -c . "$tmp/$1.queries" || true; }
# the root NS set is primed at start: wait for it, so that it does not count below
for _ in $(seq 1 50); do grep -q '^\. 2 ' "$tmp/root.queries" && break; sleep 0.1; done

# ---- 1. a second name under a known zone goes straight to its server ----
expect "a.zone.tld resolved" "$($D +short a.zone.tld A)" '^192\.0\.2\.1$'
r0=$(count root) t0=$(count tld) z0=$(count zone)
expect "the first name went through the root ($r0) and tld. ($t0)" "$r0 $t0" '^[1-9][0-9]* [1-9][0-9]*$'
expect "b.zone.tld resolved" "$($D +short b.zone.tld A)" '^192\.0\.2\.2$'
expect "b.zone.tld: the root saw no new query" "$(count root)" "^$r0\$"
expect "b.zone.tld: tld.'s server saw no new query" "$(count tld)" "^$t0\$"
expect "b.zone.tld: zone.tld.'s server was asked the full name at once" \
	"$(tail -n +$((z0 + 1)) "$tmp/zone.queries" | cut -d' ' -f1-2 | tr 'A-Z\n' 'a-z,')" '^b\.zone\.tld\. 1,$'
expect "/metrics: iterations started at a kept cut" "$(metric tb_dns_deleg_starts_total)" '^[1-9]'
expect "/metrics: cuts kept (tld., zone.tld.)" "$(metric tb_dns_deleg_cuts)" '^[2-9]$'
# a name under tld. but outside zone.tld. starts at tld.
expect "other.tld: NXDOMAIN from tld.'s server" "$($D other.tld A)" 'status: NXDOMAIN'
expect "other.tld: the root saw no new query" "$(count root)" "^$r0\$"

# ---- 2. out-of-bailiwick glue does not poison anything ----
out=$($D www.poison.tld A)
expect "www.poison.tld resolved from its true servers" "$out" '^www\.poison\.tld\..*IN[[:space:]]+A[[:space:]]+192\.0\.2\.21$'
out=$($D w2.poison.tld A)
expect "w2.poison.tld resolved from its true servers (kept cut)" "$out" \
	'^w2\.poison\.tld\..*IN[[:space:]]+A[[:space:]]+192\.0\.2\.22$'
out=$($D www.victim A)
expect "www.victim resolved from victim.'s true server" "$out" '^www\.victim\..*IN[[:space:]]+A[[:space:]]+192\.0\.2\.31$'
expect_not "www.victim: never the address tld.'s server gave for ns.victim." "$out" '6\.6\.6\.6'
expect "victim.'s true server answered www.victim" "$(grep -ic '^www\.victim\. ' "$tmp/victim.queries")" '^[1-9]'
out=$($D w2.victim A)
expect "w2.victim resolved from victim.'s true server (kept cut)" "$out" '^w2\.victim\..*IN[[:space:]]+A[[:space:]]+192\.0\.2\.32$'
expect "the address from out-of-bailiwick glue was never asked" "$(count evil)" '^0$'

# ---- 3. a kept cut whose servers all went away: dropped, and on from the root ----
expect "x.moved from its first server" "$($D +short x.moved A)" '^192\.0\.2\.51$'
stop_pid "$pid_moved1"
stop_pid "$pid_root"
sed -i 's/^ns\.moved\. A 127\.53\.2\.5$/ns.moved. A 127.53.2.7/' "$tmp/root.zone"
authority root 127.53.2.1 --zone .="$tmp/root.zone"
lab_wait 127.53.2.1
r1=$(count root)
m1=$(count moved1)
out=$($D y.moved A)
expect "y.moved: answered by the new server after the old one failed" "$out" \
	'^y\.moved\..*IN[[:space:]]+A[[:space:]]+192\.0\.2\.52$'
expect "y.moved: the root was asked again" "$(tail -n +$((r1 + 1)) "$tmp/root.queries" | tr A-Z a-z)" '^moved\. '
expect "/metrics: the failed cut dropped" "$(metric 'tb_dns_deleg_dropped_total{reason="failed"}')" '^1$'
r1=$(count root)
expect "the new cut is kept: z.moved goes to the new server (NXDOMAIN)" "$($D z.moved A)" 'status: NXDOMAIN'
expect "z.moved: the root saw no new query" "$(count root)" "^$r1\$"
expect "z.moved: the new server was asked" "$(grep -ic '^z\.moved\. ' "$tmp/moved2.queries")" '^[1-9]'

# ---- 4. flush drops the cut at and below the name ----
r2=$(count root) t2=$(count tld)
out=$("$TRUSTBOX" dns flush zone.tld -c "$tmp/trustbox.lua" 2>&1)
expect "dns flush zone.tld" "$out" '^flushed [0-9]+ cache entr(y|ies) for zone\.tld'
expect "c.zone.tld resolved after the flush" "$($D +short c.zone.tld A)" '^192\.0\.2\.3$'
expect "c.zone.tld: tld.'s server was asked again (the cut was dropped)" "$(count tld)" "^$((t2 + 1))\$"
expect "c.zone.tld: the root was not (tld. is still kept)" "$(count root)" "^$r2\$"
out=$(curl -sS -X POST -H "Authorization: Bearer $(cat "$tmp/data/admin.token")" -H 'Content-Type: application/json' \
	-d '{"name":"tld"}' \
	"http://127.0.0.1:$hport/api/v1/dns/cache/flush")
expect "the admin API flush of tld. drops tld., zone.tld. and poison.tld. (cuts: 3)" "$out" '"cuts":[[:space:]]*3[,}]'
expect "/metrics: victim. and moved. are still kept" "$(metric tb_dns_deleg_cuts)" '^2$'
expect "d.zone.tld resolved after the flush" "$($D +short d.zone.tld A)" '^192\.0\.2\.4$'
expect "d.zone.tld: the root was asked again" "$(count root)" "^$((r2 + 1))\$"

rc=0
tb_stop || rc=$?
expect "clean exit" "$rc" '^0$'

# ---- 5. iterate_deleg_cache_size = 0: every miss from the root ----
sed -i 's/^  iterate = true,/  iterate = true,\n  iterate_deleg_cache_size = 0,/' "$tmp/trustbox.lua"
tb_start "$tmp/trustbox.lua" "$tmp/out.log" "$tmp/err.log"
port=$(tb_port 'DNS (udp+tcp)')
D="dig @127.0.0.1 -p $port +time=6 +tries=1"
for _ in $(seq 1 50); do [ "$(tail -1 "$tmp/root.queries" | cut -d' ' -f1-2)" = ". 2" ] && break; sleep 0.1; done
expect "no cut cache: a.zone.tld resolved" "$($D +short a.zone.tld A)" '^192\.0\.2\.1$'
r3=$(count root)
expect "no cut cache: b.zone.tld resolved" "$($D +short b.zone.tld A)" '^192\.0\.2\.2$'
expect "no cut cache: the root was asked again" "$(count root)" "^$((r3 + 1))\$"
expect "/metrics: no cut kept" "$(metric tb_dns_deleg_cuts)" '^0$'
rc=0
tb_stop || rc=$?
expect "clean exit" "$rc" '^0$'

# ---- 6. iterate_deleg_ttl_max caps the lab's TTL of 300 s ----
sed -i 's/^  iterate_deleg_cache_size = 0,/  iterate_deleg_ttl_max = 2,/' "$tmp/trustbox.lua"
tb_start "$tmp/trustbox.lua" "$tmp/out.log" "$tmp/err.log"
port=$(tb_port 'DNS (udp+tcp)')
D="dig @127.0.0.1 -p $port +time=6 +tries=1"
for _ in $(seq 1 50); do [ "$(tail -1 "$tmp/root.queries" | cut -d' ' -f1-2)" = ". 2" ] && break; sleep 0.1; done
expect "TTL cap: a.zone.tld resolved" "$($D +short a.zone.tld A)" '^192\.0\.2\.1$'
r4=$(count root)
expect "TTL cap: b.zone.tld at once, from the kept cut" "$($D +short b.zone.tld A)" '^192\.0\.2\.2$'
expect "TTL cap: the root not asked within the 2 s" "$(count root)" "^$r4\$"
sleep 2.2
expect "TTL cap: c.zone.tld after the cap" "$($D +short c.zone.tld A)" '^192\.0\.2\.3$'
expect "TTL cap: the cuts expired after 2 s (not 300): the root asked again" "$(count root)" "^$((r4 + 1))\$"
rc=0
tb_stop || rc=$?
expect "clean exit" "$rc" '^0$'
finish
