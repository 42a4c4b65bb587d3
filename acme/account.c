/*
 * Accounts (RFC 8555 7.3): newAccount (with External Account Binding and
 * the new-accounts-per-IP limit), the account resource (update, contact,
 * deactivation, the orders list) and keyChange (7.3.5).
 */
#include "acme/request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"

#define MAX_CONTACTS 10
#define MAX_CONTACT_LEN 256
#define ORDERS_PAGE 100

static cJSON *acct_json(struct acme_rq *r, const struct acme_acct *ac)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "status", ac->status);
	cJSON *c = cJSON_Parse(ac->contact);
	if (c && cJSON_GetArraySize(c) > 0)
		cJSON_AddItemToObject(j, "contact", c);
	else
		cJSON_Delete(c);
	cJSON_AddStringToObject(j, "orders", acme_rq_url(r, "acct/%s/orders", ac->id));
	cJSON *k = cJSON_Parse(ac->jwk);
	if (k)
		cJSON_AddItemToObject(j, "key", k);
	cJSON_AddStringToObject(j, "createdAt", acme_ts(r->a, ac->created));
	return j;
}

/* Checks a contact array; returns the canonical JSON text in the arena. */
static int check_contacts(struct acme_rq *r, const cJSON *c, char **out, struct acme_problem *p)
{
	if (!c) {
		*out = tb_arena_strdup(r->a, "[]");
		return 0;
	}
	if (!cJSON_IsArray(c))
		return acme_problem_set(p, ACME_PROB_MALFORMED, "contact must be an array of strings");
	if (cJSON_GetArraySize(c) > MAX_CONTACTS)
		return acme_problem_set(p, ACME_PROB_MALFORMED, "too many contacts (at most %d)", MAX_CONTACTS);
	const cJSON *it;
	cJSON_ArrayForEach(it, c) {
		if (!cJSON_IsString(it))
			return acme_problem_set(p, ACME_PROB_MALFORMED, "contact must be an array of strings");
		const char *v = it->valuestring;
		if (strncmp(v, "mailto:", 7) != 0)
			return acme_problem_set(p, ACME_PROB_UNSUPPORTED_CONTACT, "only contact scheme 'mailto:' is supported");
		if (strlen(v) > MAX_CONTACT_LEN || strchr(v, '?') || strchr(v, ',') || !strchr(v + 7, '@') ||
			v[7] == '@' || v[strlen(v) - 1] == '@')
			return acme_problem_set(p, ACME_PROB_INVALID_CONTACT, "invalid contact \"%.64s\"", v);
	}
	char *t = cJSON_PrintUnformatted(c);
	*out = t ? tb_arena_strdup(r->a, t) : NULL;
	free(t);
	return *out ? 0 : TB_ERR_NOMEM;
}

static void acct_created(void *ctx, int status)
{
	struct acme_rq *r = ctx;
	if (status) {
		/* A racing newAccount with the same key won: answer with that account. */
		struct acme_acct ac;
		if (acme_db_load_acct(r->s, r->a, "thumbprint", acme_key_thumbprint(r->key), &ac) == 0) {
			acme_rq_json(r, 200, acct_json(r, &ac), acme_rq_url(r, "acct/%s", ac.id));
			return;
		}
		acme_rq_problem(r, ACME_PROB_SERVER_INTERNAL, "failed to store the account");
		return;
	}
	struct acme_acct ac;
	if (acme_db_load_acct(r->s, r->a, "id", r->id, &ac)) {
		acme_rq_problem(r, ACME_PROB_SERVER_INTERNAL, "failed to read the account back");
		return;
	}
	acme_rq_json(r, 201, acct_json(r, &ac), acme_rq_url(r, "acct/%s", ac.id));
}

