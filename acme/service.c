/*
 * DESIGN: the ACME CA service (RFC 8555, RFC 8738, RFC 8737, RFC 9773).
 *
 * This file is the subsystem: the store schema, the directory and
 * newNonce, the routing of every ACME URL to its resource's handler, and
 * the lifecycle. One route serves the directory and one prefix route every
 * other resource; acme_dispatch maps (method, path) to a handler. Each
 * resource has its own file (account.c, order.c, finalize.c, authz.c,
 * cert.c) built on the request pipeline (request.c: JWS authentication,
 * nonces, answers), the store access (db.c, the only SQL) and the service
 * core (svc.c: ids, write jobs); configuration is config.c, validation
 * validate.c, the CRL crl.c. svc.h shows the layering.
 *
 * State lives in the store (acme_* tables). Reads use the loop thread's
 * reader connection; every change a client is told about goes through a
 * write job and is answered only from the job's done callback, once the
 * commit is durable. Jobs carry conditional UPDATEs (WHERE status = ...)
 * so racing requests cannot both win. Order status is stored for
 * processing/valid/invalid and derived from the authorizations otherwise
 * (pending / ready / invalid), as Boulder does.
 *
 * Object identifiers in URLs are random (base64url of 12 bytes); certificate
 * URLs use the serial in hex. The serial is written (status "reserved")
 * before the certificate is signed.
 */
#include "acme/request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/error.h"
#include "core/log.h"

/* ------------------------------------------------------------------ */
/* Store schema                                                          */
/* ------------------------------------------------------------------ */

static const struct tb_migration acme_migrations[] = {
	{ 1,
		"CREATE TABLE acme_accounts (id TEXT PRIMARY KEY, thumbprint TEXT NOT NULL UNIQUE, jwk TEXT NOT NULL,"
		" contact TEXT NOT NULL DEFAULT '[]', status TEXT NOT NULL, created INTEGER NOT NULL,"
		" eab_kid TEXT, remote TEXT);"
		"CREATE TABLE acme_orders (id TEXT PRIMARY KEY, account TEXT NOT NULL, status TEXT NOT NULL,"
		" expires INTEGER NOT NULL, identifiers TEXT NOT NULL, profile TEXT NOT NULL, error TEXT,"
		" cert_serial TEXT, replaces TEXT, created INTEGER NOT NULL);"
		"CREATE INDEX acme_orders_account ON acme_orders(account, created);"
		"CREATE TABLE acme_authzs (id TEXT PRIMARY KEY, account TEXT NOT NULL, ident_type TEXT NOT NULL,"
		" ident_value TEXT NOT NULL, wildcard INTEGER NOT NULL, status TEXT NOT NULL, expires INTEGER NOT NULL,"
		" created INTEGER NOT NULL, validated INTEGER);"
		"CREATE INDEX acme_authzs_reuse ON acme_authzs(account, ident_type, ident_value, wildcard, status);"
		"CREATE TABLE acme_order_authzs (order_id TEXT NOT NULL, authz_id TEXT NOT NULL, pos INTEGER NOT NULL,"
		" PRIMARY KEY(order_id, pos));"
		"CREATE TABLE acme_challenges (id TEXT PRIMARY KEY, authz TEXT NOT NULL, type TEXT NOT NULL,"
		" token TEXT NOT NULL, status TEXT NOT NULL, validated INTEGER, error TEXT);"
		"CREATE INDEX acme_challenges_authz ON acme_challenges(authz);"
		"CREATE TABLE acme_certificates (serial TEXT PRIMARY KEY, order_id TEXT NOT NULL, account TEXT NOT NULL,"
		" status TEXT NOT NULL, der_chain BLOB, pem TEXT, not_before INTEGER, not_after INTEGER,"
		" names TEXT, created INTEGER NOT NULL, revoked_reason INTEGER, revoked_at INTEGER, replaced_by TEXT);"
		"CREATE TABLE acme_rate_buckets (key TEXT PRIMARY KEY, tokens REAL NOT NULL, updated INTEGER NOT NULL);" },
	{ 0, NULL }
};

