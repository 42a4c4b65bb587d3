#!/usr/bin/env bash
# The web UI in a real browser: Debian's chromium, headless, driven by the npm
# package playwright-core (browser/ui.mjs), checked by axe-core.
#   - every page at desktop and phone width, in the Asia/Kolkata time zone:
#     loads, refreshes, fits the width, screenshot saved under the build
#     directory (web-ui-screenshots/), no serious or critical axe-core
#     violation, no console error, nothing
#     fetched from another origin; the UI's files carry a self-only CSP and
#     answer 304 to their ETag; Tab reaches the skip link first; times are
#     shown in the browser's time zone; a record added elsewhere shows up by
#     polling, without a reload
#   - certbot gets www.lab.test: the ACME page lists the order, its timeline
#     shows the http-01 attempt and the SCT, the serial shown is openssl's;
#     the revoke button revokes another certificate
#   - the CT page finds that certificate's entry, decodes it, and its proof
#     checker recomputes the checkpoint's root (and reports a tampered proof);
#     when another certificate grows the log, the page checks the
#     consistency proof between the checkpoint it had seen and the new one
#   - a TXT record added in the DNS page is seen by dig, deleting it removes
#     it; without the token the write is refused and dig sees nothing; the
#     query log turned on in the page lists dig's query; the resolve box
#     shows an answer with its DNSSEC status
#   - the Overview's nsupdate and divviup-ts recipes work as copied
#   - a DAP task created in the page gets uploads from divviup-ts and the
#     page's collect shows their histogram
#   - the browser loaded all of it over HTTP/2 (the access log says h2)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
: "${TB_BUILD_DIR:?}"
need chromium
need certbot
need openssl
need dig bind9-dnsutils
need curl
work=$TB_WORK

# playwright-core and axe-core: where scripts/deps.sh --test put them, else installed
# under the build directory like the DAP scripts' packages.
src="$TB_SOURCE_DIR/tests/integration/browser"
mods="$src/node_modules"
if [ ! -f "$mods/playwright-core/package.json" ] || [ ! -f "$mods/axe-core/package.json" ]; then
	nm="$TB_BUILD_DIR/web-ui-tests"
	mkdir -p "$nm"
	cp "$src/package.json" "$nm/"
	npm_install "$nm" playwright-core
	npm_install "$nm" axe-core
	mods="$nm/node_modules"
fi
dapnm="$TB_BUILD_DIR/dap-interop"
mkdir -p "$dapnm"
cp "$TB_SOURCE_DIR/tests/integration/dap/package.json" "$dapnm/"
npm_install "$dapnm" @divviup/dap

https_port=$(free_port); http01_port=$(free_port); dns_port=$(free_port)
cat > cfg.lua <<LUA
core { data_dir = "$work/data", log_level = "info" }
listen { name = "https", address = "127.0.0.1", port = $https_port, tls = true }
dns { listen = { "127.0.0.1:$dns_port" }, iterate = false }
acme { http01_port = $http01_port }
dap { aggregation_period_ms = 200 }
LUA
"$TRUSTBOX" root -c cfg.lua > root.pem || die "trustbox root"
tb_start cfg.lua
token=$("$TRUSTBOX" admin token -c cfg.lua) || die "trustbox admin token"

show_on_failure cb/logs/letsencrypt.log
issue() {
	REQUESTS_CA_BUNDLE="$work/root.pem" certbot certonly --server "https://127.0.0.1:$https_port/dir" \
		--config-dir cb/conf --work-dir cb/work --logs-dir cb/logs --non-interactive \
		--standalone --http-01-port "$http01_port" --http-01-address 127.0.0.1 \
		--agree-tos -m ui@lab.test --no-eff-email -d "$1" > cb.out 2>&1 || { cat cb.out >&2; die "certbot certonly -d $1"; }
}
# Two certificates first, so that www.lab.test's entry is not alone in the log and its
# inclusion proof has hashes to check.
issue one.lab.test
issue two.lab.test
issue www.lab.test
serial=$(openssl x509 -in cb/conf/live/www.lab.test/cert.pem -noout -serial | sed 's/^serial=//')
ok "certbot got www.lab.test (serial $serial)"

# What the driver runs to grow the log while the CT page watches it.
{
	echo "set -e; cd '$work'"
	declare -f die fail issue
	echo "https_port=$https_port http01_port=$http01_port work='$work' TB_WORK='$work'; issue four.lab.test"
} > issue-more.sh

shots="$TB_BUILD_DIR/web-ui-screenshots"
rm -rf "$shots"
rc=0
UI_URL="https://localhost:$https_port" UI_TOKEN="$token" UI_SHOTS="$shots" UI_MODULES="$mods" \
	CERT_SERIAL="$serial" CERT_NAME=www.lab.test REVOKE_NAME=one.lab.test ISSUE_MORE="bash '$work/issue-more.sh'" \
	DNS_HOST=127.0.0.1 DNS_PORT="$dns_port" ROOT_PEM="$work/root.pem" \
	DAP_CLIENT="$TB_SOURCE_DIR/tests/integration/dap/client.mjs" DAP_NODE_MODULES="$dapnm/node_modules" \
	timeout 600 node "$src/ui.mjs" > ui.out 2>&1 || rc=$?
while IFS= read -r line; do
	case "$line" in
	ok:*) ok "${line#ok: }" ;;
	FAIL:*) fail "${line#FAIL: }" ;;
	*) echo "$line" ;;
	esac
done < ui.out
[ "$rc" = 0 ] || grep -q '^FAIL:' ui.out || fail "the browser driver exited with status $rc"
n=$(find "$shots" -name '*.png' | wc -l)
[ "$n" -ge 12 ] && ok "$n screenshots in $shots" || fail "only $n screenshots in $shots"

log=$(cat run.err)
expect "the page over h2" "$log" 'GET / HTTP/2 200 [0-9]+ [0-9]+ms$'
expect "the UI's modules over h2" "$log" 'GET /ui/js/app.js HTTP/2 200 [0-9]+ [0-9]+ms$'
expect "the admin API over h2" "$log" 'GET /api/v1/dns/zones HTTP/2 200 [0-9]+ [0-9]+ms$'

tb_stop || fail "exit status"
ok "SIGTERM -> exit 0"
finish
