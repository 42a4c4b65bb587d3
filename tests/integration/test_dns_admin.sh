#!/usr/bin/env bash
# The DNS part of the admin API against real clients: a TXT record added with
# the token is seen by dig with the SOA serial up, deleting it removes it, a
# change nsupdate made shows in the API's listing, a write without the token
# is refused (401) and changes nothing dig sees; the query log holds dig's
# queries while it is on and nothing while it is off; the cache figures fill
# from a forwarded name (Unbound upstream) and a flush empties them; resolve
# runs a query through the client path.
set -u
. "$(dirname "$0")/lib.sh"
need dig bind9-dnsutils
need nsupdate bind9-dnsutils
need curl
need jq
need unbound
tmp=$TB_WORK
uport=$(free_port)
cat > "$tmp/unbound.conf" <<EOF
server:
  interface: 127.0.0.1
  port: $uport
  num-threads: 1
  do-daemonize: no
  username: ""
  chroot: ""
  directory: "$tmp"
  pidfile: ""
  use-syslog: no
  logfile: ""
  verbosity: 0
  access-control: 127.0.0.0/8 allow
  module-config: "iterator"
  local-zone: "fwd.example." static
  local-data: "fwd.example. 300 IN SOA ns.fwd.example. h.fwd.example. 1 3600 600 86400 120"
  local-data: "www.fwd.example. 300 IN A 192.0.2.10"
EOF
unbound -d -c "$tmp/unbound.conf" > "$tmp/unbound.log" 2>&1 &
track $!

cat > "$tmp/trustbox.lua" <<EOF
core { data_dir = "$tmp/data", log_level = "info" }
listen { name = "https", address = "127.0.0.1", port = 0, tls = true }
listen { name = "http", address = "127.0.0.1", port = 0, tls = false }
dns {
  listen = { "127.0.0.1:0" },
  iterate = false,
  dnssec = "off",
  forwarders = { { zone = "fwd.example", servers = { "127.0.0.1:$uport" } } },
  querylog_size = 64,
}
EOF
show_on_failure "$tmp/err.log"
tb_start "$tmp/trustbox.lua" "$tmp/out.log" "$tmp/err.log"
port=$(tb_port 'DNS (udp+tcp)')
api="http://127.0.0.1:$(tb_port 'HTTP listener')/api/v1/dns"
TOKEN=$("$TRUSTBOX" admin token -c "$tmp/trustbox.lua")
expect "admin token" "$TOKEN" '^[A-Za-z0-9_-]{43}$'
KEY=$(cat "$tmp/data/lab.test.tsig")
q() { dig @127.0.0.1 -p "$port" +short +time=2 +tries=1 "$@"; }
serial() { q lab.test SOA | awk '{print $3}'; }
get() { curl -s "$api$1"; }
w() { # METHOD PATH [BODY]: a write with the token; prints the body then the status
	curl -s -w '\n%{http_code}' -X "$1" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
		${3:+--data "$3"} "$api$2"
}

zones=$(get /zones)
expect "zones: lab.test, writable, from the lab" "$(jq -c '.items[] | select(.name=="lab.test.") | [.source,.writable]' <<< "$zones")" '^\["lab",true\]$'
s0=$(serial)
expect "API serial = SOA serial" "$(jq '.items[] | select(.name=="lab.test.") | .serial' <<< "$zones")" "^$s0\$"

# a write without the token: 401, and nothing dig can see
out=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
	--data '{"name":"notoken.lab.test.","type":"TXT","ttl":60,"data":"\"x\""}' "$api/zones/lab.test/records")
expect "write without the token refused" "$out" '^401$'
out=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Authorization: Bearer wrong' \
	--data '{"name":"notoken.lab.test.","type":"TXT","ttl":60,"data":"\"x\""}' "$api/zones/lab.test/records")
expect "write with a wrong token refused" "$out" '^403$'
expect "no record from the refused writes" "$(q notoken.lab.test TXT)" '^$'
expect "serial unchanged by the refused writes" "$(serial)" "^$s0\$"

# add through the API: dig sees it, the serial went up
out=$(w POST /zones/lab.test/records '{"name":"_acme-challenge.api.lab.test.","type":"TXT","ttl":60,"data":"\"from-the-api\""}')
expect "add answered 200 after the commit" "$(tail -1 <<< "$out")" '^200$'
expect "add reports one change and the new serial" "$(head -1 <<< "$out" | jq -c '[.changes,.serial]')" "^\\[1,$((s0 + 1))\\]\$"
expect "dig sees the added TXT" "$(q _acme-challenge.api.lab.test TXT)" '^"from-the-api"$'
expect "SOA serial went up" "$(serial)" "^$((s0 + 1))\$"
expect "the listing has it" "$(get '/zones/lab.test/records?limit=500' | jq -r '.items[] | select(.name=="_acme-challenge.api.lab.test.") | .type + " " + .data')" '^TXT "from-the-api"$'
# a relative name is below the zone
out=$(w POST /zones/lab.test/records '{"name":"rel","type":"A","ttl":30,"data":"192.0.2.55"}')
expect "relative name added" "$(tail -1 <<< "$out")" '^200$'
expect "dig sees rel.lab.test" "$(q rel.lab.test A)" '^192\.0\.2\.55$'
out=$(w POST /zones/lab.test/records '{"name":"bad","type":"A","ttl":30,"data":"not-an-address"}')
expect "bad data: 400" "$(tail -1 <<< "$out")" '^400$'
out=$(w POST /zones/nosuch.test/records '{"name":"x","type":"A","ttl":30,"data":"192.0.2.1"}')
expect "unknown zone: 404" "$(tail -1 <<< "$out")" '^404$'

