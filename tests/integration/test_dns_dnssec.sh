#!/usr/bin/env bash
# DNSSEC validation through a hermetic signed hierarchy, inside a private network
# namespace the script creates: NSD servers on 127.53.0.x serve a root signed
# with ECDSA P-256 (13), a TLD test. signed with RSA/SHA-256 (8) and NSEC3 with
# opt-out, and children: ed.test. (Ed25519, 15, NSEC), rsa.test. (RSA/SHA-512,
# 10), ec.test. (ECDSA P-384, 14, NSEC3), unsigned.test. (no DS: insecure),
# bogus.test. (a record changed after signing), expired.test. (signatures that
# ended yesterday), future.test. (signatures that start tomorrow) and
# nods.test. (signed, but its parent publishes no DS: insecure), plain.ed.test.
# (unsigned, no DS, on its parent's server: insecure). The zones are
# signed here with dnssec-signzone. trustbox, with dns.dnssec = "validate",
# root_hints and trust_anchor_file naming the lab's root, must set AD on secure
# answers for clients asking with DO or AD only, prove NXDOMAIN and NODATA
# (NSEC and NSEC3), answer bogus data with SERVFAIL and the matching EDE (6, 7,
# 8) unless CD is set, and pass insecure data without AD. delv, with the same
# anchor and trustbox as its resolver, must agree, and so must Unbound (run on
# the same lab with the same anchor) on every name: the test checks itself.
# Cached validated NSEC records answer NXDOMAIN for other names they cover
# (RFC 8198). Then a second trustbox forwards everything to that Unbound with
# validation on and no iteration: the same verdicts and EDEs.
set -u
. "$(dirname "$0")/netns.sh" # re-runs this script in a private network namespace
. "$(dirname "$0")/lib.sh"
need dig bind9-dnsutils
need delv bind9-dnsutils
need dnssec-signzone bind9-utils
need dnssec-keygen bind9-utils
need dnssec-dsfromkey bind9-utils
need nsd
need unbound
need ip iproute2
ip link set lo up || die "cannot bring lo up in the namespace"
tmp=$TB_WORK
mkdir -p "$tmp/keys"

# the lab's building blocks are lib.sh's (lab_zone, lab_sign, lab_ds, lab_signed_root)
zone() { lab_zone "$@"; }
sign() { lab_sign "$@"; }
ds() { lab_ds "$1"; }

