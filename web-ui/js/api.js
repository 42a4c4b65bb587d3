// The admin API client: JSON in and out, problem documents turned into
// errors, and the admin token (kept in sessionStorage: gone with the tab,
// never a cookie) sent as a Bearer token.

const KEY = "trustbox.token";
export const token = {
  get: () => sessionStorage.getItem(KEY) || "",
  set: (t) => (t ? sessionStorage.setItem(KEY, t) : sessionStorage.removeItem(KEY)),
};

export class ApiError extends Error {
  constructor(status, problem, url) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
    this.url = url;
  }
  // The admin route is missing from this build (not merely an unknown id).
  get missing() { return this.status === 404 && !(this.problem && String(this.problem.type).startsWith("urn:trustbox:admin")); }
}

async function parse(r, url) {
  const ct = r.headers.get("content-type") || "";
  let body = null;
  if (ct.includes("json")) body = await r.json().catch(() => null);
  else body = await r.text();
  if (!r.ok) {
    let p = body && typeof body === "object" ? body : { detail: typeof body === "string" && body ? body.trim().slice(0, 200) : undefined };
    throw new ApiError(r.status, p, url);
  }
  return body;
}

export async function get(url, opts = {}) {
  const headers = {};
  const t = token.get();
  // Reads are open on loopback; elsewhere they need the token too.
  if (t && url.startsWith("/api/v1/") && !url.startsWith("/api/v1/status") && !url.startsWith("/api/v1/root.pem"))
    headers.Authorization = "Bearer " + t;
  const r = await fetch(url, { cache: "no-store", headers, signal: opts.signal });
  return parse(r, url);
}

export async function text(url) {
  const r = await fetch(url, { cache: "no-store" });
  if (!r.ok) throw new ApiError(r.status, null, url);
  return r.text();
}

export async function write(method, url, body) {
  const headers = {};
  const t = token.get();
  if (t) headers.Authorization = "Bearer " + t;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(url, { method, headers, cache: "no-store", body: body === undefined ? undefined : JSON.stringify(body) });
  return parse(r, url);
}

// Follows a paged list ({items, next}) up to max items; a plain array is taken as is.
export async function list(url, max = 500) {
  const out = [];
  let cursor = null;
  do {
    const sep = url.includes("?") ? "&" : "?";
    const page = await get(url + sep + "limit=" + Math.min(max, 500) + (cursor ? "&cursor=" + encodeURIComponent(cursor) : ""));
    if (Array.isArray(page)) return page.slice(0, max);
    out.push(...(page.items || []));
    cursor = page.next;
  } while (cursor && out.length < max);
  return out.slice(0, max);
}

export function describe(e) {
  if (e instanceof ApiError) {
    if (e.status === 401) return "This needs the admin token (enter it at the top of the page).";
    if (e.status === 403) return "The admin token was refused.";
    return `${e.message} (HTTP ${e.status})`;
  }
  return String(e && e.message || e);
}
