/*
 * DESIGN: the HTTP face of a log: two route tables mounted by core, the
 * submission one under the submission prefix and the monitoring one under
 * the monitoring prefix (one log's may be the same prefix).
 *
 * Submission prefix: RFC 6962 ct/v1/add-chain, add-pre-chain, get-roots and,
 * computed from the same tiles, get-sth, get-sth-consistency,
 * get-proof-by-hash, get-entries, get-entry-and-proof.
 * Monitoring prefix (static-ct-api): checkpoint (no-store), tile/<L>/<N>,
 * tile/data/<N> (immutable; a partial tile is a prefix of the widest stored
 * one; the most used full tiles are kept in memory), issuer/<sha256>. Every monitoring response allows any origin.
 *
 * add-[pre-]chain answer later: the sequencer (log.c) completes the
 * submission through add_chain_done after the batch holding the entry has
 * been committed; HTTP stays here. Errors map to HTTP here only: bad input 400; pool full,
 * shutting down and a store that failed to commit (disk full, an I/O error) 503 with
 * Retry-After, since the same submission succeeds once the store writes again; anything
 * else 500.
 */
#include "ctlog/ctlog_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/compress.h"
#include "core/error.h"
#include "core/http.h"
#include "core/log.h"
#include "ctlog/metrics.h"

#define CACHE_IMMUTABLE "public, max-age=604800, immutable"

/* ---- JSON encodings (also the log list's, in ctlog.c) ------------------ */

cJSON *ct_json_b64(const void *p, size_t n)
{
	struct tb_bytes b = { 0 };
	tb_base64_encode(&b, p, n);
	cJSON *s = cJSON_CreateString(tb_bytes_cstr(&b) ? (const char *)b.p : "");
	tb_bytes_free(&b);
	return s;
}

void ct_json_add_b64(cJSON *o, const char *name, const void *p, size_t n)
{
	cJSON_AddItemToObject(o, name, ct_json_b64(p, n));
}

static int respond_error(struct tb_http_request *req, int status, const char *msg)
{
	char body[256];
	int n = snprintf(body, sizeof body, "%s\n", msg ? msg : tb_http_reason(status));
	if (status == 503)
		tb_http_set_header(req, "Retry-After", "1");
	return tb_http_respond(req, status, "text/plain; charset=utf-8", body,
		n < 0 ? 0 : (size_t)n < sizeof body ? (size_t)n : sizeof body - 1);
}

static int status_of(int err)
{
	switch (err) {
	case TB_ERR_STATE:
	case TB_ERR_CANCELED:
	case TB_ERR_STORE:
	case TB_ERR_IO:
		return 503;
	case TB_ERR_INVALID:
	case TB_ERR_VERIFY:
	case TB_ERR_TOO_LARGE:
	case TB_ERR_UNSUPPORTED:
	case TB_ERR_TRAILING:
	case TB_ERR_TRUNCATED:
		return 400;
	default:
		return 500;
	}
}

/* ---- query parameters -------------------------------------------------- */

static int param_u64(struct tb_http_request *req, const char *name, uint64_t *v)
{
	const char *s = tb_http_query_param(req, name);
	if (!s || !*s || strlen(s) > 20)
		return TB_ERR_INVALID;
	uint64_t n = 0;
	for (const char *c = s; *c; c++) {
		if (*c < '0' || *c > '9')
			return TB_ERR_INVALID;
		unsigned d = (unsigned)(*c - '0');
		if (n > (UINT64_MAX - d) / 10)
			return TB_ERR_INVALID;
		n = n * 10 + d;
	}
	*v = n;
	return 0;
}

static cJSON *proof_json(uint8_t proof[][CT_HASH_LEN], size_t n)
{
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; i < n; i++)
		cJSON_AddItemToArray(a, ct_json_b64(proof[i], CT_HASH_LEN));
	return a;
}

/* ---- submission prefix ------------------------------------------------- */

/* The sequencer's answer to an add-[pre-]chain: the SCT as RFC 6962 JSON, or an error. */
static void add_chain_done(void *ctx, const struct ct_result *res)
{
	struct tb_http_request *req = ctx;
	if (res->status) {
		respond_error(req, status_of(res->status), res->why ? res->why : tb_strerror(res->status));
		return;
	}
	struct ct_sct sct;
	if (ct_sct_read(res->sct, &sct) != 0) {
		respond_error(req, 500, "stored SCT unreadable");
		return;
	}
	cJSON *o = cJSON_CreateObject();
	struct tb_bytes ds = { 0 };
	ct_digitally_signed_write(&ds, sct.signature);
	cJSON_AddNumberToObject(o, "sct_version", sct.version);
	ct_json_add_b64(o, "id", sct.log_id, CT_HASH_LEN);
	cJSON_AddNumberToObject(o, "timestamp", (double)sct.timestamp);
	ct_json_add_b64(o, "extensions", sct.extensions.p, sct.extensions.len);
	ct_json_add_b64(o, "signature", ds.p, ds.len);
	tb_http_respond_json(req, 200, o);
	cJSON_Delete(o);
	tb_bytes_free(&ds);
}

