#!/usr/bin/env bash
# DNS over HTTPS (RFC 8484) at /dns-query on the HTTPS listener: kdig +https
# (HTTP/2, POST and GET) gets the lab zone's answers, NXDOMAIN, and a
# forwarded query's late SERVFAIL; curl over HTTP/1.1 POSTs and GETs wire
# messages (Content-Type application/dns-message, Cache-Control max-age = the
# smallest TTL); what is not a DNS message is an HTTP error (400, 415, 413);
# the answer is the same as over UDP; doh_path moves the route, "" removes it.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need curl
need kdig knot-dnsutils
need dig bind9-dnsutils
need python3
W=$TB_WORK

kdig +https=/x 2>&1 | grep -qi "unknown\|invalid" && skip "this kdig has no DNS over HTTPS"

P=$(free_port); D=$(free_port); DEAD=$(free_port)
cat > t.lua <<EOF
core { data_dir = "$W/data", log_level = "info" }
listen { name = "https", address = "127.0.0.1", port = $P, tls = true }
dns { listen = { "127.0.0.1:$D" }, iterate = false, dnssec = "off", forward_timeout_ms = 300, forward_attempt_ms = 100,
	forwarders = { { zone = "fwd.example", servers = { "127.0.0.1:$DEAD" } } },
	zones = { { name = "lab.test", file = "$W/lab.zone" } } }
if dap then dap { enabled = false } end
EOF
cat > lab.zone <<'EOF'
$ORIGIN lab.test.
@    3600 IN SOA ns.lab.test. hostmaster.lab.test. 1 3600 600 86400 60
@    3600 IN NS  ns.lab.test.
ns    300 IN A   127.0.0.1
www   120 IN A   127.0.0.1
www    90 IN AAAA ::1
big   300 IN TXT "one"
EOF
for i in $(seq 1 60); do echo "big 300 IN TXT \"record $i padding-padding-padding-padding-padding-padding\"" >> lab.zone; done
tb_start t.lua
"$TRUSTBOX" root -c t.lua > root.pem || die "trustbox root"
K=(kdig @127.0.0.1 -p "$P" +tls-ca=root.pem +tls-hostname=localhost)

# --- kdig over HTTP/2 ---
out=$("${K[@]}" +https www.lab.test A 2>&1) || fail "kdig +https"
expect "kdig +https POST over HTTP/2" "$out" 'HTTP/2-POST.*status: 200'
expect "answer over DoH" "$out" 'www\.lab\.test\.[[:space:]]+120[[:space:]]+IN[[:space:]]+A[[:space:]]+127\.0\.0\.1'
out=$("${K[@]}" +https-get www.lab.test AAAA 2>&1) || fail "kdig +https-get"
expect "kdig +https GET over HTTP/2" "$out" 'HTTP/2-GET.*status: 200'
expect "AAAA over DoH GET" "$out" 'IN[[:space:]]+AAAA[[:space:]]+::1'
out=$("${K[@]}" +https no.such.lab.test A 2>&1) || fail "kdig +https nxdomain"
expect "NXDOMAIN over DoH" "$out" 'status: NXDOMAIN'
expect "SOA in the negative answer" "$out" 'lab\.test\..*SOA'
# an answer larger than 512 and 1232 octets is never truncated over DoH
out=$("${K[@]}" +https +bufsize=512 big.lab.test TXT 2>&1) || fail "kdig big"
n=$(printf '%s\n' "$out" | grep -Ec '^big\.lab\.test\..*TXT' || true)
[ "$n" = 61 ] && ok "61 TXT records, no truncation" || fail "big TXT over DoH: $n records"
expect_not "no TC over DoH" "$out" 'Flags:.* tc'
# a forwarded query answered later (dead upstream: SERVFAIL after the timeout)
t0=$(date +%s%N)
out=$("${K[@]}" +https www.fwd.example A 2>&1) || fail "kdig fwd"
t1=$(date +%s%N)
expect "late SERVFAIL through DoH" "$out" 'status: SERVFAIL'
[ $(( (t1 - t0) / 1000000 )) -lt 3000 ] && ok "late answer within the forward timeout" || fail "late answer took too long"
# same answer as over UDP
a1=$(dig +short @127.0.0.1 -p "$D" www.lab.test A)
a2=$("${K[@]}" +https +short www.lab.test A 2>/dev/null | grep -v '^;')
[ "$a1" = "$a2" ] && ok "DoH answer = UDP answer" || fail "DoH '$a2' vs UDP '$a1'"

# --- curl over HTTP/1.1: raw wire messages ---
python3 - <<'EOF'
import struct, base64
def q(name, qtype, qid=0, flags=0x0100):
    m = struct.pack(">HHHHHH", qid, flags, 1, 0, 0, 0)
    for l in name.split("."):
        m += bytes([len(l)]) + l.encode()
    return m + b"\0" + struct.pack(">HH", qtype, 1)
