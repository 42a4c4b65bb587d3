/*
 * RFC 8555 problem documents (section 6.7) as data: one table row per error
 * type with its URN name and the HTTP status Boulder answers it with.
 * Rendering uses cJSON; details are truncated to ACME_MAX_DETAIL bytes.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acme/acme.h"
#include "core/error.h"

#define ACME_ERROR_URN_PREFIX "urn:ietf:params:acme:error:"

struct problem_row {
	const char *name;   /* short name, as in the IANA registry */
	const char *urn;
	int status;         /* HTTP status of a response carrying this type */
};

#define ROW(n, st) { n, ACME_ERROR_URN_PREFIX n, st }

/* Indexed by enum acme_problem_type. */
static const struct problem_row problem_table[ACME_PROB__COUNT] = {
	[ACME_PROB_NONE] = ROW("", 200),
	[ACME_PROB_ACCOUNT_DOES_NOT_EXIST] = ROW("accountDoesNotExist", 400),
	[ACME_PROB_ALREADY_REPLACED] = ROW("alreadyReplaced", 409),
	[ACME_PROB_ALREADY_REVOKED] = ROW("alreadyRevoked", 400),
	[ACME_PROB_BAD_CSR] = ROW("badCSR", 400),
	[ACME_PROB_BAD_NONCE] = ROW("badNonce", 400),
	[ACME_PROB_BAD_PUBLIC_KEY] = ROW("badPublicKey", 400),
	[ACME_PROB_BAD_REVOCATION_REASON] = ROW("badRevocationReason", 400),
	[ACME_PROB_BAD_SIGNATURE_ALGORITHM] = ROW("badSignatureAlgorithm", 400),
	[ACME_PROB_CAA] = ROW("caa", 403),
	[ACME_PROB_COMPOUND] = ROW("compound", 400),
	[ACME_PROB_CONNECTION] = ROW("connection", 400),
	[ACME_PROB_DNS] = ROW("dns", 400),
	[ACME_PROB_EXTERNAL_ACCOUNT_REQUIRED] = ROW("externalAccountRequired", 403),
	[ACME_PROB_INCORRECT_RESPONSE] = ROW("incorrectResponse", 403),
	[ACME_PROB_INVALID_CONTACT] = ROW("invalidContact", 400),
	[ACME_PROB_INVALID_PROFILE] = ROW("invalidProfile", 400),
	[ACME_PROB_MALFORMED] = ROW("malformed", 400),
	[ACME_PROB_ORDER_NOT_READY] = ROW("orderNotReady", 403),
	[ACME_PROB_RATE_LIMITED] = ROW("rateLimited", 429),
	[ACME_PROB_REJECTED_IDENTIFIER] = ROW("rejectedIdentifier", 400),
	[ACME_PROB_SERVER_INTERNAL] = ROW("serverInternal", 500),
	[ACME_PROB_TLS] = ROW("tls", 400),
	[ACME_PROB_UNAUTHORIZED] = ROW("unauthorized", 403),
	[ACME_PROB_UNSUPPORTED_CONTACT] = ROW("unsupportedContact", 400),
	[ACME_PROB_UNSUPPORTED_IDENTIFIER] = ROW("unsupportedIdentifier", 400),
	[ACME_PROB_USER_ACTION_REQUIRED] = ROW("userActionRequired", 403),
};

static int valid_type(enum acme_problem_type t)
{
	return (int)t > ACME_PROB_NONE && (int)t < ACME_PROB__COUNT;
}

const char *acme_problem_name(enum acme_problem_type type)
{
	if (!valid_type(type))
		return "";
	return problem_table[type].name;
}

const char *acme_problem_urn(enum acme_problem_type type)
{
	if (!valid_type(type))
		return NULL;
	return problem_table[type].urn;
}

enum acme_problem_type acme_problem_from_string(const char *s)
{
	if (!s)
		return ACME_PROB_NONE;
	size_t pl = strlen(ACME_ERROR_URN_PREFIX);
	if (strncmp(s, ACME_ERROR_URN_PREFIX, pl) == 0)
		s += pl;
	for (int t = ACME_PROB_NONE + 1; t < ACME_PROB__COUNT; t++)
		if (strcmp(s, problem_table[t].name) == 0)
			return (enum acme_problem_type)t;
	return ACME_PROB_NONE;
}

