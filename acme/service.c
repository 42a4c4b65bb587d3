/*
 * DESIGN: the ACME CA service (RFC 8555, RFC 8738, RFC 8737, RFC 9773).
 *
 * This file is the subsystem: the store schema, the directory and
 * newNonce, the route tables that map every ACME URL (method, pattern) to
 * its resource's handler, and the lifecycle. One table is mounted at the
 * directory path, one at the ACME prefix; core decides 404 and 405 + Allow
 * and route_error words them as ACME problem documents. Each resource has
 * its own file (account.c, order.c, finalize.c, authz.c, cert.c) built on
 * the request pipeline (request.c: JWS authentication, nonces, answers),
 * the store access (db.c, the only SQL) and the service core (svc.c: ids,
 * write jobs); configuration is config.c, validation validate.c, the CRL
 * crl.c. svc.h shows the layering.
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
#include "acme/metrics.h"
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
	/* The admin API's order timeline: every validation attempt, and when a certificate was made. */
	{ 2,
		"CREATE TABLE acme_attempts (id INTEGER PRIMARY KEY, chall TEXT NOT NULL, authz TEXT NOT NULL,"
		" time INTEGER NOT NULL, target TEXT NOT NULL, result TEXT NOT NULL, problem TEXT);"
		"CREATE INDEX acme_attempts_chall ON acme_attempts(chall, id);"
		"ALTER TABLE acme_certificates ADD COLUMN precert_at INTEGER;"
		"ALTER TABLE acme_certificates ADD COLUMN issued_at INTEGER;" },
	{ 0, NULL }
};

