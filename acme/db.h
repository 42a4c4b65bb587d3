/*
 * The ACME service's store access: row types, reads on the loop thread's
 * reader connection, the write statements added to write jobs, and the
 * rate-limit buckets. db.c is the only file of the service that speaks SQL
 * to the store (the seam for another store): everything else names what
 * it reads or changes. Strings of a loaded row live in the caller's arena.
 */
#ifndef ACME_DB_H
#define ACME_DB_H

#include <stddef.h>
#include <stdint.h>

#include "acme/svc.h"
#include "core/arena.h"

/*
 * Write jobs: the statements of one change, committed together in one
 * SAVEPOINT by the store's writer thread. A job is either submitted or
 * aborted, never dropped: a request that fails after starting a job
 * aborts it, so that nothing it queued reaches the store.
 */
struct acme_wjob;
struct acme_wjob *acme_wjob_new(struct acme_svc *s);
/*
 * expect_change: the job fails (TB_ERR_STATE) when the statement changed no row.
 * fmt: a literal with sqlite3_mprintf conversions; with only %Q, %d, %lld, %.6f and %B
 * (a blob: const uint8_t *, size_t; allowed only among those) it runs as a kept
 * prepared statement with bound values, with anything else as SQL text.
 */
void acme_wjob_add(struct acme_wjob *j, int expect_change, const char *fmt, ...);
typedef void (*acme_wjob_fn)(void *ctx, int status);
/* Queues the job; fn runs on the loop thread once it is durable (or failed). Frees j. */
int acme_wjob_submit(struct acme_wjob *j, acme_wjob_fn fn, void *ctx);
/* Discards a job and everything added to it; nothing reaches the store. NULL is fine. */
void acme_wjob_abort(struct acme_wjob *j);

/* Finalizes the prepared reads db.c keeps; before the store closes. */
void acme_db_close(struct acme_svc *s);

struct acme_acct {
	char *id, *thumb, *jwk, *contact, *status;
	int64_t created;
};

struct acme_order {
	char *id, *account, *status, *identifiers, *profile, *error, *cert_serial, *replaces;
	int64_t expires, created;
	int has_error, has_cert;
};

struct acme_authz {
	char *id, *account, *ident_type, *ident_value, *status;
	int wildcard;
	int64_t expires, created, validated;
};

struct acme_chall {
	char *id, *authz, *type, *token, *status, *error;
	int64_t validated;
	int has_validated, has_error;
};

/* An issued certificate (status 'issued'). */
struct acme_cert {
	char *serial, *account, *order_id, *pem;
	char *names;               /* JSON array of the names in the certificate */
	const uint8_t *der_chain;  /* leaf first, then the intermediate (arena copy) */
	size_t der_chain_len;
	int64_t not_before, not_after;
	int revoked, replaced;     /* revoked_at / replaced_by set */
	/* Loaded by acme_db_load_cert and the admin reads: */
	char *profile;             /* the order's profile */
	int64_t revoked_at, finalized, precert_at, issued_at; /* 0 when not (yet) or not recorded */
	int revoked_reason;
};

/* One validation attempt of a challenge (acme_attempts). */
struct acme_attempt {
	char *chall, *target, *result, *problem; /* problem: JSON text, "" when none */
	int64_t time;
};

/* A rate-limit bucket as stored (tokens as of updated). */
struct acme_bucket {
	char *key;
	double tokens;
	int64_t updated;
};

#define ACME_MAX_CHALLS 4          /* challenges of one authorization */

/* ---- reads: 0, TB_ERR_NOT_FOUND, TB_ERR_STORE or TB_ERR_NOMEM ---- */

/* by: "id" or "thumbprint". */
int acme_db_load_acct(struct acme_svc *s, struct tb_arena *a, const char *by, const char *v, struct acme_acct *out);
int acme_db_load_order(struct acme_svc *s, struct tb_arena *a, const char *id, struct acme_order *o);
int acme_db_load_authz(struct acme_svc *s, struct tb_arena *a, const char *id, struct acme_authz *z);
/* The authorizations of an order in order; *n at most cap. */
int acme_db_load_order_authzs(struct acme_svc *s, struct tb_arena *a, const char *order_id, struct acme_authz *out,
	size_t cap, size_t *n);
