/*
 * Authorizations and challenges (RFC 8555 7.5): reading and deactivating
 * an authorization, and answering a challenge, which starts its validation
 * (validate.c) once the challenge is durably "processing".
 */
#include "acme/metrics.h"
#include "acme/request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"

static cJSON *chall_json(struct acme_rq *r, const struct acme_chall *c)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "type", c->type);
	cJSON_AddStringToObject(j, "url", acme_rq_url(r, "chall/%s", c->id));
	cJSON_AddStringToObject(j, "status", c->status);
	cJSON_AddStringToObject(j, "token", c->token);
	if (c->has_validated)
		cJSON_AddStringToObject(j, "validated", acme_ts(r->a, c->validated));
	if (c->has_error) {
		cJSON *e = cJSON_Parse(c->error);
		if (e)
			cJSON_AddItemToObject(j, "error", e);
	}
	return j;
}

static cJSON *authz_json(struct acme_rq *r, const struct acme_authz *z)
{
	cJSON *j = cJSON_CreateObject();
	cJSON *id = cJSON_AddObjectToObject(j, "identifier");
	cJSON_AddStringToObject(id, "type", z->ident_type);
	cJSON_AddStringToObject(id, "value", z->ident_value);
	const char *st = acme_authz_status(z);
	cJSON_AddStringToObject(j, "status", st);
	cJSON_AddStringToObject(j, "expires", acme_ts(r->a, z->expires));
	if (z->wildcard)
		cJSON_AddTrueToObject(j, "wildcard");
	cJSON *cs = cJSON_AddArrayToObject(j, "challenges");
	struct acme_chall c[ACME_MAX_CHALLS];
	size_t n = 0;
	acme_db_load_authz_challs(r->s, r->a, z->id, c, ACME_MAX_CHALLS, &n);
	for (size_t i = 0; i < n; i++) {
		/* A valid authorization lists only the challenge that validated it. */
		if (strcmp(z->status, "valid") == 0 && strcmp(c[i].status, "valid") != 0)
			continue;
		cJSON_AddItemToArray(cs, chall_json(r, &c[i]));
	}
	return j;
}

static void authz_answer(void *ctx, int status)
{
	struct acme_rq *r = ctx;
	struct acme_authz z;
	if (acme_db_load_authz(r->s, r->a, r->obj_id, &z)) {
		acme_rq_problem(r, ACME_PROB_SERVER_INTERNAL, "failed to read the authorization");
		return;
	}
	if (!status)
		tb_metric_inc(&acme_m_authz_results, "deactivated"); /* only a deactivation answers here */
	acme_rq_json(r, 200, authz_json(r, &z), NULL);
}

int acme_handle_authz(struct tb_http_request *req, void *svc)
{
	struct acme_rq *r = acme_rq_new(svc, req);
	if (!r)
		return TB_ERR_NOMEM;
	const char *id = acme_rq_path_id(r);
	if (!id)
		return acme_rq_no_resource(r);
	struct acme_problem p;
	memset(&p, 0, sizeof p);
	if (acme_rq_authenticate(r, 0, &p))
		return acme_rq_problem_doc(r, &p);
	struct acme_authz z;
	int err = acme_db_load_authz(r->s, r->a, id, &z);
	if (err == TB_ERR_NOT_FOUND || (!err && strcmp(z.account, r->acct.id) != 0))
		return acme_rq_problem_status(r, 404, ACME_PROB_MALFORMED, "No such authorization");
	if (err)
		return acme_rq_problem(r, ACME_PROB_SERVER_INTERNAL, "failed to read the authorization");
	if (!r->payload)
		return acme_rq_json(r, 200, authz_json(r, &z), NULL);
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(r->payload, "status");
	if (!cJSON_IsString(st) || strcmp(st->valuestring, "deactivated") != 0)
		return acme_rq_problem(r, ACME_PROB_MALFORMED, "Invalid status value");
	if (strcmp(acme_authz_status(&z), "valid") && strcmp(acme_authz_status(&z), "pending"))
		return acme_rq_problem(r, ACME_PROB_MALFORMED, "Authorization is not pending or valid");
	r->obj_id = tb_arena_strdup(r->a, id);
	struct acme_wjob *j = acme_wjob_new(r->s);
	acme_db_authz_deactivate(j, id);
	if (acme_wjob_submit(j, authz_answer, r))
		return acme_rq_problem(r, ACME_PROB_SERVER_INTERNAL, "store unavailable");
	return TB_HTTP_LATER;
}

