#!/usr/bin/env bash
# /metrics and GET /api/v1/metrics with every subsystem running, under real
# traffic: lego gets a certificate (http-01), its chain goes to the CT log's
# add-chain with curl, nsupdate adds a record with the lab key, dig asks
# over UDP and TCP (NOERROR and NXDOMAIN) and twice for a name forwarded to
# Unbound (upstream, then cache), `trustbox dap upload` sends reports. Then:
#   - the exposition parses with the Prometheus project's Python parser
#     (python3-prometheus-client), and the JSON snapshot holds the same samples;
#   - every family in the output is documented in docs/metrics.md and every
#     documented family is in the output (so the page stays true);
#   - the counters moved by exactly what was sent: one order, one
#     authorization, one valid http-01 validation, one issuance, the CA's
#     precertificate and our chain sequenced, DNS queries by type, transport
#     and RCODE, one update, one cache miss with its upstream exchange and one
#     hit, the DAP uploads accepted and aggregated and the one to an unknown
#     task refused.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need lego
need curl
need dig bind9-dnsutils
need nsupdate bind9-dnsutils
need unbound
need python3
# The parser is Debian's package; a python3 earlier on PATH (a virtualenv) may not see it.
PY=
for c in python3 /usr/bin/python3; do
	if command -v "$c" >/dev/null && "$c" -c 'import prometheus_client' 2>/dev/null; then PY=$c; break; fi
done
[ -n "$PY" ] || skip "python3 cannot import prometheus_client (Debian package python3-prometheus-client; scripts/deps.sh --test installs it)"
work=$TB_WORK
doc=$TB_SOURCE_DIR/docs/metrics.md

https_port=$(free_port); http01_port=$(free_port); dns_port=$(free_port); uport=$(free_port)
# the forwarders' upstream: Unbound answering fwd.example from local data
cat > unbound.conf <<UB
server:
  interface: 127.0.0.1
  port: $uport
  num-threads: 1
  do-daemonize: no
  username: ""
  chroot: ""
  directory: "$work"
  pidfile: ""
  use-syslog: no
  logfile: ""
  verbosity: 0
  access-control: 127.0.0.0/8 allow
  module-config: "iterator"
  local-zone: "fwd.example." static
  local-data: "fwd.example. 300 IN SOA ns.fwd.example. h.fwd.example. 1 3600 600 86400 120"
  local-data: "www.fwd.example. 300 IN A 192.0.2.10"
remote-control:
  control-enable: no
UB
unbound -c unbound.conf > unbound.log 2>&1 &
track $!
show_on_failure unbound.log
cat > cfg.lua <<LUA
core { data_dir = "$work/data", log_level = "warn" }
listen { name = "https", address = "127.0.0.1", port = $https_port, tls = true }
-- the default lab zone without its wildcard, so that a name can be NXDOMAIN
dns { listen = { "127.0.0.1:$dns_port" }, iterate = false, dnssec = "off", forwarders = { { zone = "fwd.example", servers = { "127.0.0.1:$uport" } } },
  zones = { { name = "lab.test", records = {
  "@ 60 IN SOA ns.lab.test. hostmaster.lab.test. 1 3600 600 86400 60", "@ NS ns", "ns A 127.0.0.1",
  "@ A 127.0.0.1", "@ CAA 0 issue \"trustbox.test\"", "@ CAA 0 issuewild \"trustbox.test\"" } } } }
acme { http01_port = $http01_port }
dap { aggregation_period_ms = 100 }
-- one value per free label (task, log, profile): a second DAP task counts under task="other"
status { metrics_max_label_values = 1 }
LUA
cat > client.lua <<LUA
core { data_dir = "$work/client-data", log_level = "warn" }
listen { name = "https", address = "127.0.0.1", port = $https_port, tls = true }
LUA
"$TRUSTBOX" root -c cfg.lua > root.pem || die "trustbox root"
tb_start cfg.lua
U=https://127.0.0.1:$https_port
scrape() { curl -sf --cacert root.pem "$U/metrics" > "$1" || die "GET /metrics"; }