# ---- the leaves (127.53.0.3) ----
leaf() { # leaf NAME: the usual records
	zone "$1.zone" "$1.test." <<EOF
@ NS ns
ns A 127.53.0.3
www A 192.0.2.${2:-1}
host A 192.0.2.${2:-1}
host TXT "$1"
*.wild A 192.0.2.99
EOF
}
# sub.ed.test (ECDSA P-256) is served by the same server as its parent ed.test, so no
# referral leads into it: its DS must be asked for separately
zone sub.ed.zone sub.ed.test. <<'EOF'
@ NS ns
ns A 127.53.0.3
www A 192.0.2.11
EOF
sign sub.ed.test. sub.ed.zone "-a ECDSAP256SHA256"
# plain.ed.test: unsigned, no DS, on the same server as its signed parent: insecure, proven
# by ed.test's NSEC for plain.ed.test (NS, no DS), though no referral leads into it
zone plain.ed.zone plain.ed.test. <<'EOF'
@ NS ns
ns A 127.53.0.3
www A 192.0.2.15
EOF
cp "$tmp/plain.ed.zone" "$tmp/plain.ed.zone.signed"
leaf ed 1
{ printf 'sub NS ns.sub\nns.sub A 127.53.0.3\nplain NS ns.plain\nns.plain A 127.53.0.3\n'; ds sub.ed.test; } >> "$tmp/ed.zone"
sign ed.test. ed.zone "-a ED25519"
leaf rsa 2; sign rsa.test. rsa.zone "-a RSASHA512 -b 2048"
leaf ec 3; sign ec.test. ec.zone "-a ECDSAP384SHA384" "-3 aabbccdd -H 5"
leaf unsigned 4
cp "$tmp/unsigned.zone" "$tmp/unsigned.zone.signed"
leaf nods 5; sign nods.test. nods.zone "-a ECDSAP256SHA256"
leaf bogus 6; sign bogus.test. bogus.zone "-a ED25519"
# a record changed after signing: its signature no longer matches
sed -i 's/^\(www\.bogus\.test\.[[:space:]].*IN[[:space:]]*A[[:space:]]*\)192\.0\.2\.6$/\1192.0.2.66/' "$tmp/bogus.zone.signed"
grep -q '192\.0\.2\.66' "$tmp/bogus.zone.signed" || die "could not tamper with bogus.test"
# nta.test: bogus like bogus.test, but named as a negative trust anchor in trustbox's configuration
leaf nta 12; sign nta.test. nta.zone "-a ED25519"
sed -i 's/^\(www\.nta\.test\.[[:space:]].*IN[[:space:]]*A[[:space:]]*\)192\.0\.2\.12$/\1192.0.2.120/' "$tmp/nta.zone.signed"
grep -q '192\.0\.2\.120' "$tmp/nta.zone.signed" || die "could not tamper with nta.test"
# nokey.test: the parent's DS names a key the zone does not publish (EDE 9)
leaf nokey 13; sign nokey.test. nokey.zone "-a ED25519"
mkdir -p "$tmp/keys-other"
(cd "$tmp/keys-other" && dnssec-keygen -q -a ED25519 -f KSK nokey.test > "$tmp/nokey.ksk") || die "dnssec-keygen nokey"
dnssec-dsfromkey -2 "$tmp/keys-other/$(cat "$tmp/nokey.ksk").key" > "$tmp/keys/dsset-nokey.test." || die "dnssec-dsfromkey"
# nosig.test: www's A RRset lost its signature (EDE 10)
leaf nosig 14; sign nosig.test. nosig.zone "-a ED25519" "-O full"
sed -i '/^www\.nosig\.test\.[[:space:]].*RRSIG[[:space:]]*A /d' "$tmp/nosig.zone.signed"
leaf expired 7; sign expired.test. expired.zone "-a ED25519 -P now-30d -A now-30d" "-s now-864000 -e now-86400"
leaf future 8; sign future.test. future.zone "-a ED25519" "-s now+86400 -e now+864000"
# trap.test: a KeyTrap-style zone (CVE-2023-50387). Ten extra DNSKEYs share the ZSK's key
# tag (two key octets at even offsets swapped keep the checksum), and www's A RRset
# carries twenty signatures with that tag, none valid: without limits that is 220
# signature checks for one RRset.
(cd "$tmp/keys" && dnssec-keygen -q -a ED25519 -f KSK trap.test >/dev/null &&
	dnssec-keygen -q -a ED25519 trap.test > "$tmp/trap.zsk") || die "dnssec-keygen trap.test"
leaf trap 9
python3 - "$tmp/keys/$(cat "$tmp/trap.zsk").key" >> "$tmp/trap.zone" <<'PY'
import base64, sys
f = [l for l in open(sys.argv[1]) if " DNSKEY " in l and not l.startswith(";")][0].split()
i = f.index("DNSKEY")
key = bytearray(base64.b64decode("".join(f[i + 4:])))
for n in range(10):
    k = bytearray(key)
    k[2 * n], k[2 * n + 2] = k[2 * n + 2], k[2 * n]
    print("@ DNSKEY %s %s %s %s" % (f[i + 1], f[i + 2], f[i + 3], base64.b64encode(bytes(k)).decode()))
PY
dnssec-signzone -q -P -S -K "$tmp/keys" -d "$tmp/keys" -O full -o trap.test. -f "$tmp/trap.zone.signed" \
	"$tmp/trap.zone" > /dev/null 2>"$tmp/sign.err" || die "dnssec-signzone trap.test: $(cat "$tmp/sign.err")"
python3 - "$tmp/trap.zone.signed" <<'PY'
import sys
p = sys.argv[1]
lines = open(p).read().splitlines()
out = []
for l in lines:
    f = l.split()
    if len(f) > 5 and f[0] == "www.trap.test." and f[3] == "RRSIG" and f[4] == "A":
        sig = "".join(f[13:])
        for n in range(20):
            c = "A" if sig[n] != "A" else "B"
            out.append(" ".join(f[:13]) + " " + sig[:n] + c + sig[n + 1:])
    else:
        out.append(l)
open(p, "w").write("\n".join(out) + "\n")
PY
[ "$(grep -c '^www\.trap\.test\..*RRSIG[[:space:]]*A ' "$tmp/trap.zone.signed")" = 20 ] || die "trap.test: no forged signatures"

