/*
 * The ACME service's store access (acme_* tables), the only SQL of the
 * service. Reads run on the loop thread's reader connection. Changes go
 * through write jobs: the statements of one change, run by the store's
 * writer thread in one SAVEPOINT; the job's callback runs on the loop once
 * the commit is durable, the moment the service may answer the client.
 * Write statements carry their preconditions (WHERE status = ...) so that
 * racing requests cannot both win: a statement added with expect_change
 * fails the whole job when it changed no row.
 */
#include "acme/db.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "core/error.h"
#include "core/log.h"
#include "core/store.h"

/*
 * Prepared reads are kept and reused: parsing and planning a statement
 * costs more than running it (sqlite3_prepare was a seventh of the
 * server's CPU in the issuance benchmark, tests/bench/acme.sh). Keyed by
 * the SQL text; a statement still in use (a read nested in another with the
 * same text) gets a fresh one, finalized after use. Loop thread only.
 */
#define STMT_CACHE 32

struct acme_stmt_cache {
	char *sql[STMT_CACHE];
	sqlite3_stmt *st[STMT_CACHE];
	size_t n;
};

static sqlite3_stmt *stmt_get(struct acme_svc *s, const char *sql)
{
	sqlite3 *db = tb_store_reader(s->core->store);
	struct acme_stmt_cache *c = s->stmts;
	if (!c && (c = s->stmts = calloc(1, sizeof *c)) == NULL)
		return NULL;
	size_t i;
	for (i = 0; i < c->n && strcmp(c->sql[i], sql) != 0; i++)
		;
	if (i < c->n && !sqlite3_stmt_busy(c->st[i]))
		return c->st[i];
	sqlite3_stmt *st = NULL;
	int cache = i == c->n && c->n < STMT_CACHE;
	char *copy = cache ? strdup(sql) : NULL;
	if (sqlite3_prepare_v3(db, sql, -1, copy ? SQLITE_PREPARE_PERSISTENT : 0, &st, NULL) != SQLITE_OK) {
		TB_WARN("acme", "prepare: %s", sqlite3_errmsg(db));
		free(copy);
		return NULL;
	}
	if (copy) {
		c->sql[c->n] = copy;
		c->st[c->n++] = st;
	}
	return st;
}

/* Done with a statement from q_prep: a kept one is reset for its next use. NULL is fine. */
static void q_done(struct acme_svc *s, sqlite3_stmt *st)
{
	struct acme_stmt_cache *c = s->stmts;
	for (size_t i = 0; st && c && i < c->n; i++) {
		if (c->st[i] == st) {
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			return;
		}
	}
	sqlite3_finalize(st);
}

