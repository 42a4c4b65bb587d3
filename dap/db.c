/*
 * DESIGN: the DAP service's storage, and the only file of dap/ that speaks
 * SQL (so that the store stays swappable behind these functions).
 *
 * Tables (prefixed dap_):
 *   dap_tasks      one JSON record per (aggregator, task id): the leader's
 *                  and the helper's records of one task are separate rows,
 *                  as if they were two organisations' databases
 *   dap_hpke_keys  the HPKE configs and private keys of each aggregator;
 *                  active ones are announced, inactive ones still decrypt
 *   dap_reports    the leader's uploaded reports: its decrypted input share
 *                  and the helper's still-sealed one, their state (0 waiting,
 *                  1 in a job, 2 aggregated, 3 failed, with the PrepareError);
 *                  the primary key
 *                  (task, report id) is the replay check, so a report is
 *                  stored once however often and concurrently it is sent
 *   dap_kv         small service state (the demo task's record)
 *
 * Reads run on the loop thread on the store's read connection; writes are
 * store jobs on the writer thread (synchronous ones only at start-up and in
 * commands). A job's done runs after the group commit: only then may an
 * upload be acknowledged.
 *
 *   dap_rejections uploads the leader refused before storing them, counted
 *                  per task and reason (the admin API's counts; db_admin.c)
 *   dap_collector_credentials  the collector credential of a task created
 *                  through the admin API, which collects with it
 *
 * Size: past 900 lines on purpose. It holds every SQL statement of the
 * protocol (SQL lives in db.c and, for the admin API's read-only views and
 * rejection counts, db_admin.c), grouped by table; the transactions that
 * span tables (claiming reports into a job, finishing a job, collecting a
 * batch) would be split across files by any cut by table.
 */
#include "dap/dap_internal.h"

#include <sqlite3.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/crypto.h"
#include "core/error.h"
#include "core/log.h"

const struct tb_migration dap_migrations[] = {
	{ 1, "CREATE TABLE dap_tasks (aggregator TEXT NOT NULL, task_id BLOB NOT NULL,"
	     " record TEXT NOT NULL, PRIMARY KEY (aggregator, task_id)) WITHOUT ROWID;"
	     "CREATE TABLE dap_hpke_keys (aggregator TEXT NOT NULL, config_id INTEGER NOT NULL,"
	     " config BLOB NOT NULL, sk BLOB NOT NULL, active INTEGER NOT NULL DEFAULT 1,"
	     " created INTEGER NOT NULL, PRIMARY KEY (aggregator, config_id)) WITHOUT ROWID;"
	     "CREATE TABLE dap_reports (task_id BLOB NOT NULL, report_id BLOB NOT NULL,"
	     " time INTEGER NOT NULL, public_share BLOB NOT NULL, extensions BLOB NOT NULL,"
	     " leader_share BLOB NOT NULL, helper_share BLOB NOT NULL,"
	     " state INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (task_id, report_id)) WITHOUT ROWID;"
	     "CREATE INDEX dap_reports_pending ON dap_reports(task_id, state, time);"
	     "CREATE TABLE dap_kv (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;" },
	{ 2, "ALTER TABLE dap_reports ADD COLUMN job_id BLOB;"
	     "CREATE TABLE dap_batch_aggs (aggregator TEXT NOT NULL, task_id BLOB NOT NULL,"
	     " bucket INTEGER NOT NULL, agg_share BLOB NOT NULL, report_count INTEGER NOT NULL,"
	     " checksum BLOB NOT NULL, query_count INTEGER NOT NULL DEFAULT 0,"
	     " PRIMARY KEY (aggregator, task_id, bucket)) WITHOUT ROWID;"
	     "CREATE TABLE dap_helper_reports (task_id BLOB NOT NULL, report_id BLOB NOT NULL,"
	     " PRIMARY KEY (task_id, report_id)) WITHOUT ROWID;"
	     "CREATE TABLE dap_agg_jobs (aggregator TEXT NOT NULL, task_id BLOB NOT NULL,"
	     " job_id BLOB NOT NULL, request_hash BLOB NOT NULL, response BLOB,"
	     " state INTEGER NOT NULL, PRIMARY KEY (aggregator, task_id, job_id)) WITHOUT ROWID;"
	     "CREATE TABLE dap_collection_jobs (task_id BLOB NOT NULL, job_id BLOB NOT NULL,"
	     " request BLOB NOT NULL, state INTEGER NOT NULL, result BLOB,"
	     " PRIMARY KEY (task_id, job_id)) WITHOUT ROWID;"
	     "CREATE TABLE dap_agg_share_jobs (task_id BLOB NOT NULL, request_hash BLOB NOT NULL,"
	     " response BLOB NOT NULL, PRIMARY KEY (task_id, request_hash)) WITHOUT ROWID;" },
	/* Why a report failed (a PrepareError), for operators and tests. */
	{ 3, "ALTER TABLE dap_reports ADD COLUMN prep_error INTEGER;" },
	/* fixed_size: batch ids numbered as buckets per aggregator and task. */
	{ 4, "ALTER TABLE dap_agg_jobs ADD COLUMN batch_id BLOB;"
	     "ALTER TABLE dap_reports ADD COLUMN batch_bucket INTEGER;"
	     "CREATE TABLE dap_batches (aggregator TEXT NOT NULL, task_id BLOB NOT NULL,"
	     " batch_id BLOB NOT NULL, bucket INTEGER NOT NULL, assigned INTEGER NOT NULL DEFAULT 0,"
	     " PRIMARY KEY (aggregator, task_id, batch_id)) WITHOUT ROWID;"
	     "CREATE UNIQUE INDEX dap_batches_bucket ON dap_batches(aggregator, task_id, bucket);" },
	/* The admin API: uploads refused before anything was stored, counted by reason; the
	 * collector credential of tasks created through the API (a lab convenience). */
	{ 5, "CREATE TABLE dap_rejections (aggregator TEXT NOT NULL, task_id BLOB NOT NULL,"
	     " reason TEXT NOT NULL, count INTEGER NOT NULL,"
	     " PRIMARY KEY (aggregator, task_id, reason)) WITHOUT ROWID;"
	     "CREATE TABLE dap_collector_credentials (task_id BLOB PRIMARY KEY,"
	     " credential TEXT NOT NULL) WITHOUT ROWID;" },
	/* The helper's aggregation jobs step by step (DAP-09 4.5.2): the last step processed
	 * and the request and answer of the last continue, for retries. */
	{ 6, "ALTER TABLE dap_agg_jobs ADD COLUMN step INTEGER NOT NULL DEFAULT 0;"
	     "ALTER TABLE dap_agg_jobs ADD COLUMN last_request_hash BLOB;"
	     "ALTER TABLE dap_agg_jobs ADD COLUMN last_response BLOB;" },
	{ 0, NULL },
};

/* ---- statements ------------------------------------------------------------ */

/*
 * Prepares sql and binds its parameters in order, one letter of binds each:
 * 't' a text (const char *), 'b' a blob (const void *, then an int length),
 * 'i' an int, 'I' an sqlite3_int64. A NULL text or blob binds NULL. NULL
 * when sql does not prepare.
 */
static sqlite3_stmt *vstmt(sqlite3 *db, const char *sql, const char *binds, va_list ap)
{
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
		sqlite3_finalize(s);
		return NULL;
	}
	for (int i = 1; *binds; binds++, i++) {
		if (*binds == 't') {
			sqlite3_bind_text(s, i, va_arg(ap, const char *), -1, SQLITE_STATIC);
		} else if (*binds == 'b') {
			const void *p = va_arg(ap, const void *);
			sqlite3_bind_blob(s, i, p, va_arg(ap, int), SQLITE_STATIC);
		} else if (*binds == 'i') {
			sqlite3_bind_int(s, i, va_arg(ap, int));
		} else {
			sqlite3_bind_int64(s, i, va_arg(ap, sqlite3_int64));
		}
	}
	return s;
}

static sqlite3_stmt *stmt(sqlite3 *db, const char *sql, const char *binds, ...)
{
	va_list ap;
	va_start(ap, binds);
	sqlite3_stmt *s = vstmt(db, sql, binds, ap);
	va_end(ap);
	return s;
}

/* Runs a statement that returns no rows: 0, or TB_ERR_STORE. */
static int exec_sql(sqlite3 *db, const char *sql, const char *binds, ...)
{
	va_list ap;
	va_start(ap, binds);
	sqlite3_stmt *s = vstmt(db, sql, binds, ap);
	va_end(ap);
	if (!s)
		return TB_ERR_STORE;
	int rc = sqlite3_step(s);
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : TB_ERR_STORE;
}

/*
 * Appends the first column of the row statement s selects to out, and
 * finalizes s: TB_ERR_NOT_FOUND without a row, TB_ERR_STORE without s.
 */
static int get_blob(sqlite3_stmt *s, struct tb_bytes *out)
{
	if (!s)
		return TB_ERR_STORE;
	int rc = sqlite3_step(s), err;
	if (rc == SQLITE_ROW)
		err = tb_bytes_append(out, sqlite3_column_blob(s, 0), (size_t)sqlite3_column_bytes(s, 0));
	else
		err = rc == SQLITE_DONE ? TB_ERR_NOT_FOUND : TB_ERR_STORE;
	sqlite3_finalize(s);
	return err;
}

/*
 * Of a lookup's step rc: copies column i to dst when there is a row and the
 * column is an id of exactly n bytes; TB_ERR_NOT_FOUND if not, TB_ERR_STORE
 * when the step failed.
 */
