/*
 * DESIGN: the DNS part of the admin API (/api/v1/dns/..., docs/api.md).
 *
 * Reads: the local zones and their records, the cache's figures, the query
 * log, and a resolution run through the very path a client's query takes
 * (dns_server_answer_for with an internal reply channel: local zones, the
 * policy hook, forwarding or iteration, the cache), reported with its RCODE,
 * sections and EDE. Writes (token always needed, core checks it before the
 * body is read): records are added and deleted through update.c's write path
 * (dns_update_submit: the RFC 2136 semantics, the serial bump and the journal
 * in the store, answered only after the commit), the cache is flushed, the
 * query log is turned on or off until a restart. Every write is logged with
 * what it changed.
 *
 * A zone is writable when it is the lab zone or a TSIG key may update it (a
 * zone whose data is only the configuration's stays as configured).
 * resolve reports the DNSSEC status as a validating stub sees it (dnssec_of).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/admin.h"
#include "core/ca.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/error.h"
#include "core/http.h"
#include "core/log.h"
#include "core/subsystem.h"
#include "dns/dns.h"
#include "dns/dns_internal.h"

#define RECORD_TEXT_MAX 8192 /* the presentation form of one record given to the API */

/* ---- helpers: core's (core/admin.h), with the cursor as an offset ---- */

#define problem tb_admin_problem
#define respond tb_admin_respond
#define json_body tb_admin_json_body

/* ?limit= and ?cursor= (an offset here); -1 after answering 400. */
static int page_get(struct tb_http_request *req, size_t *limit, size_t *offset)
{
	struct tb_admin_page pg;
	int64_t off;
	if (tb_admin_page_get(req, &pg))
		return -1;
	if (tb_admin_cursor_int(&pg, &off)) {
		problem(req, 400, "malformed", "cursor: not one this API gave");
		return -1;
	}
	*limit = pg.limit;
	*offset = (size_t)off;
	return 0;
}

static int respond_page(struct tb_http_request *req, cJSON *items, size_t offset, size_t limit, size_t total)
{
	char nx[32];
	snprintf(nx, sizeof nx, "%zu", offset + limit);
	return tb_admin_respond_list(req, items, offset + limit < total ? nx : NULL);
}

/* ---- zones ---- */

static const uint8_t lab_origin[] = "\3lab\4test";

static int zone_writable(const struct dns_server *s, const struct dns_zone *z)
{
	if (dns_name_eq(z->origin, lab_origin))
		return 1;
	for (size_t i = 0; i < s->n_keys; i++)
		for (size_t k = 0; k < s->keys[i].n_zones; k++)
			if (dns_name_eq(s->keys[i].zones[k], z->origin))
				return 1;
	return 0;
}

static uint32_t zone_serial(const struct dns_zone *z)
{
	const struct dns_rrset *soa = z->apex ? dns_node_rrset(z->apex, DNS_T_SOA) : NULL;
	if (!soa || !soa->n || dns_rd_len(soa->rd[0]) < 20)
		return 0;
	const uint8_t *p = soa->rd[0] + 2 + dns_rd_len(soa->rd[0]) - 20;
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A zone named in the path ("lab.test" or "lab.test."), or NULL after answering 404. */
static struct dns_zone *zone_param(struct tb_http_request *req, struct dns_server *s)
{
	const char *zn = tb_http_path_param(req, "zone");
	char tmp[DNS_NAME_TEXT_MAX];
	uint8_t w[DNS_NAME_MAX];
	size_t wl, n = zn ? strlen(zn) : 0;
	if (n && n + 2 < sizeof tmp) {
		snprintf(tmp, sizeof tmp, "%s%s", zn, zn[n - 1] == '.' ? "" : ".");
		if (dns_name_from_text(tmp, strlen(tmp), NULL, w, &wl) == 0)
			for (struct dns_zone *z = s->zones.zones; z; z = z->next)
				if (dns_name_eq(z->origin, w))
					return z;
	}
	problem(req, 404, "notFound", "no such local zone");
	return NULL;
}

static int zones_list(struct tb_http_request *req, void *arg)
{
	struct dns_server *s = arg;
	static const char *const sources[] = { "config", "file", "lab" };
	size_t limit, offset, i = 0;
	if (page_get(req, &limit, &offset))
		return 0;
	cJSON *items = cJSON_CreateArray();
	char nb[DNS_NAME_TEXT_MAX];
	for (const struct dns_zone *z = s->zones.zones; z; z = z->next, i++) {
		if (i < offset || i >= offset + limit)
			continue;
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", dns_name_str(z->origin, nb, sizeof nb));
		cJSON_AddNumberToObject(o, "serial", zone_serial(z));
		cJSON_AddNumberToObject(o, "records", (double)z->nrecords);
		cJSON_AddStringToObject(o, "source", sources[z->source >= 0 && z->source <= 2 ? z->source : 0]);
		cJSON_AddBoolToObject(o, "writable", zone_writable(s, z));
		cJSON_AddItemToArray(items, o);
	}
	return respond_page(req, items, offset, limit, i);
}

/* One record of a listing, for sorting into canonical order. */
struct rec_ref {
	const uint8_t *owner;
	const struct dns_rrset *rs;
	size_t k;
};

static int rec_cmp(const void *a, const void *b)
{
	const struct rec_ref *x = a, *y = b;
	int c = dns_name_cmp(x->owner, y->owner);
	if (c)
		return c;
	if (x->rs->type != y->rs->type)
		return x->rs->type < y->rs->type ? -1 : 1;
	return x->k < y->k ? -1 : x->k > y->k;
}

static cJSON *record_json(const uint8_t *owner, uint16_t type, uint32_t ttl, const uint8_t *rd, size_t len)
{
	char nb[DNS_NAME_TEXT_MAX], tb[16];
	struct tb_bytes text = { 0 };
	dns_rdata_to_text(type, rd, len, &text);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "name", dns_name_str(owner, nb, sizeof nb));
	cJSON_AddStringToObject(o, "type", dns_type_str(type, tb));
	cJSON_AddNumberToObject(o, "ttl", ttl);
	cJSON_AddStringToObject(o, "data", tb_bytes_cstr(&text) ? (const char *)text.p : "");
	tb_bytes_free(&text);
	return o;
}