static sqlite3_stmt *q_prep(struct acme_svc *s, const char *sql, int n, ...)
{
	sqlite3_stmt *st = stmt_get(s, sql);
	if (!st)
		return NULL;
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

/* ---- write jobs ---- */

/*
 * A statement of a write job. Formats whose conversions are all %Q, %d,
 * %lld, %.6f and %B (a blob: pointer and size_t, ours, not sqlite3's) keep their values apart and run as a prepared statement
 * with one parameter per conversion, prepared once per format on the
 * writer thread (the format's address is the key: formats are literals);
 * any other format (%q, %s inside literals) is rendered to SQL text and
 * parsed each time, as sqlite3_exec would.
 */
struct wval {
	char type; /* 't' text, 'n' NULL, 'i' integer, 'f' real, 'b' blob (t, i bytes) */
	int64_t i;
	double f;
	char *t;
};

struct wstmt {
	const char *fmt; /* NULL: sql holds the rendered text */
	char *sql;
	struct wval *v;
	size_t nv;
	unsigned char expect;
};

struct acme_wjob {
	struct acme_svc *s;
	struct wstmt *q;
	size_t n, cap;
	int oom;
	acme_wjob_fn fn;
	void *ctx;
};

/* Prepared writes, touched only on the store's writer thread (acme_db_close runs when it is idle). */
struct acme_wstmt_cache {
	const char *fmt[STMT_CACHE];
	sqlite3_stmt *st[STMT_CACHE];
	size_t n;
};

struct acme_wjob *acme_wjob_new(struct acme_svc *s)
{
	struct acme_wjob *j = calloc(1, sizeof *j);
	if (j)
		j->s = s;
	return j;
}

/* Length of the conversion at fmt ("%Q" ...) and its kind, or 0 for one kept as text. */
static size_t conv(const char *fmt, char *kind)
{
	static const struct { const char *spec; char kind; } convs[] = {
		{ "%Q", 'Q' }, { "%d", 'd' }, { "%lld", 'L' }, { "%.6f", 'f' }, { "%B", 'B' }, { "%%", '%' },
	};
	for (size_t i = 0; i < sizeof convs / sizeof convs[0]; i++) {
		size_t n = strlen(convs[i].spec);
		if (strncmp(fmt, convs[i].spec, n) == 0) {
			*kind = convs[i].kind;
			return n;
		}
	}
	return 0;
}

static int bindable(const char *fmt, size_t *nv)
{
	*nv = 0;
	for (const char *p = fmt; (p = strchr(p, '%')); ) {
		char k = 0;
		size_t n = conv(p, &k);
		if (!n)
			return 0;
		*nv += k != '%';
		p += n;
	}
	return 1;
}

void acme_wjob_add(struct acme_wjob *j, int expect_change, const char *fmt, ...)
{
	if (!j || j->oom)
		return;
	if (j->n == j->cap) {
		size_t cap = j->cap ? 2 * j->cap : 8;
		struct wstmt *q = cap <= ACME_WJOB_MAX ? realloc(j->q, cap * sizeof *q) : NULL;
		if (!q) {
			j->oom = 1;
			return;
		}
		j->q = q;
		j->cap = cap;
	}
	struct wstmt *w = &j->q[j->n];
	memset(w, 0, sizeof *w);
	w->expect = (unsigned char)expect_change;
	va_list ap;
	va_start(ap, fmt);
	size_t nv;
	if (!bindable(fmt, &nv)) {
		w->sql = sqlite3_vmprintf(fmt, ap);
		va_end(ap);
		if (!w->sql)
			j->oom = 1;
		else
			j->n++;
		return;
	}
	w->fmt = fmt;
	w->v = nv ? calloc(nv, sizeof *w->v) : NULL;
	if (nv && !w->v) {
		va_end(ap);
		j->oom = 1;
		return;
	}
	j->n++; /* from here wjob_free frees what was filled in */
	for (const char *p = fmt; (p = strchr(p, '%')); ) {
		char k = 0;
		p += conv(p, &k);
		if (k == '%')
			continue;
		struct wval *v = &w->v[w->nv++];
		if (k == 'Q') {
			const char *t = va_arg(ap, const char *);
			v->type = t ? 't' : 'n';
			if (t && !(v->t = strdup(t)))
				j->oom = 1;
		} else if (k == 'B') {
			const uint8_t *b = va_arg(ap, const uint8_t *);
			size_t len = va_arg(ap, size_t);
			v->type = 'b';
			v->i = (int64_t)len;
			if (len && !(v->t = malloc(len)))
				j->oom = 1;
			else if (len)
				memcpy(v->t, b, len);
		} else if (k == 'd') {
			v->type = 'i';
			v->i = va_arg(ap, int);
		} else if (k == 'L') {
			v->type = 'i';
			v->i = va_arg(ap, long long);
		} else {
			v->type = 'f';
			v->f = va_arg(ap, double);
		}
	}
	va_end(ap);
}

static void wjob_free(struct acme_wjob *j)
{
	for (size_t i = 0; i < j->n; i++) {
		sqlite3_free(j->q[i].sql);
		for (size_t k = 0; k < j->q[i].nv; k++)
			free(j->q[i].v[k].t);
		free(j->q[i].v);
	}
	free(j->q);
	free(j);
}

void acme_wjob_abort(struct acme_wjob *j)
{
	if (j)
		wjob_free(j);
}

/* The format with ?1, ?2, ... for its conversions (sqlite3_free). */
static char *param_sql(const char *fmt)
{
	sqlite3_str *b = sqlite3_str_new(NULL);
	int k = 0;
	for (const char *p = fmt; *p; ) {
		char kind;
		size_t n = *p == '%' ? conv(p, &kind) : 0;
		if (!n) {
			sqlite3_str_appendchar(b, 1, *p++);
			continue;
		}
		if (kind == '%')
			sqlite3_str_appendchar(b, 1, '%');
		else
			sqlite3_str_appendf(b, "?%d", ++k);
		p += n;
	}
	return sqlite3_str_finish(b);
}

/* Writer thread: the prepared statement of a format, kept when there is room (*kept). */
static sqlite3_stmt *wstmt_get(struct acme_svc *s, sqlite3 *db, const char *fmt, int *kept)
{
	struct acme_wstmt_cache *c = s->wstmts;
	if (!c && (c = s->wstmts = calloc(1, sizeof *c)) == NULL)
		return NULL;
	for (size_t i = 0; i < c->n; i++) {
		if (c->fmt[i] == fmt) {
			*kept = 1;
			return c->st[i];
		}
	}
	char *sql = param_sql(fmt);
	sqlite3_stmt *st = NULL;
	*kept = c->n < STMT_CACHE;
	int rc = sql ? sqlite3_prepare_v3(db, sql, -1, *kept ? SQLITE_PREPARE_PERSISTENT : 0, &st, NULL) : SQLITE_NOMEM;
	sqlite3_free(sql);
	if (rc != SQLITE_OK) {
		TB_WARN("acme", "store: prepare: %s", sqlite3_errmsg(db));
		return NULL;
	}
	if (*kept) {
		c->fmt[c->n] = fmt;
		c->st[c->n++] = st;
	}
	return st;
}

static int wstmt_run(struct acme_svc *s, sqlite3 *db, const struct wstmt *w)
{
	if (!w->fmt) {
		char *err = NULL;
		if (sqlite3_exec(db, w->sql, NULL, NULL, &err) != SQLITE_OK) {
			TB_WARN("acme", "store: %s", err ? err : "error");
			sqlite3_free(err);
			return TB_ERR_STORE;
		}
		return 0;
	}
	int kept = 0;
	sqlite3_stmt *st = wstmt_get(s, db, w->fmt, &kept);
	if (!st)
		return TB_ERR_STORE;
	for (size_t k = 0; k < w->nv; k++) {
		const struct wval *v = &w->v[k];
		int i = (int)k + 1;
		if (v->type == 't')
			sqlite3_bind_text(st, i, v->t, -1, SQLITE_STATIC);
		else if (v->type == 'i')
			sqlite3_bind_int64(st, i, v->i);
		else if (v->type == 'f')
			sqlite3_bind_double(st, i, v->f);
		else if (v->type == 'b' && v->i > 0)
			sqlite3_bind_blob(st, i, v->t, (int)v->i, SQLITE_STATIC);
		else if (v->type == 'b')
			sqlite3_bind_zeroblob(st, i, 0); /* an empty blob, not NULL */
		else
			sqlite3_bind_null(st, i);
	}
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		;
	if (rc != SQLITE_DONE)
		TB_WARN("acme", "store: %s", sqlite3_errmsg(db));
	if (kept) {
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
	} else {
		sqlite3_finalize(st);
	}
	return rc == SQLITE_DONE ? 0 : TB_ERR_STORE;
}

static int wjob_run(sqlite3 *db, void *arg)
{
	struct acme_wjob *j = arg;
	for (size_t i = 0; i < j->n; i++) {
		int err = wstmt_run(j->s, db, &j->q[i]);
		if (err)
			return err;
		if (j->q[i].expect && sqlite3_changes(db) == 0)
			return TB_ERR_STATE;
	}
	return 0;
}

void acme_db_close(struct acme_svc *s)
{
	struct acme_stmt_cache *c = s->stmts;
	for (size_t i = 0; c && i < c->n; i++) {
		sqlite3_finalize(c->st[i]);
		free(c->sql[i]);
	}
	free(c);
	s->stmts = NULL;
	/* The writer's: every subsystem has stopped, so no job runs on its connection now. */
	struct acme_wstmt_cache *w = s->wstmts;
	for (size_t i = 0; w && i < w->n; i++)
		sqlite3_finalize(w->st[i]);
	free(w);
	s->wstmts = NULL;
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

/* ---- rows ---- */

int acme_db_load_acct(struct acme_svc *s, struct tb_arena *a, const char *by, const char *v, struct acme_acct *out)
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
	q_done(s, st);
	return err;
}

int acme_db_load_order(struct acme_svc *s, struct tb_arena *a, const char *id, struct acme_order *o)
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
	q_done(s, st);
	return err;
}

