/*
 * DESIGN: the ACME CA service (RFC 8555, RFC 8738, RFC 8737, RFC 9773).
 *
 * One route for the directory and one prefix route for every other
 * resource. A POST goes through one pipeline: parse the flattened JWS
 * (acme/jws.c), check the nonce, check that `url` equals the request URL
 * ("https://" + Host + target), find the key (embedded jwk or the account
 * named by kid), verify, then dispatch on the path. Every response carries a
 * fresh Replay-Nonce and Link rel="index".
 *
 * State lives in the store (acme_* tables). Reads use the loop thread's
 * reader connection; every change a client is told about goes through
 * tb_store_write and is answered only from the job's done callback, once
 * the commit is durable. Jobs carry conditional UPDATEs (WHERE status = ...)
 * so racing requests cannot both win. Order status is stored for
 * processing/valid/invalid and derived from the authorizations otherwise
 * (pending / ready / invalid), as Boulder does.
 *
 * Object identifiers in URLs are random (base64url of 12 bytes); certificate
 * URLs use the serial in hex. The serial is written (status "reserved")
 * before the certificate is signed.
 */
#include "acme/service.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <mbedtls/x509_crt.h>
#include <sqlite3.h>

#include "core/arena.h"
#include "core/ca.h"
#include "core/error.h"
#include "core/http.h"
#include "core/log.h"
#include "core/services.h"

#define ID_BYTES 12
#define ID_LEN 16                  /* base64url of ID_BYTES */
#define SERIAL_BYTES 18
#define MAX_CONTACTS 10
#define MAX_CONTACT_LEN 256
#define ORDERS_PAGE 100
#define RETRY_AFTER_PROCESSING "3"
#define RETRY_AFTER_ARI 21600

/* ------------------------------------------------------------------ */
/* Configuration                                                        */
/* ------------------------------------------------------------------ */

static const struct tb_option profile_options[] = {
	{ "name", TB_OPT_STRING, NULL, "profile name as clients ask for it in newOrder", .required = 1 },
	{ "description", TB_OPT_STRING, "\"\"", "one line shown in the directory's meta.profiles" },
	{ "validity_seconds", TB_OPT_INT, "7776000", "certificate lifetime", 3600, 398 * 86400.0 },
	{ "common_name", TB_OPT_BOOL, "true", "copy the CSR's CN (or the first name) into the subject" },
	{ "max_names", TB_OPT_INT, "100", "identifiers per order", 1, ACME_MAX_ORDER_NAMES },
	{ "allow_ip", TB_OPT_BOOL, "false", "IP address identifiers (RFC 8738) allowed" },
	{ "authz_reuse_seconds", TB_OPT_INT, "2592000", "how long a valid authorization is reused for new orders", 0, 398 * 86400.0 },
	TB_OPTIONS_END
};

#define PROFILES_DEFAULT                                                                                  \
	"[{\"name\":\"classic\",\"description\":\"90-day certificates with a CN\",\"validity_seconds\":7776000," \
	"\"common_name\":true,\"max_names\":100,\"allow_ip\":false,\"authz_reuse_seconds\":2592000},"          \
	"{\"name\":\"tlsserver\",\"description\":\"45-day certificates, no CN, at most 25 names\","             \
	"\"validity_seconds\":3888000,\"common_name\":false,\"max_names\":25,\"allow_ip\":false,"              \
	"\"authz_reuse_seconds\":604800},"                                                                      \
	"{\"name\":\"shortlived\",\"description\":\"160-hour certificates, IP addresses allowed\","             \
	"\"validity_seconds\":576000,\"common_name\":false,\"max_names\":25,\"allow_ip\":true,"                \
	"\"authz_reuse_seconds\":0}]"

static const struct tb_option rate_options[] = {
	{ "new_orders_per_account_per_hour", TB_OPT_INT, "300", "newOrder requests per account (0 = no limit)", 0, 1e9 },
	{ "new_accounts_per_ip_per_hour", TB_OPT_INT, "50", "newAccount creations per client IP (0 = no limit)", 0, 1e9 },
	{ "certificates_per_domain_per_week", TB_OPT_INT, "50", "certificates per registered domain (0 = no limit)", 0, 1e9 },
	{ "failed_validations_per_identifier_per_hour", TB_OPT_INT, "5", "failed validations per identifier (0 = no limit)", 0, 1e9 },
	TB_OPTIONS_END
};

static const struct tb_option acme_options[] = {
	{ "enabled", TB_OPT_BOOL, "true", "run the ACME CA" },
	{ "listener", TB_OPT_STRING, "\"https\"", "listener serving ACME (\"\" = every listener)" },
	{ "directory_path", TB_OPT_STRING, "\"/dir\"", "path of the directory resource" },
	{ "path_prefix", TB_OPT_STRING, "\"/acme/\"", "path prefix of every other ACME resource" },
	{ "profiles", TB_OPT_TABLES, PROFILES_DEFAULT, "certificate profiles (given profiles replace the defaults)",
		.children = profile_options },
	{ "default_profile", TB_OPT_STRING, "\"classic\"", "profile of orders that name none" },
	{ "http01_port", TB_OPT_INT, "5002", "port http-01 validation connects to (80 outside the lab)", 1, 65535 },
	{ "tlsalpn01_port", TB_OPT_INT, "5001", "port tls-alpn-01 validation connects to (443 outside the lab)", 1, 65535 },
	{ "policy", TB_OPT_ENUM, "\"lab\"", "lab: any target address allowed by design (loopback/private included), lab "
		"domains dial 127.0.0.1; strict: reserved targets refused on every hop, for anything reachable from outside",
		.choices = "lab|strict" },
	{ "lab_domains", TB_OPT_STRINGS, "[\"lab.test\"]", "names under these domains are dialled at 127.0.0.1 "
		"when no resolver answers for them (lab policy only)" },
	{ "eab_keys", TB_OPT_MAP, "{}", "External Account Binding: key id -> base64url HMAC key" },
	{ "external_account_required", TB_OPT_BOOL, "false", "newAccount must carry an externalAccountBinding" },
	{ "caa_identities", TB_OPT_STRINGS, "[\"trustbox\",\"trustbox.test\"]",
		"issuer domain names this CA recognises in CAA records (the first is shown in the directory)" },
	{ "terms_of_service", TB_OPT_STRING, "\"https://trustbox.test/acme/terms\"", "meta.termsOfService" },
	{ "website", TB_OPT_STRING, "\"https://trustbox.test/\"", "meta.website" },
	{ "rate_limits", TB_OPT_TABLE, "{}", "token-bucket rate limits", .children = rate_options },
	{ "order_lifetime_seconds", TB_OPT_INT, "604800", "how long a pending order lives", 1, 30 * 86400.0 },
	{ "authz_lifetime_seconds", TB_OPT_INT, "604800", "how long a pending authorization lives", 1, 30 * 86400.0 },
	{ "authz_valid_seconds", TB_OPT_INT, "2592000", "how long a valid authorization stays valid", 60, 398 * 86400.0 },
	{ "caa_recheck_seconds", TB_OPT_INT, "25200", "finalize re-checks CAA for authorizations validated longer ago", 0, 30 * 86400.0 },
	{ "validation_timeout_ms", TB_OPT_INT, "10000", "deadline of one validation connection", 100, 120000 },
	{ "max_validations", TB_OPT_INT, "100", "validations running at once; more wait in the queue", 1, 100000 },
	{ "max_validations_per_account", TB_OPT_INT, "10", "validations of one account running at once", 1, 100000 },
	{ "max_queued_validations", TB_OPT_INT, "1000", "validations waiting for a slot; a challenge POST beyond "
		"this is answered rateLimited", 0, 1000000 },
	{ "lab_reject_nonce_fraction", TB_OPT_NUMBER, "0", "lab switch: refuse this fraction of valid nonces with badNonce", 0, 1 },
	{ "lab_validation_delay_ms", TB_OPT_INT, "0", "lab switch: wait this long before validating", 0, 600000 },
	{ "lab_always_valid", TB_OPT_BOOL, "false", "lab switch: treat every challenge as valid without connecting" },
	TB_OPTIONS_END
};

static const struct tb_section_def acme_section = { "acme", acme_options, 0,
	"ACME certificate authority (RFC 8555) issuing from the appliance's intermediate" };
static const struct tb_section_def *const acme_sections[] = { &acme_section, NULL };

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

/* ------------------------------------------------------------------ */
/* Small helpers                                                         */
/* ------------------------------------------------------------------ */

int64_t acme_now(void)
{
	return (int64_t)time(NULL);
}

static char *ts(struct tb_arena *a, int64_t t)
{
	char b[32];
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return tb_arena_strdup(a, b);
}

static int random_id(char out[ID_LEN + 1])
{
	uint8_t r[ID_BYTES];
	struct tb_bytes b = { 0 };
	if (tb_random(r, sizeof r) || tb_base64url_encode(&b, r, sizeof r) || b.len != ID_LEN) {
		tb_bytes_free(&b);
		return TB_ERR_CRYPTO;
	}
	memcpy(out, b.p, ID_LEN);
	out[ID_LEN] = 0;
	tb_bytes_free(&b);
	return 0;
}

static int id_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return 0;
	}
	return 1;
}

int acme_is_lab_name(const struct acme_svc *s, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < s->n_lab_domains; i++) {
		const char *d = s->lab_domains[i];
		size_t m = strlen(d);
		if (n == m && strcmp(name, d) == 0)
			return 1;
		if (n > m && name[n - m - 1] == '.' && strcmp(name + n - m, d) == 0)
			return 1;
	}
	return 0;
}

void acme_svc_hold(struct acme_svc *s)
{
	s->pending++;
}

void acme_svc_release(struct acme_svc *s)
{
	if (s->pending)
		s->pending--;
	if (s->stopping && s->pending == 0 && s->stop_done) {
		tb_done_cb d = s->stop_done;
		s->stop_done = NULL;
		d(s->stop_arg);
	}
}

/* ---- write jobs ---- */

struct acme_wjob {
	struct acme_svc *s;
	char *sql[ACME_WJOB_MAX];
	unsigned char expect[ACME_WJOB_MAX];
	size_t n;
	int oom;
	acme_wjob_fn fn;
	void *ctx;
};

struct acme_wjob *acme_wjob_new(struct acme_svc *s)
{
	struct acme_wjob *j = calloc(1, sizeof *j);
	if (j)
		j->s = s;
	return j;
}

void acme_wjob_add(struct acme_wjob *j, int expect_change, const char *fmt, ...)
{
	if (!j)
		return;
	va_list ap;
	va_start(ap, fmt);
	char *q = sqlite3_vmprintf(fmt, ap);
	va_end(ap);
	if (!q || j->n == ACME_WJOB_MAX) {
		sqlite3_free(q);
		j->oom = 1;
		return;
	}
	j->expect[j->n] = (unsigned char)expect_change;
	j->sql[j->n++] = q;
}

static void wjob_free(struct acme_wjob *j)
{
	for (size_t i = 0; i < j->n; i++)
		sqlite3_free(j->sql[i]);
	free(j);
}

void acme_wjob_free_unsubmitted(struct acme_wjob *j)
{
	if (j)
		wjob_free(j);
}

static int wjob_run(sqlite3 *db, void *arg)
{
	struct acme_wjob *j = arg;
	for (size_t i = 0; i < j->n; i++) {
		char *err = NULL;
		if (sqlite3_exec(db, j->sql[i], NULL, NULL, &err) != SQLITE_OK) {
			TB_WARN("acme", "store: %s", err ? err : "error");
			sqlite3_free(err);
			return TB_ERR_STORE;
		}
		if (j->expect[i] && sqlite3_changes(db) == 0)
			return TB_ERR_STATE;
	}
	return 0;
}

static void wjob_done(int status, void *arg)
{
	struct acme_wjob *j = arg;
	struct acme_svc *s = j->s;
	if (j->fn)
		j->fn(j->ctx, status);
	wjob_free(j);
	acme_svc_release(s);
}

int acme_wjob_submit(struct acme_wjob *j, acme_wjob_fn fn, void *ctx)
{
	if (!j)
		return TB_ERR_NOMEM;
	if (j->oom) {
		wjob_free(j);
		return TB_ERR_NOMEM;
	}
	j->fn = fn;
	j->ctx = ctx;
	acme_svc_hold(j->s);
	int err = tb_store_write(j->s->core->store, wjob_run, wjob_done, j);
	if (err) {
		struct acme_svc *s = j->s;
		wjob_free(j);
		acme_svc_release(s);
	}
	return err;
}

/* ---- reads ---- */

static sqlite3_stmt *q_prep(struct acme_svc *s, const char *sql, int n, ...)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(tb_store_reader(s->core->store), sql, -1, &st, NULL) != SQLITE_OK) {
		TB_WARN("acme", "prepare: %s", sqlite3_errmsg(tb_store_reader(s->core->store)));
		return NULL;
	}
	va_list ap;
	va_start(ap, n);
	for (int i = 0; i < n; i++) {
		const char *v = va_arg(ap, const char *);
		sqlite3_bind_text(st, i + 1, v, -1, SQLITE_TRANSIENT);
	}
	va_end(ap);
	return st;
}

static char *col(struct tb_arena *a, sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return tb_arena_strdup(a, t ? (const char *)t : "");
}

static int col_null(sqlite3_stmt *st, int i)
{
	return sqlite3_column_type(st, i) == SQLITE_NULL;
}

/* ------------------------------------------------------------------ */
/* Rows                                                                  */
/* ------------------------------------------------------------------ */

