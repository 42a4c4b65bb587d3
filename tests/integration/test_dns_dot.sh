#!/usr/bin/env bash
# DNS over TLS (RFC 7858), inside a private network namespace the script creates
# (the lab's NSD servers bind port 53 on 127.53.0.x, and the default
# configuration's fixed ports are ours there). kdig +tls, trusting only
# trustbox's root (`trustbox root`) and checking the name localhost, gets
# answers from the lab.test zone and from the resolver (iterating through an
# NSD root and child), and several queries over one kept-open connection.
# openssl s_client negotiates ALPN "dot" and verifies the chain. A Python
# client pipelines an iterated query and a local one in one write and gets the
# local answer first (out of order); speaking plain TCP to the TLS port gets
# the connection closed without an answer; tcp_clients_per_address sheds the
# oldest idle DoT connection for a new one; tcp_idle_ms closes an idle one;
# answers with EDNS are padded to 468 octets; /metrics and the query log say transport "dot". The embedded default (lab) configuration
# serves DoT on 127.0.0.1:8853; one that moves dns.listen or sets
# tls_listen = {} serves none. A stop with DoT connections open exits 0.
set -u
. "$(dirname "$0")/netns.sh"
. "$(dirname "$0")/lib.sh"
need kdig knot-dnsutils
need dig bind9-dnsutils
need nsd
need openssl
need curl
need python3
need ip iproute2
ip link set lo up || die "cannot bring lo up in the namespace"
tmp=$TB_WORK

# ---- the lab: a root and the zone example. on NSD ----
lab_two_level example

# ---- configuration errors ----
printf 'dns { tls_listen = { "nonsense" } }\n' > "$tmp/bad.lua"
expect "a bad tls_listen address: a config error" "$("$TRUSTBOX" config check "$tmp/bad.lua" 2>&1)" \
	'dns\.tls_listen\[1\]: expected "host:port"'

cat > "$tmp/trustbox.lua" <<EOF
core { data_dir = "$tmp/data" }
listen { name = "http", address = "127.0.0.1", port = 0, tls = false }
listen { name = "https", address = "127.0.0.1", port = 0, tls = true }
dns {
  listen = { "127.0.0.1:0" },
  tls_listen = { "127.0.0.1:0" },
  iterate = true,
  root_hints = "$tmp/hints",
  dnssec = "off",
  tcp_clients_per_address = 3,
  tcp_idle_ms = 3000,
}
EOF
tb_start "$tmp/trustbox.lua"
expect "the banner lists the DoT address" "$TB_BANNER" 'DNS over TLS +127\.0\.0\.1:[0-9]+'
dot=$(tb_port 'DNS over TLS')
http=$(tb_port 'HTTP listener')
"$TRUSTBOX" root -c "$tmp/trustbox.lua" > "$tmp/root.pem" || die "trustbox root"
K="kdig @127.0.0.1 -p $dot +tls-ca=$tmp/root.pem +tls-hostname=localhost +time=5 +retry=0"

# ---- kdig ----
out=$($K www.lab.test A 2>&1)
expect "kdig +tls: a local-zone answer" "$out" 'www\.lab\.test\.[[:space:]]+[0-9]+[[:space:]]+IN[[:space:]]+A[[:space:]]+127\.0\.0\.1'
expect "kdig +tls: over TLS, verified against trustbox's root" "$out" 'TLS session \(TLS1\.2\)'
out=$($K +padding www.lab.test A 2>&1)
expect "kdig +tls +padding: the answer is padded (RFC 7830)" "$out" 'PADDING: [0-9]+ B'
expect "kdig +tls +padding: to 468 octets (RFC 8467)" "$out" 'Received 468 B'
out=$($K www.example. A 2>&1)
expect "kdig +tls: an answer from the resolver (iterated through the lab)" "$out" \
	'www\.example\.[[:space:]]+[0-9]+[[:space:]]+IN[[:space:]]+A[[:space:]]+192\.0\.2\.7'
out=$($K +keepopen a.lab.test A b.lab.test AAAA one.example. A two.example. A 2>&1)
expect "kdig +keepopen: four answers" "$(printf '%s\n' "$out" | grep -c 'status: NOERROR')" '^4$'
expect "kdig +keepopen: the resolver's answer among them" "$out" 'two\.example\.[[:space:]].*192\.0\.2\.7'
out=$(kdig @127.0.0.1 -p "$dot" +tls-ca="$tmp/root.pem" +tls-hostname=not-this-host.example +time=5 +retry=0 \
	www.lab.test 2>&1)
