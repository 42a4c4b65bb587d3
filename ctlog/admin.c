/*
 * The CT log's part of the admin API (docs/api.md), mounted at /api/v1/ct
 * on every listener: the logs and their checkpoints, entries with the
 * (pre)certificate decoded (mbedTLS x509), and inclusion and consistency
 * proofs computed from the tile store with merkle.c, as get-proof-by-hash
 * and get-sth-consistency do. All reads (TB_ROUTE_ADMIN_READ): open on
 * loopback listeners, a token elsewhere. The store is read through db.c.
 */
#include "ctlog/ctlog_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/oid.h>
#include <mbedtls/pem.h>
#include <mbedtls/x509_crt.h>

#include "core/admin.h"
#include "core/error.h"
#include "core/http.h"

/* ---- helpers ---- */

static struct ct_log *log_param(struct ct_service *svc, struct tb_http_request *req)
{
	const char *name = tb_http_path_param(req, "name");
	for (size_t i = 0; name && i < svc->n_logs; i++)
		if (strcmp(svc->logs[i].name, name) == 0)
			return &svc->logs[i];
	return NULL;
}

/* A non-negative decimal query parameter: 1 found, 0 absent, -1 malformed. */
static int param_u64(struct tb_http_request *req, const char *name, uint64_t *v)
{
	const char *s = tb_http_query_param(req, name);
	if (!s || !*s)
		return 0;
	if (strlen(s) > 19)
		return -1;
	uint64_t n = 0;
	for (const char *c = s; *c; c++) {
		if (*c < '0' || *c > '9')
			return -1;
		n = n * 10 + (uint64_t)(*c - '0');
	}
	*v = n;
	return 1;
}

static void add_b64(cJSON *o, const char *name, const uint8_t *p, size_t n)
{
	ct_json_add_b64(o, name, p, n);
}

/* RFC 3339 of a millisecond timestamp, with the milliseconds. */
static void add_time_ms(cJSON *o, const char *name, uint64_t ms)
{
	char buf[48];
	tb_admin_time((int64_t)(ms / 1000), buf, sizeof buf);
	if (strlen(buf) == 20)
		snprintf(buf + 19, sizeof buf - 19, ".%03dZ", (int)(ms % 1000));
	cJSON_AddStringToObject(o, name, buf);
}

/* ---- logs ---- */

static cJSON *log_json(struct ct_log *log)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "name", log->name);
	add_b64(o, "log_id", log->log_id, CT_HASH_LEN);
	cJSON_AddStringToObject(o, "url", log->sub_url);
	cJSON_AddStringToObject(o, "monitoring_url", log->mon_url);
	cJSON_AddNumberToObject(o, "tree_size", (double)log->size);
	add_b64(o, "root_hash", log->root, CT_HASH_LEN);
	char *note = malloc(log->checkpoint.len + 1);
	if (note) {
		if (log->checkpoint.len)
			memcpy(note, log->checkpoint.p, log->checkpoint.len);
		note[log->checkpoint.len] = 0;
	}
	cJSON_AddStringToObject(o, "checkpoint", note ? note : "");
	free(note);
	add_time_ms(o, "checkpoint_time", log->sth_timestamp);
	cJSON_AddStringToObject(o, "origin", log->origin);
	add_b64(o, "public_key", log->spki.p, log->spki.len);
	cJSON_AddNumberToObject(o, "mmd", log->mmd);
	return o;
}

static int h_logs(struct tb_http_request *req, void *arg)
{
	struct ct_service *svc = arg;
	cJSON *items = cJSON_CreateArray();
	for (size_t i = 0; items && i < svc->n_logs; i++)
		cJSON_AddItemToArray(items, log_json(&svc->logs[i]));
	/* A handful of logs: one page. */
	return tb_admin_respond_list(req, items, NULL);
}

/* ---- entries ---- */

/* The precertificate poison (RFC 6962 3.1) is the one critical extension mbedTLS does not know. */
static int ext_cb(void *ctx, mbedtls_x509_crt const *crt, mbedtls_x509_buf const *oid, int critical,
	const unsigned char *p, const unsigned char *end)
{
	static const uint8_t poison[] = { 0x2b, 0x06, 0x01, 0x04, 0x01, 0xd6, 0x79, 0x02, 0x04, 0x03 };
	(void)ctx;
	(void)crt;
	(void)p;
	(void)end;
	if (oid->len == sizeof poison && memcmp(oid->p, poison, sizeof poison) == 0)
		return 0;
	return critical ? -1 : 0;
}

