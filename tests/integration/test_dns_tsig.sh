#!/usr/bin/env bash
# Dynamic update permissions and replay protection with real clients (nsupdate,
# dig) and hand-signed messages:
# - TSIG keys are scoped to their `zones`: the lab key may update lab.test only,
#   a configured key only its own zones (REFUSED elsewhere, RFC 2136 3.3);
# - without lab.test served there is no lab key (not generated, not loaded);
# - dns.allow_update is its own ACL (queries still answered where updates are not);
# - a key listing no zone, or a zone not served, is a configuration error;
# - a signed update replayed after a restart, or with its MAC truncated, is
#   refused (NOTAUTH, BADTIME) and not applied again;
# - value-dependent prerequisites compare RRsets as sets (RFC 2136 3.2.3).
set -u
. "$(dirname "$0")/lib.sh"
need nsupdate bind9-dnsutils
need dig bind9-dnsutils
need python3
tmp=$TB_WORK
pass() { ok "$@"; }

CI_SECRET="c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0IQ=="
CI_KEY="hmac-sha256:ci-key:$CI_SECRET"
LAB_ZONE='{ name = "lab.test", records = { "@ SOA ns hostmaster 1 3600 600 86400 60", "@ NS ns", "ns A 127.0.0.1", "two A 1.1.1.1", "two A 2.2.2.2" } }'
CORP_ZONE='{ name = "corp.test", records = { "@ SOA ns hostmaster 1 3600 600 86400 60", "@ NS ns", "ns A 127.0.0.1" } }'
write_config() { # ZONES ALLOW_UPDATE
	cat > "$tmp/trustbox.lua" <<EOF
core { data_dir = "$tmp/data", log_level = "warn" }
listen { name = "https", address = "127.0.0.1", port = 0, tls = true }
listen { name = "http", address = "127.0.0.1", port = 0, tls = false }
dns {
  listen = { "127.0.0.1:0" },
  iterate = false,
  allow_update = { $2 },
  zones = { $1 },
  tsig_keys = { { name = "ci-key", secret = "$CI_SECRET", zones = { "corp.test" } } },
}
EOF
}

start() {
	tb_start "$tmp/trustbox.lua" "$tmp/out.log" "$tmp/err.log"
	port=$(tb_port 'DNS (udp+tcp)')
}
stop() {
	local rc=0
	tb_stop || rc=$?
	expect "clean exit" "$rc" '^0$'
}
upd() { # KEY ZONE [local ADDR] COMMANDS...
	local key=$1 zone=$2; shift 2
	{ echo "server 127.0.0.1 $port"; echo "zone $zone"; printf '%s\n' "$@"; echo send; } |
		nsupdate -y "$key" 2>&1
	echo "rc=$?"
}
q() { dig @127.0.0.1 -p "$port" +short +time=2 +tries=1 "$@"; }

# --- configuration errors name the option ---
cat > "$tmp/bad1.lua" <<EOF
core { data_dir = "$tmp/bad" }
dns { zones = { $CORP_ZONE }, tsig_keys = { { name = "k", secret = "$CI_SECRET" } } }
EOF
expect "a key without zones is a config error" "$("$TRUSTBOX" config check "$tmp/bad1.lua" 2>&1)" 'tsig_keys\[1\]\.zones'
cat > "$tmp/bad2.lua" <<EOF
core { data_dir = "$tmp/bad" }
dns { zones = { $CORP_ZONE }, tsig_keys = { { name = "k", secret = "$CI_SECRET", zones = { "corp.test", "lab.test" } } } }
EOF
expect "a key for a zone not served is a config error" "$("$TRUSTBOX" config check "$tmp/bad2.lua" 2>&1)" 'tsig_keys\[1\]\.zones\[2\]: "lab\.test" is not a local zone'