expect_not "kdig +tls with another host name: the certificate is refused" "$out" 'status: NOERROR'

# ---- openssl s_client: ALPN and the chain ----
out=$(echo | timeout 10 openssl s_client -connect "127.0.0.1:$dot" -alpn dot -servername localhost \
	-CAfile "$tmp/root.pem" -verify_hostname localhost 2>&1)
expect "openssl s_client: ALPN dot" "$out" 'ALPN protocol: dot'
expect "openssl s_client: the chain verifies to trustbox's root" "$out" 'Verify return code: 0 \(ok\)'

# ---- a Python client ----
cat > "$tmp/dot.py" <<'PY'
import socket, ssl, struct, sys, time

port, ca, what = int(sys.argv[1]), sys.argv[2], sys.argv[3]

def query(qid, name, qtype=1):
    q = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\0" + struct.pack("!HH", qtype, 1)
    return struct.pack("!H", len(q)) + q

def tls():
    ctx = ssl.create_default_context(cafile=ca)
    ctx.set_alpn_protocols(["dot"])
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10), server_hostname="localhost")
    return s

def read_exact(s, n):
    b = b""
    while len(b) < n:
        d = s.recv(n - len(b))
        if not d:
            raise EOFError("closed after %d of %d bytes" % (len(b), n))
        b += d
    return b

def answer(s):
    n = struct.unpack("!H", read_exact(s, 2))[0]
    m = read_exact(s, n)
    return struct.unpack("!H", m[:2])[0], m[3] & 15, m

def closed(s, timeout):
    s.settimeout(timeout)
    try:
        return s.recv(1) == b""
    except socket.timeout:  # before OSError, of which it is a subclass
        return False
    except (ssl.SSLError, ConnectionError, OSError):
        return True

if what == "pipeline":
    s = tls()
    assert s.selected_alpn_protocol() == "dot", s.selected_alpn_protocol()
    # an iterated name first, a local one second, in one write: the local answer comes first
    s.sendall(query(1, "p%d.example" % int(time.time() * 1000)) + query(2, "x.lab.test"))
    order = [answer(s), answer(s)]
    print("order", [a[0] for a in order], "rcodes", [a[1] for a in order])
    assert [a[0] for a in order] == [2, 1], order
    assert all(a[1] == 0 for a in order), order
    assert bytes([192, 0, 2, 7]) in order[1][2] and bytes([127, 0, 0, 1]) in order[0][2]
    print("out of order ok")
elif what == "plain":
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(query(7, "www.lab.test"))
    s.settimeout(5)
    data = b""
    try:
        while True:
            d = s.recv(4096)
            if not d:
                break
            data += d
    except socket.timeout:
        print("still open after 5 s"); sys.exit(1)
    except ConnectionError:
        pass
    # no DNS answer came back in the clear (a TLS alert may)
    assert not (len(data) >= 5 and data[2:4] == b"\x00\x07" and data[4] & 0x80), data
    print("closed after %d bytes" % len(data))
elif what == "shed":
    conns = [tls() for _ in range(3)]
    for c in conns:
        c.sendall(query(3, "s.lab.test"))
        answer(c)
    time.sleep(0.2)
    new = tls()
    new.sendall(query(4, "new.lab.test"))
    assert answer(new)[1] == 0
    assert closed(conns[0], 5), "the oldest connection is still open"
    assert not closed(conns[2], 0.5), "the newest old connection was closed"
    conns[2].sendall(query(5, "still.lab.test"))
    assert answer(conns[2])[1] == 0
    print("the oldest of 3 idle connections shed for a fourth")
elif what == "idle":
    s = tls()
    s.sendall(query(6, "i.lab.test"))
    answer(s)
    t0 = time.time()
    assert closed(s, 10), "not closed within 10 s"
    print("closed after %.1f s idle" % (time.time() - t0))
    assert time.time() - t0 >= 2, "closed too early"