static int add_chain(struct tb_http_request *req, struct ct_log *log, int precert)
{
	struct ct_chain chain;
	int err = ct_chain_parse_json((const char *)req->body.p, req->body.len, &chain);
	if (err) {
		tb_metric_inc(&ct_m_submissions, log->name, precert ? "add-pre-chain" : "add-chain", "rejected");
		return respond_error(req, 400, err == TB_ERR_TOO_LARGE ?
			"chain or certificate too large" : "body must be {\"chain\": [base64 DER, ...]}");
	}
	err = ct_log_submit(log, &chain, precert, add_chain_done, req);
	ct_chain_free(&chain);
	if (err) {
		return respond_error(req, status_of(err), err == TB_ERR_STATE ?
			"the pool is full, retry later" : tb_strerror(err));
	}
	return TB_HTTP_LATER;
}

static int add_chain_cert(struct tb_http_request *req, void *arg)
{
	return add_chain(req, arg, 0);
}

static int add_chain_precert(struct tb_http_request *req, void *arg)
{
	return add_chain(req, arg, 1);
}

static int get_roots(struct tb_http_request *req, void *arg)
{
	struct ct_log *log = arg;
	cJSON *o = cJSON_CreateObject();
	cJSON *a = cJSON_AddArrayToObject(o, "certificates");
	for (size_t i = 0; i < ct_roots_count(log->roots); i++) {
		struct tb_buf d = ct_roots_der(log->roots, i);
		cJSON_AddItemToArray(a, ct_json_b64(d.p, d.len));
	}
	int err = tb_http_respond_json(req, 200, o);
	cJSON_Delete(o);
	return err;
}

static int get_sth(struct tb_http_request *req, void *arg)
{
	struct ct_log *log = arg;
	cJSON *o = cJSON_CreateObject();
	struct tb_bytes ds = { 0 };
	ct_digitally_signed_write(&ds, tb_bytes_buf(&log->sth_sig));
	cJSON_AddNumberToObject(o, "tree_size", (double)log->size);
	cJSON_AddNumberToObject(o, "timestamp", (double)log->sth_timestamp);
	ct_json_add_b64(o, "sha256_root_hash", log->root, CT_HASH_LEN);
	ct_json_add_b64(o, "tree_head_signature", ds.p, ds.len);
	int err = tb_http_respond_json(req, 200, o);
	cJSON_Delete(o);
	tb_bytes_free(&ds);
	return err;
}

static int get_consistency(struct tb_http_request *req, void *arg)
{
	struct ct_log *log = arg;
	uint64_t first, second;
	if (param_u64(req, "first", &first) || param_u64(req, "second", &second) ||
		first > second || second > log->size)
		return respond_error(req, 400, "need 0 <= first <= second <= tree size");
	struct ct_tile_hasher *h = malloc(sizeof *h);
	uint8_t proof[CT_MAX_PROOF][CT_HASH_LEN];
	size_t n = 0;
	if (!h)
		return respond_error(req, 500, NULL);
	ct_tile_hasher_init(h, ct_db_read_tile, log, second);
	int err = ct_consistency_proof(ct_tile_hasher_get, h, first, second, proof, &n);
	free(h);
	if (err)
		return respond_error(req, 500, tb_strerror(err));
	cJSON *o = cJSON_CreateObject();
	cJSON_AddItemToObject(o, "consistency", proof_json(proof, n));
	err = tb_http_respond_json(req, 200, o);
	cJSON_Delete(o);
	return err;
}

static int audit_path(struct ct_log *log, uint64_t index, uint64_t size, cJSON *o)
{
	struct ct_tile_hasher *h = malloc(sizeof *h);
	uint8_t proof[CT_MAX_PROOF][CT_HASH_LEN];
	size_t n = 0;
	if (!h)
		return TB_ERR_NOMEM;
	ct_tile_hasher_init(h, ct_db_read_tile, log, size);
	int err = ct_inclusion_proof(ct_tile_hasher_get, h, index, size, proof, &n);
	free(h);
	if (!err)
		cJSON_AddItemToObject(o, "audit_path", proof_json(proof, n));
	return err;
}

