/*
 * The ACME CA's part of the admin API (docs/api.md), mounted at
 * /api/v1/acme on every listener: accounts, orders with their
 * authorizations, challenges, validation attempts and a timeline,
 * certificates decoded (mbedTLS x509) with their embedded SCTs, revocation
 * (the same path as ACME revoke-cert: acme_revoke), the rate-limit buckets
 * and the lab switches. Reads are TB_ROUTE_ADMIN_READ, changes
 * TB_ROUTE_ADMIN_WRITE: core has checked the caller before a handler runs.
 * SQL stays in db.c.
 */
#include "acme/db.h"
#include "acme/svc.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/asn1.h>
#include <mbedtls/ecp.h>
#include <mbedtls/oid.h>
#include <mbedtls/x509_crt.h>

#include "core/admin.h"
#include "core/error.h"
#include "core/log.h"
#include "core/services.h"

#define MAX_SCTS 16
#define SERIAL_HEX_MAX 64

/* ---- small helpers ---- */

/* Stored serials are lower-case hex; the API speaks upper case. */
static char *serial_upper(struct tb_arena *a, const char *hex)
{
	char *u = tb_arena_strdup(a, hex);
	for (char *p = u; p && *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	return u;
}

/* A serial from a URL: hex digits only (either case), as stored. NULL when malformed. */
static char *serial_param(struct tb_http_request *req)
{
	const char *v = tb_http_path_param(req, "serial");
	size_t n = v ? strlen(v) : 0;
	if (n == 0 || n > SERIAL_HEX_MAX)
		return NULL;
	char *l = tb_arena_strdup(req->arena, v);
	for (size_t i = 0; l && i < n; i++) {
		char c = l[i];
		if (c >= 'A' && c <= 'F')
			l[i] = (char)(c - 'A' + 'a');
		else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return NULL;
	}
	return l;
}

static cJSON *parse_or_null(const char *text)
{
	cJSON *j = text && *text ? cJSON_Parse(text) : NULL;
	return j ? j : cJSON_CreateNull();
}

static void add_cursor(char *buf, size_t cap, int64_t next, const char **out)
{
	if (next > 0) {
		snprintf(buf, cap, "%lld", (long long)next);
		*out = buf;
	} else {
		*out = NULL;
	}
}

/* Reads the page and its integer cursor; -1 after having answered 400. */
static int page_of(struct tb_http_request *req, struct tb_admin_page *pg, int64_t *cursor)
{
	if (tb_admin_page_get(req, pg))
		return -1;
	if (tb_admin_cursor_int(pg, cursor)) {
		tb_admin_problem(req, 400, "malformed", "cursor: not one this list handed out");
		return -1;
	}
	return 0;
}

static int store_error(struct tb_http_request *req, int err)
{
	return tb_admin_problem(req, 503, "unavailable", tb_strerror(err));
}

/* ---- accounts ---- */

static int h_accounts(struct tb_http_request *req, void *arg)
{
	struct acme_svc *s = arg;
	struct tb_admin_page pg;
	int64_t cursor;
	if (page_of(req, &pg, &cursor))
		return 0;
	struct acme_acct_row *rows = tb_arena_calloc(req->arena, pg.limit * sizeof *rows);
	size_t n = 0;
	int64_t next = 0;
	if (!rows)
		return TB_ERR_NOMEM;
	int err = acme_db_admin_accounts(s, req->arena, cursor, pg.limit, rows, &n, &next);
	if (err)
		return store_error(req, err);
	cJSON *items = cJSON_CreateArray();
	for (size_t i = 0; items && i < n; i++) {
		const struct acme_acct *ac = &rows[i].acct;
		cJSON *o = cJSON_CreateObject();
		cJSON_AddItemToArray(items, o);
		cJSON_AddStringToObject(o, "id", ac->id);
		cJSON_AddStringToObject(o, "status", ac->status);
		cJSON *c = cJSON_Parse(ac->contact);
		cJSON_AddItemToObject(o, "contact", c ? c : cJSON_CreateArray());
		cJSON_AddStringToObject(o, "key_thumbprint", ac->thumb);
		tb_admin_add_time(o, "created", ac->created);
		cJSON_AddNumberToObject(o, "orders", (double)rows[i].orders);
	}
	char nb[32];
	const char *nx;
	add_cursor(nb, sizeof nb, next, &nx);
	return tb_admin_respond_list(req, items, nx);
}

/* ---- orders ---- */

static cJSON *order_json(struct acme_svc *s, struct tb_arena *a, const struct acme_order *o)
{
	cJSON *j = cJSON_CreateObject();
	if (!j)
		return NULL;
	cJSON_AddStringToObject(j, "id", o->id);
	cJSON_AddStringToObject(j, "status", acme_db_order_status(s, a, o));
	cJSON_AddStringToObject(j, "account", o->account);
	cJSON *ids = cJSON_Parse(o->identifiers);
	cJSON_AddItemToObject(j, "identifiers", ids ? ids : cJSON_CreateArray());
	cJSON_AddStringToObject(j, "profile", o->profile);
	tb_admin_add_time(j, "created", o->created);
	tb_admin_add_time(j, "expires", o->expires);
	if (o->has_cert && o->cert_serial[0])
		cJSON_AddStringToObject(j, "certificate", serial_upper(a, o->cert_serial));
	else
		cJSON_AddNullToObject(j, "certificate");
	if (o->has_error)
		cJSON_AddItemToObject(j, "error", parse_or_null(o->error));
	return j;
}

struct order_filter {
	struct acme_svc *s;
	struct tb_arena *a;
	const char *status;
};

static int order_keep(void *arg, const struct acme_order *o)
{
	struct order_filter *f = arg;
	return !f->status || strcmp(acme_db_order_status(f->s, f->a, o), f->status) == 0;
}

static int h_orders(struct tb_http_request *req, void *arg)
{
	struct acme_svc *s = arg;
	struct tb_admin_page pg;
	int64_t cursor;
	if (page_of(req, &pg, &cursor))
		return 0;
	struct order_filter f = { s, req->arena, tb_http_query_param(req, "status") };
	const char *ident = tb_http_query_param(req, "identifier");
	if (f.status && !*f.status)
		f.status = NULL;
	if (ident && !*ident)
		ident = NULL;
	static const char *const statuses[] = { "pending", "ready", "processing", "valid", "invalid" };
	int known = !f.status;
	for (size_t i = 0; f.status && i < sizeof statuses / sizeof statuses[0]; i++)
		known |= strcmp(f.status, statuses[i]) == 0;
	if (!known)
		return tb_admin_problem(req, 400, "malformed", "status: one of pending, ready, processing, valid, invalid");
	struct acme_order *rows = tb_arena_calloc(req->arena, pg.limit * sizeof *rows);
	if (!rows)
		return TB_ERR_NOMEM;
	size_t n = 0;
	int64_t next = 0;
	int err = acme_db_admin_orders(s, req->arena, cursor, pg.limit, ident, order_keep, &f, rows, &n, &next);
	if (err)
		return store_error(req, err);
	cJSON *items = cJSON_CreateArray();
	for (size_t i = 0; items && i < n; i++)
		cJSON_AddItemToArray(items, order_json(s, req->arena, &rows[i]));
	char nb[32];
	const char *nx;
	add_cursor(nb, sizeof nb, next, &nx);
	return tb_admin_respond_list(req, items, nx);
}

/* ---- the timeline ---- */

struct event {
	int64_t ms;
	const char *event;
	char *detail;
};

struct timeline {
	struct event ev[256];
	size_t n;
	struct tb_arena *a;
};

static void ev_add(struct timeline *t, int64_t ms, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void ev_add(struct timeline *t, int64_t ms, const char *event, const char *fmt, ...)
{
	if (ms <= 0 || t->n == sizeof t->ev / sizeof t->ev[0])
		return;
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	t->ev[t->n++] = (struct event){ ms, event, tb_arena_strdup(t->a, buf) };
}

static int ev_rank(const char *e)
{
	static const char *const order[] = { "created", "authorization", "attempt", "finalize", "precertificate",
		"sct", "certificate", "revoked" };
	for (int i = 0; i < (int)(sizeof order / sizeof order[0]); i++)
		if (strcmp(order[i], e) == 0)
			return i;
	return 99;
}

/*
 * By second, then by the order things happen in (most times are stored in
 * whole seconds, SCT timestamps in milliseconds: an SCT of the same second
 * as its certificate came first), then by the milliseconds, then as added.
 */
static int ev_cmp(const void *x, const void *y)
{
	const struct event *a = x, *b = y;
	if (a->ms / 1000 != b->ms / 1000)
		return a->ms < b->ms ? -1 : 1;
	int ra = ev_rank(a->event), rb = ev_rank(b->event);
	if (ra != rb)
		return ra < rb ? -1 : 1;
	if (a->ms != b->ms)
		return a->ms < b->ms ? -1 : 1;
	return a < b ? -1 : a > b; /* qsort is not stable: keep insertion order */
}

/* "a.example, dns:b.example" style list of an order's identifiers, in the arena. */
static char *ident_list(struct tb_arena *a, const char *json)
{
	cJSON *ids = cJSON_Parse(json), *it;
	char buf[512] = "";
	size_t off = 0;
	cJSON_ArrayForEach(it, ids) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(it, "value");
		if (cJSON_IsString(v) && off < sizeof buf)
			off += (size_t)snprintf(buf + off, sizeof buf - off, "%s%s", off ? ", " : "", v->valuestring);
	}
	cJSON_Delete(ids);
	return tb_arena_strdup(a, buf);
}

/* RFC 3339 with milliseconds when there are any (SCT timestamps). */
static void add_time_ms(cJSON *o, const char *name, int64_t ms)
{
	char buf[48];
	tb_admin_time(ms / 1000, buf, sizeof buf);
	if (ms % 1000 && strlen(buf) == 20) {
		snprintf(buf + 19, sizeof buf - 19, ".%03dZ", (int)(ms % 1000));
	}
	cJSON_AddStringToObject(o, name, buf);
}

/* ---- SCTs embedded in a certificate (RFC 6962 3.3, static-ct-api leaf_index) ---- */

struct sct_info {
	uint8_t log_id[32];
	int64_t timestamp_ms;
	int64_t index; /* -1: none */
};

static uint64_t be(const uint8_t *p, size_t n)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* The TLS-encoded SignedCertificateTimestampList; *n at most cap. */
static void sct_list_parse(const uint8_t *p, size_t len, struct sct_info *out, size_t cap, size_t *n)
{
	if (len < 2 || be(p, 2) != len - 2)
		return;
	size_t off = 2;
	while (off + 2 <= len && *n < cap) {
		size_t sl = (size_t)be(p + off, 2);
		off += 2;
		if (off + sl > len)
			return;
		const uint8_t *q = p + off;
		off += sl;
		/* version(1) log_id(32) timestamp(8) extensions<0..2^16-1> signature */
		if (sl < 43 || q[0] != 0)
			continue;
		struct sct_info *si = &out[*n];
		memcpy(si->log_id, q + 1, 32);
		si->timestamp_ms = (int64_t)be(q + 33, 8);
		si->index = -1;
		size_t el = (size_t)be(q + 41, 2);
		if (43 + el > sl)
			continue;
		const uint8_t *e = q + 43;
		for (size_t k = 0; k + 3 <= el;) {
			uint8_t type = e[k];
			size_t dl = (size_t)be(e + k + 1, 2);
			if (k + 3 + dl > el)
				break;
			if (type == 0 && dl == 5) /* leaf_index: uint40 */
				si->index = (int64_t)be(e + k + 3, 5);
			k += 3 + dl;
		}
		(*n)++;
	}
}

/* Finds the SCT list extension (1.3.6.1.4.1.11129.2.4.2) among the certificate's extensions. */
static void cert_scts(const mbedtls_x509_crt *crt, struct sct_info *out, size_t cap, size_t *n)
{
	static const uint8_t oid[] = { 0x2b, 0x06, 0x01, 0x04, 0x01, 0xd6, 0x79, 0x02, 0x04, 0x02 };
	*n = 0;
	unsigned char *p = crt->v3_ext.p, *end = p + crt->v3_ext.len;
	size_t len;
	if (!p || mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE))
		return;
	end = p + len;
	while (p < end) {
		if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE))
			return;
		unsigned char *ext_end = p + len, *q = p;
		p = ext_end;
		size_t ol;
		if (mbedtls_asn1_get_tag(&q, ext_end, &ol, MBEDTLS_ASN1_OID))
			continue;
		int match = ol == sizeof oid && memcmp(q, oid, ol) == 0;
		q += ol;
		if (!match)
			continue;
		int crit;
		if (q < ext_end && *q == MBEDTLS_ASN1_BOOLEAN && mbedtls_asn1_get_bool(&q, ext_end, &crit))
			return;
		size_t vl, il;
		if (mbedtls_asn1_get_tag(&q, ext_end, &vl, MBEDTLS_ASN1_OCTET_STRING) ||
			mbedtls_asn1_get_tag(&q, q + vl, &il, MBEDTLS_ASN1_OCTET_STRING))
			return;
		sct_list_parse(q, il, out, cap, n);
		return;
	}
}