struct acct {
	char *id, *thumb, *jwk, *contact, *status;
	int64_t created;
};

struct order {
	char *id, *account, *status, *identifiers, *profile, *error, *cert_serial, *replaces;
	int64_t expires, created;
	int has_error, has_cert;
};

struct authz {
	char *id, *account, *ident_type, *ident_value, *status;
	int wildcard;
	int64_t expires, created, validated;
};

struct chall {
	char *id, *authz, *type, *token, *status, *error;
	int64_t validated;
	int has_validated, has_error;
};

static int load_acct(struct acme_svc *s, struct tb_arena *a, const char *by, const char *v, struct acct *out)
{
	char sql[160];
	snprintf(sql, sizeof sql, "SELECT id, thumbprint, jwk, contact, status, created FROM acme_accounts WHERE %s = ?1",
		strcmp(by, "id") == 0 ? "id" : "thumbprint");
	sqlite3_stmt *st = q_prep(s, sql, 1, v);
	if (!st)
		return TB_ERR_STORE;
	int rc = sqlite3_step(st);
	int err = TB_ERR_NOT_FOUND;
	if (rc == SQLITE_ROW) {
		out->id = col(a, st, 0);
		out->thumb = col(a, st, 1);
		out->jwk = col(a, st, 2);
		out->contact = col(a, st, 3);
		out->status = col(a, st, 4);
		out->created = sqlite3_column_int64(st, 5);
		err = (out->id && out->thumb && out->jwk && out->contact && out->status) ? 0 : TB_ERR_NOMEM;
	} else if (rc != SQLITE_DONE) {
		err = TB_ERR_STORE;
	}
	sqlite3_finalize(st);
	return err;
}

static int load_order(struct acme_svc *s, struct tb_arena *a, const char *id, struct order *o)
{
	sqlite3_stmt *st = q_prep(s, "SELECT id, account, status, expires, identifiers, profile, error, cert_serial,"
		" replaces, created FROM acme_orders WHERE id = ?1", 1, id);
	if (!st)
		return TB_ERR_STORE;
	int rc = sqlite3_step(st), err = TB_ERR_NOT_FOUND;
	if (rc == SQLITE_ROW) {
		memset(o, 0, sizeof *o);
		o->id = col(a, st, 0);
		o->account = col(a, st, 1);
		o->status = col(a, st, 2);
		o->expires = sqlite3_column_int64(st, 3);
		o->identifiers = col(a, st, 4);
		o->profile = col(a, st, 5);
		o->has_error = !col_null(st, 6);
		o->error = col(a, st, 6);
		o->has_cert = !col_null(st, 7);
		o->cert_serial = col(a, st, 7);
		o->replaces = col(a, st, 8);
		o->created = sqlite3_column_int64(st, 9);
		err = o->id && o->account && o->status && o->identifiers && o->profile && o->error &&
				o->cert_serial && o->replaces ? 0 : TB_ERR_NOMEM;
	} else if (rc != SQLITE_DONE) {
		err = TB_ERR_STORE;
	}
	sqlite3_finalize(st);
	return err;
}

static int authz_from_row(struct tb_arena *a, sqlite3_stmt *st, struct authz *z)
{
	z->id = col(a, st, 0);
	z->account = col(a, st, 1);
	z->ident_type = col(a, st, 2);
	z->ident_value = col(a, st, 3);
	z->wildcard = sqlite3_column_int(st, 4);
	z->status = col(a, st, 5);
	z->expires = sqlite3_column_int64(st, 6);
	z->created = sqlite3_column_int64(st, 7);
	z->validated = sqlite3_column_int64(st, 8);
	return z->id && z->account && z->ident_type && z->ident_value && z->status ? 0 : TB_ERR_NOMEM;
}

#define AUTHZ_COLS "a.id, a.account, a.ident_type, a.ident_value, a.wildcard, a.status, a.expires, a.created, a.validated"

static int load_authz(struct acme_svc *s, struct tb_arena *a, const char *id, struct authz *z)
{
	sqlite3_stmt *st = q_prep(s, "SELECT " AUTHZ_COLS " FROM acme_authzs a WHERE a.id = ?1", 1, id);
	if (!st)
		return TB_ERR_STORE;
	int rc = sqlite3_step(st), err = TB_ERR_NOT_FOUND;
	if (rc == SQLITE_ROW)
		err = authz_from_row(a, st, z);
	else if (rc != SQLITE_DONE)
		err = TB_ERR_STORE;
	sqlite3_finalize(st);
	return err;
}

/* The authorizations of an order in order; *n at most cap. */
static int load_order_authzs(struct acme_svc *s, struct tb_arena *a, const char *order_id, struct authz *out,
	size_t cap, size_t *n)
{
	sqlite3_stmt *st = q_prep(s, "SELECT " AUTHZ_COLS " FROM acme_order_authzs oa JOIN acme_authzs a"
		" ON a.id = oa.authz_id WHERE oa.order_id = ?1 ORDER BY oa.pos", 1, order_id);
	if (!st)
		return TB_ERR_STORE;
	*n = 0;
	int rc, err = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < cap) {
		if ((err = authz_from_row(a, st, &out[*n])))
			break;
		(*n)++;
	}
	sqlite3_finalize(st);
	return err;
}

static void chall_from_row(struct tb_arena *a, sqlite3_stmt *st, struct chall *c)
{
	c->id = col(a, st, 0);
	c->authz = col(a, st, 1);
	c->type = col(a, st, 2);
	c->token = col(a, st, 3);
	c->status = col(a, st, 4);
	c->has_validated = !col_null(st, 5);
	c->validated = sqlite3_column_int64(st, 5);
	c->has_error = !col_null(st, 6);
	c->error = col(a, st, 6);
}

#define CHALL_COLS "id, authz, type, token, status, validated, error"

/* Effective authorization status (expiry applied). */
static const char *authz_status(const struct authz *z)
{
	if ((strcmp(z->status, "pending") == 0 || strcmp(z->status, "valid") == 0) && z->expires <= acme_now())
		return "expired";
	return z->status;
}

/* Effective order status, derived from its authorizations while pending. */
static const char *order_status(struct acme_svc *s, struct tb_arena *a, const struct order *o)
{
	if (strcmp(o->status, "pending") != 0)
		return o->status;
	if (o->expires <= acme_now())
		return "invalid";
	struct authz z[ACME_MAX_ORDER_NAMES];
	size_t n = 0;
	if (load_order_authzs(s, a, o->id, z, ACME_MAX_ORDER_NAMES, &n) || n == 0)
		return "pending";
	int all_valid = 1;
	for (size_t i = 0; i < n; i++) {
		const char *st = authz_status(&z[i]);
		if (strcmp(st, "valid") != 0)
			all_valid = 0;
		if (strcmp(st, "invalid") == 0 || strcmp(st, "deactivated") == 0 || strcmp(st, "expired") == 0 ||
			strcmp(st, "revoked") == 0)
			return "invalid";
	}
	return all_valid ? "ready" : "pending";
}

static const struct acme_profile *find_profile(const struct acme_svc *s, const char *name)
{
	for (size_t i = 0; i < s->n_profiles; i++)
		if (strcmp(s->profiles[i].name, name) == 0)
			return &s->profiles[i];
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Requests and responses                                                */
/* ------------------------------------------------------------------ */

struct rq {
	struct acme_svc *s;
	struct tb_http_request *req;
	struct tb_arena *a;
	char *base;            /* "https://host:port" */
	char *url;             /* the request URL */
	char *rest;            /* path below the prefix */
	struct acme_jws jws;
	int have_jws;
	struct acme_key *key;  /* the verifying key: jws.key or the account's */
	struct acme_key *acct_key_owned;
	struct acct acct;
	int have_acct;
	cJSON *payload;        /* parsed payload (NULL for POST-as-GET) */
	/* endpoint scratch */
	char id[ID_LEN + 1];
	char *obj_id;
	struct order order;
	struct acme_csr csr;
	int have_csr;
	struct tb_bytes der, pem;
	char serial_hex[2 * SERIAL_BYTES + 1];
	uint8_t serial[SERIAL_BYTES];
	const struct acme_profile *profile;
	struct acme_validation_req vreq;
	struct acme_validation *vres;  /* reserved validation, started or aborted once the challenge is stored */
	int status_code;
	int64_t nb, na;
	int revoke_reason;
	int hdr_done;          /* Replay-Nonce and Link index already set */
	struct tb_bytes scts;  /* finalize: TLS-encoded SCTs (each with its u16 length) */
	size_t ct_pending;
	struct authz *caa;     /* finalize: the order's authorizations, for the CAA re-check */
	size_t n_caa, caa_idx;
};

static void rq_cleanup(void *arg)
{
	struct rq *r = arg;
	if (r->have_jws)
		acme_jws_free(&r->jws);
	acme_key_free(r->acct_key_owned);
	cJSON_Delete(r->payload);
	if (r->have_csr)
		acme_csr_free(&r->csr);
	tb_bytes_free(&r->der);
	tb_bytes_free(&r->pem);
	tb_bytes_free(&r->scts);
	if (r->vres)
		acme_validate_abort(r->vres); /* an error path after the reservation */
}

static char *url_of(struct rq *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *url_of(struct rq *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *tail = tb_arena_vprintf(r->a, fmt, ap);
	va_end(ap);
	if (!tail)
		return NULL;
	return tb_arena_printf(r->a, "%s%s%s", r->base, r->s->prefix, tail);
}

static void common_headers(struct rq *r)
{
	if (r->hdr_done)
		return;
	r->hdr_done = 1;
	char nonce[ACME_NONCE_LEN + 1];
	if (acme_nonce_issue(r->s->nonces, nonce) == 0)
		tb_http_set_header(r->req, "Replay-Nonce", nonce);
	char *link = tb_arena_printf(r->a, "<%s%s>;rel=\"index\"", r->base, r->s->dir_path);
	if (link)
		tb_http_set_header(r->req, "Link", link);
	tb_http_set_header(r->req, "Cache-Control", "no-store");
}

static int respond_problem(struct rq *r, const struct acme_problem *p)
{
	common_headers(r);
	char *body = acme_problem_render(p);
	int status = acme_problem_status(p);
	if (p->type == ACME_PROB_RATE_LIMITED)
		tb_http_set_header(r->req, "Retry-After", "3600");
	TB_DEBUG("acme", "%s %s -> %d %s: %s", r->req->method, r->req->path, status, acme_problem_name(p->type), p->detail);
	int rc;
	if (!body)
		rc = tb_http_respond(r->req, 500, ACME_PROBLEM_CONTENT_TYPE, "{}", 2);
	else
		rc = tb_http_respond(r->req, status, ACME_PROBLEM_CONTENT_TYPE, body, strlen(body));
	free(body);
	return rc;
}

static int problem(struct rq *r, enum acme_problem_type t, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int problem(struct rq *r, enum acme_problem_type t, const char *fmt, ...)
{
	struct acme_problem p;
	memset(&p, 0, sizeof p);
	p.type = t;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p.detail, sizeof p.detail, fmt, ap);
	va_end(ap);
	return respond_problem(r, &p);
}

static int problem_status(struct rq *r, int status, enum acme_problem_type t, const char *detail)
{
	struct acme_problem p;
	memset(&p, 0, sizeof p);
	p.type = t;
	p.status = status;
	snprintf(p.detail, sizeof p.detail, "%s", detail);
	return respond_problem(r, &p);
}

/* RFC 8555 6.3 / RFC 9110 15.5.6: 405 malformed, with the methods the resource takes. */
static int not_allowed(struct rq *r, const char *allow)
{
	tb_http_set_header(r->req, "Allow", allow);
	return problem_status(r, 405, ACME_PROB_MALFORMED, "Method not allowed");
}

static int respond_json(struct rq *r, int status, cJSON *j, const char *location)
{
	common_headers(r);
	if (location)
		tb_http_set_header(r->req, "Location", location);
	int rc;
	char *txt = j ? cJSON_Print(j) : NULL;
	if (!txt)
		rc = tb_http_respond(r->req, 500, ACME_PROBLEM_CONTENT_TYPE, "{}", 2);
	else
		rc = tb_http_respond(r->req, status, "application/json", txt, strlen(txt));
	free(txt);
	cJSON_Delete(j);
	return rc;
}

/* ------------------------------------------------------------------ */
/* JSON renderings                                                       */
/* ------------------------------------------------------------------ */

static cJSON *acct_json(struct rq *r, const struct acct *ac)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "status", ac->status);
	cJSON *c = cJSON_Parse(ac->contact);
	if (c && cJSON_GetArraySize(c) > 0)
		cJSON_AddItemToObject(j, "contact", c);
	else
		cJSON_Delete(c);
	cJSON_AddStringToObject(j, "orders", url_of(r, "acct/%s/orders", ac->id));
	cJSON *k = cJSON_Parse(ac->jwk);
	if (k)
		cJSON_AddItemToObject(j, "key", k);
	cJSON_AddStringToObject(j, "createdAt", ts(r->a, ac->created));
	return j;
}