static int64_t days_from_civil(int y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void add_x509_time(cJSON *o, const char *name, const mbedtls_x509_time *t)
{
	int64_t s = days_from_civil(t->year, t->mon, t->day) * 86400 + t->hour * 3600 + t->min * 60 + t->sec;
	tb_admin_add_time(o, name, s);
}

static void add_dn(cJSON *o, const char *name, const mbedtls_x509_name *dn)
{
	char buf[512];
	if (mbedtls_x509_dn_gets(buf, sizeof buf, dn) < 0)
		buf[0] = 0;
	cJSON_AddStringToObject(o, name, buf);
}

/* dNSName and iPAddress entries of the subjectAltName. */
static void add_sans(cJSON *o, const mbedtls_x509_crt *crt)
{
	cJSON *a = cJSON_AddArrayToObject(o, "sans");
	for (const mbedtls_x509_sequence *s = &crt->subject_alt_names; a && s && s->buf.p; s = s->next) {
		char buf[300];
		if (s->buf.tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2)) {
			snprintf(buf, sizeof buf, "%.*s", (int)s->buf.len, (const char *)s->buf.p);
		} else if (s->buf.tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7) && s->buf.len == 4) {
			snprintf(buf, sizeof buf, "%u.%u.%u.%u", s->buf.p[0], s->buf.p[1], s->buf.p[2], s->buf.p[3]);
		} else if (s->buf.tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7) && s->buf.len == 16) {
			size_t off = 0;
			for (int i = 0; i < 16; i += 2)
				off += (size_t)snprintf(buf + off, sizeof buf - off, "%s%x", i ? ":" : "",
					s->buf.p[i] << 8 | s->buf.p[i + 1]);
		} else {
			continue;
		}
		cJSON_AddItemToArray(a, cJSON_CreateString(buf));
	}
}

/* The certificate a log entry is about: the certificate, or the submitted precertificate. */
static struct tb_buf entry_der(const struct ct_entry *e)
{
	return e->type == CT_ENTRY_PRECERT ? e->precert : e->cert;
}

static cJSON *entry_json(uint64_t index, const struct ct_entry *e, int with_pem)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	cJSON_AddNumberToObject(o, "index", (double)index);
	add_time_ms(o, "timestamp", e->timestamp);
	cJSON_AddStringToObject(o, "type", e->type == CT_ENTRY_PRECERT ? "precert" : "x509");
	struct tb_buf der = entry_der(e);
	mbedtls_x509_crt crt;
	mbedtls_x509_crt_init(&crt);
	if (der.len && mbedtls_x509_crt_parse_der_with_ext_cb(&crt, der.p, der.len, 1, ext_cb, NULL) == 0) {
		char serial[2 * 32 + 1] = "";
		const uint8_t *sp = crt.serial.p;
		size_t sl = crt.serial.len;
		while (sl > 1 && sp[0] == 0) { /* as openssl prints it: no sign byte */
			sp++;
			sl--;
		}
		for (size_t i = 0; i < sl && i < 32; i++)
			snprintf(serial + 2 * i, 3, "%02X", sp[i]);
		cJSON_AddStringToObject(o, "serial", serial);
		add_dn(o, "subject", &crt.subject);
		add_sans(o, &crt);
		add_dn(o, "issuer", &crt.issuer);
		add_x509_time(o, "not_before", &crt.valid_from);
		add_x509_time(o, "not_after", &crt.valid_to);
	} else {
		cJSON_AddNullToObject(o, "serial");
		cJSON_AddNullToObject(o, "subject");
		cJSON_AddArrayToObject(o, "sans");
		cJSON_AddNullToObject(o, "issuer");
		cJSON_AddNullToObject(o, "not_before");
		cJSON_AddNullToObject(o, "not_after");
	}
	mbedtls_x509_crt_free(&crt);
	uint8_t lh[CT_HASH_LEN];
	if (ct_entry_leaf_hash(e, lh) == 0)
		add_b64(o, "leaf_hash", lh, CT_HASH_LEN);
	if (with_pem) {
		unsigned char *pem = malloc(der.len * 2 + 128);
		size_t olen = 0;
		if (pem && mbedtls_pem_write_buffer("-----BEGIN CERTIFICATE-----\n", "-----END CERTIFICATE-----\n", der.p,
			    der.len, pem, der.len * 2 + 128, &olen) == 0)
			cJSON_AddStringToObject(o, "pem", (const char *)pem);
		else
			cJSON_AddNullToObject(o, "pem");
		free(pem);
	}
	return o;
}