/* The name of the log that issued an SCT, when the CA submits to it. */
static const char *log_name(struct acme_svc *s, const uint8_t id[32])
{
	struct tb_services *sv = s->core->services;
	for (size_t i = 0; sv && i < sv->n_ct; i++)
		if (sv->ct[i]->has_log_id && memcmp(sv->ct[i]->log_id, id, 32) == 0)
			return sv->ct[i]->name;
	return NULL;
}

static void add_b64(cJSON *o, const char *name, const uint8_t *p, size_t n)
{
	struct tb_bytes b = { 0 };
	if (tb_base64_encode(&b, p, n) == 0 && tb_bytes_u8(&b, 0) == 0)
		cJSON_AddStringToObject(o, name, (const char *)b.p);
	tb_bytes_free(&b);
}

/* ---- order detail ---- */

static int h_order(struct tb_http_request *req, void *arg)
{
	struct acme_svc *s = arg;
	struct tb_arena *a = req->arena;
	const char *id = tb_http_path_param(req, "id");
	struct acme_order o;
	if (!acme_id_ok(id))
		return tb_admin_problem(req, 404, "notFound", "no such order");
	int err = acme_db_load_order(s, a, id, &o);
	if (err == TB_ERR_NOT_FOUND)
		return tb_admin_problem(req, 404, "notFound", "no such order");
	if (err)
		return store_error(req, err);
	cJSON *j = order_json(s, a, &o);
	struct timeline *t = tb_arena_calloc(a, sizeof *t);
	if (!j || !t) {
		cJSON_Delete(j);
		return TB_ERR_NOMEM;
	}
	t->a = a;
	ev_add(t, o.created * 1000, "created", "order %s for %s by account %s", o.id, ident_list(a, o.identifiers),
		o.account);

	struct acme_authz *z = tb_arena_calloc(a, ACME_MAX_ORDER_NAMES * sizeof *z);
	size_t nz = 0;
	if (!z || acme_db_load_order_authzs(s, a, o.id, z, ACME_MAX_ORDER_NAMES, &nz)) {
		cJSON_Delete(j);
		return store_error(req, TB_ERR_STORE);
	}
	cJSON *azs = cJSON_AddArrayToObject(j, "authorizations");
	for (size_t i = 0; i < nz; i++) {
		cJSON *zo = cJSON_CreateObject();
		cJSON_AddItemToArray(azs, zo);
		cJSON_AddStringToObject(zo, "id", z[i].id);
		cJSON *ident = cJSON_AddObjectToObject(zo, "identifier");
		cJSON_AddStringToObject(ident, "type", z[i].ident_type);
		cJSON_AddStringToObject(ident, "value", z[i].ident_value);
		cJSON_AddStringToObject(zo, "status", acme_authz_status(&z[i]));
		cJSON_AddBoolToObject(zo, "wildcard", z[i].wildcard);
		tb_admin_add_time(zo, "expires", z[i].expires);
		ev_add(t, z[i].created * 1000, "authorization", "%s %s%s (authorization %s, now %s)", z[i].ident_type,
			z[i].wildcard ? "*." : "", z[i].ident_value, z[i].id, acme_authz_status(&z[i]));
		struct acme_chall c[ACME_MAX_CHALLS];
		size_t nc = 0;
		acme_db_load_authz_challs(s, a, z[i].id, c, ACME_MAX_CHALLS, &nc);
		cJSON *cs = cJSON_AddArrayToObject(zo, "challenges");
		for (size_t k = 0; k < nc; k++) {
			cJSON *co = cJSON_CreateObject();
			cJSON_AddItemToArray(cs, co);
			cJSON_AddStringToObject(co, "id", c[k].id);
			cJSON_AddStringToObject(co, "type", c[k].type);
			cJSON_AddStringToObject(co, "status", c[k].status);
			cJSON_AddStringToObject(co, "token", c[k].token);
			tb_admin_add_time(co, "validated", c[k].has_validated ? c[k].validated : 0);
			if (c[k].has_error)
				cJSON_AddItemToObject(co, "error", parse_or_null(c[k].error));
			struct acme_attempt at[32];
			size_t na = 0;
			acme_db_load_attempts(s, a, c[k].id, at, 32, &na);
			cJSON *as = cJSON_AddArrayToObject(co, "attempts");
			for (size_t m = 0; m < na; m++) {
				cJSON *ao = cJSON_CreateObject();
				cJSON_AddItemToArray(as, ao);
				tb_admin_add_time(ao, "time", at[m].time);
				cJSON_AddStringToObject(ao, "target", at[m].target);
				cJSON_AddStringToObject(ao, "result", at[m].result);
				cJSON_AddItemToObject(ao, "problem", parse_or_null(at[m].problem));
				cJSON *pd = cJSON_Parse(at[m].problem);
				const cJSON *det = cJSON_GetObjectItemCaseSensitive(pd, "detail");
				ev_add(t, at[m].time * 1000, "attempt", "%s for %s: %s at %s%s%s", c[k].type, z[i].ident_value,
					at[m].result, at[m].target, cJSON_IsString(det) ? ": " : "",
					cJSON_IsString(det) ? det->valuestring : "");
				cJSON_Delete(pd);
			}
		}
	}

	struct acme_cert cert;
	char *cstatus = NULL;
	if (acme_db_order_cert(s, a, o.id, &cert, &cstatus) == 0) {
		char *up = serial_upper(a, cert.serial);
		ev_add(t, cert.finalized * 1000, "finalize", "CSR accepted, serial %s reserved", up);
		ev_add(t, cert.precert_at * 1000, "precertificate", "precertificate serial %s signed", up);
		if (strcmp(cstatus, "issued") == 0) {
			struct acme_cert full;
			if (acme_db_load_cert(s, a, cert.serial, &full) == 0) {
				mbedtls_x509_crt crt;
				mbedtls_x509_crt_init(&crt);
				struct sct_info sc[MAX_SCTS];
				size_t ns = 0;
				if (mbedtls_x509_crt_parse(&crt, (const unsigned char *)full.pem, strlen(full.pem) + 1) >= 0)
					cert_scts(&crt, sc, MAX_SCTS, &ns);
				mbedtls_x509_crt_free(&crt);
				for (size_t i = 0; i < ns; i++) {
					const char *ln = log_name(s, sc[i].log_id);
					char idx[32] = "";
					if (sc[i].index >= 0)
						snprintf(idx, sizeof idx, ", leaf index %lld", (long long)sc[i].index);
					ev_add(t, sc[i].timestamp_ms, "sct", "SCT from %s%s", ln ? ln : "an unknown log", idx);
				}
			}
			ev_add(t, cert.issued_at * 1000, "certificate", "certificate serial %s issued", up);
		}
		if (cert.revoked)
			ev_add(t, cert.revoked_at * 1000, "revoked", "serial %s revoked, reason %d", up, cert.revoked_reason);
	}
	qsort(t->ev, t->n, sizeof t->ev[0], ev_cmp);
	cJSON *tl = cJSON_AddArrayToObject(j, "timeline");
	for (size_t i = 0; i < t->n; i++) {
		cJSON *eo = cJSON_CreateObject();
		cJSON_AddItemToArray(tl, eo);
		add_time_ms(eo, "time", t->ev[i].ms);
		cJSON_AddStringToObject(eo, "event", t->ev[i].event);
		cJSON_AddStringToObject(eo, "detail", t->ev[i].detail ? t->ev[i].detail : "");
	}
	return tb_admin_respond(req, 200, j);
}