static int authz_from_row(struct tb_arena *a, sqlite3_stmt *st, struct acme_authz *z)
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

int acme_db_load_authz(struct acme_svc *s, struct tb_arena *a, const char *id, struct acme_authz *z)
{
	sqlite3_stmt *st = q_prep(s, "SELECT " AUTHZ_COLS " FROM acme_authzs a WHERE a.id = ?1", 1, id);
	if (!st)
		return TB_ERR_STORE;
	int rc = sqlite3_step(st), err = TB_ERR_NOT_FOUND;
	if (rc == SQLITE_ROW)
		err = authz_from_row(a, st, z);
	else if (rc != SQLITE_DONE)
		err = TB_ERR_STORE;
	q_done(s, st);
	return err;
}

int acme_db_load_order_authzs(struct acme_svc *s, struct tb_arena *a, const char *order_id, struct acme_authz *out,
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
	q_done(s, st);
	return err;
}

static int chall_from_row(struct tb_arena *a, sqlite3_stmt *st, struct acme_chall *c)
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
	return c->id && c->authz && c->type && c->token && c->status && c->error ? 0 : TB_ERR_NOMEM;
}

#define CHALL_COLS "id, authz, type, token, status, validated, error"

int acme_db_load_chall(struct acme_svc *s, struct tb_arena *a, const char *id, struct acme_chall *c)
{
	sqlite3_stmt *st = q_prep(s, "SELECT " CHALL_COLS " FROM acme_challenges WHERE id = ?1", 1, id);
	if (!st)
		return TB_ERR_STORE;
	int err = TB_ERR_NOT_FOUND;
	if (sqlite3_step(st) == SQLITE_ROW)
		err = chall_from_row(a, st, c);
	q_done(s, st);
	return err;
}

int acme_db_load_authz_challs(struct acme_svc *s, struct tb_arena *a, const char *authz_id, struct acme_chall *out,
	size_t cap, size_t *n)
{
	sqlite3_stmt *st = q_prep(s, "SELECT " CHALL_COLS " FROM acme_challenges WHERE authz = ?1 ORDER BY type", 1,
		authz_id);
	*n = 0;
	if (!st)
		return TB_ERR_STORE;
	while (*n < cap && sqlite3_step(st) == SQLITE_ROW)
		if (chall_from_row(a, st, &out[*n]) == 0)
			(*n)++;
	q_done(s, st);
	return 0;
}

#define CERT_COLS "c.serial, c.account, c.order_id, c.not_before, c.not_after, c.revoked_at, c.replaced_by," \
	" c.names, c.revoked_reason, c.created, c.precert_at, c.issued_at, o.profile, c.rowid"