static cJSON *order_json(struct rq *r, const struct order *o, const char **status_out)
{
	cJSON *j = cJSON_CreateObject();
	const char *st = order_status(r->s, r->a, o);
	if (status_out)
		*status_out = st;
	cJSON_AddStringToObject(j, "status", st);
	cJSON_AddStringToObject(j, "expires", ts(r->a, o->expires));
	cJSON *ids = cJSON_Parse(o->identifiers);
	cJSON_AddItemToObject(j, "identifiers", ids ? ids : cJSON_CreateArray());
	cJSON_AddStringToObject(j, "profile", o->profile);
	cJSON *az = cJSON_AddArrayToObject(j, "authorizations");
	struct authz z[ACME_MAX_ORDER_NAMES];
	size_t n = 0;
	load_order_authzs(r->s, r->a, o->id, z, ACME_MAX_ORDER_NAMES, &n);
	for (size_t i = 0; i < n; i++)
		cJSON_AddItemToArray(az, cJSON_CreateString(url_of(r, "authz/%s", z[i].id)));
	cJSON_AddStringToObject(j, "finalize", url_of(r, "order/%s/finalize", o->id));
	if (o->replaces[0])
		cJSON_AddStringToObject(j, "replaces", o->replaces);
	if (o->has_cert && strcmp(st, "valid") == 0)
		cJSON_AddStringToObject(j, "certificate", url_of(r, "cert/%s", o->cert_serial));
	if (o->has_error) {
		cJSON *e = cJSON_Parse(o->error);
		if (e)
			cJSON_AddItemToObject(j, "error", e);
	}
	return j;
}

static cJSON *chall_json(struct rq *r, const struct chall *c)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "type", c->type);
	cJSON_AddStringToObject(j, "url", url_of(r, "chall/%s", c->id));
	cJSON_AddStringToObject(j, "status", c->status);
	cJSON_AddStringToObject(j, "token", c->token);
	if (c->has_validated)
		cJSON_AddStringToObject(j, "validated", ts(r->a, c->validated));
	if (c->has_error) {
		cJSON *e = cJSON_Parse(c->error);
		if (e)
			cJSON_AddItemToObject(j, "error", e);
	}
	return j;
}

static cJSON *authz_json(struct rq *r, const struct authz *z)
{
	cJSON *j = cJSON_CreateObject();
	cJSON *id = cJSON_AddObjectToObject(j, "identifier");
	cJSON_AddStringToObject(id, "type", z->ident_type);
	cJSON_AddStringToObject(id, "value", z->ident_value);
	const char *st = authz_status(z);
	cJSON_AddStringToObject(j, "status", st);
	cJSON_AddStringToObject(j, "expires", ts(r->a, z->expires));
	if (z->wildcard)
		cJSON_AddTrueToObject(j, "wildcard");
	cJSON *cs = cJSON_AddArrayToObject(j, "challenges");
	sqlite3_stmt *q = q_prep(r->s, "SELECT " CHALL_COLS " FROM acme_challenges WHERE authz = ?1 ORDER BY type", 1, z->id);
	while (q && sqlite3_step(q) == SQLITE_ROW) {
		struct chall c;
		chall_from_row(r->a, q, &c);
		if (!c.id || !c.type || !c.token || !c.status || !c.error)
			continue;
		/* A valid authorization lists only the challenge that validated it. */
		if (strcmp(z->status, "valid") == 0 && strcmp(c.status, "valid") != 0)
			continue;
		cJSON_AddItemToArray(cs, chall_json(r, &c));
	}
	sqlite3_finalize(q);
	return j;
}

/* ------------------------------------------------------------------ */
/* Directory and nonces                                                  */
/* ------------------------------------------------------------------ */

static int request_base(struct rq *r)
{
	const char *host = tb_http_header(r->req, "Host");
	if (!host || !host[0] || strlen(host) > 255 || strpbrk(host, " /\\\"<>"))
		host = "localhost";
	r->base = tb_arena_printf(r->a, "%s://%s", r->req->tls ? "https" : "http", host);
	r->url = r->base ? tb_arena_printf(r->a, "%s%s", r->base, r->req->target) : NULL;
	return r->url ? 0 : TB_ERR_NOMEM;
}

static struct rq *rq_new(struct acme_svc *s, struct tb_http_request *req)
{
	struct rq *r = tb_arena_calloc(req->arena, sizeof *r);
	if (!r)
		return NULL;
	r->s = s;
	r->req = req;
	r->a = req->arena;
	if (tb_arena_add_cleanup(r->a, rq_cleanup, r))
		return NULL;
	if (request_base(r))
		return NULL;
	return r;
}

static int directory(struct rq *r)
{
	struct acme_svc *s = r->s;
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "newNonce", url_of(r, "new-nonce"));
	cJSON_AddStringToObject(j, "newAccount", url_of(r, "new-account"));
	cJSON_AddStringToObject(j, "newOrder", url_of(r, "new-order"));
	cJSON_AddStringToObject(j, "revokeCert", url_of(r, "revoke-cert"));
	cJSON_AddStringToObject(j, "keyChange", url_of(r, "key-change"));
	cJSON_AddStringToObject(j, "renewalInfo", url_of(r, "renewal-info"));
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
	return respond_json(r, 200, j, NULL);
}

static int dir_handler(struct tb_http_request *req, void *arg)
{
	struct rq *r = rq_new(arg, req);
	if (!r)
		return TB_ERR_NOMEM;
	if (strcmp(req->path, r->s->dir_path) != 0)
		return problem_status(r, 404, ACME_PROB_MALFORMED, "no such resource");
	if (strcmp(req->method, "GET") && strcmp(req->method, "HEAD") && strcmp(req->method, "POST"))
		return not_allowed(r, "GET, HEAD, POST");
	return directory(r);
}

static int new_nonce(struct rq *r)
{
	common_headers(r);
	tb_http_set_header(r->req, "Cache-Control", "no-store");
	if (strcmp(r->req->method, "GET") == 0)
		return tb_http_respond(r->req, 204, NULL, NULL, 0);
	return tb_http_respond(r->req, 200, NULL, NULL, 0);
}

/* ------------------------------------------------------------------ */
/* The POST pipeline                                                     */
/* ------------------------------------------------------------------ */

/*
 * Parsed account keys, by account id (direct-mapped). Building an EC key
 * costs about one verification, so a kid request reuses it. An entry is
 * valid only while the account's stored thumbprint matches (keyChange).
 * Evicting frees the key: requests use r->key only synchronously in their
 * handler, never from a later callback.
 */
static struct acme_key *key_cache_get(struct acme_svc *s, const struct acct *ac, struct acme_problem *p)
{
	uint32_t h = 2166136261u;
	for (const char *c = ac->id; *c; c++)
		h = (h ^ (uint8_t)*c) * 16777619u;
	struct acme_key_cache_entry *e = &s->key_cache[h % ACME_KEY_CACHE];
	if (e->key && strcmp(e->id, ac->id) == 0 && strcmp(e->thumb, ac->thumb) == 0)
		return e->key;
	struct acme_key *k = NULL;
	if (acme_key_from_jwk_json(ac->jwk, strlen(ac->jwk), &k, p)) {
		acme_problem_set(p, ACME_PROB_SERVER_INTERNAL, "stored account key unreadable");
		return NULL;
	}
	acme_key_free(e->key);
	e->key = k;
	snprintf(e->id, sizeof e->id, "%s", ac->id);
	snprintf(e->thumb, sizeof e->thumb, "%s", ac->thumb);
	return k;
}

/* The media type is exactly application/jose+json (any case), parameters allowed. */
static int jose_content_type(const char *ct)
{
	static const char want[] = "application/jose+json";
	if (!ct)
		return 0;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	if (strncasecmp(ct, want, sizeof want - 1) != 0)
		return 0;
	ct += sizeof want - 1;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return *ct == 0 || *ct == ';';
}

/* Parses, checks nonce and url, finds and verifies the key. want_jwk: -1 either, 0 kid, 1 jwk. */
static int authenticate(struct rq *r, int want_jwk, struct acme_problem *p)
{
	struct acme_svc *s = r->s;
	const char *ct = tb_http_header(r->req, "Content-Type");
	if (!jose_content_type(ct)) {
		/* RFC 8555 6.2: 415 Unsupported Media Type, as Boulder and Pebble (type malformed) */
		acme_problem_set(p, ACME_PROB_MALFORMED, "Invalid Content-Type header on POST. Content-Type must be \"application/jose+json\"");
		p->status = 415;
		return TB_ERR_INVALID;
	}
	if (acme_jws_parse(r->req->body.p, r->req->body.len, &r->jws, p)) {
		r->have_jws = 1;
		return TB_ERR_INVALID;
	}
	r->have_jws = 1;
	if (acme_nonce_consume(s->nonces, r->jws.nonce, p))
		return TB_ERR_INVALID;
	if (s->lab_reject_nonces > 0) {
		uint32_t x;
		tb_random(&x, sizeof x);
		if ((double)x / 4294967296.0 < s->lab_reject_nonces)
			return acme_problem_set(p, ACME_PROB_BAD_NONCE, "JWS has an invalid anti-replay nonce (lab switch)");
	}
	if (acme_jws_check_url(&r->jws, r->url, p))
		return TB_ERR_INVALID;
	if (want_jwk >= 0 && acme_jws_require(&r->jws, want_jwk, p))
		return TB_ERR_INVALID;
	if (r->jws.key) {
		r->key = r->jws.key;
	} else {
		char *acct_prefix = url_of(r, "acct/");
		if (!acct_prefix)
			return TB_ERR_NOMEM;
		size_t n = strlen(acct_prefix);
		if (strncmp(r->jws.kid, acct_prefix, n) != 0 || !id_ok(r->jws.kid + n))
			return acme_problem_set(p, ACME_PROB_ACCOUNT_DOES_NOT_EXIST, "Account \"%s\" not found", r->jws.kid);
		int err = load_acct(s, r->a, "id", r->jws.kid + n, &r->acct);
		if (err == TB_ERR_NOT_FOUND)
			return acme_problem_set(p, ACME_PROB_ACCOUNT_DOES_NOT_EXIST, "Account \"%s\" not found", r->jws.kid);
		if (err)
			return acme_problem_set(p, ACME_PROB_SERVER_INTERNAL, "failed to read the account");
		r->key = key_cache_get(s, &r->acct, p);
		if (!r->key)
			return TB_ERR_INVALID;
		r->have_acct = 1;
	}
	if (acme_jws_verify(&r->jws, r->key, p))
		return TB_ERR_INVALID;
	if (r->have_acct && strcmp(r->acct.status, "valid") != 0)
		return acme_problem_set(p, ACME_PROB_UNAUTHORIZED, "Account is not valid, has status \"%s\"", r->acct.status);
	if (!r->jws.post_as_get) {
		r->payload = acme_json_parse((const char *)r->jws.payload, r->jws.payload_len);
		if (!r->payload || !cJSON_IsObject(r->payload))
			return acme_problem_set(p, ACME_PROB_MALFORMED, "Request payload did not parse as JSON");
	}
	return 0;
}

/* RFC 8555 7.2: newNonce also takes POST-as-GET (an account's kid, empty payload). */
static int new_nonce_post(struct rq *r)
{
	struct acme_problem p;
	memset(&p, 0, sizeof p);
	if (authenticate(r, 0, &p))
		return respond_problem(r, &p);
	if (!r->jws.post_as_get)
		return problem(r, ACME_PROB_MALFORMED, "newNonce takes POST-as-GET only");
	return new_nonce(r);
}

/* ------------------------------------------------------------------ */
/* Rate limits (token buckets in the store)                              */
/* ------------------------------------------------------------------ */

/*
 * Checks a bucket of `limit` tokens refilled over `period` seconds. On
 * success adds the statement that takes one token to j. Returns 0, or the
 * seconds until a token is available.
 */
static int64_t rate_take(struct rq *r, struct acme_wjob *j, const char *key, int64_t limit, int64_t period)
{
	if (limit <= 0)
		return 0;
	int64_t now = acme_now();
	double tokens = (double)limit;
	sqlite3_stmt *st = q_prep(r->s, "SELECT tokens, updated FROM acme_rate_buckets WHERE key = ?1", 1, key);
	if (st && sqlite3_step(st) == SQLITE_ROW) {
		double t = sqlite3_column_double(st, 0);
		int64_t upd = sqlite3_column_int64(st, 1);
		t += (double)(now - upd) * (double)limit / (double)period;
		tokens = t > (double)limit ? (double)limit : t;
	}
	sqlite3_finalize(st);
	if (tokens < 1.0) {
		int64_t wait = (int64_t)((1.0 - tokens) * (double)period / (double)limit) + 1;
		return wait;
	}
	acme_wjob_add(j, 0, "INSERT OR REPLACE INTO acme_rate_buckets(key, tokens, updated) VALUES(%Q, %.6f, %lld)",
		key, tokens - 1.0, (long long)now);
	return 0;
}

static int rate_limited(struct rq *r, int64_t wait, const char *what)
{
	common_headers(r);
	char ra[32];
	snprintf(ra, sizeof ra, "%lld", (long long)wait);
	tb_http_set_header(r->req, "Retry-After", ra);
	struct acme_problem p;
	memset(&p, 0, sizeof p);
	p.type = ACME_PROB_RATE_LIMITED;
	snprintf(p.detail, sizeof p.detail, "too many %s, retry after %llds", what, (long long)wait);
	char *body = acme_problem_render(&p);
	int rc = tb_http_respond(r->req, 429, ACME_PROBLEM_CONTENT_TYPE, body ? body : "{}", body ? strlen(body) : 2);
	free(body);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Accounts                                                              */
/* ------------------------------------------------------------------ */

/* Checks a contact array; returns the canonical JSON text in the arena. */
static int check_contacts(struct rq *r, const cJSON *c, char **out, struct acme_problem *p)
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
	struct rq *r = ctx;
	if (status) {
		/* A racing newAccount with the same key won: answer with that account. */
		struct acct ac;
		if (load_acct(r->s, r->a, "thumbprint", acme_key_thumbprint(r->key), &ac) == 0) {
			respond_json(r, 200, acct_json(r, &ac), url_of(r, "acct/%s", ac.id));
			return;
		}
		problem(r, ACME_PROB_SERVER_INTERNAL, "failed to store the account");
		return;
	}
	struct acct ac;
	if (load_acct(r->s, r->a, "id", r->id, &ac)) {
		problem(r, ACME_PROB_SERVER_INTERNAL, "failed to read the account back");
		return;
	}
	respond_json(r, 201, acct_json(r, &ac), url_of(r, "acct/%s", ac.id));
}