/* ---- certificates ---- */

static cJSON *cert_json(struct tb_arena *a, const struct acme_cert *c)
{
	cJSON *j = cJSON_CreateObject();
	if (!j)
		return NULL;
	cJSON_AddStringToObject(j, "serial", serial_upper(a, c->serial));
	cJSON *names = cJSON_Parse(c->names);
	cJSON_AddItemToObject(j, "identifiers", names ? names : cJSON_CreateArray());
	tb_admin_add_time(j, "not_before", c->not_before);
	tb_admin_add_time(j, "not_after", c->not_after);
	cJSON_AddStringToObject(j, "profile", c->profile);
	cJSON_AddStringToObject(j, "order", c->order_id);
	cJSON_AddStringToObject(j, "account", c->account);
	cJSON_AddBoolToObject(j, "revoked", c->revoked);
	return j;
}

static int h_certs(struct tb_http_request *req, void *arg)
{
	struct acme_svc *s = arg;
	struct tb_admin_page pg;
	int64_t cursor;
	if (page_of(req, &pg, &cursor))
		return 0;
	struct acme_cert *rows = tb_arena_calloc(req->arena, pg.limit * sizeof *rows);
	if (!rows)
		return TB_ERR_NOMEM;
	size_t n = 0;
	int64_t next = 0;
	int err = acme_db_admin_certs(s, req->arena, cursor, pg.limit, rows, &n, &next);
	if (err)
		return store_error(req, err);
	cJSON *items = cJSON_CreateArray();
	for (size_t i = 0; items && i < n; i++)
		cJSON_AddItemToArray(items, cert_json(req->arena, &rows[i]));
	char nb[32];
	const char *nx;
	add_cursor(nb, sizeof nb, next, &nx);
	return tb_admin_respond_list(req, items, nx);
}

