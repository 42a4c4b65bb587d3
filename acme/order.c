/*
 * Orders (RFC 8555 7.4): newOrder (identifier policy, profiles, ARI
 * `replaces` of RFC 9773, authorization reuse, the new-orders-per-account
 * limit) and the order resource. An order's status is stored for
 * processing/valid/invalid and derived from its authorizations otherwise.
 */
#include "acme/metrics.h"
#include "acme/request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"

#define RETRY_AFTER_PROCESSING "3"

static void order_created(void *ctx, int status)
{
	struct acme_rq *r = ctx;
	struct acme_order o;
	if (status || acme_db_load_order(r->s, r->a, r->id, &o)) {
		acme_rq_problem(r, ACME_PROB_SERVER_INTERNAL, "failed to store the order");
		return;
	}
	tb_metric_inc(&acme_m_orders);
	acme_rq_json(r, 201, acme_order_json(r, &o, NULL), acme_rq_url(r, "order/%s", o.id));
}

/* Nonzero when one of the identifiers is a name of the certificate (names: its JSON array). */
static int shares_identifier(const char *names, const struct acme_identifier *list, size_t n)
{
	cJSON *arr = cJSON_Parse(names);
	const cJSON *it;
	int shared = 0;
	cJSON_ArrayForEach(it, arr)
		for (size_t i = 0; i < n && !shared; i++)
			shared = cJSON_IsString(it) && strcmp(it->valuestring, list[i].value) == 0;
	cJSON_Delete(arr);
	return shared;
}

/*
 * ARI `replaces`: the certificate must be this account's, issued, and not
 * yet replaced. *related: the order shares at least one identifier with it
 * (as Boulder); only then is the order a replacement, exempt from the
 * rate limits.
 */
static int check_replaces(struct acme_rq *r, const char *certid, const struct acme_identifier *list, size_t n,
	int *related, struct acme_problem *p)
{
	struct acme_cert_id cid;
	if (acme_ari_cert_id_parse(certid, strlen(certid), &cid))
		return acme_problem_set(p, ACME_PROB_MALFORMED, "replaces is not a valid ARI CertID");
	struct tb_bytes hex = { 0 };
	tb_hex_encode(&hex, cid.serial, cid.serial_len);
	char *serial = tb_arena_strndup(r->a, (const char *)hex.p, hex.len);
	tb_bytes_free(&hex);
	if (!serial)
		return TB_ERR_NOMEM;
	*related = 0;
	struct acme_cert c;
	int err = acme_problem_set(p, ACME_PROB_MALFORMED, "replaces names a certificate this CA did not issue");
	/* The AKI must be the issued certificate's too. */
	if (acme_db_load_cert(r->s, r->a, serial, &c) == 0 && acme_ari_chain_matches(c.der_chain, c.der_chain_len, &cid)) {
		if (strcmp(c.account, r->acct.id) != 0)
			err = acme_problem_set(p, ACME_PROB_UNAUTHORIZED, "replaced certificate belongs to another account");
		else if (c.replaced)
			err = acme_problem_set(p, ACME_PROB_ALREADY_REPLACED, "certificate %s has already been replaced", certid);
		else
			err = 0;
	}
	if (!err && !(*related = shares_identifier(c.names, list, n))) {
		memset(p, 0, sizeof *p);
		return 0; /* not a replacement: an order like any other */
	}
	/* Another live order replacing it counts too. */
	if (!err && acme_db_order_replacing(r->s, certid))
		err = acme_problem_set(p, ACME_PROB_ALREADY_REPLACED, "an order already replaces certificate %s", certid);
	return err;
}