static int new_account(struct rq *r)
{
	struct acme_svc *s = r->s;
	struct acme_problem p;
	memset(&p, 0, sizeof p);
	if (authenticate(r, 1, &p))
		return respond_problem(r, &p);
	if (!r->payload)
		return problem(r, ACME_PROB_MALFORMED, "newAccount needs a JSON payload");
	const char *thumb = acme_key_thumbprint(r->key);
	struct acct ac;
	int err = load_acct(s, r->a, "thumbprint", thumb, &ac);
	if (err == 0) {
		if (strcmp(ac.status, "valid") != 0)
			return problem(r, ACME_PROB_UNAUTHORIZED, "Account is not valid, has status \"%s\"", ac.status);
		return respond_json(r, 200, acct_json(r, &ac), url_of(r, "acct/%s", ac.id));
	}
	if (err != TB_ERR_NOT_FOUND)
		return problem(r, ACME_PROB_SERVER_INTERNAL, "failed to read accounts");
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r->payload, "onlyReturnExisting")))
		return problem(r, ACME_PROB_ACCOUNT_DOES_NOT_EXIST, "No account exists with the provided key");
	/* The directory publishes terms of service: a new account must agree (Boulder, Pebble). */
	if (r->s->tos[0] && !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r->payload, "termsOfServiceAgreed")))
		return problem(r, ACME_PROB_MALFORMED, "must agree to terms of service");
	char *contact;
	if (check_contacts(r, cJSON_GetObjectItemCaseSensitive(r->payload, "contact"), &contact, &p))
		return respond_problem(r, &p);
	const cJSON *eab = cJSON_GetObjectItemCaseSensitive(r->payload, "externalAccountBinding");
	const char *eab_kid = NULL;
	if (eab) {
		struct acme_eab e;
		memset(&e, 0, sizeof e);
		if (acme_eab_parse(eab, &e, &p)) {
			acme_eab_free(&e);
			return respond_problem(r, &p);
		}
		size_t i;
		for (i = 0; i < s->n_eab; i++)
			if (strcmp(s->eab[i].kid, e.kid) == 0)
				break;
		if (i == s->n_eab) {
			acme_eab_free(&e);
			return problem(r, ACME_PROB_UNAUTHORIZED, "unknown external account binding key id");
		}
		err = acme_eab_verify(&e, s->eab[i].key, s->eab[i].len, r->url, r->key, &p);
		acme_eab_free(&e);
		if (err)
			return respond_problem(r, &p);
		eab_kid = s->eab[i].kid;
	} else if (s->eab_required) {
		return problem(r, ACME_PROB_EXTERNAL_ACCOUNT_REQUIRED, "externalAccountBinding is required for new accounts");
	}
	struct acme_wjob *j = acme_wjob_new(s);
	char ipkey[128];
	const char *remote = r->req->remote ? r->req->remote : "";
	const char *colon = strrchr(remote, ':');
	snprintf(ipkey, sizeof ipkey, "accounts-ip:%.*s", colon ? (int)(colon - remote) : (int)strlen(remote), remote);
	int64_t wait = rate_take(r, j, ipkey, s->rl_accounts_per_ip, 3600);
	if (wait) {
		acme_wjob_submit(j, NULL, NULL);
		return rate_limited(r, wait, "new accounts from this address");
	}
	if (random_id(r->id)) {
		acme_wjob_submit(j, NULL, NULL);
		return problem(r, ACME_PROB_SERVER_INTERNAL, "no randomness");
	}
	acme_wjob_add(j, 1, "INSERT INTO acme_accounts(id, thumbprint, jwk, contact, status, created, eab_kid, remote)"
		" VALUES(%Q, %Q, %Q, %Q, 'valid', %lld, %Q, %Q)", r->id, thumb, acme_key_jwk_json(r->key), contact,
		(long long)acme_now(), eab_kid, remote);
	if (acme_wjob_submit(j, acct_created, r))
		return problem(r, ACME_PROB_SERVER_INTERNAL, "store unavailable");
	return TB_HTTP_LATER;
}

static void acct_updated(void *ctx, int status)
{
	struct rq *r = ctx;
	struct acct ac;
	if (status || load_acct(r->s, r->a, "id", r->acct.id, &ac)) {
		problem(r, ACME_PROB_SERVER_INTERNAL, "failed to update the account");
		return;
	}
	respond_json(r, 200, acct_json(r, &ac), NULL);
}

static int orders_list(struct rq *r)
{
	long long cursor = 0;
	const char *c = tb_http_query_param(r->req, "cursor");
	if (c)
		cursor = atoll(c);
	if (cursor < 0)
		cursor = 0;
	char off[32];
	snprintf(off, sizeof off, "%lld", cursor);
	sqlite3_stmt *st = q_prep(r->s, "SELECT id FROM acme_orders WHERE account = ?1 AND expires > ?2"
		" AND status != 'invalid' ORDER BY created, id LIMIT 101 OFFSET ?3", 0);
	if (!st)
		return problem(r, ACME_PROB_SERVER_INTERNAL, "store");
	sqlite3_bind_text(st, 1, r->acct.id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, acme_now());
	sqlite3_bind_int64(st, 3, cursor);
	cJSON *j = cJSON_CreateObject();
	cJSON *arr = cJSON_AddArrayToObject(j, "orders");
	int n = 0, more = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (n == ORDERS_PAGE) {
			more = 1;
			break;
		}
		cJSON_AddItemToArray(arr, cJSON_CreateString(url_of(r, "order/%s", (const char *)sqlite3_column_text(st, 0))));
		n++;
	}
	sqlite3_finalize(st);
	if (more) {
		char *l = tb_arena_printf(r->a, "<%s?cursor=%lld>;rel=\"next\"", url_of(r, "acct/%s/orders", r->acct.id),
			cursor + ORDERS_PAGE);
		if (l)
			tb_http_set_header(r->req, "Link", l);
	}
	return respond_json(r, 200, j, NULL);
}

static int account(struct rq *r, const char *id, int orders)
{
	struct acme_problem p;
	memset(&p, 0, sizeof p);
	if (authenticate(r, 0, &p))
		return respond_problem(r, &p);
	if (strcmp(id, r->acct.id) != 0)
		return problem(r, ACME_PROB_UNAUTHORIZED, "Request signing key did not match the account");
	if (orders)
		return orders_list(r);
	if (!r->payload)
		return respond_json(r, 200, acct_json(r, &r->acct), NULL);
	const cJSON *status = cJSON_GetObjectItemCaseSensitive(r->payload, "status");
	const cJSON *contact = cJSON_GetObjectItemCaseSensitive(r->payload, "contact");
	struct acme_wjob *j = acme_wjob_new(r->s);
	if (status) {
		if (!cJSON_IsString(status) || (strcmp(status->valuestring, "deactivated") && strcmp(status->valuestring, "valid"))) {
			acme_wjob_submit(j, NULL, NULL);
			return problem(r, ACME_PROB_MALFORMED, "Invalid value provided for status field");
		}
		if (strcmp(status->valuestring, "deactivated") == 0) {
			acme_wjob_add(j, 1, "UPDATE acme_accounts SET status = 'deactivated' WHERE id = %Q AND status = 'valid'", id);
			acme_wjob_add(j, 0, "UPDATE acme_authzs SET status = 'deactivated' WHERE account = %Q AND status IN ('pending','valid')", id);
		}
	}
	if (contact) {
		char *c;
		if (check_contacts(r, contact, &c, &p)) {
			acme_wjob_submit(j, NULL, NULL);
			return respond_problem(r, &p);
		}
		acme_wjob_add(j, 0, "UPDATE acme_accounts SET contact = %Q WHERE id = %Q", c, id);
	}
	if (acme_wjob_submit(j, acct_updated, r))
		return problem(r, ACME_PROB_SERVER_INTERNAL, "store unavailable");
	return TB_HTTP_LATER;
}

static int key_change(struct rq *r)
{
	struct acme_problem p;
	memset(&p, 0, sizeof p);
	if (authenticate(r, 0, &p))
		return respond_problem(r, &p);
	if (!r->payload)
		return problem(r, ACME_PROB_MALFORMED, "keyChange needs a JWS payload");
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
		struct acct other;
		if (load_acct(r->s, r->a, "thumbprint", acme_key_thumbprint(in.key), &other) == 0) {
			common_headers(r);
			tb_http_set_header(r->req, "Location", url_of(r, "acct/%s", other.id));
			err = acme_problem_set(&p, ACME_PROB_MALFORMED, "New key is already in use for a different account");
			p.status = 409;
		}
	}
	if (err) {
		cJSON_Delete(ip);
		acme_jws_free(&in);
		return respond_problem(r, &p);
	}
	struct acme_wjob *j = acme_wjob_new(r->s);
	acme_wjob_add(j, 1, "UPDATE acme_accounts SET thumbprint = %Q, jwk = %Q WHERE id = %Q AND thumbprint = %Q",
		acme_key_thumbprint(in.key), acme_key_jwk_json(in.key), r->acct.id, r->acct.thumb);
	cJSON_Delete(ip);
	acme_jws_free(&in);
	if (acme_wjob_submit(j, acct_updated, r))
		return problem(r, ACME_PROB_SERVER_INTERNAL, "store unavailable");
	return TB_HTTP_LATER;
}

/* ------------------------------------------------------------------ */
/* Orders                                                                */
/* ------------------------------------------------------------------ */

static int ident_cmp(const void *a, const void *b)
{
	const struct acme_identifier *x = a, *y = b;
	if (x->type != y->type)
		return (int)x->type - (int)y->type;
	return strcmp(x->value, y->value);
}

static void order_created(void *ctx, int status)
{
	struct rq *r = ctx;
	struct order o;
	if (status || load_order(r->s, r->a, r->id, &o)) {
		problem(r, ACME_PROB_SERVER_INTERNAL, "failed to store the order");
		return;
	}
	respond_json(r, 201, order_json(r, &o, NULL), url_of(r, "order/%s", o.id));
}

/* Finds a reusable valid authorization; returns its id (arena) or NULL. */
static char *reusable_authz(struct rq *r, const struct acme_identifier *id, int wildcard, int64_t reuse)
{
	if (reuse <= 0)
		return NULL;
	char w[4], since[32], now[32];
	snprintf(w, sizeof w, "%d", wildcard);
	snprintf(since, sizeof since, "%lld", (long long)(acme_now() - reuse));
	snprintf(now, sizeof now, "%lld", (long long)acme_now());
	sqlite3_stmt *st = q_prep(r->s, "SELECT id FROM acme_authzs WHERE account = ?1 AND ident_type = ?2 AND"
		" ident_value = ?3 AND wildcard = CAST(?4 AS INTEGER) AND status = 'valid' AND validated >= CAST(?5 AS INTEGER)"
		" AND expires > CAST(?6 AS INTEGER) ORDER BY validated DESC LIMIT 1", 6, r->acct.id,
		acme_ident_type_name(id->type), id->value, w, since, now);
	char *out = NULL;
	if (st && sqlite3_step(st) == SQLITE_ROW)
		out = col(r->a, st, 0);
	sqlite3_finalize(st);
	return out;
}

/* ARI `replaces`: the certificate must be this account's, issued, and not yet replaced. */
static int check_replaces(struct rq *r, const char *certid, char **serial_out, struct acme_problem *p)
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
	sqlite3_stmt *st = q_prep(r->s, "SELECT account, replaced_by, der_chain FROM acme_certificates WHERE serial = ?1"
		" AND status = 'issued'", 1, serial);
	int err = acme_problem_set(p, ACME_PROB_MALFORMED, "replaces names a certificate this CA did not issue");
	int row = st && sqlite3_step(st) == SQLITE_ROW;
	if (row) {
		/* The AKI must be the issued certificate's (the leaf leads the stored chain). */
		const uint8_t *d = sqlite3_column_blob(st, 2);
		size_t dl = (size_t)sqlite3_column_bytes(st, 2), leaf = 0;
		if (d && dl > 4 && d[0] == 0x30 && d[1] == 0x82)
			leaf = 4 + (((size_t)d[2] << 8) | d[3]);
		struct acme_cert_id mine;
		row = leaf && leaf <= dl && acme_ari_cert_id_from_der(d, leaf, &mine) == 0 && mine.aki_len == cid.aki_len &&
			memcmp(mine.aki, cid.aki, cid.aki_len) == 0;
	}
	if (row) {
		if (strcmp((const char *)sqlite3_column_text(st, 0), r->acct.id) != 0)
			err = acme_problem_set(p, ACME_PROB_UNAUTHORIZED, "replaced certificate belongs to another account");
		else if (!col_null(st, 1))
			err = acme_problem_set(p, ACME_PROB_ALREADY_REPLACED, "certificate %s has already been replaced", certid);
		else
			err = 0;
	}
	sqlite3_finalize(st);
	if (!err) {
		/* Another live order replacing it counts too. */
		char now[32];
		snprintf(now, sizeof now, "%lld", (long long)acme_now());
		st = q_prep(r->s, "SELECT 1 FROM acme_orders WHERE replaces = ?1 AND status != 'invalid' AND"
			" expires > CAST(?2 AS INTEGER)", 2, certid, now);
		if (st && sqlite3_step(st) == SQLITE_ROW)
			err = acme_problem_set(p, ACME_PROB_ALREADY_REPLACED, "an order already replaces certificate %s", certid);
		sqlite3_finalize(st);
	}
	*serial_out = serial;
	return err;
}