int acme_problem_http_status(enum acme_problem_type type)
{
	if (!valid_type(type))
		return 500;
	return problem_table[type].status;
}

int acme_problem_status(const struct acme_problem *p)
{
	if (p->status)
		return p->status;
	return acme_problem_http_status(p->type);
}

int acme_problem_set(struct acme_problem *p, enum acme_problem_type type, const char *fmt, ...)
{
	if (!p)
		return TB_ERR_INVALID;
	p->type = type;
	p->status = 0;
	p->n_sub = 0;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->detail, sizeof p->detail, fmt, ap);
	va_end(ap);
	return TB_ERR_INVALID;
}

int acme_problem_add_sub(struct acme_problem *p, enum acme_problem_type type,
	const struct acme_identifier *id, const char *fmt, ...)
{
	if (p->n_sub >= ACME_MAX_SUBPROBLEMS)
		return TB_ERR_TOO_LARGE;
	struct acme_subproblem *s = &p->sub[p->n_sub];
	memset(s, 0, sizeof *s);
	s->type = type;
	if (id)
		s->identifier = *id;
	else
		s->identifier.value[0] = '\0';
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->detail, sizeof s->detail, fmt, ap);
	va_end(ap);
	p->n_sub++;
	return 0;
}

cJSON *acme_problem_json(const struct acme_problem *p)
{
	enum acme_problem_type type = valid_type(p->type) ? p->type : ACME_PROB_SERVER_INTERNAL;
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	int ok = cJSON_AddStringToObject(o, "type", acme_problem_urn(type)) != NULL;
	ok = ok && cJSON_AddStringToObject(o, "detail", p->detail) != NULL;
	ok = ok && cJSON_AddNumberToObject(o, "status", acme_problem_status(p)) != NULL;
	if (ok && type == ACME_PROB_BAD_SIGNATURE_ALGORITHM) {
		cJSON *algs = cJSON_AddArrayToObject(o, "algorithms");
		ok = algs != NULL;
		for (size_t i = 0; ok && acme_jws_algorithms[i]; i++) {
			cJSON *s = cJSON_CreateString(acme_jws_algorithms[i]);
			ok = s && cJSON_AddItemToArray(algs, s);
		}
	}
	if (ok && p->n_sub) {
		cJSON *subs = cJSON_AddArrayToObject(o, "subproblems");
		ok = subs != NULL;
		for (size_t i = 0; ok && i < p->n_sub && i < ACME_MAX_SUBPROBLEMS; i++) {
			const struct acme_subproblem *s = &p->sub[i];
			enum acme_problem_type st = valid_type(s->type) ? s->type : ACME_PROB_SERVER_INTERNAL;
			cJSON *so = cJSON_CreateObject();
			ok = so && cJSON_AddItemToArray(subs, so);
			if (!ok) {
				cJSON_Delete(so);
				break;
			}
			ok = cJSON_AddStringToObject(so, "type", acme_problem_urn(st)) != NULL;
			ok = ok && cJSON_AddStringToObject(so, "detail", s->detail) != NULL;
			if (ok && s->identifier.value[0]) {
				cJSON *id = cJSON_AddObjectToObject(so, "identifier");
				ok = id != NULL;
				ok = ok && cJSON_AddStringToObject(id, "type",
					acme_ident_type_name(s->identifier.type)) != NULL;
				ok = ok && cJSON_AddStringToObject(id, "value", s->identifier.value) != NULL;
			}
		}
	}
	if (!ok) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

char *acme_problem_render(const struct acme_problem *p)
{
	cJSON *o = acme_problem_json(p);
	if (!o)
		return NULL;
	char *s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

/* Kept here (not in jws.c) so that problem rendering links without the JWS code. */
const char *const acme_jws_algorithms[] = { "RS256", "ES256", "ES384", NULL };