static int row_id(sqlite3_stmt *s, int rc, int i, uint8_t *dst, int n)
{
	if (rc == SQLITE_ROW && sqlite3_column_bytes(s, i) == n) {
		memcpy(dst, sqlite3_column_blob(s, i), (size_t)n);
		return 0;
	}
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? TB_ERR_NOT_FOUND : TB_ERR_STORE;
}

/* ---- HPKE keys ------------------------------------------------------------ */

struct key_row {
	const char *agg;
	uint8_t config_id;
	struct tb_bytes config;
	struct tb_buf sk;
	int64_t created;
};

static int put_key_job(sqlite3 *db, void *arg)
{
	struct key_row *k = arg;
	return exec_sql(db, "INSERT INTO dap_hpke_keys (aggregator, config_id, config, sk, active,"
			" created) VALUES (?, ?, ?, ?, 1, ?)", "tibbI", k->agg, (int)k->config_id,
			(const void *)k->config.p, (int)k->config.len, (const void *)k->sk.p,
			(int)k->sk.len, (sqlite3_int64)k->created);
}

/* Rebuilds the announced HpkeConfigList from the active keys. */
static int build_config_list(struct dap_aggregator *agg)
{
	struct dap_hpke_config cs[DAP_MAX_HPKE_KEYS];
	size_t n = 0;
	for (size_t i = 0; i < agg->n_keys; i++)
		if (agg->keys[i].active)
			cs[n++] = agg->keys[i].config;
	tb_bytes_free(&agg->config_list);
	return n ? dap_hpke_config_list_encode(cs, n, &agg->config_list) : TB_ERR_STATE;
}

static int load_keys(struct dap_aggregator *agg)
{
	sqlite3 *db = tb_store_reader(agg->svc->core->store);
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(db, "SELECT config, sk, active FROM dap_hpke_keys WHERE aggregator=?"
				    " ORDER BY active DESC, created DESC, config_id", -1, &s, NULL);
	if (rc != SQLITE_OK)
		return TB_ERR_STORE;
	sqlite3_bind_text(s, 1, agg->name, -1, SQLITE_STATIC);
	int err = 0;
	agg->n_keys = 0;
	while (!err && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (agg->n_keys == DAP_MAX_HPKE_KEYS)
			break; /* the active and newest are kept; more than this is not rotation any more */
		struct dap_hpke_key *k = &agg->keys[agg->n_keys];
		struct dap_hpke_config c;
		struct tb_buf cfg = TB_BUF(sqlite3_column_blob(s, 0), (size_t)sqlite3_column_bytes(s, 0));
		struct tb_buf sk = TB_BUF(sqlite3_column_blob(s, 1), (size_t)sqlite3_column_bytes(s, 1));
		memset(k, 0, sizeof(*k));
		if (dap_hpke_config_decode(cfg, &c) || c.public_key.len > sizeof k->pk ||
		    dap_hpke_keypair_from_sk(c.kem_id, sk, &k->kp)) {
			TB_WARN("dap", "%s: skipping an unreadable HPKE key", agg->name);
			continue;
		}
		memcpy(k->pk, c.public_key.p, c.public_key.len);
		k->config = c;
		k->config.public_key = TB_BUF(k->pk, c.public_key.len);
		k->active = sqlite3_column_int(s, 2) != 0;
		agg->n_keys++;
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return TB_ERR_STORE;
	return 0;
}

/* A rotation: the new key is the only active one; the others still decrypt. */
static int rotate_job(sqlite3 *db, void *arg)
{
	struct key_row *k = arg;
	int rc = exec_sql(db, "UPDATE dap_hpke_keys SET active=0 WHERE aggregator=?", "t", k->agg);
	return rc ? rc : put_key_job(db, arg);
}

/*
 * A new X25519 / HKDF-SHA256 / AES-128-GCM key with an unused random id,
 * written synchronously (start-up and commands only); rotate makes it the
 * only announced one. *id_out gets its config id.
 */
static int new_key(struct dap_aggregator *agg, int rotate, uint8_t *id_out)
{
	struct dap_hpke_keypair kp;
	struct key_row row = { .agg = agg->name, .created = tb_time_now() };
	uint8_t id;
	int rc;
	if (agg->n_keys >= 255)
		return TB_ERR_TOO_LARGE;
	do {
		if ((rc = tb_random(&id, 1)))
			return rc;
	} while (dap_find_key(agg, id));
	if ((rc = dap_hpke_keygen(DAP_HPKE_KEM_X25519_SHA256, &kp)))
		return rc;
	struct dap_hpke_config c = { id, DAP_HPKE_KEM_X25519_SHA256, DAP_HPKE_KDF_SHA256,
				     DAP_HPKE_AEAD_AES128GCM, TB_BUF(kp.pk, kp.pk_len) };
	row.config_id = id;
	row.sk = TB_BUF(kp.sk, kp.sk_len);
	rc = dap_hpke_config_encode(&c, &row.config);
	if (!rc)
		rc = tb_store_write_sync(agg->svc->core->store, rotate ? rotate_job : put_key_job, &row);
	tb_bytes_free(&row.config);
	tb_crypto_wipe(&kp, sizeof kp);
	if (!rc && id_out)
		*id_out = id;
	return rc;
}

int dap_db_load_keys(struct dap_aggregator *agg)
{
	int rc = load_keys(agg);
	if (rc)
		return rc;
	int active = 0;
	for (size_t i = 0; i < agg->n_keys; i++)
		active |= agg->keys[i].active;
	if (!active) {
		/* First start (or every key retired): one new key. */
		uint8_t id;
		if ((rc = new_key(agg, 0, &id)) || (rc = load_keys(agg)))
			return rc;
		TB_INFO("dap", "%s: new HPKE config %u (X25519, HKDF-SHA256, AES-128-GCM)", agg->name, id);
	}
	return build_config_list(agg);
}

int dap_db_reload_keys(struct dap_aggregator *agg)
{
	int rc = load_keys(agg);
	return rc ? rc : build_config_list(agg);
}

int dap_db_rotate_key(struct dap_aggregator *agg, uint8_t *id)
{
	int rc = load_keys(agg);
	return rc ? rc : new_key(agg, 1, id);
}

static int retire_job(sqlite3 *db, void *arg)
{
	struct key_row *k = arg;
	int rc = exec_sql(db, "DELETE FROM dap_hpke_keys WHERE aggregator=? AND config_id=? AND active=0",
			  "ti", k->agg, (int)k->config_id);
	if (rc)
		return rc;
	return sqlite3_changes(db) ? 0 : TB_ERR_NOT_FOUND;
}

int dap_db_retire_key(struct dap_aggregator *agg, uint8_t id)
{
	struct key_row row = { .agg = agg->name, .config_id = id };
	return tb_store_write_sync(agg->svc->core->store, retire_job, &row);
}

/* ---- tasks ---------------------------------------------------------------- */

struct task_row {
	const char *agg;
	uint8_t id[DAP_TASK_ID_LEN];
	char *record;
};

static int put_task_job(sqlite3 *db, void *arg)
{
	struct task_row *t = arg;
	return exec_sql(db, "INSERT OR REPLACE INTO dap_tasks (aggregator, task_id, record)"
			" VALUES (?, ?, ?)", "tbt", t->agg, (const void *)t->id, DAP_TASK_ID_LEN,
			t->record);
}

int dap_db_put_task_sync(struct tb_store *st, const char *agg, const struct dap_task *t)
{
	struct task_row row = { .agg = agg };
	memcpy(row.id, t->id, DAP_TASK_ID_LEN);
	cJSON *j = dap_task_to_json(t);
	row.record = j ? cJSON_PrintUnformatted(j) : NULL;
	cJSON_Delete(j);
	if (!row.record)
		return TB_ERR_NOMEM;
	int rc = tb_store_write_sync(st, put_task_job, &row);
	free(row.record);
	return rc;
}

int dap_db_get_task(struct tb_store *st, const char *agg, const uint8_t id[DAP_TASK_ID_LEN],
		    struct dap_task *t)
{
	sqlite3_stmt *s = stmt(tb_store_reader(st), "SELECT record FROM dap_tasks WHERE aggregator=?"
			       " AND task_id=?", "tb", agg, (const void *)id, DAP_TASK_ID_LEN);
	if (!s)
		return TB_ERR_STORE;
	int rc = sqlite3_step(s), err;
	if (rc == SQLITE_ROW) {
		cJSON *j = cJSON_Parse((const char *)sqlite3_column_text(s, 0));
		char msg[256];
		err = dap_task_from_json(j, t, msg, sizeof msg);
		if (err)
			TB_WARN("dap", "%s: unreadable task record: %s", agg, msg);
		cJSON_Delete(j);
		if (!err && memcmp(t->id, id, DAP_TASK_ID_LEN) != 0)
			err = TB_ERR_STORE;
	} else {
		err = rc == SQLITE_DONE ? TB_ERR_NOT_FOUND : TB_ERR_STORE;
	}
	sqlite3_finalize(s);
	return err;
}

/* ---- kv ------------------------------------------------------------------- */

struct kv_row {
	const char *key;
	struct tb_buf val;
};

static int kv_put_job(sqlite3 *db, void *arg)
{
	struct kv_row *k = arg;
	return exec_sql(db, "INSERT OR REPLACE INTO dap_kv (key, value) VALUES (?, ?)", "tb", k->key,
			(const void *)k->val.p, (int)k->val.len);
}

int dap_db_kv_put_sync(struct tb_store *st, const char *key, struct tb_buf val)
{
	struct kv_row k = { key, val };
	return tb_store_write_sync(st, kv_put_job, &k);
}

int dap_db_kv_get(struct tb_store *st, const char *key, struct tb_bytes *out)
{
	return get_blob(stmt(tb_store_reader(st), "SELECT value FROM dap_kv WHERE key=?", "t", key), out);
}

/* ---- reports -------------------------------------------------------------- */

struct report_job {
	struct dap_stored_report *r;
	void (*done)(int status, void *arg);
	void *arg;
	int result;
};

void dap_stored_report_free(struct dap_stored_report *r)
{
	if (!r)
		return;
	tb_bytes_free(&r->public_share);
	tb_bytes_free(&r->extensions);
	tb_crypto_wipe(r->leader_share.p, r->leader_share.len);
	tb_bytes_free(&r->leader_share);
	tb_bytes_free(&r->helper_share);
	free(r);
}

static int blob(sqlite3_stmt *s, int i, const struct tb_bytes *b)
{
	/* An empty blob must still be a blob, not NULL (the columns are NOT NULL). */
	return sqlite3_bind_blob(s, i, b->p ? (const void *)b->p : "", (int)b->len, SQLITE_STATIC);
}

static int insert_report_job(sqlite3 *db, void *arg)
{
	struct report_job *j = arg;
	struct dap_stored_report *r = j->r;
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(db, "INSERT INTO dap_reports (task_id, report_id, time, public_share,"
				    " extensions, leader_share, helper_share) VALUES (?, ?, ?, ?, ?, ?, ?)",
				    -1, &s, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_blob(s, 1, r->task_id, DAP_TASK_ID_LEN, SQLITE_STATIC);
		sqlite3_bind_blob(s, 2, r->md.id, DAP_REPORT_ID_LEN, SQLITE_STATIC);
		sqlite3_bind_int64(s, 3, (sqlite3_int64)r->md.time);
		blob(s, 4, &r->public_share);
		blob(s, 5, &r->extensions);
		blob(s, 6, &r->leader_share);
		blob(s, 7, &r->helper_share);
		rc = sqlite3_step(s);
	}
	sqlite3_finalize(s);
	/* A replay is an answer, not a failure of the group. */
	j->result = rc == SQLITE_DONE ? 0 : (rc & 0xff) == SQLITE_CONSTRAINT ? TB_ERR_EXISTS : TB_ERR_STORE;
	return j->result == TB_ERR_STORE ? TB_ERR_STORE : 0;
}

static void insert_report_done(int status, void *arg)
{
	struct report_job *j = arg;
	int result = status ? status : j->result;
	j->done(result, j->arg);
	dap_stored_report_free(j->r);
	free(j);
}

int dap_db_insert_report(struct tb_store *st, struct dap_stored_report *r,
			 void (*done)(int status, void *arg), void *arg)
{
	struct report_job *j = calloc(1, sizeof *j);
	if (!j)
		return TB_ERR_NOMEM;
	j->r = r;
	j->done = done;
	j->arg = arg;
	int rc = tb_store_write(st, insert_report_job, insert_report_done, j);
	if (rc)
		free(j); /* the caller still owns r */
	return rc;
}

/* ---- batch aggregations --------------------------------------------------- */

/*
 * The bucket number of a fixed_size batch id on an aggregator (numbered 1,
 * 2, ... per task in the order the batches appear); create makes one.
 */
static int batch_bucket(sqlite3 *db, const char *agg, const uint8_t *task_id, const uint8_t *batch_id,
			int create, uint64_t *bucket)
{
	sqlite3_stmt *s = stmt(db, "SELECT bucket FROM dap_batches WHERE aggregator=? AND task_id=? AND"
			       " batch_id=?", "tbb", agg, (const void *)task_id, DAP_TASK_ID_LEN,
			       (const void *)batch_id, DAP_BATCH_ID_LEN);
	if (!s)
		return TB_ERR_STORE;
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*bucket = (uint64_t)sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc != SQLITE_DONE)
		return TB_ERR_STORE;
	if (!create)
		return TB_ERR_NOT_FOUND;
	s = stmt(db, "INSERT INTO dap_batches (aggregator, task_id, batch_id, bucket)"
		 " SELECT ?1, ?2, ?3, ifnull(max(bucket), 0) + 1 FROM dap_batches WHERE"
		 " aggregator=?1 AND task_id=?2 RETURNING bucket", "tbb", agg, (const void *)task_id,
		 DAP_TASK_ID_LEN, (const void *)batch_id, DAP_BATCH_ID_LEN);
	if (!s)
		return TB_ERR_STORE;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*bucket = (uint64_t)sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 0 : TB_ERR_STORE;
}