# --- both zones served: each key updates its own zone only ---
write_config "$LAB_ZONE, $CORP_ZONE" '"127.0.0.1/32"'
start
LAB_KEY=$(cat "$tmp/data/lab.test.tsig")
expect "lab key written while lab.test is served" "$LAB_KEY" '^hmac-sha256:lab\.test:'
expect "lab key: update of lab.test" "$(upd "$LAB_KEY" lab.test 'update add ok.lab.test 60 TXT "lab"')" 'rc=0'
expect "lab key: update of corp.test REFUSED" "$(upd "$LAB_KEY" corp.test 'update add www.corp.test 60 A 192.0.2.66')" 'REFUSED'
expect "lab key: corp.test unchanged" "$(q www.corp.test A)" '^$'
expect "ci-key: update of lab.test REFUSED" "$(upd "$CI_KEY" lab.test 'update add ci.lab.test 60 TXT "ci"')" 'REFUSED'
expect "ci-key: lab.test unchanged" "$(q ci.lab.test TXT)" '^$'
expect "ci-key: update of corp.test" "$(upd "$CI_KEY" corp.test 'update add www.corp.test 60 A 192.0.2.80')" 'rc=0'
expect "ci-key: corp.test changed" "$(q www.corp.test A)" '^192\.0\.2\.80$'

# --- allow_update is its own ACL: 127.0.0.2 may query but not update ---
expect "query from outside allow_update is answered" "$(dig @127.0.0.1 -p "$port" -b 127.0.0.2 +short +time=2 +tries=1 www.corp.test A)" '^192\.0\.2\.80$'
expect "update from outside allow_update is REFUSED" "$(upd "$CI_KEY" corp.test 'local 127.0.0.2' 'update add acl.corp.test 60 A 192.0.2.9')" 'REFUSED'
expect "the refused update changed nothing" "$(q acl.corp.test A)" '^$'

# --- RFC 2136 3.2.3: prerequisite RRsets compared as sets ---
# two.lab.test A {1.1.1.1, 2.2.2.2}
expect "prerequisite {1.1.1.1}: NXRRSET" "$(upd "$LAB_KEY" lab.test 'prereq yxrrset two.lab.test A 1.1.1.1' 'update add p1.lab.test 60 TXT "p"')" 'NXRRSET'
expect "prerequisite {1.1.1.1, 1.1.1.1}: NXRRSET" "$(upd "$LAB_KEY" lab.test 'prereq yxrrset two.lab.test A 1.1.1.1' 'prereq yxrrset two.lab.test A 1.1.1.1' 'update add p2.lab.test 60 TXT "p"')" 'NXRRSET'
expect "the failed prerequisite changed nothing" "$(q p2.lab.test TXT)" '^$'
expect "prerequisite {2.2.2.2, 1.1.1.1, 2.2.2.2}: applied" "$(upd "$LAB_KEY" lab.test 'prereq yxrrset two.lab.test A 2.2.2.2' 'prereq yxrrset two.lab.test A 1.1.1.1' 'prereq yxrrset two.lab.test A 2.2.2.2' 'update add p3.lab.test 60 TXT "p"')" 'rc=0'
expect "the set prerequisite held" "$(q p3.lab.test TXT)" '^"p"$'

# --- replays: a captured update, its MAC truncated, and after a restart ---
# signed.py PORT SECRET OUT: writes a signed update (add replay.corp.test TXT) to OUT
# send.py PORT FILE [MACLEN]: sends it (MAC cut to MACLEN) over TCP, prints rcode and TSIG error
cat > "$tmp/sign.py" <<'EOF'
import base64, hashlib, hmac, struct, sys, time
secret, out = base64.b64decode(sys.argv[1]), sys.argv[2]
def wire(n):
    return b"".join(bytes([len(l)]) + l.encode() for l in n.rstrip(".").split(".")) + b"\x00"
zone, key, alg = wire("corp.test"), wire("ci-key"), wire("hmac-sha256")
rdata = b"\x06replay"
msg = struct.pack(">HHHHHH", 0x4242, 5 << 11, 1, 0, 1, 0) + zone + struct.pack(">HH", 6, 1)
msg += wire("replay.corp.test") + struct.pack(">HHIH", 16, 1, 60, len(rdata)) + rdata
now = int(time.time())
tvars = key + struct.pack(">HI", 255, 0) + alg + struct.pack(">HIH", now >> 32, now & 0xffffffff, 300) + struct.pack(">HH", 0, 0)
mac = hmac.new(secret, msg + tvars, hashlib.sha256).digest()
open(out, "wb").write(msg[:10] + struct.pack(">H", 1) + msg[12:] + key + alg + struct.pack(">HIH", now >> 32, now & 0xffffffff, 300) + mac)
EOF
cat > "$tmp/send.py" <<'EOF'
import socket, struct, sys
port, data = int(sys.argv[1]), open(sys.argv[2], "rb").read()
maclen = int(sys.argv[3]) if len(sys.argv) > 3 else 32
def wire(n):
    return b"".join(bytes([len(l)]) + l.encode() for l in n.rstrip(".").split(".")) + b"\x00"