# delete: one record, then the name
out=$(w DELETE '/zones/lab.test/records?name=_acme-challenge.api.lab.test.&type=TXT&data=%22from-the-api%22')
expect "delete answered 200" "$(tail -1 <<< "$out")" '^200$'
expect "dig no longer sees it" "$(q _acme-challenge.api.lab.test TXT)" '^$'
expect "delete bumped the serial" "$(serial)" "^$((s0 + 3))\$"
out=$(w DELETE '/zones/lab.test/records?name=_acme-challenge.api.lab.test.&type=TXT')
expect "deleting what is gone: 404" "$(tail -1 <<< "$out")" '^404$'

# nsupdate's change shows in the API's listing
{ echo "server 127.0.0.1 $port"; echo "zone lab.test"; echo 'update add nsu.lab.test. 60 TXT "by-nsupdate"'; echo send; } |
	nsupdate -y "$KEY" > "$tmp/nsupdate.out" 2>&1
expect "nsupdate add" "$?" '^0$'
expect "the listing shows nsupdate's record" "$(get '/zones/lab.test/records?limit=500' | jq -r '.items[] | select(.name=="nsu.lab.test.") | .data')" '^"by-nsupdate"$'
expect "zones reports nsupdate's serial" "$(get /zones | jq '.items[] | select(.name=="lab.test.") | .serial')" "^$(serial)\$"
out=$(w DELETE '/zones/lab.test/records?name=nsu.lab.test.')
expect "the API deletes nsupdate's name" "$(tail -1 <<< "$out")" '^200$'
expect "dig: nsupdate's record gone" "$(q nsu.lab.test TXT)" '^$'

# the query log: off by default, dig's queries while on, nothing after off
ql=$(get /querylog)
expect "query log off at start" "$(jq -c '[.enabled, (.items|length)]' <<< "$ql")" '^\[false,0\]$'
q off1.lab.test A > /dev/null
expect "nothing logged while off" "$(get /querylog | jq '.items|length')" '^0$'
out=$(curl -s -o /dev/null -w '%{http_code}' -X PUT --data '{"enabled":true}' "$api/querylog")
expect "turning the log on needs the token" "$out" '^401$'
out=$(w PUT /querylog '{"enabled":true}')
expect "query log on" "$(tail -1 <<< "$out")" '^200$'
q logged.lab.test A > /dev/null
dig @127.0.0.1 -p "$port" +tcp +short logged.lab.test TXT > /dev/null
ql=$(get /querylog)
expect "dig's UDP query logged" "$(jq -c '[.items[] | select(.name=="logged.lab.test.") | [.type,.transport,.rcode]]' <<< "$ql")" '\["A","udp","NOERROR"\]'
expect "dig's TCP query logged" "$(jq -c '[.items[] | select(.name=="logged.lab.test.") | [.type,.transport]]' <<< "$ql")" '\["TXT","tcp"\]'
expect "client is the loopback" "$(jq -r '.items[0].client' <<< "$ql")" '^127\.0\.0\.1:[0-9]+$'
expect "the query before it was on is absent" "$(jq '[.items[] | select(.name=="off1.lab.test.")] | length' <<< "$ql")" '^0$'
out=$(w PUT /querylog '{"enabled":false}')
n=$(get /querylog | jq '.items|length')
q off2.lab.test A > /dev/null
expect "nothing added while off again" "$(get /querylog | jq '.items|length')" "^$n\$"
expect "off2 not logged" "$(get /querylog | jq '[.items[] | select(.name=="off2.lab.test.")] | length')" '^0$'

# the cache: a forwarded answer fills it, a flush empties it
expect "forwarded answer" "$(q www.fwd.example A)" '^192\.0\.2\.10$'
q www.fwd.example A > /dev/null
c=$(get /cache)
expect "cache holds the forwarded answer" "$(jq '.entries >= 1 and .bytes > 0 and .hits >= 1 and .misses >= 1' <<< "$c")" '^true$'
out=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$api/cache/flush")
expect "flush needs the token" "$out" '^401$'
expect "cache untouched by the refused flush" "$(get /cache | jq '.entries >= 1')" '^true$'
out=$(w POST /cache/flush '{}')
expect "flush answered" "$(tail -1 <<< "$out")" '^200$'
expect "cache empty after the flush" "$(get /cache | jq -c '[.entries,.bytes]')" '^\[0,0\]$'

# resolve: the client's path (local zone, forwarder), with RCODE and EDE
r=$(get '/resolve?name=www.lab.test&type=A')
expect "resolve a local name" "$(jq -c '[.rcode, .answer[0].data, .dnssec]' <<< "$r")" '^\["NOERROR","127\.0\.0\.1","indeterminate"\]$'
r=$(get '/resolve?name=www.fwd.example&type=A')
expect "resolve through the forwarder" "$(jq -c '[.rcode, .answer[0].data]' <<< "$r")" '^\["NOERROR","192\.0\.2\.10"\]$'
expect "which cached it again" "$(get /cache | jq '.entries')" '^1$'
r=$(get '/resolve?name=nothere.fwd.example&type=A')
expect "NXDOMAIN with the upstream's SOA" "$(jq -c '[.rcode, .authority[0].type]' <<< "$r")" '^\["NXDOMAIN","SOA"\]$'
r=$(get '/resolve?name=www.elsewhere.example&type=A')
expect "no route: REFUSED with EDE 20" "$(jq -c '[.rcode, .ede[0].code]' <<< "$r")" '^\["REFUSED",20\]$'

expect "writes logged with what changed" "$(grep -c 'admin.*add _acme-challenge.api.lab.test. 60 IN TXT "from-the-api"' "$tmp/err.log")" '^1$'
rc=0
tb_stop || rc=$?
expect "clean exit" "$rc" '^0$'
finish