int dap_db_batch_bucket(struct tb_store *st, const char *agg, const uint8_t *task_id,
			const uint8_t *batch_id, uint64_t *bucket)
{
	return batch_bucket(tb_store_reader(st), agg, task_id, batch_id, 0, bucket);
}

/*
 * The leader's batch to fill: the newest one with room (below max, when
 * there is a max) that was not collected; TB_ERR_NOT_FOUND when a new one is
 * needed.
 */
int dap_db_open_batch(struct tb_store *st, const uint8_t *task_id, uint64_t max,
		      uint8_t batch_id[DAP_BATCH_ID_LEN], uint64_t *assigned)
{
	sqlite3_stmt *s = stmt(tb_store_reader(st),
			       "SELECT b.batch_id, b.assigned FROM dap_batches b WHERE b.aggregator='leader'"
			       " AND b.task_id=?1 AND (?2 = 0 OR b.assigned < ?2) AND NOT EXISTS"
			       " (SELECT 1 FROM dap_batch_aggs a WHERE a.aggregator='leader' AND"
			       " a.task_id=?1 AND a.bucket=b.bucket AND a.query_count>0)"
			       " ORDER BY b.bucket DESC LIMIT 1", "bI", (const void *)task_id,
			       DAP_TASK_ID_LEN, (sqlite3_int64)max);
	if (!s)
		return TB_ERR_STORE;
	int err = row_id(s, sqlite3_step(s), 0, batch_id, DAP_BATCH_ID_LEN);
	if (!err)
		*assigned = (uint64_t)sqlite3_column_int64(s, 1);
	sqlite3_finalize(s);
	return err;
}

/*
 * The leader's oldest batch ready for a current_batch query: aggregated
 * reports >= min, never collected, and not the batch of the job in flight.
 */
int dap_db_current_batch(struct tb_store *st, const uint8_t *task_id, uint64_t min,
			 const uint8_t *busy, uint8_t batch_id[DAP_BATCH_ID_LEN])
{
	sqlite3_stmt *s = stmt(tb_store_reader(st),
			       "SELECT b.batch_id FROM dap_batches b JOIN dap_batch_aggs a ON"
			       " a.aggregator='leader' AND a.task_id=b.task_id AND a.bucket=b.bucket"
			       " WHERE b.aggregator='leader' AND b.task_id=?1 AND a.query_count=0 AND"
			       " a.report_count>=?2 AND (?3 IS NULL OR b.batch_id<>?3) ORDER BY b.bucket LIMIT 1",
			       "bIb", (const void *)task_id, DAP_TASK_ID_LEN, (sqlite3_int64)min,
			       (const void *)busy, DAP_BATCH_ID_LEN);
	if (!s)
		return TB_ERR_STORE;
	int err = row_id(s, sqlite3_step(s), 0, batch_id, DAP_BATCH_ID_LEN);
	sqlite3_finalize(s);
	return err;
}

/* Earliest and latest time of the leader's aggregated reports of a fixed_size bucket. */
int dap_db_batch_times(struct tb_store *st, const uint8_t *task_id, uint64_t bucket, uint64_t *first,
		       uint64_t *last)
{
	sqlite3_stmt *s = stmt(tb_store_reader(st), "SELECT min(time), max(time) FROM dap_reports WHERE"
			       " task_id=? AND state=2 AND batch_bucket=?", "bI", (const void *)task_id,
			       DAP_TASK_ID_LEN, (sqlite3_int64)bucket);
	if (!s)
		return TB_ERR_STORE;
	int rc = sqlite3_step(s);
	*first = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(s, 0) : 0;
	*last = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(s, 1) : 0;
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 0 : TB_ERR_STORE;
}

/*
 * Inside a write job: adds the out shares of items to their batch buckets of
 * (agg, task), one read and one write per bucket. A report in a bucket that
 * was collected already gets batch_collected; on the helper (replay_check)
 * a report id seen in an earlier job gets report_replayed, and a report that
 * would take a fixed_size batch past max_batch_size gets batch_saturated
 * (its id is forgotten again, so that the leader may send it in another
 * batch). The helper's count is the bucket's aggregated reports: its jobs
 * finish in the commit that adds them (Prio3 takes one round), so it has no
 * reports in flight to count besides. items[i].result is set for every item
 * that had an out share.
 */