int acme_db_load_chall(struct acme_svc *s, struct tb_arena *a, const char *id, struct acme_chall *c);
/* The challenges of an authorization, by type; *n at most cap. */
int acme_db_load_authz_challs(struct acme_svc *s, struct tb_arena *a, const char *authz_id, struct acme_chall *out,
	size_t cap, size_t *n);
int acme_db_load_cert(struct acme_svc *s, struct tb_arena *a, const char *serial, struct acme_cert *out);

/* ---- admin API reads (acme/admin.c); rowids are the paging cursors, newest first ---- */

/* Accounts with rowid < before (0: from the newest); *next: the cursor of the next page or 0. */
struct acme_acct_row {
	struct acme_acct acct;
	int64_t orders;
};
int acme_db_admin_accounts(struct acme_svc *s, struct tb_arena *a, int64_t before, size_t limit,
	struct acme_acct_row *out, size_t *n, int64_t *next);
/*
 * Orders with rowid < before, optionally only those naming identifier (any
 * type), and only those keep() accepts (NULL: all; the effective status is
 * derived, so it is filtered here rather than in SQL). At most a few
 * thousand rows are looked at per call: *next may be set with fewer than
 * limit rows found.
 */
int acme_db_admin_orders(struct acme_svc *s, struct tb_arena *a, int64_t before, size_t limit,
	const char *identifier, int (*keep)(void *arg, const struct acme_order *o), void *arg,
	struct acme_order *out, size_t *n, int64_t *next);
/* Issued certificates with rowid < before (no PEM or DER loaded). */
int acme_db_admin_certs(struct acme_svc *s, struct tb_arena *a, int64_t before, size_t limit,
	struct acme_cert *out, size_t *n, int64_t *next);
/* The certificate row of an order, whatever its status (reserved during finalize). */
int acme_db_order_cert(struct acme_svc *s, struct tb_arena *a, const char *order_id, struct acme_cert *out,
	char **status);
/* The validation attempts of a challenge, oldest first; *n at most cap. */
int acme_db_load_attempts(struct acme_svc *s, struct tb_arena *a, const char *chall_id, struct acme_attempt *out,
	size_t cap, size_t *n);
/* Rate-limit buckets with key > after (NULL: from the first), by key. */
int acme_db_admin_buckets(struct acme_svc *s, struct tb_arena *a, const char *after, size_t limit,
	struct acme_bucket *out, size_t *n, int *more);

/* Effective authorization status (expiry applied). */
const char *acme_authz_status(const struct acme_authz *z);
/* Effective order status, derived from its authorizations while pending. */
const char *acme_db_order_status(struct acme_svc *s, struct tb_arena *a, const struct acme_order *o);

/* Ids of an account's live orders from cursor on, oldest first; *n at most cap. */
int acme_db_account_orders(struct acme_svc *s, struct tb_arena *a, const char *account, int64_t cursor,
	char **ids, size_t cap, size_t *n);
/* A valid authorization of the account for that identifier validated within reuse seconds, or NULL. */
char *acme_db_reusable_authz(struct acme_svc *s, struct tb_arena *a, const char *account,
	const struct acme_identifier *id, int wildcard, int64_t reuse);
/* Nonzero when a live order already names certid in replaces. */
int acme_db_order_replacing(struct acme_svc *s, const char *certid);
/* The type of the valid challenge of an authorization, or NULL. */
char *acme_db_valid_chall_type(struct acme_svc *s, struct tb_arena *a, const char *authz_id);
/* Nonzero when the account holds a valid, unexpired authorization for (type, value). */
int acme_db_holds_valid_authz(struct acme_svc *s, const char *account, const char *type, const char *value);
/* Calls fn for every revoked, unexpired certificate, by revocation time; at most max. */
typedef void (*acme_db_revoked_fn)(const char *serial_hex, int64_t revoked_at, int reason, void *arg);
int acme_db_revoked_each(struct acme_svc *s, int64_t now, size_t max, acme_db_revoked_fn fn, void *arg);