static int records_list(struct tb_http_request *req, void *arg)
{
	struct dns_server *s = arg;
	struct dns_zone *z = zone_param(req, s);
	size_t limit, offset;
	if (!z || page_get(req, &limit, &offset))
		return 0;
	struct rec_ref *refs = malloc((z->nrecords ? z->nrecords : 1) * sizeof *refs);
	if (!refs)
		return TB_ERR_NOMEM;
	size_t n = 0;
	for (size_t b = 0; b < z->nbuckets; b++)
		for (const struct dns_node *nd = z->buckets[b]; nd; nd = nd->hnext)
			for (const struct dns_rrset *rs = nd->rrsets; rs; rs = rs->next)
				for (size_t k = 0; k < rs->n && n < z->nrecords; k++)
					refs[n++] = (struct rec_ref){ nd->name, rs, k };
	qsort(refs, n, sizeof *refs, rec_cmp);
	cJSON *items = cJSON_CreateArray();
	for (size_t i = offset; i < n && i < offset + limit; i++) {
		const uint8_t *rd = refs[i].rs->rd[refs[i].k];
		cJSON_AddItemToArray(items, record_json(refs[i].owner, refs[i].rs->type, refs[i].rs->ttl, rd + 2,
						   dns_rd_len(rd)));
	}
	free(refs);
	return respond_page(req, items, offset, limit, n);
}

/*
 * A record given in presentation form (name, type, ttl, data) -> wire, parsed
 * by the master-file parser as the line "OWNER TTL IN TYPE DATA" so that every
 * type reads exactly as in a zone file. name is absolute when it ends in '.'
 * or lies in the zone, else relative to it ("@" is the apex). data NULL: no
 * RDATA (a whole RRset). Fills rr (owner and rdata in the given buffers).
 */
struct one_rr {
	struct dns_rr rr;
	uint8_t owner[DNS_NAME_MAX];
	uint8_t rdata[65535];
	int n;
};

static int take_rr(void *arg, const struct dns_rr *rr)
{
	struct one_rr *o = arg;
	if (o->n++)
		return 1;
	o->rr = *rr;
	memcpy(o->owner, rr->owner, (size_t)dns_name_len(rr->owner, DNS_NAME_MAX));
	memcpy(o->rdata, rr->rdata, rr->rdlen);
	o->rr.owner = o->owner;
	o->rr.rdata = o->rdata;
	return 0;
}

static int owner_from(const struct dns_zone *z, const char *name, uint8_t *out, const char **why)
{
	char tmp[DNS_NAME_TEXT_MAX];
	size_t n = strlen(name), ol;
	if (!n || n + 2 >= sizeof tmp) {
		*why = "name: empty or too long";
		return TB_ERR_INVALID;
	}
	if (!strcmp(name, "@")) {
		memcpy(out, z->origin, (size_t)dns_name_len(z->origin, DNS_NAME_MAX));
		return 0;
	}
	snprintf(tmp, sizeof tmp, "%s%s", name, name[n - 1] == '.' ? "" : ".");
	if (dns_name_from_text(tmp, strlen(tmp), NULL, out, &ol) == 0 &&
		(name[n - 1] == '.' || dns_name_is_sub(out, z->origin)))
		goto check;
	if (dns_name_from_text(name, n, z->origin, out, &ol)) {
		*why = "name: not a domain name";
		return TB_ERR_INVALID;
	}
check:
	if (!dns_name_is_sub(out, z->origin)) {
		*why = "name: not in this zone";
		return TB_ERR_INVALID;
	}
	return 0;
}