static int aggregate_items(sqlite3 *db, const char *agg, const struct dap_task *t,
			   struct dap_out_item *items, size_t n, int replay_check)
{
	const struct dap_vdaf *v = &t->vdaf;
	sqlite3_stmt *ins = NULL, *get = NULL, *put = NULL, *forget = NULL;
	uint8_t *share = malloc(v->agg_share_size ? v->agg_share_size : 1);
	int err = share ? 0 : TB_ERR_NOMEM;
	uint64_t max = replay_check && t->query_type == DAP_QUERY_FIXED_SIZE ? t->max_batch_size : 0;
	if (!err && (sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO dap_helper_reports (task_id, report_id)"
					" VALUES (?, ?)", -1, &ins, NULL) != SQLITE_OK ||
		     sqlite3_prepare_v2(db, "DELETE FROM dap_helper_reports WHERE task_id=? AND report_id=?",
					-1, &forget, NULL) != SQLITE_OK ||
		     sqlite3_prepare_v2(db, "SELECT agg_share, report_count, checksum, query_count FROM"
					" dap_batch_aggs WHERE aggregator=? AND task_id=? AND bucket=?",
					-1, &get, NULL) != SQLITE_OK ||
		     sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO dap_batch_aggs (aggregator, task_id,"
					" bucket, agg_share, report_count, checksum, query_count)"
					" VALUES (?, ?, ?, ?, ?, ?, 0)", -1, &put, NULL) != SQLITE_OK))
		err = TB_ERR_STORE;
	for (size_t i = 0; !err && i < n; i++) {
		items[i].done = 0;
		if (!items[i].out_share)
			continue;
		items[i].result = -1;
		if (replay_check) {
			sqlite3_reset(ins);
			sqlite3_bind_blob(ins, 1, t->id, DAP_TASK_ID_LEN, SQLITE_STATIC);
			sqlite3_bind_blob(ins, 2, items[i].report_id, DAP_REPORT_ID_LEN, SQLITE_STATIC);
			if (sqlite3_step(ins) != SQLITE_DONE)
				err = TB_ERR_STORE;
			else if (sqlite3_changes(db) == 0)
				items[i].result = DAP_PREP_ERR_REPORT_REPLAYED;
		}
	}
	/* Bucket by bucket: every item of the first unhandled bucket, then the next. */
	for (size_t i = 0; !err && i < n; i++) {
		if (!items[i].out_share || items[i].result >= 0 || items[i].done)
			continue;
		uint64_t bucket = items[i].bucket, count = 0, queried = 0;
		uint8_t checksum[DAP_CHECKSUM_LEN] = { 0 };
		dap_prio3_agg_init(v, share);
		sqlite3_reset(get);
		sqlite3_bind_text(get, 1, agg, -1, SQLITE_STATIC);
		sqlite3_bind_blob(get, 2, t->id, DAP_TASK_ID_LEN, SQLITE_STATIC);
		sqlite3_bind_int64(get, 3, (sqlite3_int64)bucket);
		int rc = sqlite3_step(get);
		if (rc == SQLITE_ROW) {
			if ((size_t)sqlite3_column_bytes(get, 0) != v->agg_share_size ||
			    sqlite3_column_bytes(get, 2) != DAP_CHECKSUM_LEN) {
				err = TB_ERR_STORE;
				break;
			}
			memcpy(share, sqlite3_column_blob(get, 0), v->agg_share_size);
			count = (uint64_t)sqlite3_column_int64(get, 1);
			memcpy(checksum, sqlite3_column_blob(get, 2), DAP_CHECKSUM_LEN);
			queried = (uint64_t)sqlite3_column_int64(get, 3);
		} else if (rc != SQLITE_DONE) {
			err = TB_ERR_STORE;
			break;
		}
		int changed = 0;
		for (size_t k = i; k < n; k++) {
			if (!items[k].out_share || items[k].result >= 0 || items[k].done ||
			    items[k].bucket != bucket)
				continue;
			items[k].done = 1;
			if (queried) {
				items[k].result = DAP_PREP_ERR_BATCH_COLLECTED;
				continue;
			}
			if (max && count >= max) {
				items[k].result = DAP_PREP_ERR_BATCH_SATURATED;
				sqlite3_reset(forget);
				sqlite3_bind_blob(forget, 1, t->id, DAP_TASK_ID_LEN, SQLITE_STATIC);
				sqlite3_bind_blob(forget, 2, items[k].report_id, DAP_REPORT_ID_LEN, SQLITE_STATIC);
				if (sqlite3_step(forget) != SQLITE_DONE) {
					err = TB_ERR_STORE;
					break;
				}
				continue;
			}
			if (dap_prio3_agg_update(v, share, TB_BUF(items[k].out_share, v->out_share_size))) {
				items[k].result = DAP_PREP_ERR_VDAF_PREP_ERROR;
				continue;
			}
			dap_checksum_add(checksum, items[k].report_id);
			count++;
			changed = 1;
		}
		if (err || !changed)
			continue;
		sqlite3_reset(put);
		sqlite3_bind_text(put, 1, agg, -1, SQLITE_STATIC);
		sqlite3_bind_blob(put, 2, t->id, DAP_TASK_ID_LEN, SQLITE_STATIC);
		sqlite3_bind_int64(put, 3, (sqlite3_int64)bucket);
		sqlite3_bind_blob(put, 4, share, (int)v->agg_share_size, SQLITE_STATIC);
		sqlite3_bind_int64(put, 5, (sqlite3_int64)count);
		sqlite3_bind_blob(put, 6, checksum, DAP_CHECKSUM_LEN, SQLITE_STATIC);
		if (sqlite3_step(put) != SQLITE_DONE)
			err = TB_ERR_STORE;
	}
	sqlite3_finalize(ins);
	sqlite3_finalize(forget);
	sqlite3_finalize(get);
	sqlite3_finalize(put);
	free(share);
	return err;
}

void dap_checksum_add(uint8_t checksum[DAP_CHECKSUM_LEN], const uint8_t report_id[DAP_REPORT_ID_LEN])
{
	uint8_t h[TB_SHA256_LEN];
	tb_sha256(TB_BUF(report_id, DAP_REPORT_ID_LEN), h);
	for (size_t i = 0; i < DAP_CHECKSUM_LEN; i++)
		checksum[i] ^= h[i];
}

int dap_db_batch_read(struct tb_store *st, const char *agg, const struct dap_task *t,
		      uint64_t start, uint64_t end, struct dap_batch_sum *out)
{
	const struct dap_vdaf *v = &t->vdaf;
	sqlite3 *db = tb_store_reader(st);
	sqlite3_stmt *s = NULL;
	memset(out, 0, sizeof(*out));
	if (!(out->agg_share = malloc(v->agg_share_size ? v->agg_share_size : 1)))
		return TB_ERR_NOMEM;
	dap_prio3_agg_init(v, out->agg_share);
	out->first = UINT64_MAX;
	if (!(s = stmt(db, "SELECT bucket, agg_share, report_count, checksum, query_count FROM"
		       " dap_batch_aggs WHERE aggregator=? AND task_id=? AND bucket>=? AND bucket<?",
		       "tbII", agg, (const void *)t->id, DAP_TASK_ID_LEN, (sqlite3_int64)start,
		       (sqlite3_int64)end)))
		return TB_ERR_STORE;
	int rc, err = 0;
	while (!err && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		uint64_t bucket = (uint64_t)sqlite3_column_int64(s, 0);
		if ((size_t)sqlite3_column_bytes(s, 1) != v->agg_share_size ||
		    sqlite3_column_bytes(s, 3) != DAP_CHECKSUM_LEN ||
		    dap_prio3_agg_merge(v, out->agg_share,
					TB_BUF(sqlite3_column_blob(s, 1), v->agg_share_size))) {
			err = TB_ERR_STORE;
			break;
		}
		uint64_t c = (uint64_t)sqlite3_column_int64(s, 2), q = (uint64_t)sqlite3_column_int64(s, 4);
		const uint8_t *cs = sqlite3_column_blob(s, 3);
		for (size_t i = 0; i < DAP_CHECKSUM_LEN; i++)
			out->checksum[i] ^= cs[i];
		out->report_count += c;
		if (q > out->max_query_count)
			out->max_query_count = q;
		if (c && bucket < out->first)
			out->first = bucket;
		if (c && bucket > out->last)
			out->last = bucket;
	}
	if (!err && rc != SQLITE_DONE)
		err = TB_ERR_STORE;
	sqlite3_finalize(s);
	return err;
}

void dap_batch_sum_free(struct dap_batch_sum *b)
{
	free(b->agg_share);
	b->agg_share = NULL;
}

/* Inside a write job: one more query of every bucket in [start, end). */
static int count_query(sqlite3 *db, const char *agg, const uint8_t *task_id, uint64_t start, uint64_t end)
{
	return exec_sql(db, "UPDATE dap_batch_aggs SET query_count = query_count + 1 WHERE"
			" aggregator=? AND task_id=? AND bucket>=? AND bucket<?", "tbII", agg,
			(const void *)task_id, DAP_TASK_ID_LEN, (sqlite3_int64)start, (sqlite3_int64)end);
}

/* ---- jobs of the aggregation and collection flows --------------------------- */

struct flow_job {
	struct dap_flow *f;
	void (*done)(int status, struct dap_flow *f);
	int (*run)(sqlite3 *db, struct dap_flow *f);
};

static int flow_run(sqlite3 *db, void *arg)
{
	struct flow_job *j = arg;
	return j->run(db, j->f);
}

static void flow_done(int status, void *arg)
{
	struct flow_job *j = arg;
	j->done(status, j->f);
	free(j);
}

static int queue(struct tb_store *st, struct dap_flow *f, int (*run)(sqlite3 *, struct dap_flow *),
		 void (*done)(int, struct dap_flow *))
{
	struct flow_job *j = calloc(1, sizeof *j);
	if (!j)
		return TB_ERR_NOMEM;
	j->f = f;
	j->run = run;
	j->done = done;
	int rc = tb_store_write(st, flow_run, flow_done, j);
	if (rc)
		free(j);
	return rc;
}