static void add_dn(cJSON *o, const char *name, const mbedtls_x509_name *dn)
{
	char buf[512];
	if (mbedtls_x509_dn_gets(buf, sizeof buf, dn) < 0)
		buf[0] = 0;
	cJSON_AddStringToObject(o, name, buf);
}

static const char *key_type(const mbedtls_x509_crt *crt, char *buf, size_t cap)
{
	mbedtls_pk_type_t t = mbedtls_pk_get_type(&crt->pk);
	if (t == MBEDTLS_PK_ECKEY || t == MBEDTLS_PK_ECDSA) {
		const mbedtls_ecp_curve_info *ci = mbedtls_ecp_curve_info_from_grp_id(mbedtls_pk_ec(crt->pk)->grp.id);
		snprintf(buf, cap, "ECDSA %s", ci ? ci->name : "?");
	} else if (t == MBEDTLS_PK_RSA) {
		snprintf(buf, cap, "RSA %zu", mbedtls_pk_get_bitlen(&crt->pk));
	} else {
		snprintf(buf, cap, "%s", mbedtls_pk_get_name(&crt->pk));
	}
	return buf;
}

/* The certificate with everything the list shows plus its decoded fields. */
static cJSON *cert_detail(struct acme_svc *s, struct tb_arena *a, const struct acme_cert *c)
{
	cJSON *j = cert_json(a, c);
	if (!j)
		return NULL;
	cJSON_AddStringToObject(j, "pem", c->pem);
	mbedtls_x509_crt crt;
	mbedtls_x509_crt_init(&crt);
	if (mbedtls_x509_crt_parse(&crt, (const unsigned char *)c->pem, strlen(c->pem) + 1) >= 0 && crt.raw.p) {
		add_dn(j, "issuer", &crt.issuer);
		add_dn(j, "subject", &crt.subject);
		char kt[64];
		cJSON_AddStringToObject(j, "key_type", key_type(&crt, kt, sizeof kt));
		struct sct_info sc[MAX_SCTS];
		size_t ns = 0;
		cert_scts(&crt, sc, MAX_SCTS, &ns);
		cJSON *arr = cJSON_AddArrayToObject(j, "scts");
		for (size_t i = 0; i < ns; i++) {
			cJSON *so = cJSON_CreateObject();
			cJSON_AddItemToArray(arr, so);
			const char *ln = log_name(s, sc[i].log_id);
			if (ln)
				cJSON_AddStringToObject(so, "log", ln);
			else
				cJSON_AddNullToObject(so, "log");
			add_b64(so, "log_id", sc[i].log_id, 32);
			add_time_ms(so, "timestamp", sc[i].timestamp_ms);
			if (sc[i].index >= 0)
				cJSON_AddNumberToObject(so, "index", (double)sc[i].index);
			else
				cJSON_AddNullToObject(so, "index");
		}
	} else {
		cJSON_AddNullToObject(j, "issuer");
		cJSON_AddNullToObject(j, "subject");
		cJSON_AddNullToObject(j, "key_type");
		cJSON_AddArrayToObject(j, "scts");
	}
	mbedtls_x509_crt_free(&crt);
	cJSON *names = cJSON_Parse(c->names);
	cJSON_AddItemToObject(j, "sans", names ? names : cJSON_CreateArray());
	if (c->revoked) {
		cJSON *r = cJSON_AddObjectToObject(j, "revocation");
		tb_admin_add_time(r, "time", c->revoked_at);
		cJSON_AddNumberToObject(r, "reason", c->revoked_reason);
	} else {
		cJSON_AddNullToObject(j, "revocation");
	}
	return j;
}

