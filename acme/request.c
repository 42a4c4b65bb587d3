/*
 * The ACME request pipeline (see request.h). A POST goes through one
 * pipeline: parse the flattened JWS (acme/jws.c), check the nonce, check
 * that `url` equals the request URL ("https://" + Host + target), find the
 * key (embedded jwk or the account named by kid), verify, parse the
 * payload. Every answer carries a fresh Replay-Nonce and Link rel="index".
 */
#include "acme/request.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/error.h"
#include "core/log.h"

static void rq_cleanup(void *arg)
{
	struct acme_rq *r = arg;
	if (r->have_jws)
		acme_jws_free(&r->jws);
	cJSON_Delete(r->payload);
	if (r->have_csr)
		acme_csr_free(&r->csr);
	tb_bytes_free(&r->der);
	tb_bytes_free(&r->pem);
	tb_bytes_free(&r->scts);
	if (r->vres)
		acme_validate_abort(r->vres); /* an error path after the reservation */
}

char *acme_rq_url(struct acme_rq *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *tail = tb_arena_vprintf(r->a, fmt, ap);
	va_end(ap);
	if (!tail)
		return NULL;
	return tb_arena_printf(r->a, "%s%s%s", r->base, r->s->prefix, tail);
}

void acme_rq_headers(struct acme_rq *r)
{
	if (r->hdr_done)
		return;
	r->hdr_done = 1;
	char nonce[ACME_NONCE_LEN + 1];
	if (acme_nonce_issue(r->s->nonces, nonce) == 0)
		tb_http_set_header(r->req, "Replay-Nonce", nonce);
	char *link = tb_arena_printf(r->a, "<%s%s>;rel=\"index\"", r->base, r->s->dir_path);
	if (link)
		tb_http_set_header(r->req, "Link", link);
	tb_http_set_header(r->req, "Cache-Control", "no-store");
}

int acme_rq_problem_doc(struct acme_rq *r, const struct acme_problem *p)
{
	acme_rq_headers(r);
	char *body = acme_problem_render(p);
	int status = acme_problem_status(p);
	if (p->type == ACME_PROB_RATE_LIMITED)
		tb_http_set_header(r->req, "Retry-After", "3600");
	TB_DEBUG("acme", "%s %s -> %d %s: %s", r->req->method, r->req->path, status, acme_problem_name(p->type), p->detail);
	int rc;
	if (!body)
		rc = tb_http_respond(r->req, 500, ACME_PROBLEM_CONTENT_TYPE, "{}", 2);
	else
		rc = tb_http_respond(r->req, status, ACME_PROBLEM_CONTENT_TYPE, body, strlen(body));
	free(body);
	return rc;
}

int acme_rq_problem(struct acme_rq *r, enum acme_problem_type t, const char *fmt, ...)
{
	struct acme_problem p;
	memset(&p, 0, sizeof p);
	p.type = t;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p.detail, sizeof p.detail, fmt, ap);
	va_end(ap);
	return acme_rq_problem_doc(r, &p);
}

int acme_rq_problem_status(struct acme_rq *r, int status, enum acme_problem_type t, const char *detail)
{
	struct acme_problem p;
	memset(&p, 0, sizeof p);
	p.type = t;
	p.status = status;
	snprintf(p.detail, sizeof p.detail, "%s", detail);
	return acme_rq_problem_doc(r, &p);
}

int acme_rq_no_resource(struct acme_rq *r)
{
	return acme_rq_problem_status(r, 404, ACME_PROB_MALFORMED, "no such resource");
}

const char *acme_rq_path_id(struct acme_rq *r)
{
	const char *id = tb_http_path_param(r->req, "id");
	return id && acme_id_ok(id) ? id : NULL;
}

int acme_rq_json(struct acme_rq *r, int status, cJSON *j, const char *location)
{
	acme_rq_headers(r);
	if (location)
		tb_http_set_header(r->req, "Location", location);
	int rc;
	char *txt = j ? cJSON_Print(j) : NULL;
	if (!txt)
		rc = tb_http_respond(r->req, 500, ACME_PROBLEM_CONTENT_TYPE, "{}", 2);
	else
		rc = tb_http_respond(r->req, status, "application/json", txt, strlen(txt));
	free(txt);
	cJSON_Delete(j);
	return rc;
}