static int get_proof_by_hash(struct tb_http_request *req, void *arg)
{
	struct ct_log *log = arg;
	uint64_t size, index;
	char *hs = (char *)tb_http_query_param(req, "hash");
	struct tb_bytes hash = { 0 };
	/* a '+' of base64 that the client did not percent-encode arrives as a space */
	for (char *c = hs; c && *c; c++)
		if (*c == ' ')
			*c = '+';
	if (param_u64(req, "tree_size", &size) || size == 0 || size > log->size || !hs ||
		tb_base64_decode(&hash, hs, strlen(hs)) || hash.len != CT_HASH_LEN) {
		tb_bytes_free(&hash);
		return respond_error(req, 400, "need hash (base64 SHA-256) and 0 < tree_size <= tree size");
	}
	int err = ct_db_find_hash(log, hash.p, &index);
	tb_bytes_free(&hash);
	if (err || index >= size)
		return respond_error(req, 404, "no entry with that hash in that tree");
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "leaf_index", (double)index);
	err = audit_path(log, index, size, o);
	if (!err)
		err = tb_http_respond_json(req, 200, o);
	else
		err = respond_error(req, 500, tb_strerror(err));
	cJSON_Delete(o);
	return err;
}

/* leaf_input and extra_data of one TileLeaf. */
static int entry_json(struct ct_log *log, const struct ct_entry *e, cJSON *o)
{
	struct tb_bytes leaf = { 0 }, extra = { 0 }, der = { 0 };
	int err = ct_merkle_leaf_write(&leaf, e);
	size_t chain_mark = 0;
	if (!err && e->type == CT_ENTRY_PRECERT)
		err = tb_bytes_vec(&extra, 3, e->precert.p, e->precert.len);
	if (!err)
		err = tb_bytes_vec_begin(&extra, 3, &chain_mark);
	for (size_t i = 0; !err && i < e->chain_fps.len / CT_HASH_LEN; i++) {
		der.len = 0;
		err = ct_db_read_issuer(log, e->chain_fps.p + i * CT_HASH_LEN, &der);
		if (!err)
			err = tb_bytes_vec(&extra, 3, der.p, der.len);
	}
	if (!err)
		err = tb_bytes_vec_end(&extra, 3, chain_mark);
	if (!err) {
		ct_json_add_b64(o, "leaf_input", leaf.p, leaf.len);
		ct_json_add_b64(o, "extra_data", extra.p, extra.len);
	}
	tb_bytes_free(&leaf);
	tb_bytes_free(&extra);
	tb_bytes_free(&der);
	return err;
}

static int get_entries(struct tb_http_request *req, void *arg)
{
	struct ct_log *log = arg;
	uint64_t start, end;
	if (param_u64(req, "start", &start) || param_u64(req, "end", &end) || start > end ||
		start >= log->size)
		return respond_error(req, 400, "need 0 <= start <= end and start < tree size");
	if (end >= log->size)
		end = log->size - 1;
	if (end - start >= CT_MAX_GET_ENTRIES)
		end = start + CT_MAX_GET_ENTRIES - 1;
	size_t count = (size_t)(end - start + 1);
	struct tb_bytes data = { 0 };
	struct ct_entry *es = calloc(count, sizeof *es);
	int err = es ? ct_db_read_leaves(log, start, count, &data) : TB_ERR_NOMEM;
	if (!err)
		err = ct_data_tile_read(tb_bytes_buf(&data), es, count);
	cJSON *o = cJSON_CreateObject();
	cJSON *a = cJSON_AddArrayToObject(o, "entries");
	for (size_t i = 0; !err && i < count; i++) {
		cJSON *x = cJSON_CreateObject();
		cJSON_AddItemToArray(a, x);
		err = entry_json(log, &es[i], x);
	}
	if (!err)
		err = tb_http_respond_json(req, 200, o);
	else
		err = respond_error(req, 500, tb_strerror(err));
	cJSON_Delete(o);
	free(es);
	tb_bytes_free(&data);
	return err;
}