int acme_handle_new_order(struct tb_http_request *req, void *svc)
{
	struct acme_rq *r = acme_rq_new(svc, req);
	if (!r)
		return TB_ERR_NOMEM;
	struct acme_svc *s = r->s;
	struct acme_problem p;
	memset(&p, 0, sizeof p);
	if (acme_rq_authenticate(r, 0, &p))
		return acme_rq_problem_doc(r, &p);
	if (!r->payload)
		return acme_rq_problem(r, ACME_PROB_MALFORMED, "newOrder needs a JSON payload");
	const cJSON *ids = cJSON_GetObjectItemCaseSensitive(r->payload, "identifiers");
	if (cJSON_GetObjectItemCaseSensitive(r->payload, "notBefore") ||
		cJSON_GetObjectItemCaseSensitive(r->payload, "notAfter"))
		return acme_rq_problem(r, ACME_PROB_MALFORMED, "NotBefore and NotAfter are not supported");
	const cJSON *prof = cJSON_GetObjectItemCaseSensitive(r->payload, "profile");
	const struct acme_profile *pr = &s->profiles[s->default_profile];
	if (prof) {
		if (!cJSON_IsString(prof))
			return acme_rq_problem(r, ACME_PROB_MALFORMED, "profile must be a string");
		pr = acme_find_profile(s, prof->valuestring);
		if (!pr)
			return acme_rq_problem(r, ACME_PROB_INVALID_PROFILE, "profile \"%.64s\" is not offered by this CA", prof->valuestring);
	}
	if (!cJSON_IsArray(ids) || cJSON_GetArraySize(ids) == 0)
		return acme_rq_problem(r, ACME_PROB_MALFORMED, "NewOrder request did not specify any identifiers");
	int count = cJSON_GetArraySize(ids);
	if (count > pr->max_names)
		return acme_rq_problem(r, ACME_PROB_REJECTED_IDENTIFIER, "Order cannot contain more than %d identifiers (profile %s)",
			pr->max_names, pr->name);
	struct acme_identifier *list = tb_arena_calloc(r->a, sizeof *list * (size_t)count);
	if (!list)
		return TB_ERR_NOMEM;
	size_t n = 0;
	const cJSON *it;
	cJSON_ArrayForEach(it, ids) {
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(it, "type");
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(it, "value");
		if (!cJSON_IsString(t) || !cJSON_IsString(v))
			return acme_rq_problem(r, ACME_PROB_MALFORMED, "identifiers need a type and a value");
		int type = acme_ident_type_parse(t->valuestring);
		struct acme_problem sp;
		memset(&sp, 0, sizeof sp);
		struct acme_identifier raw = { .type = type < 0 ? ACME_IDENT_DNS : (enum acme_ident_type)type };
		snprintf(raw.value, sizeof raw.value, "%s", v->valuestring);
		if (type < 0)
			acme_problem_set(&sp, ACME_PROB_UNSUPPORTED_IDENTIFIER, "identifier type \"%.32s\" is not supported", t->valuestring);
		else if (acme_identifier_check((enum acme_ident_type)type, v->valuestring, strlen(v->valuestring), 1,
				 pr->allow_ip, !s->strict, &list[n], &sp) == 0) {
			n++;
			continue;
		}
		if (p.n_sub == 0)
			acme_problem_set(&p, sp.type, "%s", sp.detail);
		acme_problem_add_sub(&p, sp.type, &raw, "%s", sp.detail);
	}
	if (p.type) {
		if (p.n_sub > 1) {
			p.type = ACME_PROB_REJECTED_IDENTIFIER;
			snprintf(p.detail, sizeof p.detail, "Cannot issue for %zu identifiers", p.n_sub);
		}
		return acme_rq_problem_doc(r, &p);
	}
	qsort(list, n, sizeof *list, acme_ident_cmp);
	size_t m = 0;
	for (size_t i = 0; i < n; i++)
		if (m == 0 || acme_ident_cmp(&list[m - 1], &list[i]) != 0)
			list[m++] = list[i];
	n = m;
	const cJSON *repl = cJSON_GetObjectItemCaseSensitive(r->payload, "replaces");
	int related = 0;
	if (repl) {
		if (!cJSON_IsString(repl))
			return acme_rq_problem(r, ACME_PROB_MALFORMED, "replaces must be a string");
		if (check_replaces(r, repl->valuestring, list, n, &related, &p))
			return acme_rq_problem_doc(r, &p);
		if (!related) {
			/* Not recorded either: finalize would exempt it and mark the certificate replaced. */
			TB_INFO("acme", "order of %s names replaces %s but shares no identifier with it: not a replacement",
				r->acct.id, repl->valuestring);
			repl = NULL;
		}
	}
	struct acme_wjob *j = acme_wjob_new(s);
	char key[128];
	snprintf(key, sizeof key, "orders:%s", r->acct.id);
	int64_t wait = repl ? 0 : acme_db_rate_take(r->s, j, key, s->rl_orders_per_account, 3600);
	if (wait) {
		acme_wjob_abort(j);
		return acme_rq_rate_limited(r, wait, "new orders for this account");
	}
	if (acme_random_id(r->id)) {
		acme_wjob_abort(j);
		return acme_rq_problem(r, ACME_PROB_SERVER_INTERNAL, "no randomness");
	}
	int64_t now = acme_now();
	cJSON *idj = cJSON_CreateArray();
	for (size_t i = 0; i < n; i++) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "type", acme_ident_type_name(list[i].type));
		cJSON_AddStringToObject(o, "value", list[i].value);
		cJSON_AddItemToArray(idj, o);
	}
	char *idtxt = cJSON_PrintUnformatted(idj);
	cJSON_Delete(idj);
	acme_db_order_insert(j, r->id, r->acct.id, now + s->order_lifetime, idtxt ? idtxt : "[]", pr->name,
		repl ? repl->valuestring : "", now);
	free(idtxt);
	for (size_t i = 0; i < n; i++) {
		int wildcard = list[i].type == ACME_IDENT_DNS && acme_dns_is_wildcard(list[i].value);
		const char *base_name = wildcard ? list[i].value + 2 : list[i].value;
		struct acme_identifier bid = list[i];
		snprintf(bid.value, sizeof bid.value, "%s", base_name);
		char *zid = acme_db_reusable_authz(s, r->a, r->acct.id, &bid, wildcard, pr->reuse);
		if (!zid) {
			char nid[ACME_ID_LEN + 1];
			if (acme_random_id(nid)) {
				acme_wjob_abort(j);
				return acme_rq_problem(r, ACME_PROB_SERVER_INTERNAL, "no randomness");
			}
			zid = tb_arena_strdup(r->a, nid);
			acme_db_authz_insert(j, nid, r->acct.id, acme_ident_type_name(bid.type), bid.value, wildcard,
				now + s->authz_lifetime, now);
			tb_metric_inc(&acme_m_authzs);
			const char *types[3];
			size_t nt = 0;
			if (wildcard) {
				types[nt++] = "dns-01";
			} else {
				types[nt++] = "http-01";
				if (bid.type == ACME_IDENT_DNS)
					types[nt++] = "dns-01";
				types[nt++] = "tls-alpn-01";
			}
			char token[ACME_TOKEN_LEN + 1];
			if (acme_token_new(token)) {
				acme_wjob_abort(j);
				return acme_rq_problem(r, ACME_PROB_SERVER_INTERNAL, "no randomness");
			}
			for (size_t k = 0; k < nt; k++) {
				char cid[ACME_ID_LEN + 1];
				if (acme_random_id(cid)) {
					acme_wjob_abort(j);
					return acme_rq_problem(r, ACME_PROB_SERVER_INTERNAL, "no randomness");
				}
				/* One token per authorization, as Boulder does. */
				acme_db_chall_insert(j, cid, nid, types[k], token);
			}
		}
		acme_db_order_authz_link(j, r->id, zid, (int)i);
	}
	if (acme_wjob_submit(j, order_created, r))
		return acme_rq_problem(r, ACME_PROB_SERVER_INTERNAL, "store unavailable");
	return TB_HTTP_LATER;
}

int acme_handle_order(struct tb_http_request *req, void *svc)
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
	struct acme_order o;
	int rc;
	if (acme_rq_get_order(r, id, &o, &rc))
		return rc;
	const char *st;
	cJSON *j = acme_order_json(r, &o, &st);
	if (strcmp(st, "processing") == 0) {
		acme_rq_headers(r);
		tb_http_set_header(r->req, "Retry-After", RETRY_AFTER_PROCESSING);
	}
	return acme_rq_json(r, 200, j, NULL);
}