#define MAX_ENTRIES_PAGE TB_ADMIN_PAGE_MAX

/*
 * ?start=&count= (or the list convention's ?cursor=&limit=: the cursor is
 * the next index); count defaults to 50 and is clamped to 500 and to the
 * tree. next: the index after the last returned while the tree has more.
 */
static int h_entries(struct tb_http_request *req, void *arg)
{
	struct ct_log *log = log_param(arg, req);
	if (!log)
		return tb_admin_problem(req, 404, "notFound", "no log of that name");
	uint64_t start = 0, count = TB_ADMIN_PAGE_DEFAULT;
	int a = param_u64(req, "start", &start), b = a ? 0 : param_u64(req, "cursor", &start);
	int c = param_u64(req, "count", &count), d = c ? 0 : param_u64(req, "limit", &count);
	if (a < 0 || b < 0 || c < 0 || d < 0 || ((c > 0 || d > 0) && count == 0))
		return tb_admin_problem(req, 400, "malformed", "start (or cursor) >= 0, 0 < count (or limit)");
	if (count > MAX_ENTRIES_PAGE)
		count = MAX_ENTRIES_PAGE;
	cJSON *items = cJSON_CreateArray();
	if (!items)
		return TB_ERR_NOMEM;
	if (start >= log->size)
		return tb_admin_respond_list(req, items, NULL);
	if (count > log->size - start)
		count = log->size - start;
	struct tb_bytes data = { 0 };
	struct ct_entry *es = calloc((size_t)count, sizeof *es);
	int err = es ? ct_db_read_leaves(log, start, count, &data) : TB_ERR_NOMEM;
	if (!err)
		err = ct_data_tile_read(tb_bytes_buf(&data), es, (size_t)count);
	for (size_t i = 0; !err && i < count; i++)
		cJSON_AddItemToArray(items, entry_json(start + i, &es[i], 0));
	free(es);
	tb_bytes_free(&data);
	if (err) {
		cJSON_Delete(items);
		return tb_admin_problem(req, 503, "unavailable", tb_strerror(err));
	}
	char next[24];
	snprintf(next, sizeof next, "%llu", (unsigned long long)(start + count));
	return tb_admin_respond_list(req, items, start + count < log->size ? next : NULL);
}

static int h_entry(struct tb_http_request *req, void *arg)
{
	struct ct_log *log = log_param(arg, req);
	const char *is = tb_http_path_param(req, "index");
	uint64_t index = 0;
	size_t n = is ? strlen(is) : 0;
	int ok = log && n > 0 && n < 20;
	for (size_t i = 0; ok && i < n; i++) {
		ok = is[i] >= '0' && is[i] <= '9';
		index = index * 10 + (uint64_t)(is[i] - '0');
	}
	if (!ok || index >= log->size)
		return tb_admin_problem(req, 404, "notFound", "no such log or entry");
	struct tb_bytes data = { 0 };
	struct ct_entry e;
	int err = ct_db_read_leaves(log, index, 1, &data);
	if (!err)
		err = ct_data_tile_read(tb_bytes_buf(&data), &e, 1);
	cJSON *o = err ? NULL : entry_json(index, &e, 1);
	tb_bytes_free(&data);
	if (err)
		return tb_admin_problem(req, 503, "unavailable", tb_strerror(err));
	return tb_admin_respond(req, 200, o);
}

/* ---- proofs ---- */

static cJSON *proof_json(uint8_t proof[][CT_HASH_LEN], size_t n)
{
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; a && i < n; i++)
		cJSON_AddItemToArray(a, ct_json_b64(proof[i], CT_HASH_LEN));
	return a;
}

/* MTH(D[0:size]) from the tiles (the published root for the current size). */
static int root_at(struct ct_log *log, struct ct_tile_hasher *h, uint64_t size, uint8_t out[CT_HASH_LEN])
{
	if (size == log->size) {
		memcpy(out, log->root, CT_HASH_LEN);
		return 0;
	}
	if (size == 0) {
		ct_empty_root(out);
		return 0;
	}
	ct_tile_hasher_init(h, ct_db_read_tile, log, size);
	return ct_tree_hash(ct_tile_hasher_get, h, size, out);
}