/* GET or POST(-as-GET) the directory (RFC 8555 7.1.1). */
static int directory(struct tb_http_request *req, void *svc)
{
	struct acme_rq *r = acme_rq_new(svc, req);
	if (!r)
		return TB_ERR_NOMEM;
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

/* RFC 8555 7.2: 204 for GET, 200 for HEAD (the GET route serves both). */
static int nonce_answer(struct acme_rq *r)
{
	acme_rq_headers(r);
	tb_http_set_header(r->req, "Cache-Control", "no-store");
	if (strcmp(r->req->method, "GET") == 0)
		return tb_http_respond(r->req, 204, NULL, NULL, 0);
	return tb_http_respond(r->req, 200, NULL, NULL, 0);
}

static int new_nonce(struct tb_http_request *req, void *svc)
{
	struct acme_rq *r = acme_rq_new(svc, req);
	if (!r)
		return TB_ERR_NOMEM;
	return nonce_answer(r);
}

/* RFC 8555 7.2: newNonce also takes POST-as-GET (an account's kid, empty payload). */
static int new_nonce_post(struct tb_http_request *req, void *svc)
{
	struct acme_rq *r = acme_rq_new(svc, req);
	if (!r)
		return TB_ERR_NOMEM;
	struct acme_problem p;
	memset(&p, 0, sizeof p);
	if (acme_rq_authenticate(r, 0, &p))
		return acme_rq_problem_doc(r, &p);
	if (!r->jws.post_as_get)
		return acme_rq_problem(r, ACME_PROB_MALFORMED, "newNonce takes POST-as-GET only");
	return nonce_answer(r);
}

/* ------------------------------------------------------------------ */
/* Routes                                                                */
/* ------------------------------------------------------------------ */

/*
 * Core's 404 and 405 (Allow already set) as ACME problem documents
 * (malformed, RFC 8555 6.7), with the Replay-Nonce and Link rel="index"
 * every ACME answer carries.
 */
static int route_error(struct tb_http_request *req, int status, void *svc)
{
	struct acme_rq *r = acme_rq_new(svc, req);
	if (!r)
		return TB_ERR_NOMEM;
	if (status == 405)
		return acme_rq_problem_status(r, 405, ACME_PROB_MALFORMED, "Method not allowed");
	return acme_rq_no_resource(r);
}

/* The directory, mounted at acme.directory_path. */
static const struct tb_http_route_def dir_routes[] = {
	{ "GET", "", directory, 0 },
	{ "POST", "", directory, 0 },
};

/*
 * Every other ACME resource, mounted at acme.path_prefix: the one place
 * that says which file answers a URL. Object ids ({id}) are checked by the
 * handler (acme_rq_path_id); a malformed one is a 404 like an unknown path.
 * GET routes also serve HEAD; bodies have the server's limit.
 */
static const struct tb_http_route_def acme_routes[] = {
	{ "GET", "/new-nonce", new_nonce, 0 },                     /* service.c */
	{ "POST", "/new-nonce", new_nonce_post, 0 },
	{ "POST", "/new-account", acme_handle_new_account, 0 },     /* account.c */
	{ "POST", "/acct/{id}", acme_handle_account, 0 },
	{ "POST", "/acct/{id}/orders", acme_handle_account_orders, 0 },
	{ "POST", "/key-change", acme_handle_key_change, 0 },
	{ "POST", "/new-order", acme_handle_new_order, 0 },         /* order.c */
	{ "POST", "/order/{id}", acme_handle_order, 0 },
	{ "POST", "/order/{id}/finalize", acme_handle_finalize, 0 }, /* finalize.c */
	{ "POST", "/authz/{id}", acme_handle_authz, 0 },            /* authz.c */
	{ "POST", "/chall/{id}", acme_handle_challenge, 0 },
	{ "POST", "/cert/{id}", acme_handle_certificate, 0 },       /* cert.c */
	{ "POST", "/revoke-cert", acme_handle_revoke_cert, 0 },
	{ "GET", "/renewal-info/{certid}", acme_handle_renewal_info, 0 },
	{ "GET", "/crl", acme_handle_crl, 0 },
};

static const struct tb_http_table dir_table = TB_HTTP_TABLE(dir_routes, route_error);
static const struct tb_http_table acme_table = TB_HTTP_TABLE(acme_routes, route_error);

/* ------------------------------------------------------------------ */
/* Lifecycle                                                             */
/* ------------------------------------------------------------------ */

static void interrupted_done(void *ctx, int status)
{
	if (status)
		TB_WARN("acme", "cannot fail what an earlier run left processing: %s", tb_strerror(status));
}

/* Queued before any request can be served: see acme_db_fail_interrupted. */
static void fail_interrupted(struct acme_svc *s)
{
	struct acme_problem p;
	memset(&p, 0, sizeof p);
	acme_problem_set(&p, ACME_PROB_SERVER_INTERNAL, "interrupted by a restart of the CA");
	cJSON *e = acme_problem_json(&p);
	char *et = e ? cJSON_PrintUnformatted(e) : NULL;
	cJSON_Delete(e);
	struct acme_wjob *j = acme_wjob_new(s);
	acme_db_fail_interrupted(j, acme_now(), et ? et : "{}");
	free(et);
	acme_wjob_submit(j, interrupted_done, NULL);
}

static int acme_start(void *state)
{
	struct acme_svc *s = state;
	int merr = acme_metrics_register();
	if (merr)
		return merr;
	fail_interrupted(s);
	if (!s->core->http) {
		TB_WARN("acme", "no HTTP listener configured: the ACME CA is not reachable");
		return 0;
	}
	const char *l = s->listener[0] ? s->listener : NULL;
	if (l && tb_http_listener_port(s->core->http, l) < 0) {
		TB_ERROR("acme", "acme.listener: no listener named \"%s\"", l);
		return TB_ERR_CONFIG;
	}
	int err = tb_http_mount(s->core->http, l, s->dir_path, &dir_table, s);
	if (!err)
		err = tb_http_mount(s->core->http, l, s->prefix, &acme_table, s);
	if (!err)
		err = acme_admin_mount(s);
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
	acme_db_close(s);
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
