#!/usr/bin/env bash
# ACME over HTTP/2 with real clients: dehydrated (bash + the curl command)
# and uacme (C on libcurl) both negotiate h2 by ALPN against trustbox. Each
# registers, orders, answers http-01, finalizes and downloads; the access log
# shows every one of their ACME requests (directory, nonce, account, order,
# authorization, challenge, finalize, certificate) over HTTP/2 and none over
# HTTP/1.1, and each certificate verifies against `trustbox root`.
# (lego, Go, stays on HTTP/1.1: its transport sets its own TLS configuration
# without ForceAttemptHTTP2, so Go's client does not offer h2.)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need dehydrated
need uacme
need unshare util-linux
unshare -m true 2>/dev/null || skip "unshare -m does not work here (uacme needs a private mount namespace: run as root)"
need openssl
need curl
need python3
work=$TB_WORK
curl --version | grep -q HTTP2 || skip "this curl has no HTTP/2"

https_port=$(free_port); http01_port=$(free_port)
cat > cfg.lua <<LUA
core { data_dir = "$work/data", log_level = "info" }
listen { name = "https", address = "127.0.0.1", port = $https_port, tls = true }
if dns then dns { enabled = false } end
if dap then dap { enabled = false } end
if ctlog then ctlog { enabled = false } end
acme { http01_port = $http01_port }
LUA
"$TRUSTBOX" root -c cfg.lua > root.pem || die "trustbox root"
tb_start cfg.lua
dir_url="https://127.0.0.1:$https_port/dir"

mkdir -p www/.well-known/acme-challenge
python3 -m http.server --bind 127.0.0.1 --directory "$work/www" "$http01_port" > web.log 2>&1 &
track $!
chal="$work/www/.well-known/acme-challenge"

check_chain() { # file name
	awk 'BEGIN{n=0} /BEGIN CERT/{n++} n>=2{print}' "$1" > chain.pem
	[ -s chain.pem ] || { fail "$2: no intermediate in the chain"; return; }
	openssl verify -CAfile root.pem -untrusted chain.pem "$1" >/dev/null && ok "$2: the chain verifies" ||
		fail "$2: chain does not verify"
	openssl x509 -in "$1" -noout -ext subjectAltName | grep -q "DNS:$2" || fail "$2: SAN"
}
# over_h2 NAME FROM-LINE: the ACME requests logged since FROM-LINE all went over HTTP/2.
over_h2() {
	local acme kind
	acme=$(tail -n +"$2" run.err | grep -E '\[http\] .* (GET|HEAD|POST) /(dir|acme/)' || true)
	for kind in 'GET /dir' '/acme/new-nonce' 'POST /acme/new-account' 'POST /acme/new-order' \
		'POST /acme/authz/' 'POST /acme/chall/' 'POST /acme/order/[^ ]*/finalize' 'POST /acme/cert/'; do
		printf '%s\n' "$acme" | grep -qE "$kind[^ ]* HTTP/2 " || fail "$1: no $kind over HTTP/2"
	done
	local n1 n2
	n1=$(printf '%s\n' "$acme" | grep -c ' HTTP/1\.' || true)
	n2=$(printf '%s\n' "$acme" | grep -c ' HTTP/2 ' || true)
	[ "$n1" = 0 ] && [ "$n2" -ge 8 ] && ok "$1: all $n2 ACME requests over HTTP/2, none over HTTP/1.1" ||
		fail "$1: $n2 ACME requests over HTTP/2, $n1 over HTTP/1.1"
}

# dehydrated: curl offers h2 by default.
mkdir -p dh
cat > dh/config <<CFG
CA="$dir_url"
BASEDIR="$work/dh"
WELLKNOWN="$chal"
CHALLENGETYPE="http-01"
CURL_OPTS="--cacert $work/root.pem"
CONTACT_EMAIL="dh@lab.test"
KEYSIZE=2048
CFG
echo "dh2.lab.test" > dh/domains.txt
from=$(($(wc -l < run.err) + 1))
dehydrated -f dh/config --register --accept-terms > dh1.out 2>&1 || { cat dh1.out >&2; die "dehydrated --register"; }
dehydrated -f dh/config -c > dh2.out 2>&1 || { cat dh2.out >&2; die "dehydrated -c"; }
check_chain dh/certs/dh2.lab.test/fullchain.pem dh2.lab.test
over_h2 dehydrated "$from"

# uacme: libcurl, GnuTLS; it reads only the system bundle, so ours is bound over it.
cat > uhook.sh <<HOOK
#!/bin/sh
[ "\$2" = "http-01" ] || exit 1
case "\$1" in
  begin) printf '%s' "\$5" > "$chal/\$4" ;;
  done|failed) rm -f "$chal/\$4" ;;
esac
HOOK
chmod +x uhook.sh
ua() {
	unshare -m sh -c 'mount --bind "$0" /etc/ssl/certs/ca-certificates.crt && exec uacme "$@"' "$work/root.pem" \
		-a "$dir_url" -h "$work/uhook.sh" "$@"
}
from=$(($(wc -l < run.err) + 1))
ua -v -c ua -t EC -y new ua@lab.test > u1.out 2>&1 || { cat u1.out >&2; die "uacme new"; }
ua -v -c ua -t EC issue ua2.lab.test > u2.out 2>&1 || { cat u2.out >&2; die "uacme issue"; }
check_chain ua/ua2.lab.test/cert.pem ua2.lab.test
over_h2 uacme "$from"

tb_stop || fail "exit status"
ok "SIGTERM -> exit 0"
finish