int acme_handle_new_account(struct tb_http_request *req, void *svc)
{
	struct acme_rq *r = acme_rq_new(svc, req);
	if (!r)
		return TB_ERR_NOMEM;
	struct acme_svc *s = r->s;
	struct acme_problem p;
	memset(&p, 0, sizeof p);
	if (acme_rq_authenticate(r, 1, &p))
		return acme_rq_problem_doc(r, &p);
	if (!r->payload)
		return acme_rq_problem(r, ACME_PROB_MALFORMED, "newAccount needs a JSON payload");
	const char *thumb = acme_key_thumbprint(r->key);
	struct acme_acct ac;
	int err = acme_db_load_acct(s, r->a, "thumbprint", thumb, &ac);
	if (err == 0) {
		if (strcmp(ac.status, "valid") != 0)
			return acme_rq_problem(r, ACME_PROB_UNAUTHORIZED, "Account is not valid, has status \"%s\"", ac.status);
		return acme_rq_json(r, 200, acct_json(r, &ac), acme_rq_url(r, "acct/%s", ac.id));
	}
	if (err != TB_ERR_NOT_FOUND)
		return acme_rq_problem(r, ACME_PROB_SERVER_INTERNAL, "failed to read accounts");
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r->payload, "onlyReturnExisting")))
		return acme_rq_problem(r, ACME_PROB_ACCOUNT_DOES_NOT_EXIST, "No account exists with the provided key");
	/* The directory publishes terms of service: a new account must agree (Boulder, Pebble). */
	if (r->s->tos[0] && !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r->payload, "termsOfServiceAgreed")))
		return acme_rq_problem(r, ACME_PROB_MALFORMED, "must agree to terms of service");
	char *contact;
	if (check_contacts(r, cJSON_GetObjectItemCaseSensitive(r->payload, "contact"), &contact, &p))
		return acme_rq_problem_doc(r, &p);
	const cJSON *eab = cJSON_GetObjectItemCaseSensitive(r->payload, "externalAccountBinding");
	const char *eab_kid = NULL;
	if (eab) {
		struct acme_eab e;
		memset(&e, 0, sizeof e);
		if (acme_eab_parse(eab, &e, &p)) {
			acme_eab_free(&e);
			return acme_rq_problem_doc(r, &p);
		}
		size_t i;
		for (i = 0; i < s->n_eab; i++)
			if (strcmp(s->eab[i].kid, e.kid) == 0)
				break;
		if (i == s->n_eab) {
			acme_eab_free(&e);
			return acme_rq_problem(r, ACME_PROB_UNAUTHORIZED, "unknown external account binding key id");
		}
		err = acme_eab_verify(&e, s->eab[i].key, s->eab[i].len, r->url, r->key, &p);
		acme_eab_free(&e);
		if (err)
			return acme_rq_problem_doc(r, &p);
		eab_kid = s->eab[i].kid;
	} else if (s->eab_required) {
		return acme_rq_problem(r, ACME_PROB_EXTERNAL_ACCOUNT_REQUIRED, "externalAccountBinding is required for new accounts");
	}
	struct acme_wjob *j = acme_wjob_new(s);
	char ipkey[128];
	const char *remote = r->req->remote ? r->req->remote : "";
	const char *colon = strrchr(remote, ':');
	snprintf(ipkey, sizeof ipkey, "accounts-ip:%.*s", colon ? (int)(colon - remote) : (int)strlen(remote), remote);
	int64_t wait = acme_db_rate_take(r->s, j, ipkey, s->rl_accounts_per_ip, 3600);
	if (wait) {
		acme_wjob_abort(j);
		return acme_rq_rate_limited(r, wait, "new accounts from this address");
	}
	if (acme_random_id(r->id)) {
		acme_wjob_abort(j);
		return acme_rq_problem(r, ACME_PROB_SERVER_INTERNAL, "no randomness");
	}
	acme_db_account_insert(j, r->id, thumb, acme_key_jwk_json(r->key), contact, acme_now(), eab_kid, remote);
	if (acme_wjob_submit(j, acct_created, r))
		return acme_rq_problem(r, ACME_PROB_SERVER_INTERNAL, "store unavailable");
	return TB_HTTP_LATER;
}

static void acct_updated(void *ctx, int status)
{
	struct acme_rq *r = ctx;
	struct acme_acct ac;
	if (status || acme_db_load_acct(r->s, r->a, "id", r->acct.id, &ac)) {
		acme_rq_problem(r, ACME_PROB_SERVER_INTERNAL, "failed to update the account");
		return;
	}
	acme_rq_json(r, 200, acct_json(r, &ac), NULL);
}

static int orders_list(struct acme_rq *r)
{
	long long cursor = 0;
	const char *c = tb_http_query_param(r->req, "cursor");
	if (c)
		cursor = atoll(c);
	if (cursor < 0)
		cursor = 0;
	char *ids[ORDERS_PAGE + 1];
	size_t n = 0;
	if (acme_db_account_orders(r->s, r->a, r->acct.id, cursor, ids, ORDERS_PAGE + 1, &n))
		return acme_rq_problem(r, ACME_PROB_SERVER_INTERNAL, "store");
	cJSON *j = cJSON_CreateObject();
	cJSON *arr = cJSON_AddArrayToObject(j, "orders");
	for (size_t i = 0; i < n && i < ORDERS_PAGE; i++)
		cJSON_AddItemToArray(arr, cJSON_CreateString(acme_rq_url(r, "order/%s", ids[i])));
	if (n > ORDERS_PAGE) {
		char *l = tb_arena_printf(r->a, "<%s?cursor=%lld>;rel=\"next\"", acme_rq_url(r, "acct/%s/orders", r->acct.id),
			cursor + ORDERS_PAGE);
		if (l)
			tb_http_set_header(r->req, "Link", l);
	}
	return acme_rq_json(r, 200, j, NULL);
}