static int h_inclusion(struct tb_http_request *req, void *arg)
{
	struct ct_log *log = log_param(arg, req);
	if (!log)
		return tb_admin_problem(req, 404, "notFound", "no log of that name");
	uint64_t index = 0, size = log->size;
	int a = param_u64(req, "index", &index), b = param_u64(req, "tree_size", &size);
	if (a <= 0 || b < 0 || index >= size || size > log->size)
		return tb_admin_problem(req, 400, "malformed", "need index < tree_size <= the log's tree size");
	struct tb_bytes data = { 0 };
	struct ct_entry e;
	uint8_t lh[CT_HASH_LEN], root[CT_HASH_LEN], proof[CT_MAX_PROOF][CT_HASH_LEN];
	size_t n = 0;
	struct ct_tile_hasher *h = malloc(sizeof *h);
	int err = h ? ct_db_read_leaves(log, index, 1, &data) : TB_ERR_NOMEM;
	if (!err)
		err = ct_data_tile_read(tb_bytes_buf(&data), &e, 1);
	if (!err)
		err = ct_entry_leaf_hash(&e, lh);
	tb_bytes_free(&data);
	if (!err) {
		ct_tile_hasher_init(h, ct_db_read_tile, log, size);
		err = ct_inclusion_proof(ct_tile_hasher_get, h, index, size, proof, &n);
	}
	if (!err)
		err = root_at(log, h, size, root);
	free(h);
	if (err)
		return tb_admin_problem(req, 503, "unavailable", tb_strerror(err));
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "index", (double)index);
	cJSON_AddNumberToObject(o, "tree_size", (double)size);
	add_b64(o, "leaf_hash", lh, CT_HASH_LEN);
	add_b64(o, "root_hash", root, CT_HASH_LEN);
	cJSON_AddItemToObject(o, "proof", proof_json(proof, n));
	return tb_admin_respond(req, 200, o);
}

static int h_consistency(struct tb_http_request *req, void *arg)
{
	struct ct_log *log = log_param(arg, req);
	if (!log)
		return tb_admin_problem(req, 404, "notFound", "no log of that name");
	uint64_t first = 0, second = log->size;
	int a = param_u64(req, "first", &first), b = param_u64(req, "second", &second);
	if (a <= 0 || b < 0 || first > second || second > log->size)
		return tb_admin_problem(req, 400, "malformed", "need first <= second <= the log's tree size");
	uint8_t r1[CT_HASH_LEN], r2[CT_HASH_LEN], proof[CT_MAX_PROOF][CT_HASH_LEN];
	size_t n = 0;
	struct ct_tile_hasher *h = malloc(sizeof *h);
	int err = h ? 0 : TB_ERR_NOMEM;
	if (!err) {
		ct_tile_hasher_init(h, ct_db_read_tile, log, second);
		err = ct_consistency_proof(ct_tile_hasher_get, h, first, second, proof, &n);
	}
	if (!err)
		err = root_at(log, h, first, r1);
	if (!err)
		err = root_at(log, h, second, r2);
	free(h);
	if (err)
		return tb_admin_problem(req, 503, "unavailable", tb_strerror(err));
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "first", (double)first);
	cJSON_AddNumberToObject(o, "second", (double)second);
	add_b64(o, "first_root", r1, CT_HASH_LEN);
	add_b64(o, "second_root", r2, CT_HASH_LEN);
	cJSON_AddItemToObject(o, "proof", proof_json(proof, n));
	return tb_admin_respond(req, 200, o);
}

/* ---- the table ---- */

static const struct tb_http_route_def admin_routes[] = {
	{ "GET", "/logs", h_logs, 0, TB_ROUTE_ADMIN_READ },
	{ "GET", "/logs/{name}/entries", h_entries, 0, TB_ROUTE_ADMIN_READ },
	{ "GET", "/logs/{name}/entries/{index}", h_entry, 0, TB_ROUTE_ADMIN_READ },
	{ "GET", "/logs/{name}/proof/inclusion", h_inclusion, 0, TB_ROUTE_ADMIN_READ },
	{ "GET", "/logs/{name}/proof/consistency", h_consistency, 0, TB_ROUTE_ADMIN_READ },
};

static const struct tb_http_table admin_table = TB_HTTP_TABLE(admin_routes, tb_admin_route_error);

int ct_admin_register(struct ct_service *svc)
{
	if (!svc->core->http)
		return 0;
	return tb_http_mount(svc->core->http, NULL, "/api/v1/ct", &admin_table, svc);
}
