// What several pages read from /api/v1/status.
export function endpoints(status) {
  const out = [];
  for (const s of (status && status.subsystems) || [])
    for (const e of s.endpoints || []) out.push({ subsystem: s.name, what: e.what, url: e.url });
  return out;
}
export function endpoint(status, what) {
  const e = endpoints(status).find((x) => x.what === what);
  return e ? e.url : null;
}
// The base URL clients should use: the HTTPS listener, else this page's origin.
export function baseUrl(status) {
  const https = endpoint(status, "HTTPS listener");
  return (https || location.origin + "/").replace(/\/$/, "");
}
// The CT logs this instance runs: [{name, url}] from the status page's "CT log submission" lines.
export function ctLogs(status) {
  return endpoints(status).filter((e) => e.subsystem === "ctlog" && /^https?:/.test(e.url)).map((e) => {
    const path = new URL(e.url).pathname.replace(/\/$/, "");
    return { name: path.split("/").pop(), url: e.url, path };
  });
}
