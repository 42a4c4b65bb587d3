# trustbox container image (multi-stage).
#   docker build -t localhost/trustbox:latest .
#   podman build --format docker -t localhost/trustbox:latest .   (the OCI format drops HEALTHCHECK)
# BASE_IMAGE / BUILD_IMAGE let it build from a locally imported Debian 12 base
# (tests/compose/run.sh makes one with debootstrap when no registry is reachable).
ARG BASE_IMAGE=debian:12-slim
ARG BUILD_IMAGE=${BASE_IMAGE}

# --- build: the build packages of scripts/deps.sh, a release build of the binary only
FROM ${BUILD_IMAGE} AS build
COPY scripts/deps.sh /src/scripts/deps.sh
RUN bash /src/scripts/deps.sh && rm -rf /var/lib/apt/lists/*
COPY . /src
RUN cmake -S /src -B /build -DCMAKE_BUILD_TYPE=Release -DTB_TESTS=OFF >/dev/null \
 && cmake --build /build --target trustbox -j"$(nproc)" \
 && install -D -s -m 0755 /build/trustbox /out/usr/local/bin/trustbox

# --- dapclient: divviup-ts (@divviup/dap 0.9.1) for the demo, installed with Debian's npm
# LOCAL_CA_PEM: PEM certificates npm trusts besides Debian's, for build hosts
# whose network inspects TLS (tests/compose/run.sh passes the host's
# /usr/local/share/ca-certificates); this stage only, not in the demo image.
FROM ${BASE_IMAGE} AS dapclient
ARG LOCAL_CA_PEM=""
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      nodejs npm ca-certificates >/dev/null \
 && if [ -n "$LOCAL_CA_PEM" ]; then \
      printf '%s\n' "$LOCAL_CA_PEM" > /usr/local/share/ca-certificates/build-local.crt \
      && update-ca-certificates >/dev/null 2>&1; fi \
 && mkdir -p /opt/dap \
 && npm install --prefix /opt/dap --cafile /etc/ssl/certs/ca-certificates.crt \
      --no-audit --no-fund --loglevel=error @divviup/dap@0.9.1 \
 && test "$(node -p 'require("/opt/dap/node_modules/@divviup/dap/package.json").version')" = 0.9.1

# --- demo: the compose quickstart's client: certbot with RFC 2136, openssl, dig,
# curl; node with divviup-ts for DAP uploads; the trustbox binary for the DAP
# task commands and `trustbox dap collect`
FROM ${BASE_IMAGE} AS demo
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      certbot python3-certbot-dns-rfc2136 openssl curl ca-certificates bind9-dnsutils nodejs \
      libuv1 libsqlite3-0 libcjson1 liblua5.4-0 libsodium23 zlib1g \
      libmbedtls14 libmbedx509-1 libmbedcrypto7 libhttp-parser2.9 >/dev/null \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
 && groupadd --system --gid 10001 trustbox \
 && useradd --system --uid 10001 --gid 10001 --home-dir /work --create-home trustbox \
 && mkdir -p /tbdata /helperdata /helper-ca && chown 10001:10001 /tbdata /helperdata /helper-ca
COPY --from=build /out/ /
COPY --from=dapclient /opt/dap /opt/dap
COPY deploy/trustbox.lua deploy/helper.lua /etc/trustbox/
COPY deploy/dap-upload.mjs /opt/dap/upload.mjs
COPY deploy/demo.sh /usr/local/bin/trustbox-demo
USER 10001:10001
WORKDIR /work
ENTRYPOINT ["/usr/local/bin/trustbox-demo"]

# --- runtime (the default target): the shared libraries, curl for the health check
FROM ${BASE_IMAGE} AS runtime
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      libuv1 libsqlite3-0 libcjson1 liblua5.4-0 libsodium23 zlib1g \
      libmbedtls14 libmbedx509-1 libmbedcrypto7 libhttp-parser2.9 curl >/dev/null \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log \
 && groupadd --system --gid 10001 trustbox \
 && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home trustbox \
 && mkdir -p /data /helper-ca && chown 10001:10001 /data /helper-ca && chmod 0750 /data
COPY --from=build /out/ /
COPY deploy/trustbox.lua deploy/helper.lua /etc/trustbox/
COPY deploy/start.sh /usr/local/bin/trustbox-start
# The store, the CA keys and the exported files (the lab TSIG key, the CT log list).
VOLUME ["/data"]
USER 10001:10001
WORKDIR /data
# 14000 HTTPS (ACME, CT, status), 14080 plain HTTP (health, metrics, root.pem), 5353 DNS
EXPOSE 14000/tcp 14080/tcp 5353/udp 5353/tcp
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:14080/healthz"]
ENTRYPOINT ["trustbox"]
CMD ["run", "-c", "/etc/trustbox/trustbox.lua"]
