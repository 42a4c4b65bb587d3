-- trustbox embedded default configuration.
-- Everything listens on loopback, on unprivileged ports. A user's file
-- (trustbox run -c FILE) runs after this one: a section given there
-- overrides these values option by option; `listen` entries given there
-- replace these. `trustbox config dump` shows the result.

core {
  data_dir = "./trustbox-data",
  log_level = "info",
}

-- One HTTPS listener serves every HTTP API (ACME, CT log, DAP, status);
-- its certificate is issued by trustbox's own root (`trustbox root`).
listen { name = "https", address = "127.0.0.1", port = 14000, tls = true }
-- Plain HTTP on loopback, for tools that cannot be given a root (metrics scrapers).
listen { name = "http", address = "127.0.0.1", port = 14080, tls = false }

-- The lab's CT log sequences every 200 ms (1 s is the default elsewhere), so
-- that an SCT comes back quickly. (Guarded: a build may leave a subsystem out.)
if ctlog then ctlog { period_ms = 200 } end