# ---- the TLD test. (127.53.0.2): RSA/SHA-256, NSEC3 with opt-out ----
{
	cat <<'EOF'
@ NS ns
ns A 127.53.0.2
EOF
	for c in ed rsa ec unsigned nods bogus expired future trap nta nokey nosig; do
		printf '%s NS ns.%s\nns.%s A 127.53.0.3\n' "$c" "$c" "$c"
	done
	for c in ed rsa ec bogus expired future trap nta nokey nosig; do ds "$c.test"; done
} | zone test.zone test.
sign test. test.zone "-a RSASHA256 -b 2048" "-3 - -A"

# ---- the root (127.53.0.1): ECDSA P-256, NSEC; also the hints and the anchor ----
lab_signed_root test 127.53.0.2

lab_nsd root 127.53.0.1 .:root.zone.signed
lab_nsd tld 127.53.0.2 test.:test.zone.signed
lab_nsd leaves 127.53.0.3 ed.test.:ed.zone.signed sub.ed.test.:sub.ed.zone.signed plain.ed.test.:plain.ed.zone.signed rsa.test.:rsa.zone.signed ec.test.:ec.zone.signed \
	unsigned.test.:unsigned.zone.signed nods.test.:nods.zone.signed bogus.test.:bogus.zone.signed \
	expired.test.:expired.zone.signed future.test.:future.zone.signed trap.test.:trap.zone.signed \
	nta.test.:nta.zone.signed nokey.test.:nokey.zone.signed nosig.test.:nosig.zone.signed
lab_wait 127.53.0.1 127.53.0.2 127.53.0.3

# delv wants the anchor as named.conf trust-anchors
awk '{ d = ""; for (i = 7; i <= NF; i++) d = d $i; printf "trust-anchors { . static-ds %s %s %s \"%s\"; };\n", $4, $5, $6, d }' \
	"$tmp/anchor" > "$tmp/anchor.conf"

# a bad anchor file is a configuration error naming the option
printf '. 3600 IN A 192.0.2.1\n' > "$tmp/bad-anchor"
printf 'dns { iterate = true, dnssec = "validate", trust_anchor_file = "%s" }\n' "$tmp/bad-anchor" > "$tmp/bad.lua"
expect "an anchor file without DS/DNSKEY: a config error" "$("$TRUSTBOX" config check "$tmp/bad.lua" 2>&1)" \
	'dns\.trust_anchor_file: .*bad-anchor'

printf 'dns { dnssec = "validate" }\n' > "$tmp/fwdonly.lua"
expect_not "validation without iteration: accepted (forwarded answers are validated)" \
	"$("$TRUSTBOX" config check "$tmp/fwdonly.lua" 2>&1)" 'dns\.dnssec'

cat > "$tmp/trustbox.lua" <<EOF
core { data_dir = "$tmp/data", log_level = "info" }
listen { name = "https", address = "127.0.0.1", port = 0, tls = true }
listen { name = "http", address = "127.0.0.1", port = 0, tls = false }
dns {
  listen = { "127.0.0.1:0" },
  iterate = true,
  root_hints = "$tmp/hints",
  dnssec = "validate",
  trust_anchor_file = "$tmp/anchor",
  negative_trust_anchors = { "nta.test" },
  forward_attempt_ms = 500,
  forward_timeout_ms = 3000,
}
EOF
tb_start "$tmp/trustbox.lua" "$tmp/out.log" "$tmp/err.log"
port=$(tb_port 'DNS (udp+tcp)')
D="dig @127.0.0.1 -p $port +time=5 +tries=1"

# ---- Unbound on the same lab, the same anchor ----
uport=$(free_port)
mkdir -p "$tmp/unbound"
cat > "$tmp/unbound/unbound.conf" <<EOF
server:
  interface: 127.0.0.1@$uport
  port: $uport
  do-not-query-localhost: no
  root-hints: "$tmp/hints"
  trust-anchor-file: "$tmp/anchor"
  username: ""
  chroot: ""
  directory: "$tmp/unbound"
  pidfile: "$tmp/unbound/unbound.pid"
  use-syslog: no
  logfile: "$tmp/unbound/unbound.log"
  module-config: "validator iterator"
  ede: yes
  val-log-level: 2
  qname-minimisation: no
  local-zone: "test." nodefault
  so-reuseport: no