static int h_cert(struct tb_http_request *req, void *arg)
{
	struct acme_svc *s = arg;
	char *serial = serial_param(req);
	struct acme_cert c;
	int err = serial ? acme_db_load_cert(s, req->arena, serial, &c) : TB_ERR_NOT_FOUND;
	if (err == TB_ERR_NOT_FOUND)
		return tb_admin_problem(req, 404, "notFound", "no certificate with that serial");
	if (err)
		return store_error(req, err);
	return tb_admin_respond(req, 200, cert_detail(s, req->arena, &c));
}

struct revoke_ctx {
	struct tb_http_request *req;
	struct acme_svc *s;
	char serial[SERIAL_HEX_MAX + 1];
	int reason;
};

static void revoke_done(void *arg, int status)
{
	struct revoke_ctx *rc = arg;
	struct tb_http_request *req = rc->req;
	if (status == TB_ERR_STATE) {
		tb_admin_problem(req, 409, "conflict", "the certificate is already revoked");
		return;
	}
	if (status) {
		store_error(req, status);
		return;
	}
	tb_admin_log_write(req, "revoked certificate %s, reason %d", serial_upper(req->arena, rc->serial), rc->reason);
	struct acme_cert c;
	if (acme_db_load_cert(rc->s, req->arena, rc->serial, &c) != 0) {
		store_error(req, TB_ERR_STORE);
		return;
	}
	tb_admin_respond(req, 200, cert_detail(rc->s, req->arena, &c));
}

