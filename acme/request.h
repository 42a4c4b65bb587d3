/*
 * The ACME request pipeline, shared by the resource files: a request's
 * state (struct acme_rq, in the request's arena), JWS authentication,
 * the headers every answer carries (Replay-Nonce, Link rel="index"), and
 * the answers themselves (problem documents, JSON, rate limits). Also the
 * handlers of the resources, one file each, named by the route table in
 * service.c: each is a core route handler (called with the service as arg,
 * its object id in the path parameter "id"), answers now or returns
 * TB_HTTP_LATER and answers from a store callback; once it has answered,
 * r is gone.
 */
#ifndef ACME_REQUEST_H
#define ACME_REQUEST_H

#include "acme/db.h"
#include "acme/svc.h"
#include "core/http.h"

struct acme_rq {
	struct acme_svc *s;
	struct tb_http_request *req;
	struct tb_arena *a;
	char *base;            /* "https://host:port" */
	char *url;             /* the request URL */
	struct acme_jws jws;
	int have_jws;
	struct acme_key *key;  /* the verifying key: jws.key or the account's */
	struct acme_acct acct;
	int have_acct;
	cJSON *payload;        /* parsed payload (NULL for POST-as-GET) */
	int hdr_done;          /* Replay-Nonce and Link index already set */
	/* endpoint scratch */
	char id[ACME_ID_LEN + 1];       /* id of the object being created */
	char *obj_id;                   /* authz / challenge being answered */
	struct acme_validation_req vreq; /* challenge: the validation to start once answered */
	struct acme_validation *vres; /* reserved validation, started or aborted once the challenge is stored */
	/* finalize */
	struct acme_order order;
	struct acme_csr csr;
	int have_csr;
	struct tb_bytes der, pem;
	char serial_hex[2 * ACME_SERIAL_BYTES + 1];
	uint8_t serial[ACME_SERIAL_BYTES];
	const struct acme_profile *profile;
	int64_t nb, na;
	int64_t precert_at;    /* when the precertificate was signed (0: none) */
	struct tb_bytes scts;  /* TLS-encoded SCTs (each with its u16 length) */
	size_t ct_pending;
	int failing;            /* finalize: the order is being failed (order_fail ran once) */
	struct acme_authz *caa; /* the order's authorizations, for the CAA re-check */
	size_t n_caa, caa_idx;
};

/* A request's state in its arena (freed with it), or NULL. */
struct acme_rq *acme_rq_new(struct acme_svc *s, struct tb_http_request *req);
/* base + prefix + printf(fmt): the URL of a resource, in the arena. */
char *acme_rq_url(struct acme_rq *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Replay-Nonce, Link rel="index", Cache-Control (once). */
void acme_rq_headers(struct acme_rq *r);

/*
 * Parses the JWS, checks the nonce and url, finds and verifies the key
 * (want_jwk: -1 either, 0 kid, 1 jwk), checks the account is valid and
 * parses the payload. 0, or an error with p filled.
 */
int acme_rq_authenticate(struct acme_rq *r, int want_jwk, struct acme_problem *p);

/* Answers; each returns tb_http_respond's result. */
int acme_rq_problem_doc(struct acme_rq *r, const struct acme_problem *p);
int acme_rq_problem(struct acme_rq *r, enum acme_problem_type t, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int acme_rq_problem_status(struct acme_rq *r, int status, enum acme_problem_type t, const char *detail);
/* 404 malformed "no such resource": the path names no ACME resource. */
int acme_rq_no_resource(struct acme_rq *r);
/*
 * The object id in the route's path parameter "id", or NULL when it is not
 * a well-formed id (acme_id_ok): such a path names nothing, answer
 * acme_rq_no_resource before looking at the request.
 */
const char *acme_rq_path_id(struct acme_rq *r);
/* Takes ownership of j; location may be NULL. */
int acme_rq_json(struct acme_rq *r, int status, cJSON *j, const char *location);
/* 429 rateLimited with Retry-After: wait. */
int acme_rq_rate_limited(struct acme_rq *r, int64_t wait, const char *what);

/* The order's JSON (RFC 8555 7.1.3), its effective status in *status_out. */
cJSON *acme_order_json(struct acme_rq *r, const struct acme_order *o, const char **status_out);
/*
 * Loads the requesting account's order. Returns 0 when loaded; otherwise the
 * problem has been answered (r is gone) and 1 is returned, the answer's own
 * result in *answered: the caller must return that and touch nothing else.
 */
int acme_rq_get_order(struct acme_rq *r, const char *id, struct acme_order *o, int *answered);

/* ---- the resources (route handlers, named by the route table in service.c) ---- */

/* account.c */
int acme_handle_new_account(struct tb_http_request *req, void *svc);
int acme_handle_account(struct tb_http_request *req, void *svc);
int acme_handle_account_orders(struct tb_http_request *req, void *svc);
int acme_handle_key_change(struct tb_http_request *req, void *svc);
/* order.c */
int acme_handle_new_order(struct tb_http_request *req, void *svc);
int acme_handle_order(struct tb_http_request *req, void *svc);
/* finalize.c */
int acme_handle_finalize(struct tb_http_request *req, void *svc);
/* authz.c */
int acme_handle_authz(struct tb_http_request *req, void *svc);
int acme_handle_challenge(struct tb_http_request *req, void *svc);
/* cert.c */
int acme_handle_certificate(struct tb_http_request *req, void *svc);
int acme_handle_revoke_cert(struct tb_http_request *req, void *svc);
int acme_handle_renewal_info(struct tb_http_request *req, void *svc);
int acme_handle_crl(struct tb_http_request *req, void *svc);

#endif