open("q.bin", "wb").write(q("www.lab.test", 1))
open("q.b64", "w").write(base64.urlsafe_b64encode(q("www.lab.test", 28)).decode().rstrip("="))
open("resp.bin", "wb").write(q("www.lab.test", 1, flags=0x8100))
open("short.bin", "wb").write(b"\0\1\0\0\0")
open("huge.bin", "wb").write(b"\0" * 70000)
EOF
C=(curl -sS --http1.1 --cacert root.pem)
U=https://localhost:$P/dns-query
v=$("${C[@]}" -D h1.txt -o a1.bin -w '%{http_version} %{http_code}' -H 'Content-Type: application/dns-message' \
	--data-binary @q.bin "$U") || fail "curl POST"
[ "$v" = "1.1 200" ] && ok "POST over HTTP/1.1" || fail "POST over HTTP/1.1: $v"
expect "media type" "$(cat h1.txt)" '^[Cc]ontent-[Tt]ype: application/dns-message'
expect "max-age = smallest TTL" "$(cat h1.txt)" '^[Cc]ache-[Cc]ontrol: max-age=120'
python3 - <<'EOF' || fail "POST answer does not parse"
import struct
d = open("a1.bin", "rb").read()
qid, fl, qd, an = struct.unpack(">HHHH", d[:8])
assert fl & 0x8000 and (fl & 0xf) == 0 and qd == 1 and an == 1, (fl, qd, an)
assert d[-4:] == bytes([127, 0, 0, 1]), d[-4:]
EOF
v=$("${C[@]}" -D h2.txt -o a2.bin -w '%{http_code}' "$U?dns=$(cat q.b64)") || fail "curl GET"
[ "$v" = 200 ] && ok "GET ?dns= over HTTP/1.1" || fail "GET: $v"
expect "GET max-age = AAAA TTL" "$(cat h2.txt)" '^[Cc]ache-[Cc]ontrol: max-age=90'

# --- what is not a DNS message ---
code() { "${C[@]}" -o /dev/null -w '%{http_code}' "$@" || true; }
[ "$(code "$U")" = 400 ] && ok "GET without dns: 400" || fail "GET without dns"
[ "$(code "$U?dns=AAAA=")" = 400 ] && ok "padded base64: 400" || fail "padded base64"
[ "$(code "$U?dns=%2F%2F%2F")" = 400 ] && ok "not base64url: 400" || fail "not base64url"
[ "$(code -H 'Content-Type: text/plain' --data-binary @q.bin "$U")" = 415 ] && ok "text/plain: 415" || fail "text/plain"
[ "$(code --data-binary @q.bin "$U")" = 415 ] && ok "form type: 415" || fail "form type"
[ "$(code -H 'Content-Type: application/dns-message' --data-binary @short.bin "$U")" = 400 ] &&
	ok "5-octet message: 400" || fail "short message"
[ "$(code -H 'Content-Type: application/dns-message' --data-binary @resp.bin "$U")" = 400 ] &&
	ok "a response sent as a query: 400" || fail "response as query"
[ "$(code -H 'Content-Type: application/dns-message' --data-binary @huge.bin "$U")" = 413 ] &&
	ok "70000-octet body: 413" || fail "huge body"
[ "$(code -X PUT -H 'Content-Type: application/dns-message' --data-binary @q.bin "$U")" = 405 ] &&
	ok "PUT: 405" || fail "PUT"
# the server still answers after all that
out=$("${K[@]}" +https www.lab.test A 2>&1) || fail "kdig after errors"
expect "still answering" "$out" 'status: NOERROR'
# --- metrics: DoH is its own transport, answers given later included ---
m=$(curl -sS --cacert root.pem "https://localhost:$P/metrics")
expect "DoH queries counted" "$m" '^tb_dns_queries_total\{transport="doh",qtype="A"\} [1-9]'
expect "the late SERVFAIL counted under doh" "$m" '^tb_dns_responses_total\{transport="doh",rcode="SERVFAIL"\} [1-9]'
tb_stop || fail "trustbox exit status"

# --- doh_path moves the route; "" removes it ---
sed -i 's|forward_timeout_ms = 300,|forward_timeout_ms = 300, doh_path = "/q",|' t.lua
tb_start t.lua
[ "$(code -H 'Content-Type: application/dns-message' --data-binary @q.bin "https://localhost:$P/q")" = 200 ] &&
	ok "doh_path=/q serves" || fail "doh_path=/q"
[ "$(code -H 'Content-Type: application/dns-message' --data-binary @q.bin "$U")" = 404 ] &&
	ok "/dns-query gone when moved" || fail "/dns-query still served"
tb_stop || fail "trustbox exit status"
sed -i 's|doh_path = "/q",|doh_path = "",|' t.lua
tb_start t.lua
[ "$(code -H 'Content-Type: application/dns-message' --data-binary @q.bin "https://localhost:$P/q")" = 404 ] &&
	ok "doh_path=\"\" serves none" || fail "doh_path empty"
tb_stop || fail "trustbox exit status"
sed -i 's|doh_path = "",|doh_path = "/bad/",|' t.lua
if "$TRUSTBOX" config check t.lua > chk.out 2>&1; then fail "trailing slash accepted"; else
	expect "bad doh_path named" "$(cat chk.out)" 'dns\.doh_path'; fi
finish
