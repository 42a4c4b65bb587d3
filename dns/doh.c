/*
 * DNS over HTTPS (RFC 8484): a route table mounted on core's HTTP server at
 * dns.doh_path ("/dns-query"), on every listener, so it is served over
 * HTTP/1.1 and HTTP/2 (ALPN h2) alike, as browsers and `kdig +https` expect.
 *
 *   GET  /dns-query?dns=<base64url DNS message, no padding>
 *   POST /dns-query   Content-Type: application/dns-message, the message as body
 *
 * A message is answered by dns_server_answer_for exactly as one read from a
 * TCP connection (no truncation, answers up to 65535 octets), with the
 * client's address for the ACLs; an answer given later (forwarded, iterated,
 * or an update waiting for its commit) comes back through the reply callback,
 * whose transport is the HTTP request. Every DNS outcome, SERVFAIL and
 * REFUSED included, is a 200 with application/dns-message (RFC 8484 4.2.1);
 * HTTP errors are for what is not a DNS message: a missing or undecodable
 * `dns` parameter or a message shorter than a header (400), another media type
 * (415), a body over 65535 octets (413, by the route's body limit). The
 * answer's freshness (Cache-Control max-age) is the smallest TTL of its
 * answer and authority records (RFC 8484 5.1).
 */
#include "dns/dns_internal.h"

#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/http.h"
#include "core/log.h"
#include "core/subsystem.h"
#include "dns/metrics.h"

#define DOH_MSG_MAX 65535
#define DOH_MEDIA "application/dns-message"

/* Smallest TTL of the answer and authority records; -1 when there are none. */
static long min_ttl(const uint8_t *p, size_t n)
{
	struct dns_msg m;
	if (dns_msg_parse(&m, p, n) != 0)
		return -1;
	long best = -1;
	size_t na, nu;
	const struct dns_rr *a = dns_msg_section(&m, DNS_SEC_ANSWER, &na);
	const struct dns_rr *u = dns_msg_section(&m, DNS_SEC_AUTHORITY, &nu);
	for (size_t i = 0; i < na + nu; i++) {
		const struct dns_rr *rr = i < na ? &a[i] : &u[i - na];
		if (best < 0 || (long)rr->ttl < best)
			best = (long)rr->ttl;
	}
	dns_msg_free(&m);
	return best;
}

static int respond_message(struct tb_http_request *req, const uint8_t *p, size_t n)
{
	long ttl = min_ttl(p, n);
	char cc[48];
	if (ttl >= 0)
		snprintf(cc, sizeof cc, "max-age=%ld", ttl);
	else
		snprintf(cc, sizeof cc, "no-store");
	tb_http_set_header(req, "Cache-Control", cc);
	return tb_http_respond(req, 200, DOH_MEDIA, p, n);
}

/* A later answer (forwarded, iterated, update committed): the request is its transport. */
static void doh_send(const struct dns_reply *r, const uint8_t *p, size_t n)
{
	struct tb_http_request *req = r->transport;
	dns_qlog_answer(req->ctx, r, p, n); /* ctx: the server, set in answer() */
	dns_metrics_response(p, n, 2);
	respond_message(req, p, n);
}

static int bad_request(struct tb_http_request *req, int status, const char *detail)
{
	return tb_http_respond_problem(req, status, "about:blank", detail);
}

static int answer(struct tb_http_request *req, struct dns_server *s, const uint8_t *q, size_t qlen)
{
	if (qlen < 12)
		return bad_request(req, 400, "the DNS message is shorter than its 12-octet header");
	if (s->stopping)
		return tb_http_respond_problem(req, 503, "about:blank", "the DNS server is stopping");
	req->ctx = s;
	struct dns_reply reply = { .send = doh_send, .transport = req, .tcp = 1, .doh = 1, .t0 = uv_hrtime() };
	if (req->remote && dns_parse_hostport(req->remote, 0, &reply.addr) != 0)
		memset(&reply.addr, 0, sizeof reply.addr);
	s->stats.queries_doh++;
	uint8_t *out = tb_arena_alloc(req->arena, DOH_MSG_MAX);
	if (!out)
		return tb_http_respond_problem(req, 500, "about:blank", "out of memory");
	size_t n = dns_server_answer_for(s, q, qlen, &reply, out, DOH_MSG_MAX);
	if (n) {
		dns_qlog_answer(s, &reply, out, n);
		return respond_message(req, out, n);
	}
	/*
	 * 0: answered later through doh_send, or dropped (a response sent as a
	 * query). A dropped message would leave the request waiting: tell apart.
	 */
	if (q[2] & 0x80)
		return bad_request(req, 400, "the message is a response, not a query");
	return TB_HTTP_LATER;
}

static int doh_get(struct tb_http_request *req, void *arg)
{
	const char *dns = tb_http_query_param(req, "dns");
	if (!dns || !*dns)
		return bad_request(req, 400, "GET needs the query parameter dns (RFC 8484 4.1)");
	size_t len = strlen(dns);
	if (len > (DOH_MSG_MAX * 4 + 2) / 3)
		return bad_request(req, 414, "the dns parameter is longer than a 65535-octet message");
	struct tb_bytes b = { 0 };
	if (tb_base64url_decode(&b, dns, len) != 0) {
		tb_bytes_free(&b);
		return bad_request(req, 400, "the dns parameter is not base64url without padding");
	}
	uint8_t *q = tb_arena_alloc(req->arena, b.len ? b.len : 1);
	if (q && b.len)
		memcpy(q, b.p, b.len);
	size_t qlen = b.len;
	tb_bytes_free(&b);
	if (!q)
		return tb_http_respond_problem(req, 500, "about:blank", "out of memory");
	return answer(req, arg, q, qlen);
}

static int doh_post(struct tb_http_request *req, void *arg)
{
	const char *ct = tb_http_header(req, "Content-Type");
	size_t ml = strlen(DOH_MEDIA);
	if (!ct || strncasecmp(ct, DOH_MEDIA, ml) != 0 || (ct[ml] && ct[ml] != ';' && ct[ml] != ' '))
		return bad_request(req, 415, "POST needs Content-Type: application/dns-message");
	return answer(req, arg, req->body.p, req->body.len);
}

static const struct tb_http_route_def doh_routes[] = {
	{ "GET", "", doh_get, 0 },
	{ "POST", "", doh_post, DOH_MSG_MAX },
};

static const struct tb_http_table doh_table = TB_HTTP_TABLE(doh_routes, NULL);

int dns_doh_register(struct dns_server *s)
{
	if (!s->doh_path[0])
		return 0;
	if (!s->core->http) {
		TB_WARN("dns", "no HTTP listener configured: DNS over HTTPS is not served");
		return 0;
	}
	int err = tb_http_mount(s->core->http, NULL, s->doh_path, &doh_table, s);
	if (err)
		return err;
	/* The banner names it on the first TLS listener (DoH clients speak HTTPS only). */
	const cJSON *it;
	cJSON_ArrayForEach(it, tb_config_section(s->core->config, "listen")) {
		if (!tb_cfg_bool(it, "tls"))
			continue;
		int port = tb_http_listener_port(s->core->http, tb_cfg_str(it, "name"));
		const char *addr = tb_cfg_str(it, "address");
		if (port <= 0 || !addr)
			continue;
		int v6 = strchr(addr, ':') != NULL;
		tb_core_announce(s->core, "dns", "DNS over HTTPS", "https://%s%s%s:%d%s", v6 ? "[" : "", addr,
			v6 ? "]" : "", port, s->doh_path);
		break;
	}
	return 0;
}