static int get_entry_and_proof(struct tb_http_request *req, void *arg)
{
	struct ct_log *log = arg;
	uint64_t index, size;
	if (param_u64(req, "leaf_index", &index) || param_u64(req, "tree_size", &size) ||
		index >= size || size > log->size)
		return respond_error(req, 400, "need 0 <= leaf_index < tree_size <= tree size");
	struct tb_bytes data = { 0 };
	struct ct_entry e;
	int err = ct_db_read_leaves(log, index, 1, &data);
	if (!err)
		err = ct_data_tile_read(tb_bytes_buf(&data), &e, 1);
	cJSON *o = cJSON_CreateObject();
	if (!err)
		err = entry_json(log, &e, o);
	if (!err)
		err = audit_path(log, index, size, o);
	if (!err)
		err = tb_http_respond_json(req, 200, o);
	else
		err = respond_error(req, 500, tb_strerror(err));
	cJSON_Delete(o);
	tb_bytes_free(&data);
	return err;
}

/* ---- monitoring prefix ------------------------------------------------- */

static void static_headers(struct tb_http_request *req, const char *cache)
{
	tb_http_set_header(req, "Access-Control-Allow-Origin", "*");
	tb_http_set_header(req, "Cache-Control", cache);
}

static int get_checkpoint(struct tb_http_request *req, void *arg)
{
	struct ct_log *log = arg;
	static_headers(req, "no-store");
	return tb_http_respond(req, 200, "text/plain; charset=utf-8", log->checkpoint.p,
		log->checkpoint.len);
}

static struct ct_cached_tile *cache_find(struct ct_log *log, const struct ct_tile *t)
{
	for (size_t i = 0; i < CT_TILE_CACHE; i++) {
		struct ct_cached_tile *c = &log->cache[i];
		if (c->data.len && c->level == t->level && c->index == t->index) {
			c->used = ++log->cache_clock;
			return c;
		}
	}
	return NULL;
}

/* Keeps a copy of a full tile, evicting the least recently used ones. */
static void cache_put(struct ct_log *log, const struct ct_tile *t, const struct tb_bytes *body)
{
	if (body->len == 0 || body->len > CT_TILE_CACHE_BYTES / 4)
		return;
	for (;;) {
		struct ct_cached_tile *victim = NULL, *free_slot = NULL;
		for (size_t i = 0; i < CT_TILE_CACHE; i++) {
			struct ct_cached_tile *c = &log->cache[i];
			if (!c->data.len)
				free_slot = free_slot ? free_slot : c;
			else if (!victim || c->used < victim->used)
				victim = c;
		}
		if (free_slot && log->cache_bytes + body->len <= CT_TILE_CACHE_BYTES) {
			if (tb_bytes_append(&free_slot->data, body->p, body->len) != 0) {
				tb_bytes_free(&free_slot->data);
				return;
			}
			free_slot->level = t->level;
			free_slot->index = t->index;
			free_slot->used = ++log->cache_clock;
			log->cache_bytes += body->len;
			return;
		}
		if (!victim)
			return;
		log->cache_bytes -= victim->data.len;
		tb_bytes_free(&victim->data);
	}
}

/*
 * Sends a tile. Data tiles are gzipped for clients that accept it (static-ct-api
 * allows it, and they compress several-fold); hash tiles are random bytes.
 */
static int send_tile(struct tb_http_request *req, const struct ct_tile *t, const uint8_t *p, size_t n)
{
	static_headers(req, CACHE_IMMUTABLE);
	if (t->level != CT_TILE_DATA)
		return tb_http_respond(req, 200, "application/octet-stream", p, n);
	tb_http_set_header(req, "Vary", "Accept-Encoding");
	struct tb_bytes gz = { 0 };
	if (!tb_http_accepts_gzip(req) || tb_gzip(&gz, p, n) != 0) {
		tb_bytes_free(&gz);
		return tb_http_respond(req, 200, "application/octet-stream", p, n);
	}
	tb_http_set_header(req, "Content-Encoding", "gzip");
	int err = tb_http_respond(req, 200, "application/octet-stream", gz.p, gz.len);
	tb_bytes_free(&gz);
	return err;
}