static int parse_record(const struct dns_zone *z, const char *name, const char *type, uint32_t ttl,
	const char *data, struct one_rr *o, const char **why)
{
	uint8_t owner[DNS_NAME_MAX];
	char nb[DNS_NAME_TEXT_MAX];
	if (owner_from(z, name, owner, why))
		return TB_ERR_INVALID;
	int t = dns_type_from_str(type, strlen(type));
	if (t < 0) {
		*why = "type: unknown";
		return TB_ERR_INVALID;
	}
	memset(&o->rr, 0, sizeof o->rr);
	o->n = 0;
	if (!data) {
		memcpy(o->owner, owner, sizeof owner);
		o->rr = (struct dns_rr){ o->owner, (uint16_t)t, DNS_C_IN, ttl, o->rdata, 0 };
		return 0;
	}
	/* one line only: no second record, no $ directive */
	if (strpbrk(data, "\r\n") || strlen(data) > RECORD_TEXT_MAX) {
		*why = "data: one line of presentation text expected";
		return TB_ERR_INVALID;
	}
	struct tb_bytes line = { 0 };
	tb_bytes_printf(&line, "%s %u IN %s %s\n", dns_name_str(owner, nb, sizeof nb), ttl, type, data);
	struct dns_zone_error ze;
	int err = tb_bytes_cstr(&line) ? dns_zonefile_parse((const char *)line.p, line.len, z->origin, ttl,
						 take_rr, o, &ze)
					: TB_ERR_NOMEM;
	tb_bytes_free(&line);
	if (err || o->n != 1) {
		*why = "data: not valid presentation data for this type";
		return TB_ERR_INVALID;
	}
	return 0;
}

/* A write waiting for its commit. */
struct write_ctx {
	struct tb_http_request *req;
	char what[600];
	int del;
};

static void write_done(void *arg, int status, int rcode, size_t changes, uint32_t serial)
{
	struct write_ctx *w = arg;
	struct tb_http_request *req = w->req;
	if (status) {
		problem(req, 503, "unavailable", "the change could not be stored");
	} else if (rcode) {
		char d[120];
		snprintf(d, sizeof d, "the update was refused (%s)", dns_rcode_str(rcode));
		problem(req, rcode == DNS_RCODE_FORMERR ? 400 : 409, rcode == DNS_RCODE_FORMERR ? "malformed" : "conflict", d);
	} else if (w->del && !changes) {
		problem(req, 404, "notFound", "no such record");
	} else {
		tb_admin_log_write(req, "%s (%zu change(s), serial %u)", w->what, changes, serial);
		cJSON *o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "changes", (double)changes);
		cJSON_AddNumberToObject(o, "serial", serial);
		respond(req, 200, o);
	}
	free(w);
}

static int submit(struct tb_http_request *req, struct dns_server *s, struct dns_zone *z, const struct dns_rr *up,
	int del, const char *what)
{
	struct write_ctx *w = calloc(1, sizeof *w);
	if (!w)
		return TB_ERR_NOMEM;
	w->req = req;
	w->del = del;
	snprintf(w->what, sizeof w->what, "%s", what);
	char by[96];
	snprintf(by, sizeof by, "the admin API (%s)", req->remote);
	int err = dns_update_submit(s, z, NULL, 0, up, 1, by, write_done, w);
	if (err) {
		free(w);
		return problem(req, 503, "unavailable", "the server is stopping");
	}
	return TB_HTTP_LATER;
}