static int h_revoke(struct tb_http_request *req, void *arg)
{
	struct acme_svc *s = arg;
	cJSON *body;
	if (tb_admin_json_body(req, &body))
		return 0;
	const cJSON *reason = cJSON_GetObjectItemCaseSensitive(body, "reason");
	int rs = 0;
	if (reason) {
		/* RFC 5280 5.3.1: 0..10, 7 unused. */
		if (!cJSON_IsNumber(reason) || reason->valuedouble != (double)(int)reason->valuedouble ||
			reason->valueint < 0 || reason->valueint > 10 || reason->valueint == 7) {
			cJSON_Delete(body);
			return tb_admin_problem(req, 400, "malformed", "reason: an RFC 5280 reason code, 0..10 except 7");
		}
		rs = reason->valueint;
	}
	cJSON_Delete(body);
	char *serial = serial_param(req);
	struct acme_cert c;
	int err = serial ? acme_db_load_cert(s, req->arena, serial, &c) : TB_ERR_NOT_FOUND;
	if (err == TB_ERR_NOT_FOUND)
		return tb_admin_problem(req, 404, "notFound", "no certificate with that serial");
	if (err)
		return store_error(req, err);
	if (c.revoked)
		return tb_admin_problem(req, 409, "conflict", "the certificate is already revoked");
	struct revoke_ctx *rc = tb_arena_calloc(req->arena, sizeof *rc);
	if (!rc)
		return TB_ERR_NOMEM;
	rc->req = req;
	rc->s = s;
	rc->reason = rs;
	snprintf(rc->serial, sizeof rc->serial, "%s", serial);
	if ((err = acme_revoke(s, serial, rs, revoke_done, rc)) != 0)
		return store_error(req, err);
	return TB_HTTP_LATER;
}

