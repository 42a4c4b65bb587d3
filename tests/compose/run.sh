#!/usr/bin/env bash
# The container image and the compose quickstart, built and run for real with
# rootful podman and podman-compose (the same compose.yaml `docker compose up`
# reads). Installs what it needs, makes a Debian 12 base image with debootstrap
# from the mirror apt already uses (no image registry needed; cached between
# runs), builds the image, brings the stack up (trustbox, the DAP helper, the
# demo), waits for health, lets the demo get a certificate and run a DAP task
# across leader and helper, asserts the collected aggregate is exact, then
# checks from the host. Podman runs with private
# configuration and storage under a temporary directory: nothing in /etc is
# changed, nothing of another podman user is touched, and everything it started
# is torn down on exit, whatever happened.
# Prints one line per check and ends with "compose: N passed, M failed".
# Exit 0 when all passed, 1 when one failed, 77 when it cannot run here.
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/compose/podman-env.sh

pass=0 failed=0 work=""
ok() { echo "ok   - $*"; pass=$((pass + 1)); }
bad() { echo "FAIL - $*"; failed=$((failed + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
summary() { echo "compose: $pass passed, $failed failed"; }
notrun=""
cannot() { echo "compose: cannot run: $*" >&2; notrun=1; [ -n "${work:-}" ] || summary; exit 77; }

[ "$(id -u)" = 0 ] || cannot "needs root (rootful podman)"
t_start=$(date +%s)

# --- packages (aardvark-dns: without it the service names do not resolve)
want=(podman podman-compose runc debootstrap netavark aardvark-dns iptables curl openssl bind9-dnsutils knot-dnsutils)
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing: ${missing[*]}"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      -o DPkg::Lock::Timeout=300 "${missing[@]}" >/dev/null; } || cannot "could not install ${missing[*]}"
fi

project=tbcompose$$
work=$(mktemp -d /var/tmp/trustbox-compose-run.XXXXXX)
tb_podman_env "$work/podman"
cache=${TB_COMPOSE_CACHE:-/var/cache/trustbox-compose}
mkdir -p "$cache"
pc() { timeout 300 podman-compose -p "$project" "$@" > "$work/compose.log" 2>&1 || { tail -20 "$work/compose.log"; return 1; }; }
ctr=${project}_trustbox_1
hctr=${project}_helper_1
demo=${project}_demo_1

cleanup() {
  trap - EXIT INT TERM
  # podman-compose down -v removes containers and volumes; the network is ours too.
  timeout 120 podman-compose -p "$project" down -v > "$work/down.log" 2>&1 || tail -5 "$work/down.log"
  podman network rm -f "${project}_default" >/dev/null 2>&1 || true
  # Everything else in the private storage (images, build cache) goes with it.
  timeout 120 podman system reset -f >/dev/null 2>&1 || true
  findmnt -rn -o TARGET | grep "^$work/" | sort -r | xargs -r umount -l 2>/dev/null || true
  rm -rf "$work"
  echo "compose: run time $(( $(date +%s) - t_start )) s"
  summary
  [ -z "$notrun" ] || exit 77
  [ "$failed" = 0 ] && [ "$pass" -gt 0 ] && exit 0
  exit 1
}
trap cleanup EXIT
trap 'bad "interrupted"; exit 1' INT TERM

# --- the base image: debootstrap minbase from the machine's Debian mirror, cached
apt_uris() {
  { grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | sed 's/^URIs:[[:space:]]*//' | tr ' ' '\n'
    grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | sed 's/^deb \(\[[^]]*\] \)\{0,1\}//' | awk '{print $1}'
  } | sed 's|/*$||'
}
mirror=${TB_DEBIAN_MIRROR:-$(apt_uris | grep -E '/debian$' | head -1)}
security=$(apt_uris | grep -E '/debian-security$' | head -1)
base_tar=$cache/debian-12-minbase.tar
if [ ! -s "$base_tar" ] || [ -n "$(find "$base_tar" -mtime +7 2>/dev/null)" ]; then
  [ -n "$mirror" ] || cannot "no Debian mirror in the apt sources (set TB_DEBIAN_MIRROR)"
  echo "building the base image: debootstrap --variant=minbase bookworm from $mirror"
  root=$work/rootfs
  timeout 900 debootstrap --variant=minbase bookworm "$root" "$mirror" > "$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log"; bad "debootstrap bookworm from $mirror"; exit 1; }
  { echo "deb $mirror bookworm main"; echo "deb $mirror bookworm-updates main"
    [ -z "$security" ] || echo "deb $security bookworm-security main"; } > "$root/etc/apt/sources.list"
  # What debian:12-slim leaves out too: documentation, manuals, translations.
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/*
  find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
  printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
    'path-exclude /usr/share/man/*' 'path-exclude /usr/share/info/*' \
    'path-exclude /usr/share/locale/*' 'path-include /usr/share/locale/locale.alias' \
    > "$root/etc/dpkg/dpkg.cfg.d/slim"
  tar -C "$root" --numeric-owner -cf "$base_tar.tmp" . && mv "$base_tar.tmp" "$base_tar"
  rm -rf "$root"
else
  echo "base image: cached $base_tar"
fi
podman import -q "$base_tar" localhost/debian:12 >/dev/null || { bad "podman import of the base"; exit 1; }
ok "base image localhost/debian:12 ($(( $(stat -c %s "$base_tar") / 1000000 )) MB)"

# --- the images (--format docker keeps HEALTHCHECK; BUILDAH_FORMAT says so too)
t=$(date +%s)
# The demo's npm install trusts the CAs added to this machine too (a network
# that inspects TLS has its CA there).
local_ca=$(cat /usr/local/share/ca-certificates/*.crt 2>/dev/null || true)
for spec in "runtime localhost/trustbox:latest" "demo localhost/trustbox-demo:latest"; do
  set -- $spec
  if timeout 1200 podman build --format docker --target "$1" --build-arg BASE_IMAGE=localhost/debian:12 \
      --build-arg LOCAL_CA_PEM="$local_ca" -t "$2" . > "$work/build-$1.log" 2>&1; then
    ok "podman build --target $1 -> $2"
  else
    tail -30 "$work/build-$1.log"; bad "podman build --target $1"; exit 1
  fi
done
echo "     (images built in $(( $(date +%s) - t )) s)"
size=$(podman image inspect --format '{{.Size}}' localhost/trustbox:latest)
echo "     image localhost/trustbox:latest: $(( size / 1000000 )) MB"
check "image is small (< 150 MB)" [ "$size" -lt 150000000 ]
echo "     image localhost/trustbox-demo:latest (certbot, node, divviup-ts): $(( $(podman image inspect --format '{{.Size}}' localhost/trustbox-demo:latest) / 1000000 )) MB"
inspect=$(podman image inspect localhost/trustbox:latest)
check "image has a HEALTHCHECK on /healthz" grep -q 'http://127.0.0.1:14080/healthz' <<< "$inspect"
check "image runs as a non-root user (10001)" grep -q '"User": "10001:10001"' <<< "$inspect"

# --- up
for p in 14000/tcp 14080/tcp 5353/tcp 5353/udp 8853/tcp; do
  if [ "${p#*/}" = tcp ]; then busy=$(ss -Hltn "sport = :${p%/*}"); else busy=$(ss -Hlun "sport = :${p%/*}"); fi
  [ -z "$busy" ] || { bad "host port $p is in use (stop what listens there)"; exit 1; }
done
t=$(date +%s)
# Hermetic: trustbox resolves only lab.test (compose.yaml passes this to deploy/trustbox.lua);
# no query of this test goes to the real root servers.
export TRUSTBOX_DNS_ITERATE=false
pc up -d || { bad "podman-compose up -d"; exit 1; }
ok "podman-compose up -d ($(( $(date +%s) - t )) s)"

# Podman runs health checks from systemd timers; without systemd, run them here.
health=""
for _ in $(seq 1 60); do
  podman healthcheck run "$ctr" > /dev/null 2>&1 && { health=healthy; break; }
  sleep 1
done
check "trustbox container healthy (HEALTHCHECK on /healthz)" [ "$health" = healthy ]
check "trustbox runs as uid 10001, not root" [ "$(podman exec "$ctr" id -u 2>/dev/null)" = 10001 ]
health=""
for _ in $(seq 1 60); do
  podman healthcheck run "$hctr" > /dev/null 2>&1 && { health=healthy; break; }
  sleep 1
done
check "helper container healthy" [ "$health" = healthy ]
check "helper runs as uid 10001, not root" [ "$(podman exec "$hctr" id -u 2>/dev/null)" = 10001 ]

# --- the demo (started by up; it waits for /healthz by itself)
rc=$(timeout 300 podman wait "$demo" 2>/dev/null | tail -1)
podman logs "$demo" > "$work/demo.log" 2>&1
sed 's/^/     | /' "$work/demo.log"
check "demo exited 0" [ "$rc" = 0 ]
check "demo: certbot dns-01 (RFC 2136, lab TSIG key from the volume) got www.lab.test" \
  grep -q '^demo: certbot (dns-01, RFC 2136) got a certificate for www.lab.test' "$work/demo.log"
check "demo: SCT from the lab CT log" grep -q '^demo: SCT present, from the lab CT log' "$work/demo.log"
check "demo: DAP task created on the leader and imported by the helper" \
  grep -q '^demo: DAP task .*leader https://trustbox:14000/dap/leader/, helper https://helper:14000/dap/helper/' "$work/demo.log"
check "demo: divviup-ts uploaded 7 reports" grep -q '^demo: divviup-ts uploaded 7 reports' "$work/demo.log"
# The demo's measurements are [0,1,1,3,2,1,3]: the histogram is exactly [1,3,1,2].
check "demo: trustbox dap collect returns the exact aggregate (7 reports, [1,3,1,2])" \
  grep -Eq '^demo: trustbox dap collect: \{"report_count":7,.*"aggregate":\[1,3,1,2\]\}$' "$work/demo.log"

# --- from the host
podman exec "$ctr" trustbox root -c /etc/trustbox/trustbox.lua > "$work/root.pem" 2>/dev/null
check "root CA from the container" grep -q 'BEGIN CERTIFICATE' "$work/root.pem"
podman exec "$hctr" trustbox root -c /etc/trustbox/helper.lua > "$work/helper-root.pem" 2>/dev/null
check "the helper has its own root CA, not the leader's" \
  test -s "$work/helper-root.pem" -a "$(openssl x509 -in "$work/helper-root.pem" -noout -fingerprint -sha256 2>/dev/null)" \
  != "$(openssl x509 -in "$work/root.pem" -noout -fingerprint -sha256 2>/dev/null)"
check "the helper's own store has the task, as the helper's" \
  grep -q '"aggregator":[[:space:]]*"helper"' <<< "$(podman exec "$hctr" trustbox dap task list -c /etc/trustbox/helper.lua 2>/dev/null)"
vol=$(podman volume inspect --format '{{.Mountpoint}}' "${project}_demo-data" 2>/dev/null)
cp "$vol/cert.pem" "$vol/chain.pem" "$work/" 2>/dev/null
verify_cert() { openssl verify -CAfile "$work/root.pem" -untrusted "$work/chain.pem" -- "$work/cert.pem" > /dev/null; }
check "www.lab.test certificate verifies against the container's root" verify_cert
check "certificate names www.lab.test" \
  grep -q 'DNS:www.lab.test' <<< "$(openssl x509 -in "$work/cert.pem" -noout -ext subjectAltName 2>/dev/null)"
check "certificate carries an SCT" \
  grep -q 'CT Precertificate SCTs' <<< "$(openssl x509 -in "$work/cert.pem" -noout -text 2>/dev/null)"
check "curl --cacert root https://127.0.0.1:14000/dir" \
  grep -q '"newOrder"' <<< "$(curl -fsS --max-time 10 --cacert "$work/root.pem" https://127.0.0.1:14000/dir)"
check "curl --cacert root https://localhost:14000/api/v1/status" \
  curl -fsS --max-time 10 -o /dev/null --cacert "$work/root.pem" https://localhost:14000/api/v1/status
check "curl http://127.0.0.1:14080/healthz" \
  grep -qx ok <<< "$(curl -fsS --max-time 10 http://127.0.0.1:14080/healthz)"
check "dig @127.0.0.1 -p 5353 www.lab.test A (udp)" \
  grep -qx 127.0.0.1 <<< "$(dig +short +time=3 +tries=2 @127.0.0.1 -p 5353 www.lab.test A)"
check "dig +tcp @127.0.0.1 -p 5353 lab.test SOA" \
  grep -q '^ns.lab.test. ' <<< "$(dig +short +tcp +time=3 +tries=2 @127.0.0.1 -p 5353 lab.test SOA)"
# DNS over TLS, the certificate checked against the container's root for the name localhost
check "kdig +tls @127.0.0.1 -p 8853 www.lab.test A (certificate verified)" \
  grep -qx 127.0.0.1 <<< "$(kdig +short +time=3 +retry=1 +tls-ca="$work/root.pem" +tls-hostname=localhost \
    @127.0.0.1 -p 8853 www.lab.test A)"
check "kdig +tls with another root (the helper's) refuses the certificate" \
  test -z "$(kdig +short +time=3 +retry=0 +tls-ca="$work/helper-root.pem" +tls-hostname=localhost \
    @127.0.0.1 -p 8853 www.lab.test A 2>/dev/null)"
check "hermetic: trustbox does not iterate here (banner: local zones only)" \
  grep -q 'DNS resolution *local zones only (iterate = false)' <<< "$(podman logs "$ctr" 2>&1)"
check "hermetic: a name outside lab.test is REFUSED, not resolved" \
  grep -q 'status: REFUSED' <<< "$(dig +time=3 +tries=2 @127.0.0.1 -p 5353 example.com A)"
check "certbot cleaned up its _acme-challenge TXT record" \
  [ -z "$(dig +short +time=3 +tries=2 @127.0.0.1 -p 5353 _acme-challenge.www.lab.test TXT)" ]

# --- down keeps the state, down -v wipes it
fp() { podman exec "$ctr" trustbox root -c /etc/trustbox/trustbox.lua 2>/dev/null | openssl x509 -noout -fingerprint -sha256; }
fp1=$(fp)
if pc down && pc up -d trustbox; then
  for _ in $(seq 1 30); do podman healthcheck run "$ctr" > /dev/null 2>&1 && break; sleep 1; done
  check "podman-compose down + up keeps the state (same root CA)" test -n "$fp1" -a "$fp1" = "$(fp)"
else
  bad "podman-compose down + up"
fi
pc down -v
check "podman-compose down -v removes the volumes" \
  [ -z "$(podman volume ls -q --filter "label=io.podman.compose.project=$project")" ]