remote-control:
  control-enable: no
EOF
unbound -d -c "$tmp/unbound/unbound.conf" > "$tmp/unbound/out.log" 2>&1 &
track $!
show_on_failure "$tmp/unbound/unbound.log" "$tmp/unbound/out.log"
U="dig @127.0.0.1 -p $uport +time=5 +tries=1"
for _ in $(seq 1 100); do
	$U +time=1 . SOA > /dev/null 2>&1 && break
	sleep 0.1
done

# verdict OUT: secure | insecure | bogus | nxdomain-secure ... from dig output
verdict() {
	local st ad=
	st=$(printf '%s\n' "$1" | sed -n 's/.*status: \([A-Z]*\),.*/\1/p' | head -1)
	printf '%s\n' "$1" | grep -q 'flags:[^;]* ad[ ;]' && ad=ad
	echo "$st${ad:+ $ad}"
}

# name type expected-verdict [EDE pattern]
check() {
	local n=$1 t=$2 want=$3 ede=${4:-} out uout
	out=$($D +dnssec "$n" "$t")
	expect "$n $t: $want" "$(verdict "$out")" "^$want\$"
	[ -n "$ede" ] && expect "$n $t: EDE $ede" "$out" "EDE: $ede"
	uout=$($U +dnssec "$n" "$t")
	expect "$n $t: Unbound agrees ($want)" "$(verdict "$uout")" "^$want\$"
}
check www.ed.test. A "NOERROR ad"
check www.rsa.test. A "NOERROR ad"
check www.sub.ed.test. A "NOERROR ad"
check www.ec.test. A "NOERROR ad"
check www.unsigned.test. A "NOERROR"
check www.nods.test. A "NOERROR"
check www.plain.ed.test. A "NOERROR"
check www.plain.ed.test. AAAA "NOERROR"
check nope.plain.ed.test. A "NXDOMAIN"
check www.bogus.test. A "SERVFAIL" "6 \\(DNSSEC Bogus\\)"
check www.expired.test. A "SERVFAIL" "7 \\(Signature Expired\\)"
check www.nokey.test. A "SERVFAIL" "9 \\(DNSKEY Missing\\)"
check www.nosig.test. A "SERVFAIL" "10 \\(RRSIGs Missing\\)"
out=$($D +dnssec www.nta.test. A)
expect "nta.test (bogus) is a negative trust anchor: answered without AD" "$(verdict "$out")" '^NOERROR$'
expect "nta.test under a negative trust anchor: the data" "$out" '192\.0\.2\.120'
expect "www.nta.test. A: Unbound (no NTA) says SERVFAIL" "$(verdict "$($U +dnssec www.nta.test. A)")" '^SERVFAIL$'
check www.future.test. A "SERVFAIL" "8 \\(Signature Not Yet Valid\\)"
check nope.ed.test. A "NXDOMAIN ad"
check nope.ec.test. A "NXDOMAIN ad"
check host.ed.test. AAAA "NOERROR ad"
check host.ec.test. AAAA "NOERROR ad"
check a.b.wild.ed.test. A "NOERROR ad"
check x.wild.ec.test. A "NOERROR ad"
check nope.unsigned.test. A "NXDOMAIN"
# test. uses NSEC3 opt-out: an NXDOMAIN under an opt-out span is not provably secure (RFC 5155 9.2)
check nope.test. A "NXDOMAIN"
check ed.test. DNSKEY "NOERROR ad"
check ed.test. DS "NOERROR ad"
check unsigned.test. DS "NOERROR"
check www.ed.test. DS "NOERROR ad"
check test. SOA "NOERROR ad"
# RFC 8198: the validated NSEC records of nope.ed.test's NXDOMAIN (host -> ns, and the one
# covering *.ed.test) prove nope2.ed.test absent too: answered from the cache, with AD
nsec_answers() { curl -sS "http://127.0.0.1:$(tb_port 'HTTP listener')/metrics" | awk '$1 == "tb_dns_cache_nsec_answers_total" {print $2}'; }
a0=$(nsec_answers)
out=$($D +dnssec nope2.ed.test. A)
expect "aggressive NSEC: nope2.ed.test NXDOMAIN with AD" "$(verdict "$out")" '^NXDOMAIN ad$'
expect "aggressive NSEC: the proof is the cached NSEC" "$out" 'host\.ed\.test\..*NSEC[[:space:]]+ns\.ed\.test\.'
expect "aggressive NSEC: synthesized, not asked upstream" "$(($(nsec_answers) - ${a0:-0}))" '^1$'
out=$($D +dnssec zzz.ed.test. A)
expect "aggressive NSEC: a name no cached NSEC covers is asked (NXDOMAIN ad)" "$(verdict "$out")" '^NXDOMAIN ad$'
expect "aggressive NSEC: not synthesized" "$(($(nsec_answers) - ${a0:-0}))" '^1$'
# NODATA too: host.ed.test AAAA's NODATA (checked above) carries host's NSEC, whose bitmap
# (A TXT RRSIG NSEC) proves there is no MX; TXT is in the bitmap, so it is asked
out=$($D +dnssec host.ed.test. MX)
expect "aggressive NSEC: host.ed.test MX NODATA with AD" "$(verdict "$out")" '^NOERROR ad$'
expect "aggressive NSEC: NODATA has no answer" "$out" 'ANSWER: 0,'
expect "aggressive NSEC: the NODATA proof is host's NSEC" "$out" 'host\.ed\.test\..*NSEC[[:space:]]+ns\.ed\.test\. A TXT RRSIG NSEC'
expect "aggressive NSEC: NODATA synthesized, not asked upstream" "$(($(nsec_answers) - ${a0:-0}))" '^2$'
out=$($D +dnssec host.ed.test. TXT)
expect "aggressive NSEC: a type in the bitmap is asked and answered" "$out" 'host\.ed\.test\..*TXT[[:space:]]+"ed"'
expect "aggressive NSEC: TXT not synthesized" "$(($(nsec_answers) - ${a0:-0}))" '^2$'
# NSEC3 (ec.test): host.ec.test AAAA's NODATA carries host's NSEC3, which proves no MX
out=$($D +dnssec host.ec.test. MX)
expect "aggressive NSEC3: host.ec.test MX NODATA with AD" "$(verdict "$out")" '^NOERROR ad$'
expect "aggressive NSEC3: NODATA synthesized" "$(($(nsec_answers) - ${a0:-0}))" '^3$'

