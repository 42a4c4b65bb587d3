#!/bin/sh
# The compose quickstart's client (the `demo` service): waits for trustbox,
# gets a certificate for www.lab.test from its ACME CA with certbot's RFC 2136
# plugin (dns-01 through trustbox's DNS, signed with the lab TSIG key read from
# trustbox's volume, mounted read-only at /tbdata), checks the certificate's
# chain and its SCT from the lab CT log, asks the DNS server; then runs DAP
# across the leader (trustbox) and the helper (the `helper` service, a second
# trustbox with its own root CA): creates a task in the leader's store with
# `trustbox dap task create`, imports its helper half into the helper's store
# with `trustbox dap task import --role helper`, uploads measurements with
# divviup-ts and collects their aggregate with `trustbox dap collect`, and
# prints what it did. Results stay in /work (its own volume): root.pem,
# cert.pem, chain.pem, dap-task.json, dap-collector.json, dap-aggregate.json.
# Exit status 0 only when every step worked.
set -eu
TB=${TB_HOST:-trustbox}
http="http://$TB:14080"
acme="https://$TB:14000/dir"
out=${DEMO_OUT:-/work}
cd "$out"
step() { echo "demo: $*"; }
die() { echo "demo: FAILED: $*" >&2; exit 1; }

# No depends_on health condition (not every compose honours it): poll /healthz.
i=0
until curl -fsS -o /dev/null "$http/healthz" 2>/dev/null; do
  i=$((i + 1)); [ "$i" -le 120 ] || die "trustbox not healthy at $http/healthz after 120 s"
  sleep 1
done
step "trustbox is healthy ($http/healthz)"

# The root comes over plain HTTP inside the compose network: this client trusts
# the network it runs in (a lab); from the host, see the README.
curl -fsS -o root.pem "$http/api/v1/root.pem" || die "root.pem"
step "root CA: $(openssl x509 -in root.pem -noout -subject -fingerprint -sha256 | tr '\n' ' ')"
curl -fsS --cacert root.pem -o /dev/null "$acme" || die "ACME directory at $acme (TLS with the root)"
step "ACME directory: $acme"

# The lab key trustbox generated (hmac-sha256:NAME:SECRET), scoped to lab.test.
i=0
while [ ! -s /tbdata/lab.test.tsig ]; do
  i=$((i + 1)); [ "$i" -le 30 ] || die "no /tbdata/lab.test.tsig (is trustbox's volume mounted?)"
  sleep 1
done
IFS=: read -r alg keyname secret < /tbdata/lab.test.tsig
# certbot's RFC 2136 plugin wants an address, not a name.
addr=$(getent hosts "$TB" | awk '{print $1; exit}')
[ -n "$addr" ] || die "cannot resolve $TB"
umask 077
cat > rfc2136.ini <<INI
dns_rfc2136_server = $addr
dns_rfc2136_port = 5353
dns_rfc2136_name = $keyname
dns_rfc2136_secret = $secret
dns_rfc2136_algorithm = HMAC-SHA256
INI
step "TSIG key $keyname ($alg) from trustbox's volume; DNS server $addr:5353"
[ "$alg" = hmac-sha256 ] || die "unexpected TSIG algorithm $alg"

REQUESTS_CA_BUNDLE="$out/root.pem" certbot certonly --non-interactive --agree-tos \
  -m demo@lab.test --server "$acme" --dns-rfc2136 --dns-rfc2136-credentials rfc2136.ini \
  --dns-rfc2136-propagation-seconds 1 -d www.lab.test --force-renewal \
  --config-dir cb/config --work-dir cb/work --logs-dir cb/logs > certbot.log 2>&1 \
  || { cat certbot.log >&2; die "certbot dns-01 for www.lab.test"; }
cp cb/config/live/www.lab.test/cert.pem cert.pem
cp cb/config/live/www.lab.test/chain.pem chain.pem
step "certbot (dns-01, RFC 2136) got a certificate for www.lab.test:"
openssl x509 -in cert.pem -noout -subject -issuer -enddate -ext subjectAltName | sed 's/^/demo:   /'

openssl verify -CAfile root.pem -untrusted chain.pem cert.pem > /dev/null || die "chain does not verify"
step "the chain verifies against the root"