/*
 * Rate limits: a bucket of `limit` tokens refilled over `period` seconds.
 * Returns 0 and adds the statement taking one token to j, or returns the
 * seconds until a token is available (j unchanged). limit 0: no limit.
 */
int64_t acme_db_rate_take(struct acme_svc *s, struct acme_wjob *j, const char *key, int64_t limit, int64_t period);

/* ---- write statements, added to a job ---- */

void acme_db_account_insert(struct acme_wjob *j, const char *id, const char *thumb, const char *jwk,
	const char *contact, int64_t created, const char *eab_kid, const char *remote);
/* The account and its pending or valid authorizations. */
void acme_db_account_deactivate(struct acme_wjob *j, const char *id);
void acme_db_account_contact(struct acme_wjob *j, const char *id, const char *contact);
/* Expects the account still to have old_thumb. */
void acme_db_account_key(struct acme_wjob *j, const char *id, const char *old_thumb, const char *thumb,
	const char *jwk);
void acme_db_order_insert(struct acme_wjob *j, const char *id, const char *account, int64_t expires,
	const char *identifiers, const char *profile, const char *replaces, int64_t created);
void acme_db_authz_insert(struct acme_wjob *j, const char *id, const char *account, const char *type,
	const char *value, int wildcard, int64_t expires, int64_t created);
void acme_db_chall_insert(struct acme_wjob *j, const char *id, const char *authz, const char *type, const char *token);
void acme_db_order_authz_link(struct acme_wjob *j, const char *order_id, const char *authz_id, int pos);
/* pending -> processing, and the serial reserved for it. */
void acme_db_order_processing(struct acme_wjob *j, const char *order_id, const char *serial, const char *account,
	int64_t created);
/* The order invalid with that error; the serial's reservation dropped. */
void acme_db_order_fail(struct acme_wjob *j, const char *order_id, const char *error_json, const char *serial);
/* Start-up: orders and challenges an earlier process left processing become invalid. */
void acme_db_fail_interrupted(struct acme_wjob *j, int64_t now, const char *error_json);
/* The reserved serial issued, and its order valid. */
void acme_db_cert_issue(struct acme_wjob *j, const char *serial, const char *order_id, const uint8_t *der_chain,
	size_t len, const char *pem, int64_t not_before, int64_t not_after, const char *names_json);
void acme_db_cert_replaced(struct acme_wjob *j, const char *old_serial, const char *new_serial);
void acme_db_cert_revoke(struct acme_wjob *j, const char *serial, int reason, int64_t at);
/* When the precertificate was signed and the certificate stored (0: none). */
void acme_db_cert_times(struct acme_wjob *j, const char *serial, int64_t precert_at, int64_t issued_at);
void acme_db_authz_deactivate(struct acme_wjob *j, const char *id);
/* pending -> processing (expected to change). */
/*
 * Adds delta (-1: a validation starts, +1: it succeeded) to id's
 * failed-validation bucket in j (acme.rate_limits.
 * failed_validations_per_identifier_per_hour; nothing when that is 0).
 */
void acme_db_failed_bucket_add(struct acme_wjob *j, struct acme_svc *s, const struct acme_identifier *id, int delta);
void acme_db_chall_processing(struct acme_wjob *j, const char *id);
/* A validation's outcome: the challenge (processing -> valid/invalid) and its authorization. */
void acme_db_chall_valid(struct acme_wjob *j, const char *chall_id, const char *authz_id, int64_t now,
	int64_t authz_expires);
void acme_db_chall_invalid(struct acme_wjob *j, const char *chall_id, const char *authz_id, int64_t now,
	const char *error_json);
/*
 * One validation attempt, for the admin API's timeline: target is the
 * address:port dialled ("resolver" for dns-01), result "valid" or "invalid",
 * problem the error document (NULL when valid).
 */
void acme_db_attempt_insert(struct acme_wjob *j, const char *chall_id, const char *authz_id, int64_t at,
	const char *target, const char *result, const char *problem_json);

#endif