cJSON *acme_order_json(struct acme_rq *r, const struct acme_order *o, const char **status_out)
{
	cJSON *j = cJSON_CreateObject();
	const char *st = acme_db_order_status(r->s, r->a, o);
	if (status_out)
		*status_out = st;
	cJSON_AddStringToObject(j, "status", st);
	cJSON_AddStringToObject(j, "expires", acme_ts(r->a, o->expires));
	cJSON *ids = cJSON_Parse(o->identifiers);
	cJSON_AddItemToObject(j, "identifiers", ids ? ids : cJSON_CreateArray());
	cJSON_AddStringToObject(j, "profile", o->profile);
	cJSON *az = cJSON_AddArrayToObject(j, "authorizations");
	struct acme_authz z[ACME_MAX_ORDER_NAMES];
	size_t n = 0;
	acme_db_load_order_authzs(r->s, r->a, o->id, z, ACME_MAX_ORDER_NAMES, &n);
	for (size_t i = 0; i < n; i++)
		cJSON_AddItemToArray(az, cJSON_CreateString(acme_rq_url(r, "authz/%s", z[i].id)));
	cJSON_AddStringToObject(j, "finalize", acme_rq_url(r, "order/%s/finalize", o->id));
	if (o->replaces[0])
		cJSON_AddStringToObject(j, "replaces", o->replaces);
	if (o->has_cert && strcmp(st, "valid") == 0)
		cJSON_AddStringToObject(j, "certificate", acme_rq_url(r, "cert/%s", o->cert_serial));
	if (o->has_error) {
		cJSON *e = cJSON_Parse(o->error);
		if (e)
			cJSON_AddItemToObject(j, "error", e);
	}
	return j;
}

static int request_base(struct acme_rq *r)
{
	const char *host = tb_http_header(r->req, "Host");
	if (!host || !host[0] || strlen(host) > 255 || strpbrk(host, " /\\\"<>"))
		host = "localhost";
	r->base = tb_arena_printf(r->a, "%s://%s", r->req->tls ? "https" : "http", host);
	r->url = r->base ? tb_arena_printf(r->a, "%s%s", r->base, r->req->target) : NULL;
	return r->url ? 0 : TB_ERR_NOMEM;
}

struct acme_rq *acme_rq_new(struct acme_svc *s, struct tb_http_request *req)
{
	struct acme_rq *r = tb_arena_calloc(req->arena, sizeof *r);
	if (!r)
		return NULL;
	r->s = s;
	r->req = req;
	r->a = req->arena;
	if (tb_arena_add_cleanup(r->a, rq_cleanup, r))
		return NULL;
	if (request_base(r))
		return NULL;
	return r;
}

/*
 * Parsed account keys, by account id (direct-mapped). Building an EC key
 * costs about one verification, so a kid request reuses it. An entry is
 * valid only while the account's stored thumbprint matches (keyChange).
 * Evicting frees the key: requests use r->key only synchronously in their
 * handler, never from a later callback.
 */
static struct acme_key *key_cache_get(struct acme_svc *s, const struct acme_acct *ac, struct acme_problem *p)
{
	uint32_t h = 2166136261u;
	for (const char *c = ac->id; *c; c++)
		h = (h ^ (uint8_t)*c) * 16777619u;
	struct acme_key_cache_entry *e = &s->key_cache[h % ACME_KEY_CACHE];
	if (e->key && strcmp(e->id, ac->id) == 0 && strcmp(e->thumb, ac->thumb) == 0)
		return e->key;
	struct acme_key *k = NULL;
	if (acme_key_from_jwk_json(ac->jwk, strlen(ac->jwk), &k, p)) {
		acme_problem_set(p, ACME_PROB_SERVER_INTERNAL, "stored account key unreadable");
		return NULL;
	}
	acme_key_free(e->key);
	e->key = k;
	snprintf(e->id, sizeof e->id, "%s", ac->id);
	snprintf(e->thumb, sizeof e->thumb, "%s", ac->thumb);
	return k;
}

/* The media type is exactly application/jose+json (any case), parameters allowed. */
static int jose_content_type(const char *ct)
{
	static const char want[] = "application/jose+json";
	if (!ct)
		return 0;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	if (strncasecmp(ct, want, sizeof want - 1) != 0)
		return 0;
	ct += sizeof want - 1;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return *ct == 0 || *ct == ';';
}