# The SCT the CA embedded must come from the lab CT log: its log ID is the
# one in the log list trustbox exports.
sct=$(openssl x509 -in cert.pem -noout -text | sed -n '/CT Precertificate SCTs/,/Signature Algorithm/p')
[ -n "$sct" ] || die "no SCT in the certificate"
got=$(printf '%s\n' "$sct" | sed -n '/Log ID/,/Timestamp/p' | grep -v Timestamp | sed 's/.*Log ID *://' | tr -d ' :\n' | tr 'a-f' 'A-F')
want=$(sed -n 's/.*"log_id":[[:space:]]*"\([^"]*\)".*/\1/p' /tbdata/ctlog-loglist.json | head -1 | base64 -d | od -An -tx1 | tr -d ' \n' | tr 'a-f' 'A-F')
[ -n "$want" ] || die "no log_id in /tbdata/ctlog-loglist.json"
[ "$got" = "$want" ] || die "SCT log ID $got is not the lab log's $want"
step "SCT present, from the lab CT log (log ID $got)"

ans=$(dig +short @"$addr" -p 5353 www.lab.test A) || die "dig"
[ -n "$ans" ] || die "no answer for www.lab.test A"
step "DNS: www.lab.test A -> $ans (dig @$TB -p 5353)"

# ---- DAP: leader in trustbox, helper in the helper service ----
H=${TB_HELPER_HOST:-helper}
i=0
until curl -fsS -o /dev/null "http://$H:14080/healthz" 2>/dev/null; do
  i=$((i + 1)); [ "$i" -le 120 ] || die "helper not healthy at http://$H:14080/healthz after 120 s"
  sleep 1
done
curl -fsS -o helper-root.pem "http://$H:14080/api/v1/root.pem" || die "the helper's root.pem"
cmp -s helper-root.pem root.pem && die "the helper has the leader's root CA (it must have its own)"
step "helper is healthy; its own root CA: $(openssl x509 -in helper-root.pem -noout -subject -fingerprint -sha256 | tr '\n' ' ')"
# divviup-ts talks to both aggregators: it trusts both roots.
cat root.pem helper-root.pem > dap-roots.pem

# The task: created in the leader's store (the leader reads it on first use),
# the helper's half imported into the helper's store, as each organisation's
# operator would; the collector's credential stays here.
TRUSTBOX_DATA_DIR=/tbdata TRUSTBOX_DAP_ROLE=leader trustbox dap task create -c /etc/trustbox/trustbox.lua \
  --vdaf histogram --length 4 --chunk-length 2 --min-batch-size 1 --time-precision 300 \
  --helper "https://$H:14000/dap/helper/" --collector-credential-file "$out/dap-collector.json" \
  > dap-task.json 2> dap-task.err || { cat dap-task.err >&2; die "trustbox dap task create"; }
task=$(sed -n 's/^[[:space:]]*"task_id":[[:space:]]*"\([^"]*\)".*/\1/p' dap-task.json | head -1)
[ -n "$task" ] || die "no task_id in the output of trustbox dap task create"
TRUSTBOX_DATA_DIR=/helperdata trustbox dap task import -c /etc/trustbox/helper.lua --role helper dap-task.json \
  > dap-import.out 2>&1 || { cat dap-import.out >&2; die "trustbox dap task import --role helper"; }
step "DAP task $task (Prio3Histogram, length 4): leader https://$TB:14000/dap/leader/, helper https://$H:14000/dap/helper/"

measurements=${DAP_MEASUREMENTS:-[0,1,1,3,2,1,3]}
NODE_EXTRA_CA_CERTS="$out/dap-roots.pem" node /opt/dap/upload.mjs dap-task.json "$measurements" > dap-upload.out 2>&1 \
  || { cat dap-upload.out >&2; die "divviup-ts upload"; }
step "divviup-ts uploaded $(grep -c '^ok$' dap-upload.out) reports: $measurements"

now=$(date +%s)
trustbox dap collect --task-id "$task" --leader "https://$TB:14000/dap/leader/" \
  --vdaf histogram --length 4 --chunk-length 2 --cacert root.pem \
  --collector-credential-file dap-collector.json \
  --batch-interval-start $((now / 300 * 300 - 300)) --batch-interval-duration 600 --timeout 60 \
  > dap-aggregate.json 2> dap-collect.err || { cat dap-collect.err >&2; die "trustbox dap collect"; }
step "trustbox dap collect: $(cat dap-aggregate.json)"
step "done: ACME dns-01, CT, DNS and DAP all worked"