static int get_job(sqlite3 *db, const char *agg, const struct dap_flow *f, struct tb_bytes *hash,
		   struct tb_bytes *response, int *state)
{
	sqlite3_stmt *s = stmt(db, "SELECT request_hash, response, state FROM dap_agg_jobs WHERE"
			       " aggregator=? AND task_id=? AND job_id=?", "tbb", agg,
			       (const void *)f->task.id, DAP_TASK_ID_LEN, (const void *)f->job_id,
			       DAP_AGG_JOB_ID_LEN);
	if (!s)
		return TB_ERR_STORE;
	int rc = sqlite3_step(s), err = 0;
	if (rc == SQLITE_ROW) {
		if (hash)
			tb_bytes_append(hash, sqlite3_column_blob(s, 0), (size_t)sqlite3_column_bytes(s, 0));
		if (response)
			tb_bytes_append(response, sqlite3_column_blob(s, 1), (size_t)sqlite3_column_bytes(s, 1));
		if (state)
			*state = sqlite3_column_int(s, 2);
	} else {
		err = rc == SQLITE_DONE ? TB_ERR_NOT_FOUND : TB_ERR_STORE;
	}
	sqlite3_finalize(s);
	return err;
}

int dap_db_get_agg_job(struct tb_store *st, const char *agg, const struct dap_flow *f,
		       struct tb_bytes *hash, struct tb_bytes *response, int *state)
{
	return get_job(tb_store_reader(st), agg, f, hash, response, state);
}

static int put_job(sqlite3 *db, const char *agg, const struct dap_flow *f, struct tb_buf response,
		   int state)
{
	/* An empty response is still a blob; a job of a time_interval task has no batch id. */
	return exec_sql(db, "INSERT OR REPLACE INTO dap_agg_jobs (aggregator, task_id, job_id,"
			" request_hash, response, state, batch_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
			"tbbbbib", agg, (const void *)f->task.id, DAP_TASK_ID_LEN,
			(const void *)f->job_id, DAP_AGG_JOB_ID_LEN, (const void *)f->request_hash,
			TB_SHA256_LEN, response.p ? (const void *)response.p : "", (int)response.len,
			state, f->fixed ? (const void *)f->batch_id : NULL, DAP_BATCH_ID_LEN);
}

/*
 * The helper's commit of an aggregation job: a job already stored under the
 * id answers with its stored response when the request is the same
 * (f->conflict otherwise); else the out shares are aggregated, the
 * response is built from the items' results and stored with the job.
 */
static int helper_commit_run(sqlite3 *db, struct dap_flow *f)
{
	struct tb_bytes hash = { 0 };
	int rc = get_job(db, "helper", f, &hash, &f->response, NULL);
	if (rc == 0) {
		f->conflict = hash.len != TB_SHA256_LEN || memcmp(hash.p, f->request_hash, TB_SHA256_LEN);
		tb_bytes_free(&hash);
		return 0;
	}
	tb_bytes_free(&hash);
	if (rc != TB_ERR_NOT_FOUND)
		return rc;
	if (f->fixed) {
		uint64_t bucket;
		if ((rc = batch_bucket(db, "helper", f->task.id, f->batch_id, 1, &bucket)))
			return rc;
		for (size_t i = 0; i < f->n_items; i++)
			f->items[i].bucket = bucket;
	}
	if ((rc = aggregate_items(db, "helper", &f->task, f->items, f->n_items, 1)))
		return rc;
	size_t mark;
	tb_bytes_free(&f->response);
	if ((rc = dap_agg_job_resp_begin(&f->response, &mark)))
		return rc;
	for (size_t i = 0; i < f->n_items && !rc; i++) {
		struct dap_out_item *it = &f->items[i];
		struct dap_prepare_resp pr = { .state = DAP_PREP_CONTINUE };
		memcpy(pr.report_id, it->report_id, DAP_REPORT_ID_LEN);
		if (it->result >= 0) {
			pr.state = DAP_PREP_REJECT;
			pr.error = (uint8_t)it->result;
		} else {
			pr.payload = tb_bytes_buf(&it->outbound);
		}
		rc = dap_prepare_resp_encode(&pr, &f->response);
	}
	if (!rc)
		rc = dap_msg_list_end(&f->response, mark);
	return rc ? rc : put_job(db, "helper", f, tb_bytes_buf(&f->response), 2);
}

int dap_db_helper_commit(struct tb_store *st, struct dap_flow *f, void (*done)(int, struct dap_flow *))
{
	return queue(st, f, helper_commit_run, done);
}

/* The leader claims pending reports for a job (state 0 -> 1 with the job id). */
static int leader_begin_run(sqlite3 *db, struct dap_flow *f)
{
	int rc = put_job(db, "leader", f, TB_BUF(NULL, 0), 1);
	sqlite3_stmt *s = NULL;
	if (!rc && f->fixed) {
		/* The job's reports fill its batch: counted now, so the next job sees the room left. */
		uint64_t bucket;
		rc = batch_bucket(db, "leader", f->task.id, f->batch_id, 1, &bucket);
		if (!rc)
			rc = exec_sql(db, "UPDATE dap_batches SET assigned = assigned + ? WHERE"
				      " aggregator='leader' AND task_id=? AND batch_id=?", "Ibb",
				      (sqlite3_int64)f->n_items, (const void *)f->task.id,
				      DAP_TASK_ID_LEN, (const void *)f->batch_id, DAP_BATCH_ID_LEN);
	}
	if (!rc && sqlite3_prepare_v2(db, "UPDATE dap_reports SET state=1, job_id=? WHERE task_id=? AND"
				      " report_id=? AND state=0", -1, &s, NULL) != SQLITE_OK)
		rc = TB_ERR_STORE;
	for (size_t i = 0; !rc && i < f->n_items; i++) {
		sqlite3_reset(s);
		sqlite3_bind_blob(s, 1, f->job_id, DAP_AGG_JOB_ID_LEN, SQLITE_STATIC);
		sqlite3_bind_blob(s, 2, f->task.id, DAP_TASK_ID_LEN, SQLITE_STATIC);
		sqlite3_bind_blob(s, 3, f->items[i].report_id, DAP_REPORT_ID_LEN, SQLITE_STATIC);
		if (sqlite3_step(s) != SQLITE_DONE)
			rc = TB_ERR_STORE;
	}
	sqlite3_finalize(s);
	return rc;
}

int dap_db_leader_begin(struct tb_store *st, struct dap_flow *f, void (*done)(int, struct dap_flow *))
{
	return queue(st, f, leader_begin_run, done);
}

/*
 * The helper found the job's batch full (batch_saturated) while the leader
 * still counts room in it (its count and the helper's differ after a
 * helper's restore, or another leader's jobs): no more jobs go to it, the
 * next job opens a new batch.
 */
static int batch_full(sqlite3 *db, const struct dap_flow *f)
{
	return exec_sql(db, "UPDATE dap_batches SET assigned = max(assigned, ?) WHERE"
			" aggregator='leader' AND task_id=? AND batch_id=?", "Ibb",
			(sqlite3_int64)(f->task.max_batch_size ? f->task.max_batch_size : 1),
			(const void *)f->task.id, DAP_TASK_ID_LEN, (const void *)f->batch_id,
			DAP_BATCH_ID_LEN);
}

/*
 * The leader's commit of a finished job: only a job still in flight (state
 * 1) is aggregated, so a job finished twice (a retry racing a late answer)
 * counts once; its reports become aggregated (2) or failed (3).
 */
static int leader_finish_run(sqlite3 *db, struct dap_flow *f)
{
	int state = 0;
	int rc = get_job(db, "leader", f, NULL, NULL, &state);
	if (rc)
		return rc;
	if (state != 1)
		return 0;
	uint64_t bucket = 0;
	if (f->fixed) {
		if ((rc = batch_bucket(db, "leader", f->task.id, f->batch_id, 1, &bucket)))
			return rc;
		for (size_t i = 0; i < f->n_items; i++)
			f->items[i].bucket = bucket;
	}
	if ((rc = aggregate_items(db, "leader", &f->task, f->items, f->n_items, 0)))
		return rc;
	sqlite3_stmt *s = NULL, *again = NULL;
	if (sqlite3_prepare_v2(db, "UPDATE dap_reports SET state=?, prep_error=?, batch_bucket=? WHERE"
			       " task_id=? AND report_id=? AND job_id=?", -1, &s, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "UPDATE dap_reports SET state=0, job_id=NULL WHERE"
			       " task_id=? AND report_id=? AND job_id=?", -1, &again, NULL) != SQLITE_OK) {
		sqlite3_finalize(s);
		return TB_ERR_STORE;
	}
	int saturated = 0;
	for (size_t i = 0; !rc && i < f->n_items; i++) {
		int ok = f->items[i].out_share && f->items[i].result < 0;
		saturated |= !ok && f->items[i].result == DAP_PREP_ERR_BATCH_SATURATED;
		if (!ok && (f->items[i].result == DAP_PREP_ERR_REPORT_TOO_EARLY ||
			    f->items[i].result == DAP_PREP_ERR_BATCH_SATURATED)) {
			/*
			 * The helper's clock is behind the one that accepted the report (a
			 * clock stepped back, or two hosts apart): the report is early, not
			 * bad, and the helper has not recorded it. It waits for a later job;
			 * failing it would lose a report whose upload was acknowledged.
			 * The same for a report the helper's batch had no room for: it
			 * goes to the next batch (the helper forgot its id).
			 */
			sqlite3_reset(again);
			sqlite3_bind_blob(again, 1, f->task.id, DAP_TASK_ID_LEN, SQLITE_STATIC);
			sqlite3_bind_blob(again, 2, f->items[i].report_id, DAP_REPORT_ID_LEN, SQLITE_STATIC);
			sqlite3_bind_blob(again, 3, f->job_id, DAP_AGG_JOB_ID_LEN, SQLITE_STATIC);
			if (sqlite3_step(again) != SQLITE_DONE)
				rc = TB_ERR_STORE;
			continue;
		}
		sqlite3_reset(s);
		sqlite3_bind_int(s, 1, ok ? 2 : 3);
		if (ok)
			sqlite3_bind_null(s, 2);
		else
			sqlite3_bind_int(s, 2, f->items[i].result);
		if (f->fixed)
			sqlite3_bind_int64(s, 3, (sqlite3_int64)bucket);
		else
			sqlite3_bind_null(s, 3);
		sqlite3_bind_blob(s, 4, f->task.id, DAP_TASK_ID_LEN, SQLITE_STATIC);
		sqlite3_bind_blob(s, 5, f->items[i].report_id, DAP_REPORT_ID_LEN, SQLITE_STATIC);
		sqlite3_bind_blob(s, 6, f->job_id, DAP_AGG_JOB_ID_LEN, SQLITE_STATIC);
		if (sqlite3_step(s) != SQLITE_DONE)
			rc = TB_ERR_STORE;
	}
	sqlite3_finalize(s);
	sqlite3_finalize(again);
	if (!rc && saturated && f->fixed)
		rc = batch_full(db, f);
	return rc ? rc : put_job(db, "leader", f, TB_BUF(NULL, 0), 2);
}

