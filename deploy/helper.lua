-- The DAP helper in a container (compose's `helper` service): a second
-- trustbox, as the second, non-colluding organisation would run it, with its
-- own volume, store, HPKE keys and root CA. It runs only the DAP helper.
core {
  data_dir = os.getenv("TRUSTBOX_DATA_DIR") or "/data",
  -- The leader and the clients reach it by its compose service name.
  hostnames = { "helper" },
}

-- 14000 HTTPS (the helper's DAP endpoints), 14080 plain HTTP (/healthz and
-- /api/v1/root.pem); compose publishes neither on the host.
listen { name = "https", address = "0.0.0.0", port = 14000, tls = true }
listen { name = "http", address = "0.0.0.0", port = 14080, tls = false }

if acme then acme { enabled = false } end
if ctlog then ctlog { enabled = false } end
if dns then dns { enabled = false } end
if dap then
  dap { role = "helper", public_url = "https://helper:14000" }
end