int acme_rq_authenticate(struct acme_rq *r, int want_jwk, struct acme_problem *p)
{
	struct acme_svc *s = r->s;
	const char *ct = tb_http_header(r->req, "Content-Type");
	if (!jose_content_type(ct)) {
		/* RFC 8555 6.2: 415 Unsupported Media Type, as Boulder and Pebble (type malformed) */
		acme_problem_set(p, ACME_PROB_MALFORMED, "Invalid Content-Type header on POST. Content-Type must be \"application/jose+json\"");
		p->status = 415;
		return TB_ERR_INVALID;
	}
	if (acme_jws_parse(r->req->body.p, r->req->body.len, &r->jws, p)) {
		r->have_jws = 1;
		return TB_ERR_INVALID;
	}
	r->have_jws = 1;
	if (acme_nonce_consume(s->nonces, r->jws.nonce, p))
		return TB_ERR_INVALID;
	if (s->lab_reject_nonces > 0) {
		uint32_t x;
		tb_random(&x, sizeof x);
		if ((double)x / 4294967296.0 < s->lab_reject_nonces)
			return acme_problem_set(p, ACME_PROB_BAD_NONCE, "JWS has an invalid anti-replay nonce (lab switch)");
	}
	if (acme_jws_check_url(&r->jws, r->url, p))
		return TB_ERR_INVALID;
	if (want_jwk >= 0 && acme_jws_require(&r->jws, want_jwk, p))
		return TB_ERR_INVALID;
	if (r->jws.key) {
		r->key = r->jws.key;
	} else {
		char *acct_prefix = acme_rq_url(r, "acct/");
		if (!acct_prefix)
			return TB_ERR_NOMEM;
		size_t n = strlen(acct_prefix);
		if (strncmp(r->jws.kid, acct_prefix, n) != 0 || !acme_id_ok(r->jws.kid + n))
			return acme_problem_set(p, ACME_PROB_ACCOUNT_DOES_NOT_EXIST, "Account \"%s\" not found", r->jws.kid);
		int err = acme_db_load_acct(s, r->a, "id", r->jws.kid + n, &r->acct);
		if (err == TB_ERR_NOT_FOUND)
			return acme_problem_set(p, ACME_PROB_ACCOUNT_DOES_NOT_EXIST, "Account \"%s\" not found", r->jws.kid);
		if (err)
			return acme_problem_set(p, ACME_PROB_SERVER_INTERNAL, "failed to read the account");
		r->key = key_cache_get(s, &r->acct, p);
		if (!r->key)
			return TB_ERR_INVALID;
		r->have_acct = 1;
	}
	if (acme_jws_verify(&r->jws, r->key, p))
		return TB_ERR_INVALID;
	if (r->have_acct && strcmp(r->acct.status, "valid") != 0)
		return acme_problem_set(p, ACME_PROB_UNAUTHORIZED, "Account is not valid, has status \"%s\"", r->acct.status);
	if (!r->jws.post_as_get) {
		r->payload = acme_json_parse((const char *)r->jws.payload, r->jws.payload_len);
		if (!r->payload || !cJSON_IsObject(r->payload))
			return acme_problem_set(p, ACME_PROB_MALFORMED, "Request payload did not parse as JSON");
	}
	return 0;
}

int acme_rq_rate_limited(struct acme_rq *r, int64_t wait, const char *what)
{
	acme_rq_headers(r);
	char ra[32];
	snprintf(ra, sizeof ra, "%lld", (long long)wait);
	tb_http_set_header(r->req, "Retry-After", ra);
	struct acme_problem p;
	memset(&p, 0, sizeof p);
	p.type = ACME_PROB_RATE_LIMITED;
	snprintf(p.detail, sizeof p.detail, "too many %s, retry after %llds", what, (long long)wait);
	char *body = acme_problem_render(&p);
	int rc = tb_http_respond(r->req, 429, ACME_PROBLEM_CONTENT_TYPE, body ? body : "{}", body ? strlen(body) : 2);
	free(body);
	return rc;
}

int acme_rq_get_order(struct acme_rq *r, const char *id, struct acme_order *o, int *answered)
{
	int err = acme_db_load_order(r->s, r->a, id, o);
	if (err == TB_ERR_NOT_FOUND || (!err && strcmp(o->account, r->acct.id) != 0)) {
		*answered = acme_rq_problem_status(r, 404, ACME_PROB_MALFORMED, "No order for ID");
		return 1;
	}
	if (err) {
		*answered = acme_rq_problem(r, ACME_PROB_SERVER_INTERNAL, "failed to read the order");
		return 1;
	}
	return 0;
}