/* The columns of CERT_COLS (PEM and DER are the caller's). */
static int cert_from_row(struct tb_arena *a, sqlite3_stmt *st, struct acme_cert *out)
{
	memset(out, 0, sizeof *out);
	out->serial = col(a, st, 0);
	out->account = col(a, st, 1);
	out->order_id = col(a, st, 2);
	out->not_before = sqlite3_column_int64(st, 3);
	out->not_after = sqlite3_column_int64(st, 4);
	out->revoked = !col_null(st, 5);
	out->revoked_at = sqlite3_column_int64(st, 5);
	out->replaced = !col_null(st, 6);
	out->names = col(a, st, 7);
	out->revoked_reason = sqlite3_column_int(st, 8);
	out->finalized = sqlite3_column_int64(st, 9);
	out->precert_at = sqlite3_column_int64(st, 10);
	out->issued_at = sqlite3_column_int64(st, 11);
	out->profile = col(a, st, 12);
	return out->serial && out->account && out->order_id && out->names && out->profile ? 0 : TB_ERR_NOMEM;
}

int acme_db_load_cert(struct acme_svc *s, struct tb_arena *a, const char *serial, struct acme_cert *out)
{
	sqlite3_stmt *st = q_prep(s, "SELECT " CERT_COLS ", c.pem, c.der_chain FROM acme_certificates c"
		" LEFT JOIN acme_orders o ON o.id = c.order_id WHERE c.serial = ?1 AND c.status = 'issued'", 1, serial);
	if (!st)
		return TB_ERR_STORE;
	int rc = sqlite3_step(st), err = TB_ERR_NOT_FOUND;
	if (rc == SQLITE_ROW) {
		err = cert_from_row(a, st, out);
		out->pem = col(a, st, 14);
		const void *d = sqlite3_column_blob(st, 15);
		size_t dl = (size_t)sqlite3_column_bytes(st, 15);
		uint8_t *copy = dl ? tb_arena_alloc(a, dl) : NULL;
		if (copy)
			memcpy(copy, d, dl);
		out->der_chain = copy;
		out->der_chain_len = copy ? dl : 0;
		if (!err && (!out->pem || (!copy && dl)))
			err = TB_ERR_NOMEM;
	} else if (rc != SQLITE_DONE) {
		err = TB_ERR_STORE;
	}
	q_done(s, st);
	return err;
}

/* ---- admin API reads ---- */

int acme_db_admin_accounts(struct acme_svc *s, struct tb_arena *a, int64_t before, size_t limit,
	struct acme_acct_row *out, size_t *n, int64_t *next)
{
	*n = 0;
	*next = 0;
	sqlite3_stmt *st = q_prep(s, "SELECT id, thumbprint, jwk, contact, status, created, rowid,"
		" (SELECT COUNT(*) FROM acme_orders o WHERE o.account = acme_accounts.id)"
		" FROM acme_accounts WHERE ?1 = 0 OR rowid < ?1 ORDER BY rowid DESC LIMIT ?2", 0);
	if (!st)
		return TB_ERR_STORE;
	sqlite3_bind_int64(st, 1, before);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)limit + 1);
	int rc, err = 0;
	int64_t last = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == limit) {
			*next = last;
			break;
		}
		struct acme_acct *ac = &out[*n].acct;
		ac->id = col(a, st, 0);
		ac->thumb = col(a, st, 1);
		ac->jwk = col(a, st, 2);
		ac->contact = col(a, st, 3);
		ac->status = col(a, st, 4);
		ac->created = sqlite3_column_int64(st, 5);
		last = sqlite3_column_int64(st, 6);
		out[*n].orders = sqlite3_column_int64(st, 7);
		if (!ac->id || !ac->thumb || !ac->jwk || !ac->contact || !ac->status) {
			err = TB_ERR_NOMEM;
			break;
		}
		(*n)++;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		err = TB_ERR_STORE;
	q_done(s, st);
	return err;
}

#define ADMIN_MAX_SCAN 5000 /* orders looked at for one page of a filtered list */

int acme_db_admin_orders(struct acme_svc *s, struct tb_arena *a, int64_t before, size_t limit,
	const char *identifier, int (*keep)(void *arg, const struct acme_order *o), void *arg,
	struct acme_order *out, size_t *n, int64_t *next)
{
	*n = 0;
	*next = 0;
	sqlite3_stmt *st = q_prep(s, "SELECT id, account, status, expires, identifiers, profile, error, cert_serial,"
		" replaces, created, rowid FROM acme_orders WHERE (?1 = 0 OR rowid < ?1) AND (?2 IS NULL OR EXISTS"
		" (SELECT 1 FROM json_each(acme_orders.identifiers) i WHERE json_extract(i.value, '$.value') = ?2))"
		" ORDER BY rowid DESC", 0);
	if (!st)
		return TB_ERR_STORE;
	sqlite3_bind_int64(st, 1, before);
	if (identifier)
		sqlite3_bind_text(st, 2, identifier, -1, SQLITE_TRANSIENT);
	int rc, err = 0;
	size_t scanned = 0;
	int64_t last = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == limit || scanned == ADMIN_MAX_SCAN) {
			*next = last;
			break;
		}
		scanned++;
		struct acme_order *o = &out[*n];
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
		last = sqlite3_column_int64(st, 10);
		if (!o->id || !o->account || !o->status || !o->identifiers || !o->profile || !o->error ||
			!o->cert_serial || !o->replaces) {
			err = TB_ERR_NOMEM;
			break;
		}
		if (!keep || keep(arg, o))
			(*n)++;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		err = TB_ERR_STORE;
	q_done(s, st);
	return err;
}