static int new_order(struct rq *r)
{
	struct acme_svc *s = r->s;
	struct acme_problem p;
	memset(&p, 0, sizeof p);
	if (authenticate(r, 0, &p))
		return respond_problem(r, &p);
	if (!r->payload)
		return problem(r, ACME_PROB_MALFORMED, "newOrder needs a JSON payload");
	const cJSON *ids = cJSON_GetObjectItemCaseSensitive(r->payload, "identifiers");
	if (cJSON_GetObjectItemCaseSensitive(r->payload, "notBefore") ||
		cJSON_GetObjectItemCaseSensitive(r->payload, "notAfter"))
		return problem(r, ACME_PROB_MALFORMED, "NotBefore and NotAfter are not supported");
	const cJSON *prof = cJSON_GetObjectItemCaseSensitive(r->payload, "profile");
	const struct acme_profile *pr = &s->profiles[s->default_profile];
	if (prof) {
		if (!cJSON_IsString(prof))
			return problem(r, ACME_PROB_MALFORMED, "profile must be a string");
		pr = find_profile(s, prof->valuestring);
		if (!pr)
			return problem(r, ACME_PROB_INVALID_PROFILE, "profile \"%.64s\" is not offered by this CA", prof->valuestring);
	}
	if (!cJSON_IsArray(ids) || cJSON_GetArraySize(ids) == 0)
		return problem(r, ACME_PROB_MALFORMED, "NewOrder request did not specify any identifiers");
	int count = cJSON_GetArraySize(ids);
	if (count > pr->max_names)
		return problem(r, ACME_PROB_REJECTED_IDENTIFIER, "Order cannot contain more than %d identifiers (profile %s)",
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
			return problem(r, ACME_PROB_MALFORMED, "identifiers need a type and a value");
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
		return respond_problem(r, &p);
	}
	qsort(list, n, sizeof *list, ident_cmp);
	size_t m = 0;
	for (size_t i = 0; i < n; i++)
		if (m == 0 || ident_cmp(&list[m - 1], &list[i]) != 0)
			list[m++] = list[i];
	n = m;
	char *replaces_serial = NULL;
	const cJSON *repl = cJSON_GetObjectItemCaseSensitive(r->payload, "replaces");
	if (repl) {
		if (!cJSON_IsString(repl))
			return problem(r, ACME_PROB_MALFORMED, "replaces must be a string");
		if (check_replaces(r, repl->valuestring, &replaces_serial, &p))
			return respond_problem(r, &p);
	}
	struct acme_wjob *j = acme_wjob_new(s);
	char key[128];
	snprintf(key, sizeof key, "orders:%s", r->acct.id);
	int64_t wait = repl ? 0 : rate_take(r, j, key, s->rl_orders_per_account, 3600);
	if (wait) {
		acme_wjob_submit(j, NULL, NULL);
		return rate_limited(r, wait, "new orders for this account");
	}
	if (random_id(r->id)) {
		acme_wjob_submit(j, NULL, NULL);
		return problem(r, ACME_PROB_SERVER_INTERNAL, "no randomness");
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
	acme_wjob_add(j, 1, "INSERT INTO acme_orders(id, account, status, expires, identifiers, profile, replaces, created)"
		" VALUES(%Q, %Q, 'pending', %lld, %Q, %Q, %Q, %lld)", r->id, r->acct.id, (long long)(now + s->order_lifetime),
		idtxt ? idtxt : "[]", pr->name, repl ? repl->valuestring : "", (long long)now);
	free(idtxt);
	for (size_t i = 0; i < n; i++) {
		int wildcard = list[i].type == ACME_IDENT_DNS && acme_dns_is_wildcard(list[i].value);
		const char *base_name = wildcard ? list[i].value + 2 : list[i].value;
		struct acme_identifier bid = list[i];
		snprintf(bid.value, sizeof bid.value, "%s", base_name);
		char *zid = reusable_authz(r, &bid, wildcard, pr->reuse);
		if (!zid) {
			char nid[ID_LEN + 1];
			if (random_id(nid)) {
				acme_wjob_submit(j, NULL, NULL);
				return problem(r, ACME_PROB_SERVER_INTERNAL, "no randomness");
			}
			zid = tb_arena_strdup(r->a, nid);
			acme_wjob_add(j, 1, "INSERT INTO acme_authzs(id, account, ident_type, ident_value, wildcard, status,"
				" expires, created) VALUES(%Q, %Q, %Q, %Q, %d, 'pending', %lld, %lld)", nid, r->acct.id,
				acme_ident_type_name(bid.type), bid.value, wildcard, (long long)(now + s->authz_lifetime),
				(long long)now);
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
				acme_wjob_submit(j, NULL, NULL);
				return problem(r, ACME_PROB_SERVER_INTERNAL, "no randomness");
			}
			for (size_t k = 0; k < nt; k++) {
				char cid[ID_LEN + 1];
				random_id(cid);
				/* One token per authorization, as Boulder does. */
				acme_wjob_add(j, 1, "INSERT INTO acme_challenges(id, authz, type, token, status)"
					" VALUES(%Q, %Q, %Q, %Q, 'pending')", cid, nid, types[k], token);
			}
		}
		acme_wjob_add(j, 1, "INSERT INTO acme_order_authzs(order_id, authz_id, pos) VALUES(%Q, %Q, %d)",
			r->id, zid, (int)i);
	}
	if (acme_wjob_submit(j, order_created, r))
		return problem(r, ACME_PROB_SERVER_INTERNAL, "store unavailable");
	return TB_HTTP_LATER;
}

/*
 * Loads the requesting account's order. Returns 0 when loaded; otherwise the
 * problem has been answered (r is gone) and 1 is returned, the answer's own
 * result in *answered: the caller must return that and touch nothing else.
 */
static int get_order(struct rq *r, const char *id, struct order *o, int *answered)
{
	int err = load_order(r->s, r->a, id, o);
	if (err == TB_ERR_NOT_FOUND || (!err && strcmp(o->account, r->acct.id) != 0)) {
		*answered = problem_status(r, 404, ACME_PROB_MALFORMED, "No order for ID");
		return 1;
	}
	if (err) {
		*answered = problem(r, ACME_PROB_SERVER_INTERNAL, "failed to read the order");
		return 1;
	}
	return 0;
}

static int order(struct rq *r, const char *id)
{
	struct acme_problem p;
	memset(&p, 0, sizeof p);
	if (authenticate(r, 0, &p))
		return respond_problem(r, &p);
	struct order o;
	int rc;
	if (get_order(r, id, &o, &rc))
		return rc;
	const char *st;
	cJSON *j = order_json(r, &o, &st);
	if (strcmp(st, "processing") == 0) {
		common_headers(r);
		tb_http_set_header(r->req, "Retry-After", RETRY_AFTER_PROCESSING);
	}
	return respond_json(r, 200, j, NULL);
}

/* ---- finalize ---- */

static void finalize_answer(void *ctx, int status)
{
	struct rq *r = ctx;
	struct order o;
	if (load_order(r->s, r->a, r->order.id, &o)) {
		problem(r, ACME_PROB_SERVER_INTERNAL, "failed to read the order back");
		return;
	}
	if (status)
		TB_WARN("acme", "order %s: storing the certificate failed: %s", o.id, tb_strerror(status));
	const char *st;
	cJSON *j = order_json(r, &o, &st);
	if (strcmp(st, "processing") == 0) {
		common_headers(r);
		tb_http_set_header(r->req, "Retry-After", RETRY_AFTER_PROCESSING);
	}
	respond_json(r, 200, j, url_of(r, "order/%s", o.id));
}

static void order_fail(struct rq *r, const char *detail)
{
	struct acme_problem p;
	memset(&p, 0, sizeof p);
	acme_problem_set(&p, ACME_PROB_SERVER_INTERNAL, "%s", detail);
	cJSON *e = acme_problem_json(&p);
	char *et = e ? cJSON_PrintUnformatted(e) : NULL;
	cJSON_Delete(e);
	struct acme_wjob *j = acme_wjob_new(r->s);
	acme_wjob_add(j, 0, "UPDATE acme_orders SET status = 'invalid', error = %Q WHERE id = %Q", et ? et : "{}", r->order.id);
	acme_wjob_add(j, 0, "DELETE FROM acme_certificates WHERE serial = %Q AND status = 'reserved'", r->serial_hex);
	free(et);
	if (acme_wjob_submit(j, finalize_answer, r))
		problem(r, ACME_PROB_SERVER_INTERNAL, "store unavailable");
}

static int blob_hex(struct tb_bytes *out, const uint8_t *p, size_t n)
{
	return tb_hex_encode(out, p, n) || tb_bytes_u8(out, 0) ? TB_ERR_NOMEM : 0;
}

/* OIDs (content octets) of the CT extensions (RFC 6962 section 3.1). */
static const char oid_ct_poison[] = "\x2b\x06\x01\x04\x01\xd6\x79\x02\x04\x03";
static const char oid_ct_scts[] = "\x2b\x06\x01\x04\x01\xd6\x79\x02\x04\x02";
#define ACME_MAX_SCT 1024        /* bytes of one SCT accepted from a log */
#define ACME_NO_CRL_BELOW (7 * 86400) /* profiles at most this long carry no CRL distribution point */

/*
 * Signs the leaf (or, with precert, the precertificate with the poison
 * extension) into r->der / r->pem; the SCT list in r->scts, when non-empty,
 * becomes the embedded SCT extension.
 */
static int sign_leaf(struct rq *r, int precert)
{
	struct acme_svc *s = r->s;
	const struct acme_profile *pr = r->profile;
	char subject[ACME_CN_MAX_LEN + 8] = "";
	if (pr->common_name) {
		const char *cn = r->csr.cn[0] ? r->csr.cn : NULL;
		for (size_t i = 0; !cn && i < r->csr.n_names; i++)
			if (r->csr.names[i].type == ACME_IDENT_DNS && strlen(r->csr.names[i].value) <= ACME_CN_MAX_LEN)
				cn = r->csr.names[i].value;
		if (cn)
			snprintf(subject, sizeof subject, "CN=%s", cn);
	}
	const char *names[ACME_CSR_MAX_NAMES];
	for (size_t i = 0; i < r->csr.n_names; i++)
		names[i] = r->csr.names[i].value;
	struct tb_bytes san = { 0 }, sctlist = { 0 };
	if (tb_der_san(&san, names, r->csr.n_names)) {
		tb_bytes_free(&san);
		return TB_ERR_INVALID;
	}
	struct tb_cert_ext ext[2];
	size_t n_ext = 0;
	struct tb_bytes crldp = { 0 };
	if (pr->validity > ACME_NO_CRL_BELOW) {
		/* cRLDistributionPoints: <base><prefix>crl (short-lived certificates go without, as Let's Encrypt's). */
		char *url = url_of(r, "crl");
		if (!url || acme_crldp_ext(url, &crldp)) {
			tb_bytes_free(&san);
			tb_bytes_free(&crldp);
			return TB_ERR_NOMEM;
		}
		static const char oid_crldp[] = "\x55\x1d\x1f";
		ext[n_ext++] = (struct tb_cert_ext){ oid_crldp, 3, 0, tb_bytes_buf(&crldp) };
	}
	if (precert) {
		ext[n_ext++] = (struct tb_cert_ext){ oid_ct_poison, sizeof oid_ct_poison - 1, 1, TB_BUF("\x05\x00", 2) };
	} else if (r->scts.len) {
		/* SignedCertificateTimestampList (TLS encoding) inside an OCTET STRING. */
		struct tb_bytes inner = { 0 };
		tb_bytes_vec(&inner, 2, r->scts.p, r->scts.len);
		tb_der_tlv(&sctlist, 0x04, inner.p, inner.len);
		tb_bytes_free(&inner);
		ext[n_ext++] = (struct tb_cert_ext){ oid_ct_scts, sizeof oid_ct_scts - 1, 0, tb_bytes_buf(&sctlist) };
	}
	struct tb_buf sanb = tb_bytes_buf(&san);
	struct tb_buf serial = TB_BUF(r->serial, SERIAL_BYTES);
	unsigned ku = MBEDTLS_X509_KU_DIGITAL_SIGNATURE;
	if (r->csr.key_kind == ACME_KEY_RSA)
		ku |= MBEDTLS_X509_KU_KEY_ENCIPHERMENT;
	struct tb_cert_template t = {
		.subject = subject,
		.san = &sanb,
		.san_critical = subject[0] == 0,
		.serial = &serial,
		.is_ca = 0,
		.pathlen = -1,
		.key_usage = ku,
		.eku_server = 1,
		.eku_client = strcmp(pr->name, "classic") == 0,
		.not_before = r->nb,
		.not_after = r->na,
		.exts = n_ext ? ext : NULL,
		.n_exts = n_ext,
	};
	tb_bytes_free(&r->der);
	tb_bytes_free(&r->pem);
	int err = san.err || sctlist.err ? TB_ERR_NOMEM : 0;
	if (!err)
		err = tb_ca_sign(&t, tb_pkey_mbedtls(r->csr.key), &s->core->ca->intermediate_key,
			&s->core->ca->intermediate, precert ? NULL : &r->pem, &r->der);
	tb_bytes_free(&san);
	tb_bytes_free(&sctlist);
	tb_bytes_free(&crldp);
	return err;
}