static void chall_answer(void *ctx, int status)
{
	struct acme_rq *r = ctx;
	struct acme_chall c;
	if (acme_db_load_chall(r->s, r->a, r->obj_id, &c)) {
		acme_rq_problem(r, ACME_PROB_SERVER_INTERNAL, "failed to read the challenge");
		return;
	}
	char *up = tb_arena_printf(r->a, "<%s>;rel=\"up\"", acme_rq_url(r, "authz/%s", c.authz));
	/* Link rel="up" and rel="index" both: set up first, index comes with the common headers. */
	if (up)
		tb_http_set_header(r->req, "Link", up);
	struct acme_validation *val = r->vres;
	r->vres = NULL;
	acme_rq_json(r, 200, chall_json(r, &c), NULL); /* r is gone after this */
	if (val && status == 0)
		acme_validate_start(val);
	else if (val)
		acme_validate_abort(val);
}

int acme_handle_challenge(struct tb_http_request *req, void *svc)
{
	struct acme_rq *r = acme_rq_new(svc, req);
	if (!r)
		return TB_ERR_NOMEM;
	const char *id = acme_rq_path_id(r);
	if (!id)
		return acme_rq_no_resource(r);
	struct acme_problem p;
	memset(&p, 0, sizeof p);
	if (acme_rq_authenticate(r, 0, &p))
		return acme_rq_problem_doc(r, &p);
	struct acme_chall c;
	int err = acme_db_load_chall(r->s, r->a, id, &c);
	struct acme_authz z;
	if (!err)
		err = acme_db_load_authz(r->s, r->a, c.authz, &z);
	if (err == TB_ERR_NOT_FOUND || (!err && strcmp(z.account, r->acct.id) != 0))
		return acme_rq_problem_status(r, 404, ACME_PROB_MALFORMED, "No such challenge");
	if (err)
		return acme_rq_problem(r, ACME_PROB_SERVER_INTERNAL, "failed to read the challenge");
	r->obj_id = tb_arena_strdup(r->a, id);
	if (!r->payload || strcmp(c.status, "pending") != 0) {
		chall_answer(r, 0);
		return 0;
	}
	if (strcmp(acme_authz_status(&z), "pending") != 0)
		return acme_rq_problem(r, ACME_PROB_MALFORMED, "Cannot update challenge with status %s, only status pending", acme_authz_status(&z));
	struct acme_validation_req *v = &r->vreq;
	snprintf(v->chall_id, sizeof v->chall_id, "%s", c.id);
	snprintf(v->authz_id, sizeof v->authz_id, "%s", z.id);
	snprintf(v->type, sizeof v->type, "%s", c.type);
	snprintf(v->token, sizeof v->token, "%s", c.token);
	snprintf(v->account_url, sizeof v->account_url, "%s", r->jws.kid);
	v->ident.type = strcmp(z.ident_type, "ip") == 0 ? ACME_IDENT_IP : ACME_IDENT_DNS;
	snprintf(v->ident.value, sizeof v->ident.value, "%s", z.ident_value);
	v->wildcard = z.wildcard;
	if (acme_key_authorization(c.token, r->key, v->key_authz, sizeof v->key_authz))
		return acme_rq_problem(r, ACME_PROB_SERVER_INTERNAL, "key authorization");
	if (r->s->rl_failed_per_ident > 0) {
		/* Failed validations per identifier: refuse to start while the bucket is empty. */
		char key[300];
		snprintf(key, sizeof key, "failed:%s:%s", z.ident_type, z.ident_value);
		struct acme_wjob *probe = acme_wjob_new(r->s);
		int64_t wait = acme_db_rate_take(r->s, probe, key, r->s->rl_failed_per_ident, 3600);
		acme_wjob_abort(probe);
		if (wait)
			return acme_rq_rate_limited(r, wait, "failed validations for this identifier");
	}
	int64_t wait = 0;
	err = acme_validate_reserve(r->s, r->acct.id, v, &r->vres, &wait);
	if (err == TB_ERR_TOO_LARGE)
		return acme_rq_rate_limited(r, wait, "validations in flight");
	if (err)
		return acme_rq_problem(r, ACME_PROB_SERVER_INTERNAL, "could not start the validation");
	struct acme_wjob *j = acme_wjob_new(r->s);
	acme_db_chall_processing(j, id);
	acme_db_failed_bucket_add(j, r->s, &v->ident, -1); /* charged at start; refunded on success (validate.c) */
	if (acme_wjob_submit(j, chall_answer, r))
		return acme_rq_problem(r, ACME_PROB_SERVER_INTERNAL, "store unavailable");
	return TB_HTTP_LATER;
}