int acme_db_admin_certs(struct acme_svc *s, struct tb_arena *a, int64_t before, size_t limit,
	struct acme_cert *out, size_t *n, int64_t *next)
{
	*n = 0;
	*next = 0;
	sqlite3_stmt *st = q_prep(s, "SELECT " CERT_COLS " FROM acme_certificates c LEFT JOIN acme_orders o"
		" ON o.id = c.order_id WHERE c.status = 'issued' AND (?1 = 0 OR c.rowid < ?1) ORDER BY c.rowid DESC"
		" LIMIT ?2", 0);
	if (!st)
		return TB_ERR_STORE;
	sqlite3_bind_int64(st, 1, before);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)limit + 1);
	int rc, err = 0;
	int64_t last = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == limit) {
			*next = last;
			break;
		}
		if ((err = cert_from_row(a, st, &out[*n])))
			break;
		last = sqlite3_column_int64(st, 13);
		(*n)++;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		err = TB_ERR_STORE;
	q_done(s, st);
	return err;
}

int acme_db_order_cert(struct acme_svc *s, struct tb_arena *a, const char *order_id, struct acme_cert *out,
	char **status)
{
	sqlite3_stmt *st = q_prep(s, "SELECT " CERT_COLS ", c.status FROM acme_certificates c LEFT JOIN acme_orders o"
		" ON o.id = c.order_id WHERE c.order_id = ?1 ORDER BY c.created DESC LIMIT 1", 1, order_id);
	if (!st)
		return TB_ERR_STORE;
	int rc = sqlite3_step(st), err = TB_ERR_NOT_FOUND;
	if (rc == SQLITE_ROW) {
		err = cert_from_row(a, st, out);
		*status = col(a, st, 14);
		if (!err && !*status)
			err = TB_ERR_NOMEM;
	} else if (rc != SQLITE_DONE) {
		err = TB_ERR_STORE;
	}
	q_done(s, st);
	return err;
}

int acme_db_load_attempts(struct acme_svc *s, struct tb_arena *a, const char *chall_id, struct acme_attempt *out,
	size_t cap, size_t *n)
{
	*n = 0;
	sqlite3_stmt *st = q_prep(s, "SELECT chall, time, target, result, problem FROM acme_attempts WHERE chall = ?1"
		" ORDER BY id", 1, chall_id);
	if (!st)
		return TB_ERR_STORE;
	int rc, err = 0;
	while (*n < cap && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct acme_attempt *t = &out[*n];
		t->chall = col(a, st, 0);
		t->time = sqlite3_column_int64(st, 1);
		t->target = col(a, st, 2);
		t->result = col(a, st, 3);
		t->problem = col(a, st, 4);
		if (!t->chall || !t->target || !t->result || !t->problem) {
			err = TB_ERR_NOMEM;
			break;
		}
		(*n)++;
	}
	q_done(s, st);
	return err;
}

int acme_db_admin_buckets(struct acme_svc *s, struct tb_arena *a, const char *after, size_t limit,
	struct acme_bucket *out, size_t *n, int *more)
{
	*n = 0;
	*more = 0;
	sqlite3_stmt *st = q_prep(s, "SELECT key, tokens, updated FROM acme_rate_buckets WHERE ?1 IS NULL OR key > ?1"
		" ORDER BY key LIMIT ?2", 0);
	if (!st)
		return TB_ERR_STORE;
	if (after)
		sqlite3_bind_text(st, 1, after, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)limit + 1);
	int rc, err = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == limit) {
			*more = 1;
			break;
		}
		out[*n].key = col(a, st, 0);
		out[*n].tokens = sqlite3_column_double(st, 1);
		out[*n].updated = sqlite3_column_int64(st, 2);
		if (!out[*n].key) {
			err = TB_ERR_NOMEM;
			break;
		}
		(*n)++;
	}
	q_done(s, st);
	return err;
}

const char *acme_authz_status(const struct acme_authz *z)
{
	if ((strcmp(z->status, "pending") == 0 || strcmp(z->status, "valid") == 0) && z->expires <= acme_now())
		return "expired";
	return z->status;
}

const char *acme_db_order_status(struct acme_svc *s, struct tb_arena *a, const struct acme_order *o)
{
	if (strcmp(o->status, "pending") != 0)
		return o->status;
	if (o->expires <= acme_now())
		return "invalid";
	struct acme_authz z[ACME_MAX_ORDER_NAMES];
	size_t n = 0;
	if (acme_db_load_order_authzs(s, a, o->id, z, ACME_MAX_ORDER_NAMES, &n) || n == 0)
		return "pending";
	int all_valid = 1;
	for (size_t i = 0; i < n; i++) {
		const char *st = acme_authz_status(&z[i]);
		if (strcmp(st, "valid") != 0)
			all_valid = 0;
		if (strcmp(st, "invalid") == 0 || strcmp(st, "deactivated") == 0 || strcmp(st, "expired") == 0 ||
			strcmp(st, "revoked") == 0)
			return "invalid";
	}
	return all_valid ? "ready" : "pending";
}

/* ---- queries ---- */