static void finalize_store(struct rq *r);

/* Signs the final certificate (with whatever SCTs came back) and stores it. */
static void finalize_final(struct rq *r)
{
	struct acme_svc *s = r->s;
	int err = sign_leaf(r, 0);
	if (!err)
		err = tb_bytes_append(&r->pem, s->core->ca->intermediate_pem, strlen(s->core->ca->intermediate_pem));
	if (!err)
		err = tb_bytes_append(&r->der, s->core->ca->intermediate.raw.p, s->core->ca->intermediate.raw.len);
	if (err || r->pem.err || r->der.err) {
		TB_WARN("acme", "order %s: signing failed: %s", r->order.id, tb_strerror(err));
		order_fail(r, "signing the certificate failed");
		return;
	}
	finalize_store(r);
}

static void ct_step_done(struct rq *r)
{
	if (--r->ct_pending)
		return;
	if (!r->scts.len)
		TB_WARN("acme", "order %s: no SCT obtained; issuing without SCTs", r->order.id);
	finalize_final(r);
}

static void sct_done(int status, struct tb_buf sct, void *arg)
{
	struct rq *r = arg;
	struct acme_svc *s = r->s;
	if (status == 0 && sct.len > 0 && sct.len <= ACME_MAX_SCT)
		tb_bytes_vec(&r->scts, 2, sct.p, sct.len);
	else
		TB_WARN("acme", "order %s: a CT log refused the precertificate: %s", r->order.id, tb_strerror(status));
	ct_step_done(r);
	acme_svc_release(s);
}

/*
 * The serial is durable: precertificate -> SCTs from every configured CT
 * log (tb_ct_submitter) -> final certificate with the SCT list. Without a
 * log, the certificate is signed directly.
 */
static void finalize_sign(void *ctx, int status)
{
	struct rq *r = ctx;
	struct acme_svc *s = r->s;
	if (status) {
		/* The order moved on meanwhile (a racing finalize): answer with what it is now. */
		finalize_answer(r, 0);
		return;
	}
	struct tb_services *sv = s->core->services;
	if (!sv || sv->n_ct == 0) {
		finalize_final(r);
		return;
	}
	if (sign_leaf(r, 1)) {
		order_fail(r, "signing the precertificate failed");
		return;
	}
	struct tb_buf chain[3] = {
		tb_bytes_buf(&r->der),
		TB_BUF(s->core->ca->intermediate.raw.p, s->core->ca->intermediate.raw.len),
		TB_BUF(s->core->ca->root.raw.p, s->core->ca->root.raw.len),
	};
	/* Count first: a submitter may not call back synchronously, but be safe if it does. */
	r->ct_pending = 1;
	for (size_t i = 0; i < sv->n_ct; i++) {
		r->ct_pending++;
		acme_svc_hold(s);
		if (sv->ct[i]->submit(sv->ct[i]->impl, chain, 3, 1, sct_done, r)) {
			TB_WARN("acme", "order %s: CT submission %zu could not start", r->order.id, i);
			r->ct_pending--;
			acme_svc_release(s);
		}
	}
	ct_step_done(r); /* drops the initial count */
}

static void finalize_store(struct rq *r)
{
	struct acme_svc *s = r->s;
	const struct acme_profile *pr = r->profile;
	const char *names[ACME_CSR_MAX_NAMES];
	for (size_t i = 0; i < r->csr.n_names; i++)
		names[i] = r->csr.names[i].value;
	struct tb_bytes hex = { 0 };
	blob_hex(&hex, r->der.p, r->der.len);
	char *names_txt = NULL;
	{
		cJSON *a = cJSON_CreateArray();
		for (size_t i = 0; i < r->csr.n_names; i++)
			cJSON_AddItemToArray(a, cJSON_CreateString(names[i]));
		names_txt = cJSON_PrintUnformatted(a);
		cJSON_Delete(a);
	}
	char *pem = tb_bytes_cstr(&r->pem);
	struct acme_wjob *j = acme_wjob_new(s);
	acme_wjob_add(j, 1, "UPDATE acme_certificates SET status = 'issued', der_chain = X'%s', pem = %Q, not_before = %lld,"
		" not_after = %lld, names = %Q WHERE serial = %Q AND status = 'reserved'", hex.p ? (char *)hex.p : "",
		pem ? pem : "", (long long)r->nb, (long long)r->na, names_txt ? names_txt : "[]", r->serial_hex);
	acme_wjob_add(j, 1, "UPDATE acme_orders SET status = 'valid', cert_serial = %Q WHERE id = %Q AND status = 'processing'",
		r->serial_hex, r->order.id);
	if (r->order.replaces[0]) {
		struct acme_cert_id cid;
		if (acme_ari_cert_id_parse(r->order.replaces, strlen(r->order.replaces), &cid) == 0) {
			struct tb_bytes sh = { 0 };
			blob_hex(&sh, cid.serial, cid.serial_len);
			acme_wjob_add(j, 0, "UPDATE acme_certificates SET replaced_by = %Q WHERE serial = %Q AND replaced_by IS NULL",
				r->serial_hex, sh.p ? (char *)sh.p : "");
			tb_bytes_free(&sh);
		}
	}
	free(names_txt);
	tb_bytes_free(&hex);
	TB_INFO("acme", "issued serial %s for order %s (%zu names, profile %s)", r->serial_hex, r->order.id,
		r->csr.n_names, pr->name);
	if (acme_wjob_submit(j, finalize_answer, r))
		problem(r, ACME_PROB_SERVER_INTERNAL, "store unavailable");
}

/* Reserves the serial and moves the order to processing; signing follows in finalize_sign. */
static int finalize_commit(struct rq *r)
{
	struct acme_svc *s = r->s;
	struct acme_wjob *j = acme_wjob_new(s);
	/* Certificates per registered domain (approximated by the last two labels). */
	for (size_t i = 0; i < r->csr.n_names; i++) {
		if (r->csr.names[i].type != ACME_IDENT_DNS)
			continue;
		const char *v = r->csr.names[i].value, *dot = NULL, *last = NULL;
		for (const char *c = v; *c; c++)
			if (*c == '.') {
				dot = last;
				last = c;
			}
		char key[300];
		snprintf(key, sizeof key, "certs:%s", dot ? dot + 1 : v);
		int64_t wait = r->order.replaces[0] ? 0 : rate_take(r, j, key, s->rl_certs_per_domain, 7 * 86400);
		if (wait) {
			acme_wjob_submit(j, NULL, NULL);
			return rate_limited(r, wait, "certificates for this registered domain");
		}
	}
	acme_wjob_add(j, 1, "UPDATE acme_orders SET status = 'processing' WHERE id = %Q AND status = 'pending'", r->order.id);
	acme_wjob_add(j, 1, "INSERT INTO acme_certificates(serial, order_id, account, status, created)"
		" VALUES(%Q, %Q, %Q, 'reserved', %lld)", r->serial_hex, r->order.id, r->acct.id, (long long)acme_now());
	if (acme_wjob_submit(j, finalize_sign, r))
		return problem(r, ACME_PROB_SERVER_INTERNAL, "store unavailable");
	return 0;
}

/*
 * CAA is re-checked at finalize for authorizations validated more than
 * caa_recheck seconds ago (Boulder: 7 hours), one after the other.
 */
static void finalize_caa_next(struct rq *r);

static void finalize_caa_done(int err, const struct acme_problem *p, void *arg)
{
	struct rq *r = arg;
	if (err) {
		struct acme_problem q;
		memset(&q, 0, sizeof q);
		if (p)
			q = *p;
		else
			acme_problem_set(&q, ACME_PROB_CAA, "CAA re-check failed");
		respond_problem(r, &q);
		return;
	}
	r->caa_idx++;
	finalize_caa_next(r);
}

static void finalize_caa_next(struct rq *r)
{
	while (r->caa_idx < r->n_caa) {
		struct authz *z = &r->caa[r->caa_idx];
		if (z->validated >= acme_now() - r->s->caa_recheck) {
			r->caa_idx++;
			continue;
		}
		char *method = NULL;
		sqlite3_stmt *st = q_prep(r->s, "SELECT type FROM acme_challenges WHERE authz = ?1 AND status = 'valid'", 1, z->id);
		if (st && sqlite3_step(st) == SQLITE_ROW)
			method = col(r->a, st, 0);
		sqlite3_finalize(st);
		struct acme_identifier id;
		memset(&id, 0, sizeof id);
		id.type = strcmp(z->ident_type, "ip") == 0 ? ACME_IDENT_IP : ACME_IDENT_DNS;
		snprintf(id.value, sizeof id.value, "%s", z->ident_value);
		TB_INFO("acme", "order %s: re-checking CAA for %s", r->order.id, id.value);
		if (acme_caa_check(r->s, &id, z->wildcard, r->jws.kid, method ? method : "", finalize_caa_done, r))
			problem(r, ACME_PROB_SERVER_INTERNAL, "CAA re-check could not start");
		return;
	}
	finalize_commit(r);
}

static int finalize(struct rq *r, const char *id)
{
	struct acme_svc *s = r->s;
	struct acme_problem p;
	memset(&p, 0, sizeof p);
	if (authenticate(r, 0, &p))
		return respond_problem(r, &p);
	int rc;
	if (get_order(r, id, &r->order, &rc))
		return rc;
	const char *st = order_status(s, r->a, &r->order);
	if (strcmp(st, "ready") != 0)
		return problem(r, ACME_PROB_ORDER_NOT_READY, "Order's status (\"%s\") is not acceptable for finalization", st);
	if (!r->payload)
		return problem(r, ACME_PROB_MALFORMED, "finalize needs a JSON payload");
	const cJSON *csr = cJSON_GetObjectItemCaseSensitive(r->payload, "csr");
	if (!cJSON_IsString(csr))
		return problem(r, ACME_PROB_MALFORMED, "finalize payload needs a csr");
	struct tb_bytes der = { 0 };
	if (strlen(csr->valuestring) > 2 * ACME_CSR_MAX_DER || tb_base64url_decode(&der, csr->valuestring, strlen(csr->valuestring))) {
		tb_bytes_free(&der);
		return problem(r, ACME_PROB_MALFORMED, "Error decoding Base64url-encoded CSR");
	}
	int err = acme_csr_parse(der.p, der.len, &r->csr, &p);
	tb_bytes_free(&der);
	r->have_csr = 1;
	if (err)
		return respond_problem(r, &p);
	cJSON *ids = cJSON_Parse(r->order.identifiers);
	struct acme_identifier oid[ACME_MAX_ORDER_NAMES];
	size_t n = 0;
	const cJSON *it;
	cJSON_ArrayForEach(it, ids) {
		if (n == ACME_MAX_ORDER_NAMES)
			break;
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(it, "type");
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(it, "value");
		if (!cJSON_IsString(t) || !cJSON_IsString(v))
			continue;
		oid[n].type = acme_ident_type_parse(t->valuestring) == ACME_IDENT_IP ? ACME_IDENT_IP : ACME_IDENT_DNS;
		snprintf(oid[n].value, sizeof oid[n].value, "%s", v->valuestring);
		n++;
	}
	cJSON_Delete(ids);
	if (acme_csr_match_order(&r->csr, oid, n, &p))
		return respond_problem(r, &p);
	if (!acme_key_differs(tb_pkey_mbedtls(r->csr.key), tb_pkey_mbedtls(acme_key_pkey(r->key))))
		return problem(r, ACME_PROB_BAD_CSR, "certificate public key must be different than account key");
	r->profile = find_profile(s, r->order.profile);
	if (!r->profile)
		r->profile = &s->profiles[s->default_profile];
	if ((int)r->csr.n_names > r->profile->max_names)
		return problem(r, ACME_PROB_BAD_CSR, "too many names for profile %s", r->profile->name);
	/* Serial: SERIAL_BYTES random bytes, positive, first byte nonzero. */
	if (tb_random(r->serial, sizeof r->serial))
		return problem(r, ACME_PROB_SERVER_INTERNAL, "no randomness");
	r->serial[0] = (uint8_t)((r->serial[0] & 0x7f) | 0x01);
	for (size_t i = 0; i < SERIAL_BYTES; i++)
		snprintf(r->serial_hex + 2 * i, 3, "%02x", r->serial[i]);
	r->nb = acme_now() - 3600;
	r->na = r->nb + r->profile->validity - 1;
	r->caa = tb_arena_calloc(r->a, sizeof *r->caa * ACME_MAX_ORDER_NAMES);
	if (!r->caa || load_order_authzs(s, r->a, r->order.id, r->caa, ACME_MAX_ORDER_NAMES, &r->n_caa))
		return problem(r, ACME_PROB_SERVER_INTERNAL, "failed to read the authorizations");
	r->caa_idx = 0;
	finalize_caa_next(r);
	return TB_HTTP_LATER;
}

/* ------------------------------------------------------------------ */
/* Authorizations and challenges                                         */
/* ------------------------------------------------------------------ */

static void authz_answer(void *ctx, int status)
{
	struct rq *r = ctx;
	struct authz z;
	if (load_authz(r->s, r->a, r->obj_id, &z)) {
		problem(r, ACME_PROB_SERVER_INTERNAL, "failed to read the authorization");
		return;
	}
	(void)status;
	respond_json(r, 200, authz_json(r, &z), NULL);
}