/* POST to an account URL (update, deactivate, or POST-as-GET) or to its orders list. */
static int account(struct tb_http_request *req, struct acme_svc *svc, int orders)
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
	if (strcmp(id, r->acct.id) != 0)
		return acme_rq_problem(r, ACME_PROB_UNAUTHORIZED, "Request signing key did not match the account");
	if (orders)
		return orders_list(r);
	if (!r->payload)
		return acme_rq_json(r, 200, acct_json(r, &r->acct), NULL);
	/* The whole payload is checked before anything is changed: a refused update changes nothing. */
	const cJSON *status = cJSON_GetObjectItemCaseSensitive(r->payload, "status");
	const cJSON *contact = cJSON_GetObjectItemCaseSensitive(r->payload, "contact");
	if (status && (!cJSON_IsString(status) ||
			(strcmp(status->valuestring, "deactivated") && strcmp(status->valuestring, "valid"))))
		return acme_rq_problem(r, ACME_PROB_MALFORMED, "Invalid value provided for status field");
	char *c = NULL;
	if (contact && check_contacts(r, contact, &c, &p))
		return acme_rq_problem_doc(r, &p);
	struct acme_wjob *j = acme_wjob_new(r->s);
	if (status && strcmp(status->valuestring, "deactivated") == 0)
		acme_db_account_deactivate(j, id);
	if (c)
		acme_db_account_contact(j, id, c);
	if (acme_wjob_submit(j, acct_updated, r))
		return acme_rq_problem(r, ACME_PROB_SERVER_INTERNAL, "store unavailable");
	return TB_HTTP_LATER;
}

int acme_handle_account(struct tb_http_request *req, void *svc)
{
	return account(req, svc, 0);
}

int acme_handle_account_orders(struct tb_http_request *req, void *svc)
{
	return account(req, svc, 1);
}

int acme_handle_key_change(struct tb_http_request *req, void *svc)
{
	struct acme_rq *r = acme_rq_new(svc, req);
	if (!r)
		return TB_ERR_NOMEM;
	struct acme_problem p;
	memset(&p, 0, sizeof p);
	if (acme_rq_authenticate(r, 0, &p))
		return acme_rq_problem_doc(r, &p);
	if (!r->payload)
		return acme_rq_problem(r, ACME_PROB_MALFORMED, "keyChange needs a JWS payload");
	struct acme_jws in;
	memset(&in, 0, sizeof in);
	int err = acme_jws_parse_inner(r->payload, &in, &p);
	if (!err)
		err = acme_jws_verify(&in, NULL, &p);
	if (!err && strcmp(in.url, r->jws.url) != 0)
		err = acme_problem_set(&p, ACME_PROB_MALFORMED, "Inner JWS url does not match the outer JWS url");
	cJSON *ip = NULL;
	if (!err) {
		ip = acme_json_parse((const char *)in.payload, in.payload_len);
		const cJSON *acc = cJSON_GetObjectItemCaseSensitive(ip, "account");
		const cJSON *old = cJSON_GetObjectItemCaseSensitive(ip, "oldKey");
		struct acme_key *oldk = NULL;
		if (!cJSON_IsString(acc) || !cJSON_IsObject(old))
			err = acme_problem_set(&p, ACME_PROB_MALFORMED, "keyChange payload needs account and oldKey");
		else if (strcmp(acc->valuestring, r->jws.kid) != 0)
			err = acme_problem_set(&p, ACME_PROB_MALFORMED, "Inner key rollover request specified wrong account");
		else if (acme_key_from_jwk(old, &oldk, &p))
			err = TB_ERR_INVALID;
		else if (strcmp(acme_key_thumbprint(oldk), r->acct.thumb) != 0)
			err = acme_problem_set(&p, ACME_PROB_MALFORMED, "Inner JWS oldKey does not match the account key");
		acme_key_free(oldk);
	}
	if (!err) {
		struct acme_acct other;
		if (acme_db_load_acct(r->s, r->a, "thumbprint", acme_key_thumbprint(in.key), &other) == 0) {
			acme_rq_headers(r);
			tb_http_set_header(r->req, "Location", acme_rq_url(r, "acct/%s", other.id));
			err = acme_problem_set(&p, ACME_PROB_MALFORMED, "New key is already in use for a different account");
			p.status = 409;
		}
	}
	if (err) {
		cJSON_Delete(ip);
		acme_jws_free(&in);
		return acme_rq_problem_doc(r, &p);
	}
	struct acme_wjob *j = acme_wjob_new(r->s);
	acme_db_account_key(j, r->acct.id, r->acct.thumb, acme_key_thumbprint(in.key), acme_key_jwk_json(in.key));
	cJSON_Delete(ip);
	acme_jws_free(&in);
	if (acme_wjob_submit(j, acct_updated, r))
		return acme_rq_problem(r, ACME_PROB_SERVER_INTERNAL, "store unavailable");
	return TB_HTTP_LATER;
}