static int directory(struct acme_rq *r)
{
	struct acme_svc *s = r->s;
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "newNonce", acme_rq_url(r, "new-nonce"));
	cJSON_AddStringToObject(j, "newAccount", acme_rq_url(r, "new-account"));
	cJSON_AddStringToObject(j, "newOrder", acme_rq_url(r, "new-order"));
	cJSON_AddStringToObject(j, "revokeCert", acme_rq_url(r, "revoke-cert"));
	cJSON_AddStringToObject(j, "keyChange", acme_rq_url(r, "key-change"));
	cJSON_AddStringToObject(j, "renewalInfo", acme_rq_url(r, "renewal-info"));
	cJSON *m = cJSON_AddObjectToObject(j, "meta");
	if (s->tos[0])
		cJSON_AddStringToObject(m, "termsOfService", s->tos);
	if (s->website[0])
		cJSON_AddStringToObject(m, "website", s->website);
	cJSON *caa = cJSON_AddArrayToObject(m, "caaIdentities");
	for (size_t i = 0; i < s->n_caa_ids; i++)
		cJSON_AddItemToArray(caa, cJSON_CreateString(s->caa_ids[i]));
	cJSON_AddBoolToObject(m, "externalAccountRequired", s->eab_required);
	cJSON *p = cJSON_AddObjectToObject(m, "profiles");
	for (size_t i = 0; i < s->n_profiles; i++)
		cJSON_AddStringToObject(p, s->profiles[i].name, s->profiles[i].description);
	return acme_rq_json(r, 200, j, NULL);
}

static int dir_handler(struct tb_http_request *req, void *arg)
{
	struct acme_rq *r = acme_rq_new(arg, req);
	if (!r)
		return TB_ERR_NOMEM;
	if (strcmp(req->path, r->s->dir_path) != 0)
		return acme_rq_problem_status(r, 404, ACME_PROB_MALFORMED, "no such resource");
	if (strcmp(req->method, "GET") && strcmp(req->method, "HEAD") && strcmp(req->method, "POST"))
		return acme_rq_not_allowed(r, "GET, HEAD, POST");
	return directory(r);
}

static int new_nonce(struct acme_rq *r)
{
	acme_rq_headers(r);
	tb_http_set_header(r->req, "Cache-Control", "no-store");
	if (strcmp(r->req->method, "GET") == 0)
		return tb_http_respond(r->req, 204, NULL, NULL, 0);
	return tb_http_respond(r->req, 200, NULL, NULL, 0);
}

/* RFC 8555 7.2: newNonce also takes POST-as-GET (an account's kid, empty payload). */
static int new_nonce_post(struct acme_rq *r)
{
	struct acme_problem p;
	memset(&p, 0, sizeof p);
	if (acme_rq_authenticate(r, 0, &p))
		return acme_rq_problem_doc(r, &p);
	if (!r->jws.post_as_get)
		return acme_rq_problem(r, ACME_PROB_MALFORMED, "newNonce takes POST-as-GET only");
	return new_nonce(r);
}

/* ------------------------------------------------------------------ */
/* Dispatch                                                              */
/* ------------------------------------------------------------------ */

/*
 * The whole routing of the prefix, in one place: (method, path below the
 * prefix) -> the resource's handler, 404 and 405 + Allow answered here as
 * problem documents.
 */
static int acme_dispatch(struct acme_rq *r)
{
	struct acme_svc *s = r->s;
	struct tb_http_request *req = r->req;
	size_t pl = strlen(s->prefix);
	const char *rest = strncmp(req->path, s->prefix, pl) == 0 ? req->path + pl : "";
	int get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
	int post = strcmp(req->method, "POST") == 0;
	if (strcmp(rest, "new-nonce") == 0) {
		if (post)
			return new_nonce_post(r);
		if (!get)
			return acme_rq_not_allowed(r, "GET, HEAD, POST");
		return new_nonce(r);
	}
	if (strcmp(rest, "crl") == 0) {
		if (!get)
			return acme_rq_not_allowed(r, "GET, HEAD");
		return acme_handle_crl(r);
	}
	if (strncmp(rest, "renewal-info/", 13) == 0) {
		if (!get)
			return acme_rq_not_allowed(r, "GET, HEAD");
		return acme_handle_renewal_info(r, rest + 13);
	}
	if (!post)
		return acme_rq_not_allowed(r, "POST");
	if (strcmp(rest, "new-account") == 0)
		return acme_handle_new_account(r);
	if (strcmp(rest, "new-order") == 0)
		return acme_handle_new_order(r);
	if (strcmp(rest, "revoke-cert") == 0)
		return acme_handle_revoke_cert(r);
	if (strcmp(rest, "key-change") == 0)
		return acme_handle_key_change(r);
	char kind[16], id[80], sub[16];
	memset(sub, 0, sizeof sub);
	const char *slash = strchr(rest, '/');
	if (slash && (size_t)(slash - rest) < sizeof kind) {
		memcpy(kind, rest, (size_t)(slash - rest));
		kind[slash - rest] = 0;
		const char *idp = slash + 1, *s2 = strchr(idp, '/');
		size_t il = s2 ? (size_t)(s2 - idp) : strlen(idp);
		if (il < sizeof id) {
			memcpy(id, idp, il);
			id[il] = 0;
			if (s2 && strlen(s2 + 1) < sizeof sub)
				snprintf(sub, sizeof sub, "%s", s2 + 1);
			else if (s2)
				snprintf(sub, sizeof sub, "?");
			if (acme_id_ok(id)) {
				if (strcmp(kind, "acct") == 0 && !s2)
					return acme_handle_account(r, id, 0);
				if (strcmp(kind, "acct") == 0 && strcmp(sub, "orders") == 0)
					return acme_handle_account(r, id, 1);
				if (strcmp(kind, "order") == 0 && !s2)
					return acme_handle_order(r, id);
				if (strcmp(kind, "order") == 0 && strcmp(sub, "finalize") == 0)
					return acme_handle_finalize(r, id);
				if (strcmp(kind, "authz") == 0 && !s2)
					return acme_handle_authz(r, id);
				if (strcmp(kind, "chall") == 0 && !s2)
					return acme_handle_challenge(r, id);
				if (strcmp(kind, "cert") == 0 && !s2)
					return acme_handle_certificate(r, id);
			}
		}
	}
	return acme_rq_problem_status(r, 404, ACME_PROB_MALFORMED, "no such resource");
}