out=$($D +dnssec www.ed.test. A)
expect "DO: the answer carries its RRSIG" "$out" 'www\.ed\.test\..*RRSIG[[:space:]]+A 15 3 '
out=$($D +noadflag www.ed.test. A)
expect_not "no DO, no AD asked: no AD" "$(verdict "$out")" 'ad'
expect_not "no DO: no RRSIG" "$out" 'RRSIG'
expect "AD asked without DO: AD" "$(verdict "$($D +adflag www.ed.test. A)")" '^NOERROR ad$'
out=$($D +dnssec +cd www.bogus.test. A)
expect "CD: bogus data returned unchecked" "$out" '192\.0\.2\.66'
expect_not "CD: no AD on unchecked data" "$(verdict "$out")" 'ad'
expect "after CD, bogus still SERVFAIL (not cached)" "$(verdict "$($D +dnssec www.bogus.test. A)")" '^SERVFAIL$'
expect "secure answer from the cache keeps AD" "$(verdict "$($D +dnssec www.ed.test. A)")" '^NOERROR ad$'

# KeyTrap: the per-RRset and key-tag limits stop the work; the process stays responsive
out=$($D +dnssec www.trap.test. A)
expect "KeyTrap zone: SERVFAIL" "$(verdict "$out")" '^SERVFAIL$'
expect "KeyTrap zone: EDE 6 naming the limit" "$out" 'EDE: 6 \(DNSSEC Bogus\).*limit'
expect "KeyTrap zone: Unbound says bogus too" "$(verdict "$($U +dnssec www.trap.test. A)")" '^SERVFAIL$'
start=$(date +%s%N)
pids=()
for i in $(seq 1 40); do
	$D +dnssec www.trap.test. A > /dev/null 2>&1 &
	pids+=($!)
done
answered=0
for i in $(seq 1 40); do
	$D +short "h$i.wild.ed.test." A | grep -q '^192\.0\.2\.99$' && answered=$((answered + 1))