int dap_db_leader_finish(struct tb_store *st, struct dap_flow *f, void (*done)(int, struct dap_flow *))
{
	return queue(st, f, leader_finish_run, done);
}

/* A job of the leader still in flight (to resume after a restart), or TB_ERR_NOT_FOUND. */
int dap_db_leader_pending_job(struct tb_store *st, const uint8_t *skip_task,
			      uint8_t task_id[DAP_TASK_ID_LEN], uint8_t job_id[DAP_AGG_JOB_ID_LEN],
			      uint8_t batch_id[DAP_BATCH_ID_LEN], int *fixed)
{
	sqlite3_stmt *s = stmt(tb_store_reader(st), "SELECT task_id, job_id, batch_id FROM dap_agg_jobs"
			       " WHERE aggregator='leader' AND state=1 AND (?1 IS NULL OR task_id<>?1) LIMIT 1",
			       "b", (const void *)skip_task, DAP_TASK_ID_LEN);
	if (!s)
		return TB_ERR_STORE;
	int rc = sqlite3_step(s), err = TB_ERR_NOT_FOUND;
	if (rc == SQLITE_ROW && sqlite3_column_bytes(s, 0) == DAP_TASK_ID_LEN &&
	    sqlite3_column_bytes(s, 1) == DAP_AGG_JOB_ID_LEN) {
		memcpy(task_id, sqlite3_column_blob(s, 0), DAP_TASK_ID_LEN);
		memcpy(job_id, sqlite3_column_blob(s, 1), DAP_AGG_JOB_ID_LEN);
		*fixed = sqlite3_column_bytes(s, 2) == DAP_BATCH_ID_LEN;
		if (*fixed)
			memcpy(batch_id, sqlite3_column_blob(s, 2), DAP_BATCH_ID_LEN);
		err = 0;
	} else if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		err = TB_ERR_STORE;
	}
	sqlite3_finalize(s);
	return err;
}

/* A task with reports waiting for aggregation, or TB_ERR_NOT_FOUND. */
int dap_db_leader_pending_task(struct tb_store *st, const uint8_t *skip_task,
			       uint8_t task_id[DAP_TASK_ID_LEN])
{
	sqlite3_stmt *s = stmt(tb_store_reader(st), "SELECT task_id FROM dap_reports WHERE state=0 AND"
			       " (?1 IS NULL OR task_id<>?1) LIMIT 1", "b", (const void *)skip_task,
			       DAP_TASK_ID_LEN);
	if (!s)
		return TB_ERR_STORE;
	int err = row_id(s, sqlite3_step(s), 0, task_id, DAP_TASK_ID_LEN);
	sqlite3_finalize(s);
	return err;
}

/*
 * The reports of a job (job_id set: the reports claimed by it, in report id
 * order, so a resumed job sends the same request) or up to max pending ones.
 */
int dap_db_leader_reports(struct tb_store *st, struct dap_flow *f, int by_job, size_t max)
{
	sqlite3_stmt *s = NULL;
	const char *sql = by_job ?
		"SELECT report_id, time, public_share, leader_share, helper_share FROM dap_reports"
		" WHERE task_id=? AND job_id=? AND state=1 ORDER BY report_id LIMIT ?" :
		"SELECT report_id, time, public_share, leader_share, helper_share FROM dap_reports"
		" WHERE task_id=? AND state=0 ORDER BY report_id LIMIT ?";
	if (sqlite3_prepare_v2(tb_store_reader(st), sql, -1, &s, NULL) != SQLITE_OK)
		return TB_ERR_STORE;
	sqlite3_bind_blob(s, 1, f->task.id, DAP_TASK_ID_LEN, SQLITE_STATIC);
	if (by_job) {
		sqlite3_bind_blob(s, 2, f->job_id, DAP_AGG_JOB_ID_LEN, SQLITE_STATIC);
		sqlite3_bind_int64(s, 3, (sqlite3_int64)max);
	} else {
		sqlite3_bind_int64(s, 2, (sqlite3_int64)max);
	}
	int rc, err = 0;
	f->items = calloc(max ? max : 1, sizeof *f->items);
	f->n_items = 0;
	if (!f->items)
		err = TB_ERR_NOMEM;
	while (!err && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct dap_out_item *it = &f->items[f->n_items];
		if (sqlite3_column_bytes(s, 0) != DAP_REPORT_ID_LEN) {
			err = TB_ERR_STORE;
			break;
		}
		memcpy(it->report_id, sqlite3_column_blob(s, 0), DAP_REPORT_ID_LEN);
		it->time = (uint64_t)sqlite3_column_int64(s, 1);
		it->result = -1;
		tb_bytes_append(&it->public_share, sqlite3_column_blob(s, 2), (size_t)sqlite3_column_bytes(s, 2));
		tb_bytes_append(&it->input_share, sqlite3_column_blob(s, 3), (size_t)sqlite3_column_bytes(s, 3));
		tb_bytes_append(&it->helper_share, sqlite3_column_blob(s, 4), (size_t)sqlite3_column_bytes(s, 4));
		f->n_items++;
		if (it->public_share.err || it->input_share.err || it->helper_share.err)
			err = TB_ERR_NOMEM;
	}
	if (!err && rc != SQLITE_DONE)
		err = TB_ERR_STORE;
	sqlite3_finalize(s);
	return err;
}

/* Reports of [start, end) not yet aggregated (waiting or in a job). */
int dap_db_leader_unaggregated(struct tb_store *st, const uint8_t *task_id, uint64_t start,
			       uint64_t end, uint64_t *n)
{
	sqlite3_stmt *s = stmt(tb_store_reader(st), "SELECT count(*) FROM dap_reports WHERE task_id=? AND"
			       " state IN (0, 1) AND time>=? AND time<?", "bII", (const void *)task_id,
			       DAP_TASK_ID_LEN, (sqlite3_int64)start, (sqlite3_int64)end);
	if (!s)
		return TB_ERR_STORE;
	int rc = sqlite3_step(s);
	*n = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(s, 0) : 0;
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 0 : TB_ERR_STORE;
}

/* ---- collection ------------------------------------------------------------ */

int dap_db_get_collection_job(struct tb_store *st, const uint8_t *task_id, const uint8_t *job_id,
			      struct tb_bytes *request, struct tb_bytes *result, int *state)
{
	sqlite3_stmt *s = stmt(tb_store_reader(st), "SELECT request, result, state FROM"
			       " dap_collection_jobs WHERE task_id=? AND job_id=?", "bb",
			       (const void *)task_id, DAP_TASK_ID_LEN, (const void *)job_id,
			       DAP_COLLECTION_JOB_ID_LEN);
	if (!s)
		return TB_ERR_STORE;
	int rc = sqlite3_step(s), err = 0;
	if (rc == SQLITE_ROW) {
		if (request)
			tb_bytes_append(request, sqlite3_column_blob(s, 0), (size_t)sqlite3_column_bytes(s, 0));
		if (result && sqlite3_column_type(s, 1) != SQLITE_NULL)
			tb_bytes_append(result, sqlite3_column_blob(s, 1), (size_t)sqlite3_column_bytes(s, 1));
		*state = sqlite3_column_int(s, 2);
	} else {
		err = rc == SQLITE_DONE ? TB_ERR_NOT_FOUND : TB_ERR_STORE;
	}
	sqlite3_finalize(s);
	return err;
}

/* Finished collection jobs of a task whose interval meets [start, end): *same
 * counts those with exactly that interval, *overlap the others. */
int dap_db_collected_intervals(struct tb_store *st, const uint8_t *task_id, uint64_t start,
			       uint64_t end, uint64_t *same, uint64_t *overlap)
{
	*same = *overlap = 0;
	sqlite3_stmt *s = stmt(tb_store_reader(st), "SELECT request FROM dap_collection_jobs WHERE"
			       " task_id=? AND state=2", "b", (const void *)task_id, DAP_TASK_ID_LEN);
	if (!s)
		return TB_ERR_STORE;
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct dap_collection_req cr;
		struct tb_buf b = TB_BUF(sqlite3_column_blob(s, 0), (size_t)sqlite3_column_bytes(s, 0));
		if (dap_collection_req_decode(b, &cr) || cr.query.query_type != DAP_QUERY_TIME_INTERVAL)
			continue;
		uint64_t s0 = cr.query.interval.start, e0 = s0 + cr.query.interval.duration;
		if (s0 == start && e0 == end)
			(*same)++;
		else if (s0 < end && start < e0)
			(*overlap)++;
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : TB_ERR_STORE;
}