static int record_add(struct tb_http_request *req, void *arg)
{
	struct dns_server *s = arg;
	struct dns_zone *z = zone_param(req, s);
	cJSON *b = NULL;
	if (!z || json_body(req, &b))
		return 0;
	if (!zone_writable(s, z)) {
		cJSON_Delete(b);
		return problem(req, 403, "forbidden", "this zone is not open to updates (only the lab zone and zones a TSIG key may update)");
	}
	const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(b, "name"));
	const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(b, "type"));
	const char *data = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(b, "data"));
	const cJSON *tj = cJSON_GetObjectItemCaseSensitive(b, "ttl");
	double ttl = cJSON_IsNumber(tj) ? tj->valuedouble : 300;
	if (!name || !type || !data || (tj && !cJSON_IsNumber(tj)) || ttl < 0 || ttl > 2147483647 ||
		ttl != (double)(uint32_t)ttl) {
		cJSON_Delete(b);
		return problem(req, 400, "malformed", "expected {name, type, data} strings and ttl 0..2147483647");
	}
	struct one_rr *o = malloc(sizeof *o);
	if (!o) {
		cJSON_Delete(b);
		return TB_ERR_NOMEM;
	}
	const char *why = NULL;
	int rc;
	if (parse_record(z, name, type, (uint32_t)ttl, data, o, &why)) {
		rc = problem(req, 400, "malformed", why);
	} else if (o->rr.type == DNS_T_SOA || o->rr.type == DNS_T_ANY || o->rr.type == DNS_T_OPT ||
		   o->rr.type == DNS_T_TSIG) {
		rc = problem(req, 400, "malformed", "type: not one the API adds (SOA is the server's)");
	} else {
		struct tb_bytes t = { 0 };
		dns_rr_to_text(&o->rr, &t);
		char what[600];
		snprintf(what, sizeof what, "add %.*s", (int)(t.len < 500 ? t.len : 500), t.p ? (const char *)t.p : "");
		tb_bytes_free(&t);
		rc = submit(req, s, z, &o->rr, 0, what);
	}
	free(o);
	cJSON_Delete(b);
	return rc;
}

static int record_delete(struct tb_http_request *req, void *arg)
{
	struct dns_server *s = arg;
	struct dns_zone *z = zone_param(req, s);
	if (!z)
		return 0;
	if (!zone_writable(s, z))
		return problem(req, 403, "forbidden", "this zone is not open to updates");
	const char *name = tb_http_query_param(req, "name"), *type = tb_http_query_param(req, "type");
	const char *data = tb_http_query_param(req, "data");
	if (!name)
		return problem(req, 400, "malformed", "name= is required (type= and data= narrow it)");
	if (data && !type)
		return problem(req, 400, "malformed", "data= needs type=");
	struct one_rr *o = malloc(sizeof *o);
	if (!o)
		return TB_ERR_NOMEM;
	const char *why = NULL;
	int rc;
	if (parse_record(z, name, type ? type : "ANY", 0, data, o, &why)) {
		rc = problem(req, 400, "malformed", why);
	} else {
		/* RFC 2136 2.5.4 (one record: class NONE), 2.5.2 (an RRset) and 2.5.3 (a name: ANY) */
		o->rr.rclass = data ? DNS_C_NONE : DNS_C_ANY;
		o->rr.ttl = 0;
		if (!data)
			o->rr.rdlen = 0;
		char nb[DNS_NAME_TEXT_MAX], tb[16], what[600];
		snprintf(what, sizeof what, "delete %s %s%s%.400s", dns_name_str(o->rr.owner, nb, sizeof nb),
			dns_type_str(o->rr.type, tb), data ? " " : "", data ? data : "");
		rc = submit(req, s, z, &o->rr, 1, what);
	}
	free(o);
	return rc;
}

/* ---- cache ---- */

static int cache_get(struct tb_http_request *req, void *arg)
{
	struct dns_server *s = arg;
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "entries", (double)s->cache.n);
	cJSON_AddNumberToObject(o, "bytes", (double)s->cache.bytes);
	cJSON_AddNumberToObject(o, "hits", (double)s->cache.hits);
	cJSON_AddNumberToObject(o, "misses", (double)s->cache.misses);
	cJSON_AddNumberToObject(o, "max_entries", (double)s->cache.max);
	/* how the cached answers were got: iteration from which hints, validation from which anchors */
	cJSON_AddBoolToObject(o, "iterate", s->iterate);
	cJSON_AddStringToObject(o, "root_hints", s->roots_file ? s->roots_file : "built-in");
	cJSON_AddNumberToObject(o, "forward_zones", (double)s->n_fwd);
	cJSON_AddStringToObject(o, "dnssec", s->dnssec ? "validate" : "off");
	cJSON_AddStringToObject(o, "trust_anchors", s->anchors_file ? s->anchors_file : "built-in");
	cJSON *nta = cJSON_AddArrayToObject(o, "negative_trust_anchors");
	for (size_t i = 0; i < s->n_nta; i++) {
		char nb[DNS_NAME_TEXT_MAX];
		cJSON_AddItemToArray(nta, cJSON_CreateString(dns_name_str(s->nta[i], nb, sizeof nb)));
	}
	return respond(req, 200, o);
}