int acme_db_account_orders(struct acme_svc *s, struct tb_arena *a, const char *account, int64_t cursor,
	char **ids, size_t cap, size_t *n)
{
	*n = 0;
	sqlite3_stmt *st = q_prep(s, "SELECT id FROM acme_orders WHERE account = ?1 AND expires > ?2"
		" AND status != 'invalid' ORDER BY created, id LIMIT ?4 OFFSET ?3", 0);
	if (!st)
		return TB_ERR_STORE;
	sqlite3_bind_text(st, 1, account, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, acme_now());
	sqlite3_bind_int64(st, 3, cursor);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)cap);
	int err = 0;
	while (*n < cap && sqlite3_step(st) == SQLITE_ROW) {
		if (!(ids[*n] = col(a, st, 0))) {
			err = TB_ERR_NOMEM;
			break;
		}
		(*n)++;
	}
	q_done(s, st);
	return err;
}

char *acme_db_reusable_authz(struct acme_svc *s, struct tb_arena *a, const char *account,
	const struct acme_identifier *id, int wildcard, int64_t reuse)
{
	if (reuse <= 0)
		return NULL;
	char w[4], since[32], now[32];
	snprintf(w, sizeof w, "%d", wildcard);
	snprintf(since, sizeof since, "%lld", (long long)(acme_now() - reuse));
	snprintf(now, sizeof now, "%lld", (long long)acme_now());
	sqlite3_stmt *st = q_prep(s, "SELECT id FROM acme_authzs WHERE account = ?1 AND ident_type = ?2 AND"
		" ident_value = ?3 AND wildcard = CAST(?4 AS INTEGER) AND status = 'valid' AND validated >= CAST(?5 AS INTEGER)"
		" AND expires > CAST(?6 AS INTEGER) ORDER BY validated DESC LIMIT 1", 6, account,
		acme_ident_type_name(id->type), id->value, w, since, now);
	char *out = NULL;
	if (st && sqlite3_step(st) == SQLITE_ROW)
		out = col(a, st, 0);
	q_done(s, st);
	return out;
}

int acme_db_order_replacing(struct acme_svc *s, const char *certid)
{
	char now[32];
	snprintf(now, sizeof now, "%lld", (long long)acme_now());
	sqlite3_stmt *st = q_prep(s, "SELECT 1 FROM acme_orders WHERE replaces = ?1 AND status != 'invalid' AND"
		" expires > CAST(?2 AS INTEGER)", 2, certid, now);
	int found = st && sqlite3_step(st) == SQLITE_ROW;
	q_done(s, st);
	return found;
}

char *acme_db_valid_chall_type(struct acme_svc *s, struct tb_arena *a, const char *authz_id)
{
	char *type = NULL;
	sqlite3_stmt *st = q_prep(s, "SELECT type FROM acme_challenges WHERE authz = ?1 AND status = 'valid'", 1, authz_id);
	if (st && sqlite3_step(st) == SQLITE_ROW)
		type = col(a, st, 0);
	q_done(s, st);
	return type;
}

int acme_db_holds_valid_authz(struct acme_svc *s, const char *account, const char *type, const char *value)
{
	char now[32];
	snprintf(now, sizeof now, "%lld", (long long)acme_now());
	sqlite3_stmt *q = q_prep(s, "SELECT 1 FROM acme_authzs WHERE account = ?1 AND ident_type = ?2 AND"
		" ident_value = ?3 AND status = 'valid' AND expires > CAST(?4 AS INTEGER) LIMIT 1", 4, account, type, value,
		now);
	int held = q && sqlite3_step(q) == SQLITE_ROW;
	q_done(s, q);
	return held;
}

int acme_db_revoked_each(struct acme_svc *s, int64_t now, size_t max, acme_db_revoked_fn fn, void *arg)
{
	sqlite3_stmt *st = q_prep(s, "SELECT serial, revoked_at, revoked_reason FROM acme_certificates"
		" WHERE revoked_at IS NOT NULL AND not_after > ?1 ORDER BY revoked_at", 0);
	if (!st)
		return TB_ERR_STORE;
	sqlite3_bind_int64(st, 1, now);
	size_t n = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (n == max) {
			TB_WARN("acme", "CRL: more than %zu revoked certificates, list truncated", max);
			break;
		}
		const char *hex = (const char *)sqlite3_column_text(st, 0);
		if (hex)
			fn(hex, sqlite3_column_int64(st, 1), sqlite3_column_int(st, 2), arg);
		n++;
	}
	q_done(s, st);
	return 0;
}

int64_t acme_db_rate_take(struct acme_svc *s, struct acme_wjob *j, const char *key, int64_t limit, int64_t period)
{
	if (limit <= 0)
		return 0;
	int64_t now = acme_now();
	double tokens = (double)limit;
	sqlite3_stmt *st = q_prep(s, "SELECT tokens, updated FROM acme_rate_buckets WHERE key = ?1", 1, key);
	if (st && sqlite3_step(st) == SQLITE_ROW) {
		double t = sqlite3_column_double(st, 0);
		int64_t upd = sqlite3_column_int64(st, 1);
		t += (double)(now - upd) * (double)limit / (double)period;
		tokens = t > (double)limit ? (double)limit : t;
	}
	q_done(s, st);
	if (tokens < 1.0) {
		int64_t wait = (int64_t)((1.0 - tokens) * (double)period / (double)limit) + 1;
		return wait;
	}
	acme_wjob_add(j, 0, "INSERT OR REPLACE INTO acme_rate_buckets(key, tokens, updated) VALUES(%Q, %.6f, %lld)",
		key, tokens - 1.0, (long long)now);
	return 0;
}