static int authz(struct rq *r, const char *id)
{
	struct acme_problem p;
	memset(&p, 0, sizeof p);
	if (authenticate(r, 0, &p))
		return respond_problem(r, &p);
	struct authz z;
	int err = load_authz(r->s, r->a, id, &z);
	if (err == TB_ERR_NOT_FOUND || (!err && strcmp(z.account, r->acct.id) != 0))
		return problem_status(r, 404, ACME_PROB_MALFORMED, "No such authorization");
	if (err)
		return problem(r, ACME_PROB_SERVER_INTERNAL, "failed to read the authorization");
	if (!r->payload)
		return respond_json(r, 200, authz_json(r, &z), NULL);
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(r->payload, "status");
	if (!cJSON_IsString(st) || strcmp(st->valuestring, "deactivated") != 0)
		return problem(r, ACME_PROB_MALFORMED, "Invalid status value");
	if (strcmp(authz_status(&z), "valid") && strcmp(authz_status(&z), "pending"))
		return problem(r, ACME_PROB_MALFORMED, "Authorization is not pending or valid");
	r->obj_id = tb_arena_strdup(r->a, id);
	struct acme_wjob *j = acme_wjob_new(r->s);
	acme_wjob_add(j, 0, "UPDATE acme_authzs SET status = 'deactivated' WHERE id = %Q AND status IN ('pending','valid')", id);
	if (acme_wjob_submit(j, authz_answer, r))
		return problem(r, ACME_PROB_SERVER_INTERNAL, "store unavailable");
	return TB_HTTP_LATER;
}

static int load_chall(struct rq *r, const char *id, struct chall *c)
{
	sqlite3_stmt *st = q_prep(r->s, "SELECT " CHALL_COLS " FROM acme_challenges WHERE id = ?1", 1, id);
	if (!st)
		return TB_ERR_STORE;
	int err = TB_ERR_NOT_FOUND;
	if (sqlite3_step(st) == SQLITE_ROW) {
		chall_from_row(r->a, st, c);
		err = c->id && c->authz && c->type && c->token && c->status && c->error ? 0 : TB_ERR_NOMEM;
	}
	sqlite3_finalize(st);
	return err;
}

static void chall_answer(void *ctx, int status)
{
	struct rq *r = ctx;
	struct chall c;
	if (load_chall(r, r->obj_id, &c)) {
		problem(r, ACME_PROB_SERVER_INTERNAL, "failed to read the challenge");
		return;
	}
	char *up = tb_arena_printf(r->a, "<%s>;rel=\"up\"", url_of(r, "authz/%s", c.authz));
	/* Link rel="up" and rel="index" both: set up first, index comes with the common headers. */
	if (up)
		tb_http_set_header(r->req, "Link", up);
	struct acme_validation *val = r->vres;
	r->vres = NULL;
	respond_json(r, 200, chall_json(r, &c), NULL); /* r is gone after this */
	if (val && status == 0)
		acme_validate_start(val);
	else if (val)
		acme_validate_abort(val);
}

static int challenge(struct rq *r, const char *id)
{
	struct acme_problem p;
	memset(&p, 0, sizeof p);
	if (authenticate(r, 0, &p))
		return respond_problem(r, &p);
	struct chall c;
	int err = load_chall(r, id, &c);
	struct authz z;
	if (!err)
		err = load_authz(r->s, r->a, c.authz, &z);
	if (err == TB_ERR_NOT_FOUND || (!err && strcmp(z.account, r->acct.id) != 0))
		return problem_status(r, 404, ACME_PROB_MALFORMED, "No such challenge");
	if (err)
		return problem(r, ACME_PROB_SERVER_INTERNAL, "failed to read the challenge");
	r->obj_id = tb_arena_strdup(r->a, id);
	if (!r->payload || strcmp(c.status, "pending") != 0) {
		chall_answer(r, 0);
		return 0;
	}
	if (strcmp(authz_status(&z), "pending") != 0)
		return problem(r, ACME_PROB_MALFORMED, "Cannot update challenge with status %s, only status pending", authz_status(&z));
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
		return problem(r, ACME_PROB_SERVER_INTERNAL, "key authorization");
	if (r->s->rl_failed_per_ident > 0) {
		/* Failed validations per identifier: refuse to start while the bucket is empty. */
		char key[300];
		snprintf(key, sizeof key, "failed:%s:%s", z.ident_type, z.ident_value);
		struct acme_wjob *probe = acme_wjob_new(r->s);
		int64_t wait = rate_take(r, probe, key, r->s->rl_failed_per_ident, 3600);
		acme_wjob_free_unsubmitted(probe);
		if (wait)
			return rate_limited(r, wait, "failed validations for this identifier");
	}
	int64_t wait = 0;
	err = acme_validate_reserve(r->s, r->acct.id, v, &r->vres, &wait);
	if (err == TB_ERR_TOO_LARGE)
		return rate_limited(r, wait, "validations in flight");
	if (err)
		return problem(r, ACME_PROB_SERVER_INTERNAL, "could not start the validation");
	struct acme_wjob *j = acme_wjob_new(r->s);
	acme_wjob_add(j, 1, "UPDATE acme_challenges SET status = 'processing' WHERE id = %Q AND status = 'pending'", id);
	acme_failed_bucket_add(j, r->s, &v->ident, -1); /* charged at start; refunded on success (validate.c) */
	if (acme_wjob_submit(j, chall_answer, r))
		return problem(r, ACME_PROB_SERVER_INTERNAL, "store unavailable");
	return TB_HTTP_LATER;
}

/* ------------------------------------------------------------------ */
/* Certificates, revocation, ARI                                         */
/* ------------------------------------------------------------------ */

static int certificate(struct rq *r, const char *serial)
{
	struct acme_problem p;
	memset(&p, 0, sizeof p);
	if (authenticate(r, 0, &p))
		return respond_problem(r, &p);
	sqlite3_stmt *st = q_prep(r->s, "SELECT account, pem FROM acme_certificates WHERE serial = ?1 AND status = 'issued'",
		1, serial);
	if (!st)
		return problem(r, ACME_PROB_SERVER_INTERNAL, "store");
	if (sqlite3_step(st) != SQLITE_ROW || strcmp((const char *)sqlite3_column_text(st, 0), r->acct.id) != 0) {
		sqlite3_finalize(st);
		return problem_status(r, 404, ACME_PROB_MALFORMED, "Certificate not found");
	}
	char *pem = col(r->a, st, 1);
	sqlite3_finalize(st);
	if (!pem)
		return TB_ERR_NOMEM;
	common_headers(r);
	return tb_http_respond(r->req, 200, "application/pem-certificate-chain", pem, strlen(pem));
}

static void revoked(void *ctx, int status)
{
	struct rq *r = ctx;
	if (status == TB_ERR_STATE) {
		problem(r, ACME_PROB_ALREADY_REVOKED, "Certificate already revoked");
		return;
	}
	if (status) {
		problem(r, ACME_PROB_SERVER_INTERNAL, "failed to record the revocation");
		return;
	}
	common_headers(r);
	tb_http_respond(r->req, 200, NULL, NULL, 0);
}

/*
 * RFC 8555 7.6: an account other than the subscriber may revoke when it
 * holds valid, unexpired authorizations for every identifier of the
 * certificate (its order's identifiers; a wildcard by its base name).
 */
static int holds_authzs_for(struct rq *r, const char *order_id)
{
	sqlite3_stmt *st = q_prep(r->s, "SELECT identifiers FROM acme_orders WHERE id = ?1", 1, order_id);
	char *ids = st && sqlite3_step(st) == SQLITE_ROW ? col(r->a, st, 0) : NULL;
	sqlite3_finalize(st);
	cJSON *arr = ids ? cJSON_Parse(ids) : NULL;
	int n = 0, held = 0;
	char now[32];
	snprintf(now, sizeof now, "%lld", (long long)acme_now());
	const cJSON *it;
	cJSON_ArrayForEach(it, arr) {
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(it, "type");
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(it, "value");
		if (!cJSON_IsString(t) || !cJSON_IsString(v))
			break;
		n++;
		const char *base = strncmp(v->valuestring, "*.", 2) == 0 ? v->valuestring + 2 : v->valuestring;
		sqlite3_stmt *q = q_prep(r->s, "SELECT 1 FROM acme_authzs WHERE account = ?1 AND ident_type = ?2 AND"
			" ident_value = ?3 AND status = 'valid' AND expires > CAST(?4 AS INTEGER) LIMIT 1", 4, r->acct.id,
			t->valuestring, base, now);
		if (q && sqlite3_step(q) == SQLITE_ROW)
			held++;
		sqlite3_finalize(q);
	}
	int ok = arr && n > 0 && held == n && n == cJSON_GetArraySize(arr);
	cJSON_Delete(arr);
	return ok;
}

static int revoke_cert(struct rq *r)
{
	struct acme_problem p;
	memset(&p, 0, sizeof p);
	if (authenticate(r, -1, &p))
		return respond_problem(r, &p);
	if (!r->payload)
		return problem(r, ACME_PROB_MALFORMED, "revokeCert needs a JSON payload");
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(r->payload, "certificate");
	const cJSON *reason = cJSON_GetObjectItemCaseSensitive(r->payload, "reason");
	if (!cJSON_IsString(c))
		return problem(r, ACME_PROB_MALFORMED, "revokeCert payload needs a certificate");
	int rs = 0;
	if (reason) {
		if (!cJSON_IsNumber(reason) || reason->valuedouble != (double)(int)reason->valuedouble)
			return problem(r, ACME_PROB_BAD_REVOCATION_REASON, "reason must be an integer");
		rs = reason->valueint;
		if (rs != 0 && rs != 1 && rs != 3 && rs != 4 && rs != 5)
			return problem(r, ACME_PROB_BAD_REVOCATION_REASON,
				"disallowed revocation reason: %d (allowed: 0, 1, 3, 4, 5)", rs);
	}
	struct tb_bytes der = { 0 };
	if (strlen(c->valuestring) > 2 * ACME_CSR_MAX_DER || tb_base64url_decode(&der, c->valuestring, strlen(c->valuestring))) {
		tb_bytes_free(&der);
		return problem(r, ACME_PROB_MALFORMED, "certificate is not base64url");
	}
	mbedtls_x509_crt crt;
	mbedtls_x509_crt_init(&crt);
	int err = mbedtls_x509_crt_parse_der(&crt, der.p, der.len);
	char serial[2 * ACME_ARI_MAX_SERIAL + 1] = "";
	if (!err) {
		const uint8_t *sp = crt.serial.p;
		size_t sl = crt.serial.len;
		while (sl > 1 && sp[0] == 0) {
			sp++;
			sl--;
		}
		for (size_t i = 0; i < sl && i < ACME_ARI_MAX_SERIAL; i++)
			snprintf(serial + 2 * i, 3, "%02x", sp[i]);
	}
	struct tb_bytes spki = { 0 };
	int key_match = 0;
	if (!err && r->jws.key) {
		/* Revocation by certificate key: the JWS key must be the certificate's key. */
		struct tb_pkey *ck = NULL;
		if (tb_pkey_from_mbedtls_public(&crt.pk, &ck) == 0) {
			key_match = !acme_key_differs(tb_pkey_mbedtls(ck), tb_pkey_mbedtls(acme_key_pkey(r->jws.key)));
			tb_pkey_free(ck);
		}
	}
	tb_bytes_free(&spki);
	mbedtls_x509_crt_free(&crt);
	if (err) {
		tb_bytes_free(&der);
		return problem(r, ACME_PROB_MALFORMED, "certificate does not parse");
	}
	sqlite3_stmt *st = q_prep(r->s, "SELECT account, der_chain, revoked_at, order_id FROM acme_certificates"
		" WHERE serial = ?1 AND status = 'issued'", 1, serial);
	int found = 0, owner = 0, already = 0;
	char *order_id = NULL;
	if (st && sqlite3_step(st) == SQLITE_ROW) {
		const void *blob = sqlite3_column_blob(st, 1);
		int bl = sqlite3_column_bytes(st, 1);
		found = blob && (size_t)bl >= der.len && memcmp(blob, der.p, der.len) == 0;
		owner = r->have_acct && strcmp((const char *)sqlite3_column_text(st, 0), r->acct.id) == 0;
		already = !col_null(st, 2);
		order_id = col(r->a, st, 3);
	}
	sqlite3_finalize(st);
	tb_bytes_free(&der);
	if (!found)
		return problem_status(r, 404, ACME_PROB_MALFORMED, "Certificate from unrecognized issuer");
	int holder = !r->jws.key && !owner && order_id && holds_authzs_for(r, order_id);
	if (r->jws.key ? !key_match : !(owner || holder))
		return problem(r, ACME_PROB_UNAUTHORIZED, "The key ID specified in the revocation request does not hold "
			"valid authorizations for all names in the certificate");
	if (r->jws.key && rs != 0 && rs != 1)
		return problem(r, ACME_PROB_BAD_REVOCATION_REASON, "revocation by certificate key allows reasons 0 and 1 only");
	if (holder) {
		/* As Boulder: the holder of the names says the subscriber's use ended. */
		if (rs != 0 && rs != 5)
			return problem(r, ACME_PROB_BAD_REVOCATION_REASON,
				"revocation by another account holding the names allows reasons 0 and 5 only");
		rs = 5;
	}
	if (already)
		return problem(r, ACME_PROB_ALREADY_REVOKED, "Certificate already revoked");
	struct acme_wjob *j = acme_wjob_new(r->s);
	acme_wjob_add(j, 1, "UPDATE acme_certificates SET revoked_reason = %d, revoked_at = %lld WHERE serial = %Q AND"
		" revoked_at IS NULL", rs, (long long)acme_now(), serial);
	TB_INFO("acme", "revoking serial %s, reason %d", serial, rs);
	if (acme_wjob_submit(j, revoked, r))
		return problem(r, ACME_PROB_SERVER_INTERNAL, "store unavailable");
	return TB_HTTP_LATER;
}