# value FILE 'name{label="v",...}': the sample's value, 0 when absent (a free label not seen yet)
value() {
	"$PY" - "$1" "$2" <<'PY'
import re, sys
from prometheus_client.parser import text_string_to_metric_families
want = sys.argv[2]
m = re.fullmatch(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?', want)
name, lab = m.group(1), dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ''))
v = 0
for fam in text_string_to_metric_families(open(sys.argv[1]).read()):
    for s in fam.samples:
        if s.name == name and s.labels == lab:
            v = s.value
print(int(v) if float(v).is_integer() else v)
PY
}
# moved NAME BEFORE AFTER SAMPLE DELTA: the sample moved by exactly DELTA
moved() {
	local a b
	a=$(value "$2" "$4"); b=$(value "$3" "$4")
	expect "$1: $4 +$5 ($a -> $b)" "$((b - a))" "^$5\$"
}

scrape m0.txt

# ---- DNS: an update with the lab key (it also gives the ACME name an address) ----
KEY=$(cat "$work/data/lab.test.tsig")
out=$({ echo "server 127.0.0.1 $dns_port"; echo "zone lab.test"; echo "update add b.lab.test. 60 A 127.0.0.1"; echo send; } |
	nsupdate -y "$KEY" 2>&1; echo "rc=$?")
expect "nsupdate add" "$out" '^rc=0$'
scrape m1.txt
moved "nsupdate" m0.txt m1.txt 'tb_dns_updates_total{result="NOERROR"}' 1

# ---- ACME with lego, http-01 ----
LEGO_CA_CERTIFICATES="$work/root.pem" lego --server "$U/dir" --accept-tos --email a@b.test --path "$work/lego" \
	--domains b.lab.test --http --http.port "127.0.0.1:$http01_port" run > lego.out 2>&1 ||
	{ cat lego.out >&2; die "lego http-01"; }
ok "lego got a certificate"
# ---- CT: the certificate's chain to add-chain, and a refused body ----
b64() { openssl x509 -outform DER | base64 -w0; }
awk '/BEGIN CERT/{n++} {print > ("c" n ".pem")}' lego/certificates/b.lab.test.crt
printf '{"chain":["%s","%s"]}' "$(b64 < c1.pem)" "$(b64 < c2.pem)" > chain.json
code=$(curl -s -o sct.json -w '%{http_code}' --cacert root.pem -d @chain.json "$U/ct/lab/ct/v1/add-chain")
expect "add-chain of lego's chain" "$code" '^200$'
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert root.pem -d '{"chain":[]}' "$U/ct/lab/ct/v1/add-chain")
expect "add-chain of an empty chain" "$code" '^400$'
scrape m2.txt
moved "ACME" m1.txt m2.txt 'tb_acme_orders_created_total' 1
moved "ACME" m1.txt m2.txt 'tb_acme_authorizations_created_total' 1
moved "ACME" m1.txt m2.txt 'tb_acme_validations_total{type="http-01",result="valid"}' 1
moved "ACME" m1.txt m2.txt 'tb_acme_validations_total{type="http-01",result="invalid"}' 0
moved "ACME" m1.txt m2.txt 'tb_acme_validation_duration_seconds_count{type="http-01"}' 1
moved "ACME" m1.txt m2.txt 'tb_acme_authorizations_total{result="valid"}' 1
moved "ACME" m1.txt m2.txt 'tb_acme_orders_finalized_total{result="valid"}' 1
moved "ACME" m1.txt m2.txt 'tb_acme_certificates_issued_total{profile="classic"}' 1
moved "CT" m1.txt m2.txt 'tb_ct_submissions_total{log="lab",endpoint="add-pre-chain",result="ok"}' 1
moved "CT" m1.txt m2.txt 'tb_ct_submissions_total{log="lab",endpoint="add-chain",result="ok"}' 1
moved "CT" m1.txt m2.txt 'tb_ct_submissions_total{log="lab",endpoint="add-chain",result="rejected"}' 1
moved "CT" m1.txt m2.txt 'tb_ct_entries_total{log="lab"}' 2
expect "CT tree size" "$(value m2.txt 'tb_ct_tree_size_entries{log="lab"}')" '^2$'
expect "CT batches: a sum of 2 entries" "$(value m2.txt 'tb_ct_sequencing_batch_entries_sum{log="lab"}')" '^2$'
expect "CT checkpoint age is small" "$(value m2.txt 'tb_ct_checkpoint_age_seconds{log="lab"}')" '^[0-9](\.[0-9]+)?$'