/* ---- write statements ---- */

void acme_db_account_insert(struct acme_wjob *j, const char *id, const char *thumb, const char *jwk,
	const char *contact, int64_t created, const char *eab_kid, const char *remote)
{
	acme_wjob_add(j, 1, "INSERT INTO acme_accounts(id, thumbprint, jwk, contact, status, created, eab_kid, remote)"
		" VALUES(%Q, %Q, %Q, %Q, 'valid', %lld, %Q, %Q)", id, thumb, jwk, contact, (long long)created, eab_kid, remote);
}

void acme_db_account_deactivate(struct acme_wjob *j, const char *id)
{
	acme_wjob_add(j, 1, "UPDATE acme_accounts SET status = 'deactivated' WHERE id = %Q AND status = 'valid'", id);
	acme_wjob_add(j, 0, "UPDATE acme_authzs SET status = 'deactivated' WHERE account = %Q AND status IN ('pending','valid')", id);
}

void acme_db_account_contact(struct acme_wjob *j, const char *id, const char *contact)
{
	acme_wjob_add(j, 0, "UPDATE acme_accounts SET contact = %Q WHERE id = %Q", contact, id);
}

void acme_db_account_key(struct acme_wjob *j, const char *id, const char *old_thumb, const char *thumb,
	const char *jwk)
{
	acme_wjob_add(j, 1, "UPDATE acme_accounts SET thumbprint = %Q, jwk = %Q WHERE id = %Q AND thumbprint = %Q",
		thumb, jwk, id, old_thumb);
}

void acme_db_order_insert(struct acme_wjob *j, const char *id, const char *account, int64_t expires,
	const char *identifiers, const char *profile, const char *replaces, int64_t created)
{
	acme_wjob_add(j, 1, "INSERT INTO acme_orders(id, account, status, expires, identifiers, profile, replaces, created)"
		" VALUES(%Q, %Q, 'pending', %lld, %Q, %Q, %Q, %lld)", id, account, (long long)expires, identifiers, profile,
		replaces, (long long)created);
}

void acme_db_authz_insert(struct acme_wjob *j, const char *id, const char *account, const char *type,
	const char *value, int wildcard, int64_t expires, int64_t created)
{
	acme_wjob_add(j, 1, "INSERT INTO acme_authzs(id, account, ident_type, ident_value, wildcard, status,"
		" expires, created) VALUES(%Q, %Q, %Q, %Q, %d, 'pending', %lld, %lld)", id, account, type, value, wildcard,
		(long long)expires, (long long)created);
}

void acme_db_chall_insert(struct acme_wjob *j, const char *id, const char *authz, const char *type, const char *token)
{
	acme_wjob_add(j, 1, "INSERT INTO acme_challenges(id, authz, type, token, status) VALUES(%Q, %Q, %Q, %Q, 'pending')",
		id, authz, type, token);
}

void acme_db_order_authz_link(struct acme_wjob *j, const char *order_id, const char *authz_id, int pos)
{
	acme_wjob_add(j, 1, "INSERT INTO acme_order_authzs(order_id, authz_id, pos) VALUES(%Q, %Q, %d)", order_id,
		authz_id, pos);
}

void acme_db_order_processing(struct acme_wjob *j, const char *order_id, const char *serial, const char *account,
	int64_t created)
{
	acme_wjob_add(j, 1, "UPDATE acme_orders SET status = 'processing' WHERE id = %Q AND status = 'pending'", order_id);
	acme_wjob_add(j, 1, "INSERT INTO acme_certificates(serial, order_id, account, status, created)"
		" VALUES(%Q, %Q, %Q, 'reserved', %lld)", serial, order_id, account, (long long)created);
}

void acme_db_order_fail(struct acme_wjob *j, const char *order_id, const char *error_json, const char *serial)
{
	acme_wjob_add(j, 0, "UPDATE acme_orders SET status = 'invalid', error = %Q WHERE id = %Q", error_json, order_id);
	acme_wjob_add(j, 0, "DELETE FROM acme_certificates WHERE serial = %Q AND status = 'reserved'", serial);
}

/*
 * Start-up: nothing is in flight yet, so an order or a challenge still
 * "processing" was left so by an earlier process (killed, or the write of its
 * outcome failed). Nothing would ever finish it and its client would poll it
 * for good: it becomes invalid with error_json, and a serial reserved for the
 * order is released, as acme_db_order_fail does.
 */