PY
out=$(python3 "$tmp/dot.py" "$dot" "$tmp/root.pem" pipeline 2>&1)
expect "python ssl: ALPN dot, pipelined answers out of order (local before iterated)" "$out" 'out of order ok'
out=$(python3 "$tmp/dot.py" "$dot" "$tmp/root.pem" plain 2>&1)
expect "plain TCP to the DoT port: closed, no answer" "$out" '^closed after'
out=$(python3 "$tmp/dot.py" "$dot" "$tmp/root.pem" shed 2>&1)
expect "tcp_clients_per_address sheds the oldest idle DoT connection" "$out" 'shed for a fourth'
out=$(python3 "$tmp/dot.py" "$dot" "$tmp/root.pem" idle 2>&1)
expect "tcp_idle_ms closes an idle DoT connection" "$out" 'closed after [0-9.]+ s idle'
out=$($K www.lab.test 2>&1)
expect "still answering after the plain-TCP client and the shedding" "$out" 'status: NOERROR'

tok=$(cat "$tmp/data/admin.token")
curl -sS -o /dev/null -X PUT -H "Authorization: Bearer $tok" -d '{"enabled":true}' \
	"http://127.0.0.1:$http/api/v1/dns/querylog" || fail "turning the query log on"
$K qlog.lab.test A > /dev/null 2>&1
expect "the query log names the transport dot" "$(curl -sS "http://127.0.0.1:$http/api/v1/dns/querylog")" \
	'"transport":"dot","name":"qlog\.lab\.test\."'
metrics=$(curl -sS "http://127.0.0.1:$http/metrics")
expect "metrics: queries over DoT" "$metrics" 'tb_dns_queries_total\{transport="dot",qtype="A"\} [1-9]'
expect "metrics: responses over DoT" "$metrics" 'tb_dns_responses_total\{transport="dot",rcode="NOERROR"\} [1-9]'
expect "metrics: the shed DoT connection" "$metrics" 'tb_dns_tcp_connections_shed_total\{reason="evicted"\} [1-9]'
expect_not "metrics: DoT queries are not counted as tcp" "$metrics" 'tb_dns_queries_total\{transport="tcp",qtype="AAAA"\} [1-9]'

# a stop with DoT connections open (one mid-handshake, one established)
python3 - "$dot" "$tmp/root.pem" <<'PY' &
import socket, ssl, sys, time
ctx = ssl.create_default_context(cafile=sys.argv[2])
a = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))), server_hostname="localhost")
b = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
b.sendall(b"\x16\x03\x01")
time.sleep(5)
PY
holder=$!
track $holder
sleep 1
rc=0
tb_stop || rc=$?
[ "$rc" = 0 ] && ok "stop with DoT connections open: exit 0" || fail "stop with DoT connections open: exit $rc"
stop_pid $holder

# ---- the embedded default (lab) configuration serves DoT on 127.0.0.1:8853 ----
printf 'core { data_dir = "%s/data2" }\n' "$tmp" > "$tmp/lab.lua"
tb_start "$tmp/lab.lua"
expect "default configuration: DoT on 127.0.0.1:8853" "$TB_BANNER" 'DNS over TLS +127\.0\.0\.1:8853'
"$TRUSTBOX" root -c "$tmp/lab.lua" > "$tmp/root2.pem" || die "trustbox root"
out=$(kdig @127.0.0.1 -p 8853 +tls-ca="$tmp/root2.pem" +tls-hostname=localhost +time=5 +retry=0 x.lab.test 2>&1)
expect "default configuration: kdig +tls on 8853" "$out" 'x\.lab\.test\.[[:space:]].*127\.0\.0\.1'
tb_stop || fail "stop (default configuration)"

printf 'core { data_dir = "%s/data2" }\ndns { listen = { "127.0.0.1:0" } }\n' "$tmp" > "$tmp/moved.lua"
tb_start "$tmp/moved.lua"
expect_not "dns.listen moved, no tls_listen: no DoT" "$TB_BANNER" 'DNS over TLS'
tb_stop || fail "stop (listen moved)"
printf 'core { data_dir = "%s/data2" }\ndns { tls_listen = {} }\n' "$tmp" > "$tmp/off.lua"
tb_start "$tmp/off.lua"
expect_not "tls_listen = {}: no DoT" "$TB_BANNER" 'DNS over TLS'
tb_stop || fail "stop (tls_listen off)"

finish