static int cache_flush(struct tb_http_request *req, void *arg)
{
	struct dns_server *s = arg;
	cJSON *b = NULL;
	if (json_body(req, &b))
		return 0;
	const cJSON *nj = cJSON_GetObjectItemCaseSensitive(b, "name");
	uint8_t w[DNS_NAME_MAX];
	size_t wl;
	char tmp[DNS_NAME_TEXT_MAX];
	const char *name = cJSON_GetStringValue(nj);
	if (nj && !cJSON_IsNull(nj)) {
		size_t n = name ? strlen(name) : 0;
		if (!n || n + 2 >= sizeof tmp ||
			(snprintf(tmp, sizeof tmp, "%s%s", name, name[n - 1] == '.' ? "" : "."),
				dns_name_from_text(tmp, strlen(tmp), NULL, w, &wl))) {
			cJSON_Delete(b);
			return problem(req, 400, "malformed", "name: not a domain name");
		}
	} else {
		name = NULL;
	}
	size_t n = dns_cache_flush(&s->cache, name ? w : NULL);
	size_t cuts = dns_deleg_flush(&s->deleg, name ? w : NULL); /* zone cuts at and below the name too */
	tb_admin_log_write(req, "cache flushed (%s: %zu entr%s removed)", name ? name : "every name", n,
		n == 1 ? "y" : "ies");
	cJSON_Delete(b);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "flushed", (double)n);
	cJSON_AddNumberToObject(o, "entries", (double)s->cache.n);
	cJSON_AddNumberToObject(o, "cuts", (double)cuts);
	return respond(req, 200, o);
}

/* ---- query log ---- */

static int querylog_get(struct tb_http_request *req, void *arg)
{
	struct dns_server *s = arg;
	const struct dns_qlog *q = &s->qlog;
	size_t limit, offset;
	if (page_get(req, &limit, &offset))
		return 0;
	cJSON *items = cJSON_CreateArray();
	char nb[DNS_NAME_TEXT_MAX], tb[16], ts[40];
	/* newest first */
	for (size_t i = offset; i < q->n && i < offset + limit; i++) {
		const struct dns_qlog_entry *e = &q->ring[(q->next + q->size - 1 - i) % q->size];
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "time", tb_admin_time(e->time_ms / 1000, ts, sizeof ts));
		cJSON_AddStringToObject(o, "client", e->client);
		static const char *const via[] = { "udp", "tcp", "doh", "dot" };
		cJSON_AddStringToObject(o, "transport", via[e->tcp <= DNS_VIA_MAX ? e->tcp : 0]);
		if (e->name[0] || e->type)
			cJSON_AddStringToObject(o, "name", dns_name_str(e->name, nb, sizeof nb));
		else
			cJSON_AddNullToObject(o, "name");
		cJSON_AddStringToObject(o, "type", dns_type_str(e->type, tb));
		cJSON_AddStringToObject(o, "rcode", dns_rcode_str(e->rcode));
		cJSON_AddNumberToObject(o, "ms", e->us / 1000.0);
		cJSON_AddItemToArray(items, o);
	}
	cJSON *o = cJSON_CreateObject();
	cJSON_AddBoolToObject(o, "enabled", q->enabled);
	cJSON_AddNumberToObject(o, "size", (double)q->size);
	cJSON_AddItemToObject(o, "items", items);
	if (offset + limit < q->n) {
		char nx[32];
		snprintf(nx, sizeof nx, "%zu", offset + limit);
		cJSON_AddStringToObject(o, "next", nx);
	} else {
		cJSON_AddNullToObject(o, "next");
	}
	return respond(req, 200, o);
}

static int querylog_put(struct tb_http_request *req, void *arg)
{
	struct dns_server *s = arg;
	cJSON *b = NULL;
	if (json_body(req, &b))
		return 0;
	const cJSON *en = cJSON_GetObjectItemCaseSensitive(b, "enabled");
	if (!cJSON_IsBool(en)) {
		cJSON_Delete(b);
		return problem(req, 400, "malformed", "expected {\"enabled\": true|false}");
	}
	int on = cJSON_IsTrue(en);
	cJSON_Delete(b);
	int err = dns_qlog_enable(&s->qlog, on);
	if (err == TB_ERR_UNSUPPORTED)
		return problem(req, 409, "conflict", "dns.querylog_size is 0: the query log cannot be turned on");
	if (err)
		return err;
	tb_admin_log_write(req, "query log turned %s (until a restart)", on ? "on" : "off");
	cJSON *o = cJSON_CreateObject();
	cJSON_AddBoolToObject(o, "enabled", on);
	cJSON_AddNumberToObject(o, "size", (double)s->qlog.size);
	return respond(req, 200, o);
}

/* ---- resolve ---- */

/* One resolution in flight: its reply channel's transport. */
struct resolve_ctx {
	struct tb_http_request *req;
	const struct dns_server *s;
	int inside;              /* within dns_server_answer_for: keep an answer for after it */
	uint8_t *early;
	size_t early_len;
};

static void add_section(cJSON *arr, const struct dns_msg *m, int sec)
{
	size_t n;
	const struct dns_rr *rr = dns_msg_section(m, sec, &n);
	for (size_t i = 0; i < n; i++)
		if (rr[i].type != DNS_T_OPT && rr[i].type != DNS_T_TSIG)
			cJSON_AddItemToArray(arr, record_json(rr[i].owner, rr[i].type, rr[i].ttl, rr[i].rdata,
							  rr[i].rdlen));
}

