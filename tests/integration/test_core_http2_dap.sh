#!/usr/bin/env bash
# A DAP-09 upload over HTTP/2 from a real HTTP client: `trustbox dap upload
# --out` seals two reports (to the leader's and the helper's HPKE configs)
# into files, `curl --http2` PUTs each to the leader's tasks/{id}/reports;
# a third goes through `trustbox dap upload` itself (HTTP/1.1). `trustbox dap
# collect` then gets exactly the sum of the three, and the access log shows
# HTTP/2 for the two curl uploads and HTTP/1.1 for the other.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/dap/common.sh"
need python3
need openssl
need curl
W=$TB_WORK
curl --version | grep -q HTTP2 || skip "this curl has no HTTP/2"


# The collector's X25519 key: its HpkeConfig (id 1, X25519, HKDF-SHA256, AES-128-GCM)
# and divviup's collector_credential.json.
collector_key
CTOK=$(rid 16)
credential cred.json "$CTOK"

T=$(rid 32)
P=$(free_port)
cat > t.lua <<LUA
core { data_dir = "$W/data", log_level = "info" }
if acme then acme { enabled = false } end
if ctlog then ctlog { enabled = false } end
if dns then dns { enabled = false } end
listen { name = "https", address = "127.0.0.1", port = $P, tls = true }
dap {
  demo_task = false,
  aggregation_period_ms = 50,
  tasks = {
    { id = "$T", vdaf = "sum", bits = 8, verify_key = "$(rid 16)", min_batch_size = 3,
      aggregator_auth_token = "$(rid 16)", collector_auth_token = "$CTOK",
      collector_hpke_config = "$CCFG" },
  },
}
LUA
tb_start t.lua
"$TRUSTBOX" root -c t.lua > root.pem || die "trustbox root"
L="https://localhost:$P/dap/leader/"
H="https://localhost:$P/dap/helper/"
up() { "$TRUSTBOX" dap upload -c t.lua --task-id "$T" --leader "$L" --helper "$H" --cacert root.pem \
	--vdaf sum --bits 8 "$@"; }

# Two reports sealed to files, PUT by curl over HTTP/2.
for m in 17 200; do
	out=$(up --measurement "$m" --out "r$m.bin") || fail "dap upload --out: $out"
	[ -s "r$m.bin" ] || fail "no report in r$m.bin"
	v=$(curl -sS --http2 --cacert root.pem -X PUT --data-binary @"r$m.bin" \
		-H 'content-type: application/dap-report' -o "put$m.out" -w '%{http_version} %{http_code}' \
		"${L}tasks/$T/reports") || fail "curl PUT $m"
	case $v in "2 200" | "2 201") ok "curl --http2 PUT of a report ($m): $v" ;;
	*) fail "curl --http2 PUT of a report ($m): $v $(head -c 300 "put$m.out")" ;; esac
done
# A file left unsent is not a report: nothing went to the leader while --out wrote it.
grep -c "PUT /dap/leader/tasks/$T/reports" run.err | grep -qx 2 ||
	fail "PUTs logged before the third upload: $(grep -c "PUT /dap/leader/tasks/$T/reports" run.err)"
# A third through the command's own client (HTTP/1.1).
out=$(up --measurement 5) || fail "dap upload: $out"
expect "dap upload acknowledged" "$out" '^\{"report_id":"[A-Za-z0-9_-]{22}","time":[0-9]+\}$'

now=$(date +%s)
got=$("$TRUSTBOX" dap collect -c t.lua --task-id "$T" --leader "$L" --cacert root.pem --vdaf sum --bits 8 \
	--collector-credential-file cred.json --batch-interval-start $((now / 3600 * 3600 - 3600)) \
	--batch-interval-duration 7200 --timeout 60 2> collect.err) || true
show_on_failure collect.err
expect "collect: 3 reports, sum 17 + 200 + 5 = 222" "$got" '^\{"report_count":3,.*"aggregate":222\}$'

log=$(cat run.err)
n2=$(printf '%s\n' "$log" | grep -cE "PUT /dap/leader/tasks/$T/reports HTTP/2 20[01] " || true)
n1=$(printf '%s\n' "$log" | grep -cE "PUT /dap/leader/tasks/$T/reports HTTP/1.1 20[01] " || true)
[ "$n2" = 2 ] && ok "access log: the two curl uploads over HTTP/2" || fail "access log: $n2 uploads over HTTP/2"
[ "$n1" = 1 ] && ok "access log: the command's upload over HTTP/1.1" || fail "access log: $n1 uploads over HTTP/1.1"

tb_stop || fail "exit status"
ok "SIGTERM -> exit 0"
finish