done
wait "${pids[@]}"
ms=$((($(date +%s%N) - start) / 1000000))
echo "KeyTrap: 40 trap queries in parallel with 40 fresh validated queries: $answered answered, $ms ms"
expect "KeyTrap: fresh validated queries answered meanwhile ($answered of 40 in $ms ms)" "$answered" '^40$'

# delv validates on its own through trustbox, with the same anchor
D2="delv @127.0.0.1 -p $port -a $tmp/anchor.conf +root=."
for n in www.ed.test www.rsa.test www.ec.test; do
	expect "delv: $n fully validated" "$($D2 "$n" A 2>&1)" '; fully validated'
done
expect "delv: www.unsigned.test unsigned" "$($D2 www.unsigned.test A 2>&1)" '; unsigned answer'
expect "delv: nope.ec.test negative, validated" "$($D2 nope.ec.test A 2>&1)" '; fully validated|resolution failed: ncache nxdomain|NXDOMAIN'
expect_not "delv: www.bogus.test not validated" "$($D2 www.bogus.test A 2>&1)" '; fully validated'

# the validations counted by result
hp=$(tb_port 'HTTP listener')
m=$(curl -sS "http://127.0.0.1:$hp/metrics")
expect "metrics: secure validations counted" "$m" '^tb_dns_dnssec_validations_total\{result="secure"\} [1-9]'
expect "metrics: bogus validations counted" "$m" '^tb_dns_dnssec_validations_total\{result="bogus"\} [1-9]'
expect "metrics: insecure validations counted" "$m" '^tb_dns_dnssec_validations_total\{result="insecure"\} [1-9]'
# kept zone cuts (deleg.c): a new name under a zone met before is asked of that zone's servers
# at once, the chain of trust starting at the verdict kept for the zone; the verdicts stay
starts() { curl -sS "http://127.0.0.1:$hp/metrics" | awk '$1 == "tb_dns_deleg_starts_total" {print $2}'; }
s0=$(starts)
expect "kept cut: ns.rsa.test. A secure (AD)" "$(verdict "$($D +dnssec ns.rsa.test. A)")" '^NOERROR ad$'
expect "kept cut: host.unsigned.test. A insecure (no AD)" "$(verdict "$($D +dnssec host.unsigned.test. A)")" '^NOERROR$'
out=$($D +dnssec host.nta.test. A)
expect "kept cut: host.nta.test. A under the negative trust anchor: answered, no AD" "$(verdict "$out")" '^NOERROR$'
out=$($D +dnssec host.nokey.test. A)
expect "kept cut: host.nokey.test. A still bogus (no verdict is kept for it)" "$(verdict "$out")" '^SERVFAIL$'
expect "kept cut: host.nokey.test. A: EDE 9" "$out" 'EDE: 9 '
expect "kept cut: the first three started below the root ($s0 -> $(starts))" "$(($(starts) - ${s0:-0}))" '^[3-9]'
# the admin API's resolve reports the same verdicts
for nv in www.ed.test:secure www.unsigned.test:insecure www.bogus.test:bogus; do
	r=$(curl -sS "http://127.0.0.1:$hp/api/v1/dns/resolve?name=${nv%%:*}&type=A")
	expect "admin resolve: ${nv%%:*} is ${nv#*:}" "$r" "\"dnssec\":\"${nv#*:}\""
done

rc=0
tb_stop || rc=$?
expect "clean exit" "$rc" '^0$'

# without QNAME minimisation the unsigned child on its parent's server shows itself only
# by the NS RRset in the authority section of its answers: still insecure, not bogus
sed -i 's/^  iterate = true,/  iterate = true,\n  iterate_qname_minimisation = false,/' "$tmp/trustbox.lua"
tb_start "$tmp/trustbox.lua" "$tmp/out.log" "$tmp/err.log"
port=$(tb_port 'DNS (udp+tcp)')
D="dig @127.0.0.1 -p $port +time=5 +tries=1"
expect "no QNAME minimisation: www.plain.ed.test. A: NOERROR" "$(verdict "$($D +dnssec www.plain.ed.test. A)")" '^NOERROR$'
expect "no QNAME minimisation: www.ed.test. A: NOERROR ad" "$(verdict "$($D +dnssec www.ed.test. A)")" '^NOERROR ad$'
rc=0
tb_stop || rc=$?
expect "clean exit" "$rc" '^0$'