struct coll_row {
	uint8_t task_id[DAP_TASK_ID_LEN], job_id[DAP_COLLECTION_JOB_ID_LEN];
	struct tb_bytes request, result;
	int state;
	uint64_t start, end;   /* buckets queried once more when state is 2 */
	int conflict;          /* out: a different request under the job id */
	dap_db_put_cb done;
	void *arg;
};

static int coll_put_run(sqlite3 *db, void *arg)
{
	struct coll_row *c = arg;
	int rc;
	if (c->state == 0) {
		/* Creation: the same request again is fine, another one is a conflict. */
		sqlite3_stmt *s = stmt(db, "SELECT request FROM dap_collection_jobs WHERE task_id=? AND"
				       " job_id=?", "bb", (const void *)c->task_id, DAP_TASK_ID_LEN,
				       (const void *)c->job_id, DAP_COLLECTION_JOB_ID_LEN);
		if (!s)
			return TB_ERR_STORE;
		rc = sqlite3_step(s);
		if (rc == SQLITE_ROW) {
			c->conflict = (size_t)sqlite3_column_bytes(s, 0) != c->request.len ||
				      memcmp(sqlite3_column_blob(s, 0), c->request.p, c->request.len);
			sqlite3_finalize(s);
			return 0;
		}
		sqlite3_finalize(s);
		if (rc != SQLITE_DONE)
			return TB_ERR_STORE;
	}
	/* No result yet is NULL. */
	if ((rc = exec_sql(db, "INSERT OR REPLACE INTO dap_collection_jobs (task_id, job_id, request,"
			   " state, result) VALUES (?, ?, ?, ?, ?)", "bbbib", (const void *)c->task_id,
			   DAP_TASK_ID_LEN, (const void *)c->job_id, DAP_COLLECTION_JOB_ID_LEN,
			   (const void *)c->request.p, (int)c->request.len, c->state,
			   c->result.len ? (const void *)c->result.p : NULL, (int)c->result.len)))
		return rc;
	return c->state == 2 ? count_query(db, "leader", c->task_id, c->start, c->end) : 0;
}

static void coll_put_done(int status, void *arg)
{
	struct coll_row *c = arg;
	c->done(status, c->conflict, c->arg);
	tb_bytes_free(&c->request);
	tb_bytes_free(&c->result);
	free(c);
}

int dap_db_put_collection_job(struct tb_store *st, const uint8_t *task_id, const uint8_t *job_id,
			      struct tb_buf request, int state, struct tb_buf result, uint64_t start,
			      uint64_t end, dap_db_put_cb done, void *arg)
{
	struct coll_row *c = calloc(1, sizeof *c);
	if (!c)
		return TB_ERR_NOMEM;
	memcpy(c->task_id, task_id, DAP_TASK_ID_LEN);
	memcpy(c->job_id, job_id, DAP_COLLECTION_JOB_ID_LEN);
	tb_bytes_append(&c->request, request.p, request.len);
	tb_bytes_append(&c->result, result.p, result.len);
	c->state = state;
	c->start = start;
	c->end = end;
	c->done = done;
	c->arg = arg;
	int rc = c->request.err || c->result.err ? TB_ERR_NOMEM :
		 tb_store_write(st, coll_put_run, coll_put_done, c);
	if (rc) {
		tb_bytes_free(&c->request);
		tb_bytes_free(&c->result);
		free(c);
	}
	return rc;
}

/* ---- the helper's aggregate shares ---------------------------------------- */

int dap_db_get_agg_share_job(struct tb_store *st, const uint8_t *task_id, const uint8_t *hash,
			     struct tb_bytes *response)
{
	return get_blob(stmt(tb_store_reader(st), "SELECT response FROM dap_agg_share_jobs WHERE"
			     " task_id=? AND request_hash=?", "bb", (const void *)task_id,
			     DAP_TASK_ID_LEN, (const void *)hash, TB_SHA256_LEN),
			response);
}

struct share_row {
	uint8_t task_id[DAP_TASK_ID_LEN], hash[TB_SHA256_LEN];
	struct tb_bytes response;
	uint64_t start, end;
	dap_db_put_cb done;
	void *arg;
};

static int share_put_run(sqlite3 *db, void *arg)
{
	struct share_row *r = arg;
	/* OR IGNORE: two identical requests racing store one answer; both get it. */
	int rc = exec_sql(db, "INSERT OR IGNORE INTO dap_agg_share_jobs (task_id, request_hash,"
			  " response) VALUES (?, ?, ?)", "bbb", (const void *)r->task_id,
			  DAP_TASK_ID_LEN, (const void *)r->hash, TB_SHA256_LEN,
			  (const void *)r->response.p, (int)r->response.len);
	if (rc)
		return rc;
	if (sqlite3_changes(db) == 0)
		return 0;
	return count_query(db, "helper", r->task_id, r->start, r->end);
}

static void share_put_done(int status, void *arg)
{
	struct share_row *r = arg;
	r->done(status, 0, r->arg);
	tb_bytes_free(&r->response);
	free(r);
}

int dap_db_put_agg_share_job(struct tb_store *st, const uint8_t *task_id, const uint8_t *hash,
			     struct tb_buf response, uint64_t start, uint64_t end, dap_db_put_cb done,
			     void *arg)
{
	struct share_row *r = calloc(1, sizeof *r);
	if (!r)
		return TB_ERR_NOMEM;
	memcpy(r->task_id, task_id, DAP_TASK_ID_LEN);
	memcpy(r->hash, hash, TB_SHA256_LEN);
	tb_bytes_append(&r->response, response.p, response.len);
	r->start = start;
	r->end = end;
	r->done = done;
	r->arg = arg;
	int rc = r->response.err ? TB_ERR_NOMEM : tb_store_write(st, share_put_run, share_put_done, r);
	if (rc) {
		tb_bytes_free(&r->response);
		free(r);
	}
	return rc;
}

/* How often the bucket was collected on an aggregator (0: never, or no such bucket). */
int dap_db_bucket_queried(struct tb_store *st, const char *agg, const uint8_t *task_id, uint64_t bucket,
			  uint64_t *count)
{
	*count = 0;
	sqlite3_stmt *s = stmt(tb_store_reader(st), "SELECT query_count FROM dap_batch_aggs WHERE"
			       " aggregator=? AND task_id=? AND bucket=?", "tbI", agg,
			       (const void *)task_id, DAP_TASK_ID_LEN, (sqlite3_int64)bucket);
	if (!s)
		return TB_ERR_STORE;
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*count = (uint64_t)sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : TB_ERR_STORE;
}

/* ---- the task commands ------------------------------------------------------ */

int dap_db_list_tasks(struct tb_store *st, const char *agg, const uint8_t *only,
		      void (*fn)(const char *agg, const char *record, void *arg), void *arg)
{
	sqlite3_stmt *s = stmt(tb_store_reader(st), "SELECT aggregator, task_id, record FROM dap_tasks"
			       " WHERE (?1 IS NULL OR aggregator=?1) ORDER BY aggregator, task_id", "t", agg);
	if (!s)
		return TB_ERR_STORE;
	int rc, n = 0;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (only && (sqlite3_column_bytes(s, 1) != DAP_TASK_ID_LEN ||
			     memcmp(sqlite3_column_blob(s, 1), only, DAP_TASK_ID_LEN)))
			continue;
		fn((const char *)sqlite3_column_text(s, 0), (const char *)sqlite3_column_text(s, 2), arg);
		n++;
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return TB_ERR_STORE;
	return n ? 0 : TB_ERR_NOT_FOUND;
}

static int delete_task_job(sqlite3 *db, void *arg)
{
	int rc = exec_sql(db, "DELETE FROM dap_tasks WHERE task_id=?", "b", (const void *)arg,
			  DAP_TASK_ID_LEN);
	if (rc)
		return rc;
	return sqlite3_changes(db) ? 0 : TB_ERR_NOT_FOUND;
}

int dap_db_delete_task_sync(struct tb_store *st, const uint8_t id[DAP_TASK_ID_LEN])
{
	return tb_store_write_sync(st, delete_task_job, (void *)id);
}

/* Reports (and jobs) of a task the leader no longer has: dropped, so that they stop blocking the driver. */
static int drop_task_run(sqlite3 *db, void *arg)
{
	static const char *const sql[] = {
		"UPDATE dap_reports SET state=3, prep_error=2 WHERE task_id=? AND state IN (0, 1)",
		"UPDATE dap_agg_jobs SET state=2 WHERE aggregator='leader' AND task_id=? AND state=1",
	};
	for (size_t i = 0; i < sizeof sql / sizeof sql[0]; i++) {
		int rc = exec_sql(db, sql[i], "b", (const void *)arg, DAP_TASK_ID_LEN);
		if (rc)
			return rc;
	}
	return 0;
}

static void drop_task_done(int status, void *arg)
{
	(void)status;
	free(arg);
}

int dap_db_leader_drop_task(struct tb_store *st, const uint8_t task_id[DAP_TASK_ID_LEN])
{
	uint8_t *id = malloc(DAP_TASK_ID_LEN);
	if (!id)
		return TB_ERR_NOMEM;
	memcpy(id, task_id, DAP_TASK_ID_LEN);
	int rc = tb_store_write(st, drop_task_run, drop_task_done, id);
	if (rc)
		free(id);
	return rc;
}