/*
 * The DNSSEC status as a validating stub reads it: with dns.dnssec off nothing
 * was validated (indeterminate); AD set: secure; SERVFAIL with a DNSSEC EDE
 * (6 bogus, 7 expired, 8 not yet valid, 9 DNSKEY missing, 10 RRSIGs missing,
 * 12 NSEC missing): bogus; anything else (unsigned zones, local data): insecure.
 */
static const char *dnssec_of(const struct dns_server *s, const struct dns_msg *m, int rcode)
{
	if (!s->dnssec)
		return "indeterminate";
	if (m->flags & DNS_F_AD)
		return "secure";
	if (rcode == DNS_RCODE_SERVFAIL)
		for (size_t i = 0; i < m->edns.n_opts; i++) {
			const struct dns_edns_opt *op = &m->edns.opts[i];
			unsigned code = op->len >= 2 ? (unsigned)(op->data[0] << 8 | op->data[1]) : 0;
			if (op->code == DNS_OPT_EDE && ((code >= 6 && code <= 10) || code == 12))
				return "bogus";
		}
	return "insecure";
}

static int resolve_answer(struct tb_http_request *req, const struct dns_server *s, const uint8_t *p, size_t n)
{
	struct dns_msg m;
	if (dns_msg_parse(&m, p, n))
		return problem(req, 503, "unavailable", "the resolver's answer does not parse");
	int rcode = DNS_RCODE(m.flags) | (m.edns.present ? m.edns.ext_rcode << 4 : 0);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "rcode", dns_rcode_str(rcode));
	cJSON_AddBoolToObject(o, "authoritative", (m.flags & DNS_F_AA) != 0);
	cJSON_AddBoolToObject(o, "truncated", (m.flags & DNS_F_TC) != 0);
	add_section(cJSON_AddArrayToObject(o, "answer"), &m, DNS_SEC_ANSWER);
	add_section(cJSON_AddArrayToObject(o, "authority"), &m, DNS_SEC_AUTHORITY);
	cJSON_AddStringToObject(o, "dnssec", dnssec_of(s, &m, rcode));
	cJSON *ede = cJSON_AddArrayToObject(o, "ede");
	for (size_t i = 0; i < m.edns.n_opts; i++) {
		const struct dns_edns_opt *op = &m.edns.opts[i];
		if (op->code != DNS_OPT_EDE || op->len < 2)
			continue;
		cJSON *e = cJSON_CreateObject();
		cJSON_AddNumberToObject(e, "code", op->data[0] << 8 | op->data[1]);
		char *text = strndup((const char *)op->data + 2, op->len - 2u);
		cJSON_AddStringToObject(e, "text", text ? text : "");
		free(text);
		cJSON_AddItemToArray(ede, e);
	}
	dns_msg_free(&m);
	return respond(req, 200, o);
}

/* The internal reply channel: a forwarded or iterated answer arrives here. */
static void resolve_reply(const struct dns_reply *r, const uint8_t *p, size_t n)
{
	struct resolve_ctx *c = r->transport;
	if (c->inside) {
		if (!c->early && (c->early = malloc(n ? n : 1)) != NULL) {
			memcpy(c->early, p, n);
			c->early_len = n;
		}
		return;
	}
	resolve_answer(c->req, c->s, p, n);
	free(c);
}

static int resolve(struct tb_http_request *req, void *arg)
{
	struct dns_server *s = arg;
	const char *name = tb_http_query_param(req, "name"), *type = tb_http_query_param(req, "type");
	if (!type)
		type = "A";
	uint8_t w[DNS_NAME_MAX];
	size_t wl, nl = name ? strlen(name) : 0;
	char tmp[DNS_NAME_TEXT_MAX];
	if (!nl || nl + 2 >= sizeof tmp)
		return problem(req, 400, "malformed", "name= is required");
	snprintf(tmp, sizeof tmp, "%s%s", name, name[nl - 1] == '.' ? "" : ".");
	int t = dns_type_from_str(type, strlen(type));
	if (dns_name_from_text(tmp, strlen(tmp), NULL, w, &wl))
		return problem(req, 400, "malformed", "name: not a domain name");
	if (t < 0)
		return problem(req, 400, "malformed", "type: unknown");
	/* the query a validating stub sends: RD and AD, EDNS with DO (so AD and EDE come back) */
	uint8_t q[512];
	struct dns_builder b;
	uint16_t id;
	tb_random(&id, sizeof id);
	dns_builder_init(&b, q, sizeof q, id, DNS_F_RD | DNS_F_AD);
	dns_builder_question(&b, w, (uint16_t)t, DNS_C_IN);
	dns_builder_opt(&b, DNS_UDP_PAYLOAD, 0, DNS_EDNS_DO, NULL, 0, 0);
	size_t ql = dns_builder_finish(&b);
	struct resolve_ctx *c = calloc(1, sizeof *c);
	uint8_t *out = malloc(DNS_MSG_MAX);
	if (!c || !out) {
		free(c);
		free(out);
		return TB_ERR_NOMEM;
	}
	c->req = req;
	c->s = s;
	c->inside = 1;
	/* no client address: an internal caller, as the CA's resolver lookups are (may recurse) */
	struct dns_reply reply = { .send = resolve_reply, .transport = c, .tcp = 1, .t0 = uv_hrtime() };
	size_t n = dns_server_answer_for(s, q, ql, &reply, out, DNS_MSG_MAX);
	c->inside = 0;
	int rc = TB_HTTP_LATER;
	if (n || c->early) {
		rc = n ? resolve_answer(req, s, out, n) : resolve_answer(req, s, c->early, c->early_len);
		free(c->early);
		free(c);
	}
	free(out);
	return rc;
}