# ---- forwarded answers validated the same way: trustbox forwarding everything to Unbound ----
# (asked with DO and CD, so Unbound's own verdict is not taken; DS and DNSKEY lookups go the same way)
cat > "$tmp/forward.lua" <<EOF
core { data_dir = "$tmp/data", log_level = "info" }
listen { name = "https", address = "127.0.0.1", port = 0, tls = true }
listen { name = "http", address = "127.0.0.1", port = 0, tls = false }
dns {
  listen = { "127.0.0.1:0" },
  forwarders = { { zone = ".", servers = { "127.0.0.1:$uport" } } },
  iterate = false,
  dnssec = "validate",
  trust_anchor_file = "$tmp/anchor",
  forward_attempt_ms = 1000,
  forward_timeout_ms = 4000,
}
EOF
tb_start "$tmp/forward.lua" "$tmp/out.log" "$tmp/err.log"
port=$(tb_port 'DNS (udp+tcp)')
D="dig @127.0.0.1 -p $port +time=5 +tries=1"
fcheck() { # name type expected-verdict [EDE pattern]
	local out
	out=$($D +dnssec "$1" "$2")
	expect "forwarded: $1 $2: $3" "$(verdict "$out")" "^$3\$"
	[ -n "${4:-}" ] && expect "forwarded: $1 $2: EDE $4" "$out" "EDE: $4"
}
fcheck www.ed.test. A "NOERROR ad"
fcheck www.rsa.test. A "NOERROR ad"
fcheck www.sub.ed.test. A "NOERROR ad"
fcheck www.ec.test. A "NOERROR ad"
fcheck www.unsigned.test. A "NOERROR"
fcheck www.nods.test. A "NOERROR"
fcheck www.bogus.test. A "SERVFAIL" "6 \\(DNSSEC Bogus\\)"
fcheck www.expired.test. A "SERVFAIL" "7 \\(Signature Expired\\)"
fcheck www.nokey.test. A "SERVFAIL" "9 \\(DNSKEY Missing\\)"
fcheck www.nosig.test. A "SERVFAIL" "10 \\(RRSIGs Missing\\)"
fcheck nope.ed.test. A "NXDOMAIN ad"
fcheck nope.ec.test. A "NXDOMAIN ad"
fcheck a.b.wild.ed.test. A "NOERROR ad"
fcheck nope.unsigned.test. A "NXDOMAIN"
fcheck ed.test. DNSKEY "NOERROR ad"
# RFC 8198: the validated NSEC records of nope.ed.test's NXDOMAIN (host -> ns, and the one
# covering *.ed.test) prove nope2.ed.test absent too: answered from the cache, with AD
nsec_answers() { curl -sS "http://127.0.0.1:$(tb_port 'HTTP listener')/metrics" | awk '$1 == "tb_dns_cache_nsec_answers_total" {print $2}'; }
a0=$(nsec_answers)
out=$($D +dnssec nope2.ed.test. A)
expect "forwarded, aggressive NSEC: nope2.ed.test NXDOMAIN with AD" "$(verdict "$out")" '^NXDOMAIN ad$'
expect "forwarded, aggressive NSEC: the proof is the cached NSEC" "$out" 'host\.ed\.test\..*NSEC[[:space:]]+ns\.ed\.test\.'
expect "forwarded, aggressive NSEC: synthesized, not asked upstream" "$(($(nsec_answers) - ${a0:-0}))" '^1$'
out=$($D +dnssec zzz.ed.test. A)
expect "forwarded, aggressive NSEC: a name no cached NSEC covers is asked (NXDOMAIN ad)" "$(verdict "$out")" '^NXDOMAIN ad$'
expect "forwarded, aggressive NSEC: not synthesized" "$(($(nsec_answers) - ${a0:-0}))" '^1$'
out=$($D +dnssec +cd www.bogus.test. A)
expect "forwarded, CD: bogus data returned unchecked" "$out" '192\.0\.2\.66'
expect_not "forwarded, CD: no AD" "$(verdict "$out")" 'ad'
expect "forwarded: bogus still SERVFAIL after CD (not cached)" "$(verdict "$($D +dnssec www.bogus.test. A)")" '^SERVFAIL$'
expect "forwarded: a secure answer from the cache keeps AD" "$(verdict "$($D +dnssec www.ed.test. A)")" '^NOERROR ad$'
rc=0
tb_stop || rc=$?
expect "clean exit (forwarding)" "$rc" '^0$'
finish