/* The same write as dap_db_put_task_sync, queued: done(status, arg) after the commit. */
struct put_task_job {
	struct task_row row;
	void (*done)(int status, void *arg);
	void *arg;
};

static int put_task_async_run(sqlite3 *db, void *arg)
{
	return put_task_job(db, &((struct put_task_job *)arg)->row);
}

static void put_task_async_done(int status, void *arg)
{
	struct put_task_job *j = arg;
	j->done(status, j->arg);
	free(j->row.record);
	free(j);
}

int dap_db_put_task(struct tb_store *st, const char *agg, const struct dap_task *t,
		    void (*done)(int status, void *arg), void *arg)
{
	struct put_task_job *j = calloc(1, sizeof *j);
	if (!j)
		return TB_ERR_NOMEM;
	j->row.agg = agg; /* a static name ("leader", "helper") */
	memcpy(j->row.id, t->id, DAP_TASK_ID_LEN);
	cJSON *js = dap_task_to_json(t);
	j->row.record = js ? cJSON_PrintUnformatted(js) : NULL;
	cJSON_Delete(js);
	j->done = done;
	j->arg = arg;
	int rc = j->row.record ? tb_store_write(st, put_task_async_run, put_task_async_done, j) : TB_ERR_NOMEM;
	if (rc) {
		free(j->row.record);
		free(j);
	}
	return rc;
}

/* The helper forgets an aggregation job (DELETE); its reports stay recorded as seen. */
struct del_job {
	uint8_t task_id[DAP_TASK_ID_LEN], job_id[DAP_AGG_JOB_ID_LEN];
	int found;
	dap_db_put_cb done;
	void *arg;
};

static int del_job_run(sqlite3 *db, void *arg)
{
	struct del_job *d = arg;
	int rc = exec_sql(db, "DELETE FROM dap_agg_jobs WHERE aggregator='helper' AND task_id=? AND"
			  " job_id=?", "bb", (const void *)d->task_id, DAP_TASK_ID_LEN,
			  (const void *)d->job_id, DAP_AGG_JOB_ID_LEN);
	d->found = sqlite3_changes(db) > 0;
	return rc;
}

static void del_job_done(int status, void *arg)
{
	struct del_job *d = arg;
	d->done(status ? status : d->found ? 0 : TB_ERR_NOT_FOUND, 0, d->arg);
	free(d);
}

int dap_db_helper_delete_job(struct tb_store *st, const uint8_t *task_id, const uint8_t *job_id,
			     dap_db_put_cb done, void *arg)
{
	struct del_job *d = calloc(1, sizeof *d);
	if (!d)
		return TB_ERR_NOMEM;
	memcpy(d->task_id, task_id, DAP_TASK_ID_LEN);
	memcpy(d->job_id, job_id, DAP_AGG_JOB_ID_LEN);
	d->done = done;
	d->arg = arg;
	int rc = tb_store_write(st, del_job_run, del_job_done, d);
	if (rc)
		free(d);
	return rc;
}

/* ---- the helper's aggregation job continuation ------------------------------- */

static int continue_run(sqlite3 *db, void *arg)
{
	struct dap_continue *c = arg;
	sqlite3_stmt *s = NULL;
	tb_bytes_free(&c->init_response);
	tb_bytes_free(&c->last_hash);
	tb_bytes_free(&c->last_response);
	tb_bytes_free(&c->response);
	c->found = c->store = 0;
	if (!(s = stmt(db, "SELECT response, step, last_request_hash, last_response FROM dap_agg_jobs"
		       " WHERE aggregator='helper' AND task_id=? AND job_id=?", "bb",
		       (const void *)c->task_id, DAP_TASK_ID_LEN, (const void *)c->job_id,
		       DAP_AGG_JOB_ID_LEN)))
		return TB_ERR_STORE;
	int rc = sqlite3_step(s), err = 0;
	if (rc == SQLITE_ROW) {
		c->found = 1;
		c->job_step = (uint16_t)sqlite3_column_int(s, 1);
		err = tb_bytes_append(&c->init_response, sqlite3_column_blob(s, 0),
				      (size_t)sqlite3_column_bytes(s, 0));
		if (!err)
			err = tb_bytes_append(&c->last_hash, sqlite3_column_blob(s, 2),
					      (size_t)sqlite3_column_bytes(s, 2));
		if (!err)
			err = tb_bytes_append(&c->last_response, sqlite3_column_blob(s, 3),
					      (size_t)sqlite3_column_bytes(s, 3));
	} else if (rc != SQLITE_DONE) {
		err = TB_ERR_STORE;
	}
	sqlite3_finalize(s);
	if (err || (err = c->decide(c)) || !c->store)
		return err;
	return exec_sql(db, "UPDATE dap_agg_jobs SET step=?, last_request_hash=?, last_response=?"
			" WHERE aggregator='helper' AND task_id=? AND job_id=?", "ibbbb", (int)c->req.step,
			(const void *)c->request_hash, TB_SHA256_LEN,
			c->response.p ? (const void *)c->response.p : "", (int)c->response.len,
			(const void *)c->task_id, DAP_TASK_ID_LEN, (const void *)c->job_id,
			DAP_AGG_JOB_ID_LEN);
}

static void continue_done(int status, void *arg)
{
	struct dap_continue *c = arg;
	c->done(status, c);
}

int dap_db_helper_continue(struct tb_store *st, struct dap_continue *c)
{
	return tb_store_write(st, continue_run, continue_done, c);
}

/* A task created through the admin API: both records and the collector credential, one job. */
struct create_job {
	struct task_row leader, helper;
	int with_helper;
	char *credential;
	void (*done)(int status, void *arg);
	void *arg;
};

static int cred_put(sqlite3 *db, const uint8_t *id, const char *cred)
{
	return exec_sql(db, "INSERT OR REPLACE INTO dap_collector_credentials (task_id, credential)"
			" VALUES (?, ?)", "bt", (const void *)id, DAP_TASK_ID_LEN, cred);
}

static int create_run(sqlite3 *db, void *arg)
{
	struct create_job *j = arg;
	int rc = put_task_job(db, &j->leader);
	if (!rc && j->with_helper)
		rc = put_task_job(db, &j->helper);
	if (!rc && j->credential)
		rc = cred_put(db, j->leader.id, j->credential);
	return rc;
}

static void create_free(struct create_job *j)
{
	free(j->leader.record);
	free(j->helper.record);
	if (j->credential) {
		tb_crypto_wipe(j->credential, strlen(j->credential));
		free(j->credential);
	}
	free(j);
}

static void create_done(int status, void *arg)
{
	struct create_job *j = arg;
	j->done(status, j->arg);
	create_free(j);
}

static char *record_of(const struct dap_task *t)
{
	cJSON *js = dap_task_to_json(t);
	char *r = js ? cJSON_PrintUnformatted(js) : NULL;
	cJSON_Delete(js);
	return r;
}

int dap_db_create_task(struct tb_store *st, const struct dap_task *leader, const struct dap_task *helper,
		       const char *credential, void (*done)(int status, void *arg), void *arg)
{
	struct create_job *j = calloc(1, sizeof *j);
	if (!j)
		return TB_ERR_NOMEM;
	j->leader.agg = "leader";
	memcpy(j->leader.id, leader->id, DAP_TASK_ID_LEN);
	j->leader.record = record_of(leader);
	int rc = j->leader.record ? 0 : TB_ERR_NOMEM;
	if (!rc && helper) {
		j->with_helper = 1;
		j->helper.agg = "helper";
		memcpy(j->helper.id, helper->id, DAP_TASK_ID_LEN);
		if (!(j->helper.record = record_of(helper)))
			rc = TB_ERR_NOMEM;
	}
	if (!rc && credential && !(j->credential = strdup(credential)))
		rc = TB_ERR_NOMEM;
	j->done = done;
	j->arg = arg;
	if (!rc)
		rc = tb_store_write(st, create_run, create_done, j);
	if (rc)
		create_free(j);
	return rc;
}

struct delete_job {
	uint8_t id[DAP_TASK_ID_LEN];
	void (*done)(int status, void *arg);
	void *arg;
};

static int delete_run(sqlite3 *db, void *arg)
{
	struct delete_job *j = arg;
	int rc = delete_task_job(db, j->id);
	if (rc)
		return rc;
	return exec_sql(db, "DELETE FROM dap_collector_credentials WHERE task_id=?", "b",
			(const void *)j->id, DAP_TASK_ID_LEN);
}

static void delete_done(int status, void *arg)
{
	struct delete_job *j = arg;
	j->done(status, j->arg);
	free(j);
}

int dap_db_delete_task(struct tb_store *st, const uint8_t id[DAP_TASK_ID_LEN], void (*done)(int status, void *arg),
		       void *arg)
{
	struct delete_job *j = calloc(1, sizeof *j);
	if (!j)
		return TB_ERR_NOMEM;
	memcpy(j->id, id, DAP_TASK_ID_LEN);
	j->done = done;
	j->arg = arg;
	int rc = tb_store_write(st, delete_run, delete_done, j);
	if (rc)
		free(j);
	return rc;
}

int dap_db_get_credential(struct tb_store *st, const uint8_t id[DAP_TASK_ID_LEN], struct tb_bytes *out)
{
	int err = get_blob(stmt(tb_store_reader(st), "SELECT credential FROM dap_collector_credentials"
				" WHERE task_id=?", "b", (const void *)id, DAP_TASK_ID_LEN),
			   out);
	return err ? err : out->err;
}
