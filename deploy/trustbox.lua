-- trustbox in a container (the image's /etc/trustbox/trustbox.lua; see compose.yaml).
-- It runs after the embedded default and overrides it option by option; listen
-- entries given here replace the default loopback ones.

core {
  -- TRUSTBOX_DATA_DIR: the compose demo provisions DAP tasks into this store
  -- from its own container, where the volume is mounted elsewhere.
  data_dir = os.getenv("TRUSTBOX_DATA_DIR") or "/data",
  -- The other containers reach this one by its compose service name, so the
  -- HTTPS certificate must cover that name too (localhost and 127.0.0.1 always are).
  hostnames = { "trustbox" },
}

-- Inside the container's own network namespace; compose publishes the ports
-- on the host's 127.0.0.1 only.
listen { name = "https", address = "0.0.0.0", port = 14000, tls = true }
listen { name = "http", address = "0.0.0.0", port = 14080, tls = false }

if dns then
  dns {
    listen = { "0.0.0.0:5353" },
    -- DNS over TLS (RFC 7858) with the HTTPS listeners' certificate, as the
    -- embedded default serves it on 127.0.0.1:8853.
    tls_listen = { "0.0.0.0:8853" },
    -- Dynamic updates (TSIG-signed, with the lab key this container writes to
    -- /data/lab.test.tsig) from the compose network: compose picks the network's
    -- subnet from the private ranges, so all of them are allowed here. An
    -- unsigned update, or one signed for another zone, is still refused.
    allow_update = { "127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16" },
    -- Names outside lab.test: resolved from the root servers and DNSSEC-validated
    -- (the defaults, with the built-in root hints and trust anchors), unless
    -- TRUSTBOX_DNS_ITERATE=false (compose.yaml), which refuses them; the compose
    -- test sets it so that no query leaves the machine.
    iterate = os.getenv("TRUSTBOX_DNS_ITERATE") ~= "false",
    -- Recursion for the same clients: queries published on the host's loopback
    -- arrive from the compose network's gateway, not from 127.0.0.1.
    allow_recursion = { "127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16" },
  }
end

-- The log's URL as the other containers reach it (it also names the log's
-- origin in its checkpoints); from the host it is https://127.0.0.1:14000/ct/lab/.
if ctlog then
  ctlog { logs = { { name = "lab", submission_url = "https://trustbox:14000/ct/lab/" } } }
end

-- DAP: in compose this is the leader (TRUSTBOX_DAP_ROLE=leader) and the
-- `helper` service, a second trustbox with its own root CA, is the helper:
-- TRUSTBOX_HELPER_CA names that root (exported by the helper on a volume of
-- its own), which the leader's connections to the helper must chain to. On
-- its own the image runs both aggregators, as one process does by default.
if dap then
  dap {
    role = os.getenv("TRUSTBOX_DAP_ROLE") or "both",
    public_url = "https://trustbox:14000",
    helper_ca_file = os.getenv("TRUSTBOX_HELPER_CA") or "",
    aggregation_period_ms = 200,
  }
end