/* ---- rate limits ---- */

static int h_ratelimits(struct tb_http_request *req, void *arg)
{
	struct acme_svc *s = arg;
	struct tb_admin_page pg;
	if (tb_admin_page_get(req, &pg))
		return 0;
	/* The cursor is the last key, base64url-encoded so that it stays opaque and URL-safe. */
	char *after = NULL;
	if (pg.cursor) {
		struct tb_bytes k = { 0 };
		if (tb_base64url_decode(&k, pg.cursor, strlen(pg.cursor)) || tb_bytes_u8(&k, 0)) {
			tb_bytes_free(&k);
			return tb_admin_problem(req, 400, "malformed", "cursor: not one this list handed out");
		}
		after = tb_arena_strdup(req->arena, (const char *)k.p);
		tb_bytes_free(&k);
	}
	struct acme_bucket *rows = tb_arena_calloc(req->arena, pg.limit * sizeof *rows);
	if (!rows)
		return TB_ERR_NOMEM;
	size_t n = 0;
	int more = 0;
	int err = acme_db_admin_buckets(s, req->arena, after, pg.limit, rows, &n, &more);
	if (err)
		return store_error(req, err);
	static const struct {
		const char *prefix;
		size_t off;
		int64_t period;
	} kinds[] = {
		{ "accounts-ip", offsetof(struct acme_svc, rl_accounts_per_ip), 3600 },
		{ "orders", offsetof(struct acme_svc, rl_orders_per_account), 3600 },
		{ "certs", offsetof(struct acme_svc, rl_certs_per_domain), 7 * 86400 },
		{ "failed", offsetof(struct acme_svc, rl_failed_per_ident), 3600 },
	};
	int64_t now = acme_now();
	cJSON *items = cJSON_CreateArray();
	for (size_t i = 0; items && i < n; i++) {
		const char *colon = strchr(rows[i].key, ':');
		size_t pl = colon ? (size_t)(colon - rows[i].key) : strlen(rows[i].key);
		cJSON *o = cJSON_CreateObject();
		cJSON_AddItemToArray(items, o);
		char *bucket = tb_arena_strndup(req->arena, rows[i].key, pl);
		cJSON_AddStringToObject(o, "bucket", bucket ? bucket : "");
		cJSON_AddStringToObject(o, "key", colon ? colon + 1 : "");
		int64_t cap = 0, period = 0;
		for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
			if (strlen(kinds[k].prefix) == pl && strncmp(kinds[k].prefix, rows[i].key, pl) == 0) {
				cap = *(const int64_t *)((const char *)s + kinds[k].off);
				period = kinds[k].period;
			}
		}
		/* As acme_db_rate_take sees it now: refilled since the last change, up to the capacity. */
		double tokens = rows[i].tokens;
		if (cap > 0 && period > 0) {
			tokens += (double)(now - rows[i].updated) * (double)cap / (double)period;
			if (tokens > (double)cap)
				tokens = (double)cap;
		}
		cJSON_AddNumberToObject(o, "tokens", (double)(int64_t)(tokens * 100) / 100.0);
		cJSON_AddNumberToObject(o, "capacity", (double)cap);
		cJSON_AddNumberToObject(o, "refill", (double)period);
		tb_admin_add_time(o, "updated", rows[i].updated);
	}
	char *next = NULL;
	if (more && n > 0) {
		struct tb_bytes b = { 0 };
		if (tb_base64url_encode(&b, (const uint8_t *)rows[n - 1].key, strlen(rows[n - 1].key)) == 0 &&
			tb_bytes_u8(&b, 0) == 0)
			next = tb_arena_strdup(req->arena, (const char *)b.p);
		tb_bytes_free(&b);
	}
	return tb_admin_respond_list(req, items, next);
}

/* ---- lab switches ---- */