# ---- DNS queries as dig sends them ----
q() { dig @127.0.0.1 -p "$dns_port" +time=2 +tries=1 "$@" 2>&1; }
expect "A b.lab.test" "$(q +short b.lab.test A)" '^127\.0\.0\.1$'
expect "A nx.lab.test: NXDOMAIN" "$(q nx.lab.test A)" 'status: NXDOMAIN'
expect "SOA lab.test" "$(q lab.test SOA)" 'status: NOERROR'
expect "AAAA b.lab.test (no data)" "$(q b.lab.test AAAA)" 'status: NOERROR'
expect "TXT over TCP" "$(q +tcp lab.test TXT)" 'status: NOERROR'
expect "NXDOMAIN over TCP" "$(q +tcp nx2.lab.test TXT)" 'status: NXDOMAIN'
# forwarded: the first from the upstream, the second from the cache
for _ in $(seq 1 50); do
	[ "$(dig @127.0.0.1 -p "$uport" +short +time=1 +tries=1 www.fwd.example A 2>/dev/null)" = 192.0.2.10 ] && break
	sleep 0.2
done
expect "forwarded A (upstream)" "$(q +short www.fwd.example A)" '^192\.0\.2\.10$'
expect "forwarded A (cache)" "$(q +short www.fwd.example A)" '^192\.0\.2\.10$'
scrape m3.txt
moved "DNS" m2.txt m3.txt 'tb_dns_queries_total{transport="udp",qtype="A"}' 4
moved "DNS" m2.txt m3.txt 'tb_dns_queries_total{transport="udp",qtype="SOA"}' 1
moved "DNS" m2.txt m3.txt 'tb_dns_queries_total{transport="udp",qtype="AAAA"}' 1
moved "DNS" m2.txt m3.txt 'tb_dns_queries_total{transport="tcp",qtype="TXT"}' 2
moved "DNS" m2.txt m3.txt 'tb_dns_queries_total{transport="udp",qtype="TXT"}' 0
moved "DNS" m2.txt m3.txt 'tb_dns_responses_total{transport="udp",rcode="NOERROR"}' 5
moved "DNS" m2.txt m3.txt 'tb_dns_responses_total{transport="udp",rcode="NXDOMAIN"}' 1
moved "DNS" m2.txt m3.txt 'tb_dns_responses_total{transport="tcp",rcode="NOERROR"}' 1
moved "DNS" m2.txt m3.txt 'tb_dns_responses_total{transport="tcp",rcode="NXDOMAIN"}' 1
moved "DNS" m2.txt m3.txt 'tb_dns_updates_total{result="NOERROR"}' 0
moved "DNS" m2.txt m3.txt 'tb_dns_cache_misses_total' 1
moved "DNS" m2.txt m3.txt 'tb_dns_cache_hits_total' 1
moved "DNS" m2.txt m3.txt 'tb_dns_upstream_duration_seconds_count{mode="forward"}' 1
expect "DNS cache entries" "$(value m3.txt 'tb_dns_cache_entries')" '^1$'
expect "DNSSEC results present at zero" "$(value m3.txt 'tb_dns_dnssec_validations_total{result="bogus"}')" '^0$'
grep -q '^tb_dns_dnssec_validations_total{result="secure"} 0$' m3.txt && ok "DNSSEC family rendered" ||
	fail "tb_dns_dnssec_validations_total{result=\"secure\"} missing"