static int renewal_info(struct rq *r, const char *certid)
{
	struct acme_cert_id cid;
	if (acme_ari_cert_id_parse(certid, strlen(certid), &cid))
		return problem(r, ACME_PROB_MALFORMED, "Invalid path: not an ARI CertID");
	char serial[2 * ACME_ARI_MAX_SERIAL + 1] = "";
	for (size_t i = 0; i < cid.serial_len; i++)
		snprintf(serial + 2 * i, 3, "%02x", cid.serial[i]);
	sqlite3_stmt *st = q_prep(r->s, "SELECT not_before, not_after, revoked_at, der_chain FROM acme_certificates"
		" WHERE serial = ?1 AND status = 'issued'", 1, serial);
	int found = st && sqlite3_step(st) == SQLITE_ROW;
	int64_t nb = found ? sqlite3_column_int64(st, 0) : 0, na = found ? sqlite3_column_int64(st, 1) : 0;
	int revoked = found && !col_null(st, 2);
	if (found) {
		/* The CertID's AKI must be the one in the certificate we issued (the leaf leads the chain). */
		const uint8_t *d = sqlite3_column_blob(st, 3);
		size_t dl = (size_t)sqlite3_column_bytes(st, 3), leaf = 0;
		if (d && dl > 4 && d[0] == 0x30 && d[1] == 0x82)
			leaf = 4 + (((size_t)d[2] << 8) | d[3]);
		struct acme_cert_id mine;
		found = leaf && leaf <= dl && acme_ari_cert_id_from_der(d, leaf, &mine) == 0 &&
			mine.aki_len == cid.aki_len && memcmp(mine.aki, cid.aki, cid.aki_len) == 0;
	}
	sqlite3_finalize(st);
	if (!found)
		return problem_status(r, 404, ACME_PROB_MALFORMED, "Certificate not found");
	int64_t life = na - nb, start, end;
	if (revoked) {
		start = acme_now() - 86400;
		end = acme_now() - 3600;
	} else {
		start = nb + life * 2 / 3 - life / 20;
		end = nb + life * 2 / 3 + life / 20;
	}
	cJSON *j = cJSON_CreateObject();
	cJSON *w = cJSON_AddObjectToObject(j, "suggestedWindow");
	cJSON_AddStringToObject(w, "start", ts(r->a, start));
	cJSON_AddStringToObject(w, "end", ts(r->a, end));
	common_headers(r);
	char ra[16];
	snprintf(ra, sizeof ra, "%d", RETRY_AFTER_ARI);
	tb_http_set_header(r->req, "Retry-After", ra);
	return respond_json(r, 200, j, NULL);
}

/* ------------------------------------------------------------------ */
/* Dispatch                                                              */
/* ------------------------------------------------------------------ */

static int acme_handler(struct tb_http_request *req, void *arg)
{
	struct acme_svc *s = arg;
	struct rq *r = rq_new(s, req);
	if (!r)
		return TB_ERR_NOMEM;
	size_t pl = strlen(s->prefix);
	const char *rest = strncmp(req->path, s->prefix, pl) == 0 ? req->path + pl : "";
	int get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
	int post = strcmp(req->method, "POST") == 0;
	if (strcmp(rest, "new-nonce") == 0) {
		if (post)
			return new_nonce_post(r);
		if (!get)
			return not_allowed(r, "GET, HEAD, POST");
		return new_nonce(r);
	}
	if (strcmp(rest, "crl") == 0) {
		if (!get)
			return not_allowed(r, "GET, HEAD");
		struct tb_bytes crl = { 0 };
		int err = acme_crl_build(s, &crl);
		if (err) {
			tb_bytes_free(&crl);
			return problem(r, ACME_PROB_SERVER_INTERNAL, "could not build the CRL");
		}
		tb_http_set_header(req, "Cache-Control", "max-age=60");
		err = tb_http_respond(req, 200, "application/pkix-crl", crl.p, crl.len);
		tb_bytes_free(&crl);
		return err;
	}
	if (strncmp(rest, "renewal-info/", 13) == 0) {
		if (!get)
			return not_allowed(r, "GET, HEAD");
		return renewal_info(r, rest + 13);
	}
	if (!post)
		return not_allowed(r, "POST");
	if (strcmp(rest, "new-account") == 0)
		return new_account(r);
	if (strcmp(rest, "new-order") == 0)
		return new_order(r);
	if (strcmp(rest, "revoke-cert") == 0)
		return revoke_cert(r);
	if (strcmp(rest, "key-change") == 0)
		return key_change(r);
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
			if (id_ok(id)) {
				if (strcmp(kind, "acct") == 0 && !s2)
					return account(r, id, 0);
				if (strcmp(kind, "acct") == 0 && strcmp(sub, "orders") == 0)
					return account(r, id, 1);
				if (strcmp(kind, "order") == 0 && !s2)
					return order(r, id);
				if (strcmp(kind, "order") == 0 && strcmp(sub, "finalize") == 0)
					return finalize(r, id);
				if (strcmp(kind, "authz") == 0 && !s2)
					return authz(r, id);
				if (strcmp(kind, "chall") == 0 && !s2)
					return challenge(r, id);
				if (strcmp(kind, "cert") == 0 && !s2)
					return certificate(r, id);
			}
		}
	}
	return problem_status(r, 404, ACME_PROB_MALFORMED, "no such resource");
}

/* ------------------------------------------------------------------ */
/* Lifecycle                                                             */
/* ------------------------------------------------------------------ */

#define CFG_ERR(...) (snprintf(err, errlen, __VA_ARGS__), TB_ERR_CONFIG)

static int acme_configure(struct tb_core *core, void **state, char *err, size_t errlen)
{
	const cJSON *sec = tb_config_section(core->config, "acme");
	*state = NULL;
	if (!tb_cfg_bool(sec, "enabled"))
		return 0;
	struct acme_svc *s = calloc(1, sizeof *s);
	if (!s)
		return TB_ERR_NOMEM;
	s->core = core;
	int rc = 0;
	const char *v = tb_cfg_str(sec, "listener");
	if (strlen(v) >= sizeof s->listener)
		rc = CFG_ERR("acme.listener: too long");
	snprintf(s->listener, sizeof s->listener, "%s", v);
	v = tb_cfg_str(sec, "directory_path");
	if (!rc && (v[0] != '/' || strlen(v) >= sizeof s->dir_path || v[strlen(v) - 1] == '/'))
		rc = CFG_ERR("acme.directory_path: must start with '/', not end with '/', and be short, got \"%s\"", v);
	snprintf(s->dir_path, sizeof s->dir_path, "%s", v);
	v = tb_cfg_str(sec, "path_prefix");
	if (!rc && (v[0] != '/' || strlen(v) < 2 || strlen(v) >= sizeof s->prefix || v[strlen(v) - 1] != '/'))
		rc = CFG_ERR("acme.path_prefix: must start and end with '/', got \"%s\"", v);
	snprintf(s->prefix, sizeof s->prefix, "%s", v);
	const cJSON *it;
	cJSON_ArrayForEach(it, tb_cfg_get(sec, "profiles")) {
		if (rc)
			break;
		if (s->n_profiles == ACME_MAX_PROFILES) {
			rc = CFG_ERR("acme.profiles: at most %d profiles", ACME_MAX_PROFILES);
			break;
		}
		struct acme_profile *p = &s->profiles[s->n_profiles];
		const char *name = tb_cfg_str(it, "name");
		if (!name || !name[0] || strlen(name) >= sizeof p->name || find_profile(s, name)) {
			rc = CFG_ERR("acme.profiles[%zu].name: empty, too long or duplicate", s->n_profiles + 1);
			break;
		}
		snprintf(p->name, sizeof p->name, "%s", name);
		snprintf(p->description, sizeof p->description, "%s", tb_cfg_str(it, "description"));
		p->validity = tb_cfg_int(it, "validity_seconds");
		p->common_name = tb_cfg_bool(it, "common_name");
		p->max_names = (int)tb_cfg_int(it, "max_names");
		p->allow_ip = tb_cfg_bool(it, "allow_ip");
		p->reuse = tb_cfg_int(it, "authz_reuse_seconds");
		s->n_profiles++;
	}
	if (!rc && s->n_profiles == 0)
		rc = CFG_ERR("acme.profiles: at least one profile is needed");
	v = tb_cfg_str(sec, "default_profile");
	if (!rc) {
		const struct acme_profile *dp = find_profile(s, v);
		if (!dp)
			rc = CFG_ERR("acme.default_profile: \"%s\" is not one of the profiles", v);
		else
			s->default_profile = (size_t)(dp - s->profiles);
	}
	s->http01_port = (int)tb_cfg_int(sec, "http01_port");
	s->tlsalpn01_port = (int)tb_cfg_int(sec, "tlsalpn01_port");
	s->strict = strcmp(tb_cfg_str(sec, "policy"), "strict") == 0;
	cJSON_ArrayForEach(it, tb_cfg_get(sec, "lab_domains")) {
		if (rc)
			break;
		char norm[ACME_MAX_IDENT_LEN + 1];
		if (s->n_lab_domains == ACME_MAX_LAB_DOMAINS ||
			acme_dns_normalize(it->valuestring, strlen(it->valuestring), norm, sizeof norm)) {
			rc = CFG_ERR("acme.lab_domains: too many or too long (\"%s\")", it->valuestring);
			break;
		}
		snprintf(s->lab_domains[s->n_lab_domains++], ACME_MAX_IDENT_LEN + 1, "%s", norm);
	}
	cJSON_ArrayForEach(it, tb_cfg_get(sec, "eab_keys")) {
		if (rc)
			break;
		struct tb_bytes k = { 0 };
		if (s->n_eab == ACME_MAX_EAB_KEYS || strlen(it->string) >= sizeof s->eab[0].kid || !cJSON_IsString(it) ||
			tb_base64url_decode(&k, it->valuestring, strlen(it->valuestring)) || k.len == 0 || k.len > ACME_EAB_MAX_KEY) {
			tb_bytes_free(&k);
			rc = CFG_ERR("acme.eab_keys[\"%s\"]: needs a base64url HMAC key of 1..%d bytes", it->string, ACME_EAB_MAX_KEY);
			break;
		}
		snprintf(s->eab[s->n_eab].kid, sizeof s->eab[0].kid, "%s", it->string);
		memcpy(s->eab[s->n_eab].key, k.p, k.len);
		s->eab[s->n_eab].len = k.len;
		s->n_eab++;
		tb_bytes_free(&k);
	}
	s->eab_required = tb_cfg_bool(sec, "external_account_required");
	if (!rc && s->eab_required && s->n_eab == 0)
		rc = CFG_ERR("acme.external_account_required: true, but acme.eab_keys is empty");
	cJSON_ArrayForEach(it, tb_cfg_get(sec, "caa_identities")) {
		if (rc)
			break;
		if (s->n_caa_ids == ACME_MAX_CAA_IDS || strlen(it->valuestring) >= sizeof s->caa_ids[0] || !it->valuestring[0]) {
			rc = CFG_ERR("acme.caa_identities: at most %d non-empty names", ACME_MAX_CAA_IDS);
			break;
		}
		snprintf(s->caa_ids[s->n_caa_ids++], sizeof s->caa_ids[0], "%s", it->valuestring);
	}
	snprintf(s->tos, sizeof s->tos, "%s", tb_cfg_str(sec, "terms_of_service"));
	snprintf(s->website, sizeof s->website, "%s", tb_cfg_str(sec, "website"));
	const cJSON *rl = tb_cfg_get(sec, "rate_limits");
	s->rl_orders_per_account = tb_cfg_int(rl, "new_orders_per_account_per_hour");
	s->rl_accounts_per_ip = tb_cfg_int(rl, "new_accounts_per_ip_per_hour");
	s->rl_certs_per_domain = tb_cfg_int(rl, "certificates_per_domain_per_week");
	s->rl_failed_per_ident = tb_cfg_int(rl, "failed_validations_per_identifier_per_hour");
	s->order_lifetime = tb_cfg_int(sec, "order_lifetime_seconds");
	s->authz_lifetime = tb_cfg_int(sec, "authz_lifetime_seconds");
	s->authz_valid_lifetime = tb_cfg_int(sec, "authz_valid_seconds");
	s->validation_timeout_ms = (uint64_t)tb_cfg_int(sec, "validation_timeout_ms");
	s->max_validations = tb_cfg_int(sec, "max_validations");
	s->max_validations_per_account = tb_cfg_int(sec, "max_validations_per_account");
	s->max_queued_validations = tb_cfg_int(sec, "max_queued_validations");
	s->lab_reject_nonces = tb_cfg_num(sec, "lab_reject_nonce_fraction");
	s->lab_delay_ms = tb_cfg_int(sec, "lab_validation_delay_ms");
	s->lab_always_valid = tb_cfg_bool(sec, "lab_always_valid");
	s->caa_recheck = tb_cfg_int(sec, "caa_recheck_seconds");
	if (!rc && s->strict && (s->lab_always_valid || s->lab_reject_nonces > 0 || s->lab_delay_ms > 0))
		rc = CFG_ERR("acme.policy: \"strict\" cannot be combined with lab switches (lab_*)");
	if (!rc && acme_nonces_new(&s->nonces, 0))
		rc = TB_ERR_NOMEM;
	if (rc) {
		acme_nonces_free(s->nonces);
		free(s);
		return rc;
	}
	*state = s;
	return 0;
}

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
