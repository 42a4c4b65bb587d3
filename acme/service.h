/*
 * The ACME service's internal interface: shared between the HTTP front
 * (service.c) and the validators (validate.c). Not a public header: the
 * subsystem is reached only through `acme_subsystem` (core/subsystem.h).
 */
#ifndef ACME_SERVICE_H
#define ACME_SERVICE_H

#include <stddef.h>
#include <stdint.h>

#include "acme/acme.h"
#include "core/subsystem.h"

#define ACME_MAX_PROFILES 8
#define ACME_MAX_LAB_DOMAINS 16
#define ACME_MAX_EAB_KEYS 64
#define ACME_MAX_CAA_IDS 8
#define ACME_MAX_ORDER_NAMES 100      /* identifiers in one order, whatever the profile says */
#define ACME_HTTP01_MAX_BODY 8192     /* bytes of an http-01 response we read */
#define ACME_HTTP01_MAX_REDIRECTS 10
#define ACME_WJOB_MAX 512             /* statements in one write job */

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

/* Write jobs: SQL statements built on the loop thread (sqlite3_mprintf, %Q quoting). */
struct acme_wjob;
/*
 * Adds delta (-1: a validation starts, +1: it succeeded) to id's
 * failed-validation bucket in j (acme.rate_limits.
 * failed_validations_per_identifier_per_hour; nothing when that is 0).
 */
void acme_failed_bucket_add(struct acme_wjob *j, struct acme_svc *s, const struct acme_identifier *id, int delta);
struct acme_wjob *acme_wjob_new(struct acme_svc *s);
/* expect_change: the job fails (TB_ERR_STATE) when the statement changed no row. */
void acme_wjob_add(struct acme_wjob *j, int expect_change, const char *fmt, ...);
typedef void (*acme_wjob_fn)(void *ctx, int status);
/* Queues the job; fn runs on the loop thread once it is durable (or failed). Frees j. */
int acme_wjob_submit(struct acme_wjob *j, acme_wjob_fn fn, void *ctx);

/* Discards a job that will not be submitted. */
void acme_wjob_free_unsubmitted(struct acme_wjob *j);
/* Loop thread bookkeeping for stop(). */
void acme_svc_hold(struct acme_svc *s);
void acme_svc_release(struct acme_svc *s);

/* The DER CRL of every revoked, unexpired certificate, signed by the intermediate (crl.c). */
int acme_crl_build(struct acme_svc *s, struct tb_bytes *out);
/* The cRLDistributionPoints extension value naming url. */
int acme_crldp_ext(const char *url, struct tb_bytes *out);

int64_t acme_now(void);
/* Nonzero when name is, or is under, one of the lab domains. */
int acme_is_lab_name(const struct acme_svc *s, const char *name);

#endif