# ---- DAP: a task, two uploads with the C client, one to an unknown task ----
"$TRUSTBOX" dap task create -c cfg.lua --vdaf histogram --length 10 --chunk-length 3 --min-batch-size 2 \
	--collector-credential-file cred.json > task.json || die "dap task create"
field() { "$PY" -c 'import json,sys;v=json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."): v=v[k]
print(v)' task.json "$1"; }
ID=$(field task_id); L=$(field divviup_ts.leader); H=$(field divviup_ts.helper)
for m in 3 7; do
	"$TRUSTBOX" dap upload -c client.lua --task-id "$ID" --leader "$L" --helper "$H" --cacert root.pem \
		--vdaf histogram --length 10 --chunk-length 3 --measurement $m > up.out 2>&1 ||
		{ cat up.out >&2; fail "trustbox dap upload $m"; }
done
unknown=$("$PY" -c "import secrets,base64;print(base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b'=').decode())")
# (the C client stops at the unknown task's HPKE config: the report goes with curl)
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert root.pem -X PUT -H 'Content-Type: application/dap-report' \
	--data-binary @chain.json "${L}tasks/$unknown/reports")
expect "upload to an unknown task refused (unrecognizedTask)" "$code" '^404$'

# the leader aggregates within a few periods
for _ in $(seq 1 50); do
	scrape m4.txt
	[ "$(value m4.txt "tb_dap_task_reports_total{task=\"$ID\",event=\"aggregated\"}")" = 2 ] && break
	sleep 0.2
done
moved "DAP" m3.txt m4.txt 'tb_dap_reports_total{outcome="accepted"}' 2
moved "DAP" m3.txt m4.txt 'tb_dap_reports_total{outcome="unrecognized_task"}' 1
moved "DAP" m3.txt m4.txt "tb_dap_task_reports_total{task=\"$ID\",event=\"accepted\"}" 2
moved "DAP" m3.txt m4.txt "tb_dap_task_reports_total{task=\"$ID\",event=\"aggregated\"}" 2
# one job per upload or one for both, depending on the timing: as many on each side, none failed
lj=$(value m4.txt 'tb_dap_aggregation_jobs_total{role="leader",result="ok"}')
expect "DAP: leader aggregation jobs ok" "$lj" '^[12]$'
expect "DAP: helper aggregation jobs ok, as many" "$(value m4.txt 'tb_dap_aggregation_jobs_total{role="helper",result="ok"}')" "^$lj\$"
moved "DAP" m3.txt m4.txt 'tb_dap_aggregation_jobs_total{role="leader",result="error"}' 0
expect_not "no task label for the unknown task" "$(cat m4.txt)" "task=\"$unknown\""
# a collection of both reports with the credential task create wrote
start=$(( $(date +%s) / 3600 * 3600 - 3600 ))
got=$("$TRUSTBOX" dap collect -c client.lua --task-id "$ID" --leader "$L" --cacert root.pem --vdaf histogram \
	--length 10 --chunk-length 3 --collector-credential-file cred.json --batch-interval-start "$start" \
	--batch-interval-duration 7200 --timeout 60 2> collect.err) || { cat collect.err >&2; fail "trustbox dap collect"; }
expect "collect: both reports" "$got" '"report_count":2,'
scrape m4c.txt
moved "DAP" m4.txt m4c.txt 'tb_dap_collections_total{role="leader",result="ok"}' 1
moved "DAP" m4.txt m4c.txt 'tb_dap_collections_total{role="helper",result="ok"}' 1
moved "DAP" m4.txt m4c.txt "tb_dap_task_reports_total{task=\"$ID\",event=\"collected\"}" 2
# a second task is over status.metrics_max_label_values = 1: its upload counts under task="other"
"$TRUSTBOX" dap task create -c cfg.lua --vdaf histogram --length 10 --chunk-length 3 --min-batch-size 2 \
	> task2.json || die "dap task create (second)"
ID2=$("$PY" -c 'import json,sys;print(json.load(open(sys.argv[1]))["task_id"])' task2.json)
"$TRUSTBOX" dap upload -c client.lua --task-id "$ID2" --leader "$L" --helper "$H" --cacert root.pem \
	--vdaf histogram --length 10 --chunk-length 3 --measurement 1 > up.out 2>&1 ||
	{ cat up.out >&2; fail "trustbox dap upload (second task)"; }
scrape m4d.txt
moved "DAP cap" m4c.txt m4d.txt 'tb_dap_task_reports_total{task="other",event="accepted"}' 1
moved "DAP cap" m4c.txt m4d.txt "tb_dap_task_reports_total{task=\"$ID\",event=\"accepted\"}" 0
expect_not "DAP cap: no series for the second task" "$(cat m4d.txt)" "task=\"$ID2\""

# ---- the exposition parses; documentation and output agree ----
"$PY" - m4d.txt "$doc" > check.out 2>&1 <<'PY' && ok "exposition parses; docs/metrics.md and /metrics list the same families" || { cat check.out >&2; fail "exposition or documentation check"; }
import re, sys
from prometheus_client.parser import text_string_to_metric_families
text = open(sys.argv[1]).read()
fams = list(text_string_to_metric_families(text))  # raises on a malformed exposition
assert len(fams) > 20, len(fams)
declared = dict(re.findall(r'^# TYPE (\S+) (\S+)$', text, re.M))
documented = {}
for line in open(sys.argv[2]):
    m = re.match(r'^\| `(tb_[a-z0-9_]+)` \| (counter|gauge|histogram) \|', line)
    if m:
        documented[m.group(1)] = m.group(2)
bad = []
for name, typ in declared.items():
    if name not in documented:
        bad.append("in /metrics, not documented: " + name)
    elif documented[name] != typ:
        bad.append("%s: documented %s, exported %s" % (name, documented[name], typ))
    if typ == "counter" and not name.endswith("_total"):
        bad.append("counter without _total: " + name)
for name in documented:
    if name not in declared:
        bad.append("documented, not in /metrics: " + name)
print("\n".join(bad))
sys.exit(1 if bad else 0)
PY

# ---- the JSON snapshot carries the same samples ----
curl -sf --cacert root.pem "$U/api/v1/metrics" > m.json || fail "GET /api/v1/metrics"
scrape m5.txt
"$PY" - m.json m5.txt > json.out 2>&1 <<'PY' && ok "GET /api/v1/metrics: the same series as /metrics" || { cat json.out >&2; fail "JSON snapshot"; }
import json, re, sys
from prometheus_client.parser import text_string_to_metric_families
j = json.load(open(sys.argv[1]))
assert re.fullmatch(r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ', j["time"]), j["time"]
snap = {(s["name"], tuple(sorted(s["labels"].items()))) for s in j["series"]}
text = {(s.name, tuple(sorted(s.labels.items())))
        for f in text_string_to_metric_families(open(sys.argv[2]).read()) for s in f.samples}
# the scrape after the snapshot may add series (its own route), never lose one
missing = snap - text
assert not missing, sorted(missing)[:5]
for s in j["series"]:
    if s["name"] == "tb_acme_certificates_issued_total":
        assert s["labels"] == {"profile": "classic"} and s["value"] == 1, s
        break
else:
    raise SystemExit("no tb_acme_certificates_issued_total in the snapshot")
PY

tb_stop || fail "trustbox exit status"
finish