/* ---- the table ---- */

#define R TB_ROUTE_ADMIN_READ
#define W TB_ROUTE_ADMIN_WRITE
static const struct tb_http_route_def admin_routes[] = {
	{ "GET", "/zones", zones_list, 0, R },
	{ "GET", "/zones/{zone}/records", records_list, 0, R },
	{ "POST", "/zones/{zone}/records", record_add, 64 * 1024, W },
	{ "DELETE", "/zones/{zone}/records", record_delete, 0, W },
	{ "GET", "/cache", cache_get, 0, R },
	{ "POST", "/cache/flush", cache_flush, 0, W },
	{ "GET", "/querylog", querylog_get, 0, R },
	{ "PUT", "/querylog", querylog_put, 0, W },
	{ "GET", "/resolve", resolve, 0, R },
};
#undef R
#undef W
static const struct tb_http_table admin_table = TB_HTTP_TABLE(admin_routes, NULL);

/* ---- `trustbox dns flush [NAME]`: the flush route, called on the running instance ---- */

#define FLUSH_TIMEOUT_MS 10000

struct flush_call {
	int done, err, status;
	struct tb_bytes body;
};

static void flush_resp(int err, const struct tb_http_client_resp *resp, void *arg)
{
	struct flush_call *c = arg;
	c->done = 1;
	c->err = err;
	if (!err && resp) {
		c->status = resp->status;
		tb_bytes_append(&c->body, resp->body.p, resp->body.len);
	}
}

/*
 * The token the running instance made at its first start. Read, never
 * created: a token made here would be one the running process does not know.
 */
static int read_token(const char *data_dir, char *out, size_t cap)
{
	char path[1024];
	if (snprintf(path, sizeof path, "%s/" TB_ADMIN_TOKEN_FILE, data_dir) >= (int)sizeof path)
		return TB_ERR_TOO_LARGE;
	FILE *f = fopen(path, "r");
	if (!f)
		return TB_ERR_NOT_FOUND;
	size_t n = fread(out, 1, cap - 1, f);
	fclose(f);
	while (n && (out[n - 1] == '\n' || out[n - 1] == '\r' || out[n - 1] == ' '))
		n--;
	out[n] = 0;
	return n == TB_ADMIN_TOKEN_LEN ? 0 : TB_ERR_INVALID;
}

/*
 * Where the running instance's admin API is: the first plain listener (the
 * token then travels only over loopback when it is bound there), else the
 * first TLS one, verified against this CA's root for the name localhost.
 * An unspecified address is reached through loopback. *tls set for https.
 */
static int admin_url(const struct dns_server *s, char *url, size_t cap, char *dial, size_t dcap, int *tls)
{
	const cJSON *listen = tb_config_section(s->core->config, "listen"), *it, *pick = NULL;
	cJSON_ArrayForEach(it, listen) {
		if (!pick || (tb_cfg_bool(pick, "tls") && !tb_cfg_bool(it, "tls")))
			pick = it;
	}
	if (!pick)
		return TB_ERR_NOT_FOUND;
	const char *addr = tb_cfg_str(pick, "address");
	int port = (int)tb_cfg_int(pick, "port");
	if (port == 0)
		return TB_ERR_INVALID;
	*tls = tb_cfg_bool(pick, "tls");
	if (!strcmp(addr, "0.0.0.0") || !*addr)
		addr = "127.0.0.1";
	else if (!strcmp(addr, "::"))
		addr = "::1";
	int v6 = strchr(addr, ':') != NULL;
	snprintf(dial, dcap, "%s", addr);
	snprintf(url, cap, "%s://%s%s%s:%d/api/v1/dns/cache/flush", *tls ? "https" : "http", v6 && !*tls ? "[" : "",
		*tls ? "localhost" : addr, v6 && !*tls ? "]" : "", port);
	return 0;
}

