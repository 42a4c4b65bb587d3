/*
 * The ACME service's internal core, shared by every file of the service:
 * the service struct and its configuration, ids and time, hold/release for
 * stop(), and the entry points of the validators (validate.c) and the CRL
 * (crl.c). Not a public header: the subsystem is reached only
 * through `acme_subsystem` (core/subsystem.h).
 *
 * Layering (no file includes a header above its own layer):
 *   svc.h      this file; svc.c
 *   db.h       the store: write jobs, row types, reads, write statements (db.c, the only SQL)
 *   request.h  the request pipeline and answers (request.c)
 *   account.c order.c finalize.c authz.c cert.c   one file per resource
 *   config.c   option tables and configure; service.c  schema, directory, routing, lifecycle
 * validate.c and crl.c use svc.h and db.h only.
 */
#ifndef ACME_SVC_H
#define ACME_SVC_H

#include <stddef.h>
#include <stdint.h>

#include "acme/acme.h"
#include "core/arena.h"
#include "core/subsystem.h"

#define ACME_MAX_PROFILES 8
#define ACME_MAX_LAB_DOMAINS 16
#define ACME_MAX_EAB_KEYS 64
#define ACME_MAX_CAA_IDS 8
#define ACME_MAX_ORDER_NAMES 100      /* identifiers in one order, whatever the profile says */
#define ACME_HTTP01_MAX_BODY 8192     /* bytes of an http-01 response we read */
#define ACME_HTTP01_MAX_REDIRECTS 10
#define ACME_WJOB_MAX 512             /* statements in one write job */
#define ACME_ID_BYTES 12
#define ACME_SERIAL_BYTES 18          /* random serial of an issued certificate */
#define ACME_ID_LEN 16                /* base64url of ACME_ID_BYTES: ids of accounts, orders, authzs, challenges */

struct acme_profile {
	char name[32];
	char description[160];
	int64_t validity;        /* seconds */
	int common_name;         /* a CN may be copied into the certificate */
	int max_names;
	int allow_ip;
	int64_t reuse;           /* seconds a valid authorization is reused */
};

struct acme_validation;

#define ACME_KEY_CACHE 512            /* parsed account keys kept (direct-mapped by account id) */

struct acme_key_cache_entry {
	char id[65];
	char thumb[ACME_THUMBPRINT_LEN + 1];
	struct acme_key *key;
};

struct acme_svc {
	struct tb_core *core;
	char listener[64];
	char dir_path[128];
	char prefix[128];             /* ends with '/' */
	struct acme_profile profiles[ACME_MAX_PROFILES];
	size_t n_profiles;
	size_t default_profile;
	int http01_port, tlsalpn01_port;
	int strict;
	char lab_domains[ACME_MAX_LAB_DOMAINS][ACME_MAX_IDENT_LEN + 1];
	size_t n_lab_domains;
	struct { char kid[128]; uint8_t key[ACME_EAB_MAX_KEY]; size_t len; } eab[ACME_MAX_EAB_KEYS];
	size_t n_eab;
	int eab_required;
	char caa_ids[ACME_MAX_CAA_IDS][128];
	size_t n_caa_ids;
	char tos[256], website[256];
	double lab_reject_nonces;
	int64_t lab_delay_ms;
	int lab_always_valid;
	int64_t rl_orders_per_account;     /* per hour, 0 = off */
	int64_t rl_accounts_per_ip;        /* per hour */
	int64_t rl_certs_per_domain;       /* per week */
	int64_t rl_failed_per_ident;       /* per hour */
	int64_t order_lifetime, authz_lifetime, authz_valid_lifetime;
	int64_t caa_recheck;               /* seconds after which finalize re-checks CAA */
	uint64_t validation_timeout_ms;
	int64_t max_validations;           /* running at once */
	int64_t max_validations_per_account;
	int64_t max_queued_validations;    /* waiting for a slot; beyond: rateLimited */
	struct acme_nonces *nonces;
	size_t pending;                    /* store jobs and validations in flight */
	int stopping;
	tb_done_cb stop_done;
	void *stop_arg;
	struct acme_validation *vals;      /* validations reserved, queued or running, oldest first */
	struct acme_validation **vals_tail;
	int64_t vals_running, vals_queued; /* slots held; places in the queue held */
	uint64_t vals_seq;
	int vals_dispatching;
	int caa_absent_logged;
	struct acme_key_cache_entry key_cache[ACME_KEY_CACHE];
	struct tb_bytes crl;               /* the signed CRL served at <prefix>crl (crl.c) */
	int64_t crl_signed;                /* its thisUpdate; 0: none yet or invalidated */
	struct acme_stmt_cache *stmts;     /* prepared reads kept for reuse (db.c) */
	struct acme_wstmt_cache *wstmts;   /* prepared writes, writer thread only (db.c) */
};