key, alg = wire("ci-key"), wire("hmac-sha256")
# data = message + key name + alg + time/fudge (8) + full MAC (32): build the TSIG record
msg_end = len(data) - 32 - 8 - len(alg) - len(key)
msg, mac, tf = data[:msg_end], data[-32:][:maclen], data[-40:-32]
trd = alg + tf + struct.pack(">H", maclen) + mac + struct.pack(">HHH", 0x4242, 0, 0)
wmsg = msg + key + struct.pack(">HHIH", 250, 255, 0, len(trd)) + trd
s = socket.create_connection(("127.0.0.1", port), timeout=3)
s.sendall(struct.pack(">H", len(wmsg)) + wmsg)
def rd(n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise SystemExit("closed")
        b += c
    return b
r = rd(struct.unpack(">H", rd(2))[0])
err = -1
i = r.rfind(key + struct.pack(">HH", 250, 255))
if i > 0:
    o = i + len(key) + 10 + len(alg) + 8
    ml = struct.unpack(">H", r[o:o + 2])[0]
    o += 2 + ml + 2
    err = struct.unpack(">H", r[o:o + 2])[0]
print("rcode=%d tsig=%d" % (r[3] & 15, err))
EOF
python3 "$tmp/sign.py" "$CI_SECRET" "$tmp/captured"
expect "the captured update is applied once" "$(python3 "$tmp/send.py" "$port" "$tmp/captured")" '^rcode=0 tsig=0$'
expect "its record is there" "$(q replay.corp.test TXT)" '^"replay"$'
expect "its owner deletes the record" "$(upd "$CI_KEY" corp.test 'update delete replay.corp.test TXT')" 'rc=0'
trunc=$(for l in 31 24 16; do python3 "$tmp/send.py" "$port" "$tmp/captured" $l; done | sort -u | tr '\n' ' ')
expect "replayed with the MAC truncated to 31, 24, 16 octets: BADTIME" "$trunc" '^rcode=9 tsig=18 $'
expect "below 16 octets: FORMERR" "$(python3 "$tmp/send.py" "$port" "$tmp/captured" 12)" '^rcode=1 '
expect "the truncated replays changed nothing" "$(q replay.corp.test TXT)" '^$'
upd "$CI_KEY" corp.test 'update delete replay.corp.test TXT' >/dev/null # so the restart check stands alone
stop
start
expect "after a restart the replay is still refused (BADTIME)" "$(python3 "$tmp/send.py" "$port" "$tmp/captured")" '^rcode=9 tsig=18$'
expect "after a restart the replay changed nothing" "$(q replay.corp.test TXT)" '^$'
expect "updates survived the restart" "$(q www.corp.test A)" '^192\.0\.2\.80$'
stop

# --- lab.test not served: no lab key, neither generated nor loaded ---
write_config "$CORP_ZONE" '"127.0.0.0/8"'
rm -f "$tmp/data/lab.test.tsig"
start
if [ -e "$tmp/data/lab.test.tsig" ]; then fail "lab.test.tsig written although lab.test is not served"
else pass "no lab key file without lab.test"; fi
expect "the stored lab key is not loaded (BADKEY)" "$(upd "$LAB_KEY" corp.test 'update add lab.corp.test 60 A 192.0.2.7')" 'NOTAUTH\(BADKEY\)'
expect "corp.test unchanged by the lab key" "$(q lab.corp.test A)" '^$'
stop
out=$("$TRUSTBOX" dns tsig-key -c "$tmp/trustbox.lua" 2>&1); rc=$?
expect "dns tsig-key refuses without lab.test" "rc=$rc $out" '^rc=1 .*lab\.test is not served'

finish