static cJSON *lab_json(const struct acme_svc *s)
{
	cJSON *j = cJSON_CreateObject();
	if (!j)
		return NULL;
	cJSON_AddStringToObject(j, "policy", s->strict ? "strict" : "lab");
	cJSON_AddBoolToObject(j, "always_valid", s->lab_always_valid);
	cJSON_AddNumberToObject(j, "validation_delay_ms", (double)s->lab_delay_ms);
	cJSON_AddNumberToObject(j, "reject_nonce_fraction", s->lab_reject_nonces);
	return j;
}

static int h_lab_get(struct tb_http_request *req, void *arg)
{
	return tb_admin_respond(req, 200, lab_json(arg));
}

static int h_lab_put(struct tb_http_request *req, void *arg)
{
	struct acme_svc *s = arg;
	cJSON *body;
	if (tb_admin_json_body(req, &body))
		return 0;
	const cJSON *av = cJSON_GetObjectItemCaseSensitive(body, "always_valid");
	const cJSON *dl = cJSON_GetObjectItemCaseSensitive(body, "validation_delay_ms");
	const cJSON *rn = cJSON_GetObjectItemCaseSensitive(body, "reject_nonce_fraction");
	const char *bad = NULL;
	const cJSON *it;
	cJSON_ArrayForEach(it, body) {
		if (strcmp(it->string, "always_valid") && strcmp(it->string, "validation_delay_ms") &&
			strcmp(it->string, "reject_nonce_fraction") && strcmp(it->string, "policy"))
			bad = "unknown switch (always_valid, validation_delay_ms, reject_nonce_fraction)";
	}
	if (av && !cJSON_IsBool(av))
		bad = "always_valid: a boolean";
	if (dl && (!cJSON_IsNumber(dl) || dl->valuedouble < 0 || dl->valuedouble > 600000 ||
		dl->valuedouble != (double)(int64_t)dl->valuedouble))
		bad = "validation_delay_ms: an integer 0..600000";
	if (rn && (!cJSON_IsNumber(rn) || !(rn->valuedouble >= 0 && rn->valuedouble <= 1)))
		bad = "reject_nonce_fraction: a number 0..1";
	const cJSON *pol = cJSON_GetObjectItemCaseSensitive(body, "policy");
	if (pol && !(cJSON_IsString(pol) && strcmp(pol->valuestring, s->strict ? "strict" : "lab") == 0))
		bad = "policy: set in the configuration (acme.policy), not here";
	if (bad) {
		cJSON_Delete(body);
		return tb_admin_problem(req, 400, "malformed", bad);
	}
	int on = (av && cJSON_IsTrue(av)) || (dl && dl->valuedouble > 0) || (rn && rn->valuedouble > 0);
	if (s->strict && on) {
		cJSON_Delete(body);
		return tb_admin_problem(req, 409, "conflict", "acme.policy is \"strict\": lab switches stay off");
	}
	if (av)
		s->lab_always_valid = cJSON_IsTrue(av);
	if (dl)
		s->lab_delay_ms = (int64_t)dl->valuedouble;
	if (rn)
		s->lab_reject_nonces = rn->valuedouble;
	cJSON_Delete(body);
	tb_admin_log_write(req, "ACME lab switches now always_valid=%s validation_delay_ms=%lld reject_nonce_fraction=%g"
		" (until restart)", s->lab_always_valid ? "true" : "false", (long long)s->lab_delay_ms, s->lab_reject_nonces);
	return tb_admin_respond(req, 200, lab_json(s));
}

/* ---- the table ---- */

static const struct tb_http_route_def admin_routes[] = {
	{ "GET", "/accounts", h_accounts, 0, TB_ROUTE_ADMIN_READ },
	{ "GET", "/orders", h_orders, 0, TB_ROUTE_ADMIN_READ },
	{ "GET", "/orders/{id}", h_order, 0, TB_ROUTE_ADMIN_READ },
	{ "GET", "/certificates", h_certs, 0, TB_ROUTE_ADMIN_READ },
	{ "GET", "/certificates/{serial}", h_cert, 0, TB_ROUTE_ADMIN_READ },
	{ "POST", "/certificates/{serial}/revoke", h_revoke, 4096, TB_ROUTE_ADMIN_WRITE },
	{ "GET", "/ratelimits", h_ratelimits, 0, TB_ROUTE_ADMIN_READ },
	{ "GET", "/lab", h_lab_get, 0, TB_ROUTE_ADMIN_READ },
	{ "PUT", "/lab", h_lab_put, 4096, TB_ROUTE_ADMIN_WRITE },
};

static const struct tb_http_table admin_table = TB_HTTP_TABLE(admin_routes, tb_admin_route_error);

int acme_admin_mount(struct acme_svc *s)
{
	return tb_http_mount(s->core->http, NULL, "/api/v1/acme", &admin_table, s);
}