/* What a validation needs; copied out of the request. */
struct acme_validation_req {
	char chall_id[32];
	char authz_id[32];
	char type[16];                   /* "http-01", "dns-01", "tls-alpn-01" */
	char token[ACME_TOKEN_LEN + 1];
	char key_authz[ACME_KEY_AUTHZ_MAX + 1];
	char account_url[512];
	struct acme_identifier ident;
	int wildcard;
};

/* config.c: the `acme {}` section and the service built from it (*state NULL when disabled). */
extern const struct tb_section_def *const acme_sections[];
int acme_configure(struct tb_core *core, void **state, char *err, size_t errlen);

/*
 * Validations in flight are capped: acme.max_validations running at once,
 * acme.max_validations_per_account of one account; the rest wait in a FIFO
 * queue of acme.max_queued_validations. acme_validate_reserve takes a
 * running slot or a queue place for v before its challenge is stored as
 * processing; when the queue is full it returns TB_ERR_TOO_LARGE and
 * *retry_after (seconds) for a rateLimited answer. Each reservation ends in
 * exactly one acme_validate_start (the challenge is stored: validate it and
 * write the outcome) or acme_validate_abort (it was not stored).
 */
int acme_validate_reserve(struct acme_svc *s, const char *account, const struct acme_validation_req *v,
	struct acme_validation **out, int64_t *retry_after);
void acme_validate_start(struct acme_validation *val);
void acme_validate_abort(struct acme_validation *val);
/* Cancels every validation in flight (stop). */
void acme_validate_cancel_all(struct acme_svc *s);

/*
 * CAA (RFC 8659 + RFC 8657) for one identifier: cb(0, prob unused) when
 * issuance is allowed, else cb(-1, prob with type caa or dns).
 */
typedef void (*acme_caa_cb)(int allowed_err, const struct acme_problem *prob, void *arg);
int acme_caa_check(struct acme_svc *s, const struct acme_identifier *id, int wildcard,
	const char *account_url, const char *method, acme_caa_cb cb, void *arg);

/* admin.c: the admin API's /api/v1/acme routes, on every listener. */
int acme_admin_mount(struct acme_svc *s);

/* Loop thread bookkeeping for stop(). */
void acme_svc_hold(struct acme_svc *s);
void acme_svc_release(struct acme_svc *s);

/* The DER CRL of every revoked, unexpired certificate, signed by the intermediate (crl.c). */
int acme_crl_build(struct acme_svc *s, struct tb_bytes *out);
/*
 * The CRL to serve: the cached one, re-signed first when a revocation
 * invalidated it or half its validity has passed. *out stays valid until
 * the next call or acme_crl_free.
 */
int acme_crl_get(struct acme_svc *s, struct tb_buf *out);
/* A revocation is durable: the next acme_crl_get re-signs. */
void acme_crl_invalidate(struct acme_svc *s);
/*
 * Revokes an issued certificate (ACME revoke-cert and the admin API take
 * this one path): the revocation is stored, then the CRL invalidated so the
 * next fetch lists it, then done(ctx, status) runs on the loop: 0,
 * TB_ERR_STATE (already revoked or not issued) or a store error. Returns 0
 * or an error (then done is not called).
 */
int acme_revoke(struct acme_svc *s, const char *serial_hex, int reason, void (*done)(void *ctx, int status),
	void *ctx);
void acme_crl_free(struct acme_svc *s);
/* The cRLDistributionPoints extension value naming url. */
int acme_crldp_ext(const char *url, struct tb_bytes *out);

int64_t acme_now(void);
/* RFC 3339 UTC text of t, in the arena. */
char *acme_ts(struct tb_arena *a, int64_t t);
/* A fresh random object id; 0 or TB_ERR_CRYPTO (out unusable then). */
int acme_random_id(char out[ACME_ID_LEN + 1]);
/* Tests: the nth call of acme_random_id from now fails as if the RNG had (0: none). */
void acme_test_fail_random(unsigned nth);
/* Nonzero when s may be an object id taken from a URL (1..64 base64url characters). */
int acme_id_ok(const char *s);
/* Nonzero when name is, or is under, one of the lab domains. */
int acme_is_lab_name(const struct acme_svc *s, const char *name);
/* The profile of that name, or NULL. */
const struct acme_profile *acme_find_profile(const struct acme_svc *s, const char *name);

#endif