void acme_db_fail_interrupted(struct acme_wjob *j, int64_t now, const char *error_json)
{
	acme_wjob_add(j, 0, "DELETE FROM acme_certificates WHERE status = 'reserved' AND order_id IN"
		" (SELECT id FROM acme_orders WHERE status = 'processing')");
	acme_wjob_add(j, 0, "UPDATE acme_orders SET status = 'invalid', error = %Q WHERE status = 'processing'",
		error_json);
	acme_wjob_add(j, 0, "UPDATE acme_authzs SET status = 'invalid' WHERE status = 'pending' AND id IN"
		" (SELECT authz FROM acme_challenges WHERE status = 'processing')");
	acme_wjob_add(j, 0, "UPDATE acme_challenges SET status = 'invalid', validated = %lld, error = %Q"
		" WHERE status = 'processing'", (long long)now, error_json);
}

void acme_db_cert_issue(struct acme_wjob *j, const char *serial, const char *order_id, const uint8_t *der_chain,
	size_t len, const char *pem, int64_t not_before, int64_t not_after, const char *names_json)
{
	acme_wjob_add(j, 1, "UPDATE acme_certificates SET status = 'issued', der_chain = %B, pem = %Q, not_before = %lld,"
		" not_after = %lld, names = %Q WHERE serial = %Q AND status = 'reserved'", der_chain, len, pem,
		(long long)not_before, (long long)not_after, names_json, serial);
	acme_wjob_add(j, 1, "UPDATE acme_orders SET status = 'valid', cert_serial = %Q WHERE id = %Q AND status = 'processing'",
		serial, order_id);
}

void acme_db_cert_replaced(struct acme_wjob *j, const char *old_serial, const char *new_serial)
{
	acme_wjob_add(j, 0, "UPDATE acme_certificates SET replaced_by = %Q WHERE serial = %Q AND replaced_by IS NULL",
		new_serial, old_serial);
}

void acme_db_cert_revoke(struct acme_wjob *j, const char *serial, int reason, int64_t at)
{
	acme_wjob_add(j, 1, "UPDATE acme_certificates SET revoked_reason = %d, revoked_at = %lld WHERE serial = %Q AND"
		" revoked_at IS NULL", reason, (long long)at, serial);
}

void acme_db_cert_times(struct acme_wjob *j, const char *serial, int64_t precert_at, int64_t issued_at)
{
	acme_wjob_add(j, 0, "UPDATE acme_certificates SET precert_at = NULLIF(%lld, 0), issued_at = NULLIF(%lld, 0)"
		" WHERE serial = %Q", (long long)precert_at, (long long)issued_at, serial);
}

void acme_db_attempt_insert(struct acme_wjob *j, const char *chall_id, const char *authz_id, int64_t at,
	const char *target, const char *result, const char *problem_json)
{
	acme_wjob_add(j, 0, "INSERT INTO acme_attempts(chall, authz, time, target, result, problem)"
		" VALUES(%Q, %Q, %lld, %Q, %Q, %Q)", chall_id, authz_id, (long long)at, target, result, problem_json);
}

void acme_db_authz_deactivate(struct acme_wjob *j, const char *id)
{
	acme_wjob_add(j, 0, "UPDATE acme_authzs SET status = 'deactivated' WHERE id = %Q AND status IN ('pending','valid')", id);
}

void acme_db_chall_processing(struct acme_wjob *j, const char *id)
{
	acme_wjob_add(j, 1, "UPDATE acme_challenges SET status = 'processing' WHERE id = %Q AND status = 'pending'", id);
}

void acme_db_chall_valid(struct acme_wjob *j, const char *chall_id, const char *authz_id, int64_t now,
	int64_t authz_expires)
{
	acme_wjob_add(j, 0, "UPDATE acme_challenges SET status = 'valid', validated = %lld WHERE id = %Q AND"
		" status = 'processing'", (long long)now, chall_id);
	acme_wjob_add(j, 0, "UPDATE acme_authzs SET status = 'valid', validated = %lld, expires = %lld WHERE id = %Q"
		" AND status = 'pending'", (long long)now, (long long)authz_expires, authz_id);
}

void acme_db_chall_invalid(struct acme_wjob *j, const char *chall_id, const char *authz_id, int64_t now,
	const char *error_json)
{
	acme_wjob_add(j, 0, "UPDATE acme_challenges SET status = 'invalid', validated = %lld, error = %Q WHERE id = %Q"
		" AND status = 'processing'", (long long)now, error_json, chall_id);
	acme_wjob_add(j, 0, "UPDATE acme_authzs SET status = 'invalid' WHERE id = %Q AND status = 'pending'", authz_id);
}

void acme_db_failed_bucket_add(struct acme_wjob *j, struct acme_svc *s, const struct acme_identifier *id, int delta)
{
	if (s->rl_failed_per_ident <= 0)
		return;
	/* The same token bucket as acme_db_rate_take: refilled to lim over an hour. Done in SQL so
	 * that concurrent charges and refunds of one identifier add up in the writer. */
	long long lim = (long long)s->rl_failed_per_ident, now = (long long)acme_now();
	acme_wjob_add(j, 0, "INSERT INTO acme_rate_buckets(key, tokens, updated) VALUES('failed:%q:%q', MIN(%lld, MAX(0,"
		" %lld + %d)), %lld) ON CONFLICT(key) DO UPDATE SET tokens = MIN(%lld, MAX(0, MIN(%lld, tokens + (%lld -"
		" updated) * %lld / 3600.0) + %d)), updated = %lld", acme_ident_type_name(id->type), id->value, lim, lim,
		delta, now, lim, lim, now, lim, delta, now);
}