static int acme_handler(struct tb_http_request *req, void *arg)
{
	struct acme_rq *r = acme_rq_new(arg, req);
	if (!r)
		return TB_ERR_NOMEM;
	return acme_dispatch(r);
}

/* ------------------------------------------------------------------ */
/* Lifecycle                                                             */
/* ------------------------------------------------------------------ */

static int acme_start(void *state)
{
	struct acme_svc *s = state;
	if (!s->core->http) {
		TB_WARN("acme", "no HTTP listener configured: the ACME CA is not reachable");
		return 0;
	}
	const char *l = s->listener[0] ? s->listener : NULL;
	if (l && tb_http_listener_port(s->core->http, l) < 0) {
		TB_ERROR("acme", "acme.listener: no listener named \"%s\"", l);
		return TB_ERR_CONFIG;
	}
	int err = tb_http_route(s->core->http, l, NULL, s->dir_path, dir_handler, s);
	if (!err)
		err = tb_http_route(s->core->http, l, NULL, s->prefix, acme_handler, s);
	if (err)
		return err;
	if (l) {
		int port = tb_http_listener_port(s->core->http, l);
		const cJSON *listen = tb_config_section(s->core->config, "listen"), *it;
		cJSON_ArrayForEach(it, listen) {
			if (strcmp(tb_cfg_str(it, "name"), l) != 0)
				continue;
			const char *addr = tb_cfg_str(it, "address");
			int v6 = strchr(addr, ':') != NULL;
			tb_core_announce(s->core, "acme", "ACME directory", "%s://%s%s%s:%d%s", tb_cfg_bool(it, "tls") ? "https" : "http",
				v6 ? "[" : "", addr, v6 ? "]" : "", port, s->dir_path);
		}
	}
	TB_INFO("acme", "policy %s, http-01 port %d, tls-alpn-01 port %d, %zu profiles (default %s)%s%s",
		s->strict ? "strict" : "lab", s->http01_port, s->tlsalpn01_port, s->n_profiles,
		s->profiles[s->default_profile].name, s->lab_always_valid ? ", LAB: every challenge valid" : "",
		s->lab_reject_nonces > 0 ? ", LAB: rejecting some nonces" : "");
	return 0;
}

static void acme_stop(void *state, tb_done_cb done, void *arg)
{
	struct acme_svc *s = state;
	s->stopping = 1;
	acme_validate_cancel_all(s);
	if (s->pending == 0) {
		done(arg);
		return;
	}
	s->stop_done = done;
	s->stop_arg = arg;
}

static void acme_free(void *state)
{
	struct acme_svc *s = state;
	if (!s)
		return;
	for (size_t i = 0; i < ACME_KEY_CACHE; i++)
		acme_key_free(s->key_cache[i].key);
	acme_nonces_free(s->nonces);
	acme_crl_free(s);
	free(s);
}

const struct tb_subsystem acme_subsystem = {
	.name = "acme",
	.sections = acme_sections,
	.configure = acme_configure,
	.migrations = acme_migrations,
	.start = acme_start,
	.stop = acme_stop,
	.free = acme_free,
};