static int get_tile(struct tb_http_request *req, void *arg)
{
	struct ct_log *log = arg;
	const char *rest = tb_http_path_param(req, "rest");
	struct ct_tile t;
	if (ct_tile_parse(rest, strlen(rest), &t) != 0)
		return respond_error(req, 404, "no such tile");
	unsigned have = ct_tile_width(t.level, t.index, log->size);
	/* a full tile needs a full tile; a partial one any tile at least that wide */
	if (have == 0 || have < t.width)
		return respond_error(req, 404, "no such tile");
	int full = t.width == CT_TILE_WIDTH;
	struct ct_cached_tile *hit = full ? cache_find(log, &t) : NULL;
	if (hit)
		return send_tile(req, &t, hit->data.p, hit->data.len);
	struct tb_bytes body = { 0 };
	int err;
	if (t.level == CT_TILE_DATA) {
		err = ct_db_read_leaves(log, t.index * CT_TILE_WIDTH, t.width, &body);
	} else {
		err = tb_bytes_reserve(&body, (size_t)t.width * CT_HASH_LEN);
		if (!err)
			err = ct_db_read_tile(log, t.level, t.index, t.width, body.p);
		if (!err)
			body.len = (size_t)t.width * CT_HASH_LEN;
	}
	if (err) {
		tb_bytes_free(&body);
		return respond_error(req, err == TB_ERR_NOT_FOUND ? 404 : 500, tb_strerror(err));
	}
	if (full)
		cache_put(log, &t, &body);
	err = send_tile(req, &t, body.p, body.len);
	tb_bytes_free(&body);
	return err;
}

static int get_issuer(struct tb_http_request *req, void *arg)
{
	struct ct_log *log = arg;
	const char *hex = tb_http_path_param(req, "fp");
	struct tb_bytes fp = { 0 }, der = { 0 };
	int err = strlen(hex) == 2 * CT_HASH_LEN ? tb_hex_decode(&fp, hex, strlen(hex)) : TB_ERR_INVALID;
	for (const char *c = hex; !err && *c; c++)
		if (*c >= 'A' && *c <= 'F')
			err = TB_ERR_INVALID; /* lowercase only */
	if (!err)
		err = ct_db_read_issuer(log, fp.p, &der);
	tb_bytes_free(&fp);
	if (err) {
		tb_bytes_free(&der);
		return respond_error(req, 404, "no such issuer");
	}
	static_headers(req, CACHE_IMMUTABLE);
	err = tb_http_respond(req, 200, "application/pkix-cert", der.p, der.len);
	tb_bytes_free(&der);
	return err;
}

/* ---- routes ------------------------------------------------------------ */

/* A monitor in a browser asks first: the static-ct-api resources may be read from anywhere. */
static int preflight(struct tb_http_request *req, void *arg)
{
	(void)arg;
	tb_http_set_header(req, "Access-Control-Allow-Origin", "*");
	tb_http_set_header(req, "Access-Control-Allow-Methods", "GET, HEAD");
	return tb_http_respond(req, 204, NULL, NULL, 0);
}

/* Core decides 404 and 405 (with Allow); CT clients get them as plain text like every error here. */
static int render_error(struct tb_http_request *req, int status, void *arg)
{
	(void)arg;
	return respond_error(req, status, status == 404 ? "not found" : NULL);
}

static const struct tb_http_route_def submission_routes[] = {
	{ "POST", "/ct/v1/add-chain", add_chain_cert, CT_MAX_BODY },
	{ "POST", "/ct/v1/add-pre-chain", add_chain_precert, CT_MAX_BODY },
	{ "GET", "/ct/v1/get-roots", get_roots, 0 },
	{ "GET", "/ct/v1/get-sth", get_sth, 0 },
	{ "GET", "/ct/v1/get-sth-consistency", get_consistency, 0 },
	{ "GET", "/ct/v1/get-proof-by-hash", get_proof_by_hash, 0 },
	{ "GET", "/ct/v1/get-entries", get_entries, 0 },
	{ "GET", "/ct/v1/get-entry-and-proof", get_entry_and_proof, 0 },
};

static const struct tb_http_route_def monitoring_routes[] = {
	{ "GET", "/checkpoint", get_checkpoint, 0 },
	{ "OPTIONS", "/checkpoint", preflight, 0 },
	{ "GET", "/tile/{rest...}", get_tile, 0 },
	{ "OPTIONS", "/tile/{rest...}", preflight, 0 },
	{ "GET", "/issuer/{fp}", get_issuer, 0 },
	{ "OPTIONS", "/issuer/{fp}", preflight, 0 },
};

static const struct tb_http_table submission_table = TB_HTTP_TABLE(submission_routes, render_error);
static const struct tb_http_table monitoring_table = TB_HTTP_TABLE(monitoring_routes, render_error);

/* Both prefixes may be one: the two tables are then searched together. */
int ct_api_register(struct ct_log *log)
{
	struct tb_http_server *srv = log->svc->core->http;
	if (!srv)
		return TB_ERR_CONFIG;
	int err = tb_http_mount(srv, NULL, log->sub_path, &submission_table, log);
	if (!err)
		err = tb_http_mount(srv, NULL, log->mon_path, &monitoring_table, log);
	return err;
}