int dns_admin_flush_command(struct dns_server *s, int argc, char **argv)
{
	const char *name = NULL, *url_arg = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--url") && i + 1 < argc)
			url_arg = argv[++i];
		else if (argv[i][0] != '-' && !name)
			name = argv[i];
		else {
			fprintf(stderr, "trustbox: usage: trustbox dns flush [NAME] [--url URL] [-c FILE]\n");
			return 2;
		}
	}
	const char *dir = s->core->data_dir ? s->core->data_dir : ".";
	char token[TB_ADMIN_TOKEN_LEN + 8];
	int err = read_token(dir, token, sizeof token);
	if (err) {
		fprintf(stderr, "trustbox: no usable admin token in %s/" TB_ADMIN_TOKEN_FILE " (%s): trustbox has not "
				"run with this data directory (core.data_dir)\n", dir,
			err == TB_ERR_NOT_FOUND ? "missing" : "not one token");
		return 1;
	}
	char url[300], dial[128];
	int tls = 0;
	if (url_arg) {
		snprintf(url, sizeof url, "%s/api/v1/dns/cache/flush", url_arg);
		tls = !strncmp(url_arg, "https:", 6);
		dial[0] = 0;
	} else if ((err = admin_url(s, url, sizeof url, dial, sizeof dial, &tls)) != 0) {
		fprintf(stderr, "trustbox: %s: give the running instance's base URL with --url\n",
			err == TB_ERR_NOT_FOUND ? "the configuration has no listener" : "its listener's port is 0 (chosen at start)");
		tb_crypto_wipe(token, sizeof token);
		return 1;
	}
	char auth[TB_ADMIN_TOKEN_LEN + 16];
	snprintf(auth, sizeof auth, "Bearer %s", token);
	tb_crypto_wipe(token, sizeof token);
	cJSON *b = cJSON_CreateObject();
	if (name)
		cJSON_AddStringToObject(b, "name", name);
	char *body = cJSON_PrintUnformatted(b);
	cJSON_Delete(b);
	struct tb_http_header h[] = { { "Content-Type", "application/json" }, { "Authorization", auth } };
	struct tb_http_client_req r = { .method = "POST", .url = url, .headers = h, .n_headers = 2,
		.body = TB_BUF(body, body ? strlen(body) : 0), .timeout_ms = FLUSH_TIMEOUT_MS,
		.ca_pem = tls && s->core->ca ? s->core->ca->root_pem : NULL, .connect_address = dial[0] ? dial : NULL };
	struct flush_call c = { 0 };
	err = body ? tb_http_client_request(s->loop, &r, flush_resp, &c) : TB_ERR_NOMEM;
	while (!err && !c.done)
		uv_run(s->loop, UV_RUN_ONCE);
	err = err ? err : c.err;
	tb_crypto_wipe(auth, sizeof auth);
	free(body);
	int rc = 1;
	cJSON *o = NULL;
	if (err == -ECONNREFUSED) {
		fprintf(stderr, "trustbox: nothing answers at %s: is trustbox running (with this configuration)?\n", url);
	} else if (err) {
		fprintf(stderr, "trustbox: %s: %s\n", url, tb_strerror(err));
	} else if (c.status == 401 || c.status == 403) {
		fprintf(stderr, "trustbox: the running instance refused the admin token from %s/" TB_ADMIN_TOKEN_FILE
				" (HTTP %d): it is not that instance's data directory\n", dir, c.status);
	} else if (c.status == 404) {
		fprintf(stderr, "trustbox: %s: not found: the instance there serves no DNS\n", url);
	} else if (c.status != 200 || !(o = cJSON_ParseWithLength((const char *)c.body.p, c.body.len))) {
		fprintf(stderr, "trustbox: %s: HTTP %d: %.*s\n", url, c.status, (int)(c.body.len > 300 ? 300 : c.body.len),
			c.body.p ? (const char *)c.body.p : "");
	} else {
		double n = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(o, "flushed"));
		double left = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(o, "entries"));
		printf("flushed %.0f cache entr%s%s%s (%.0f left)\n", n, n == 1 ? "y" : "ies", name ? " for " : "",
			name ? name : "", left);
		rc = 0;
	}
	cJSON_Delete(o);
	tb_bytes_free(&c.body);
	return rc;
}

int dns_admin_mount(struct dns_server *s)
{
	if (!s->core || !s->core->http)
		return 0;
	return tb_http_mount(s->core->http, NULL, "/api/v1/dns", &admin_table, s);
}
