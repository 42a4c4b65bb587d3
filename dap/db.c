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
 *                  and the helper's still-sealed one; the primary key
 *                  (task, report id) is the replay check, so a report is
 *                  stored once however often and concurrently it is sent
 *   dap_kv         small service state (the demo task's record)
 *
 * Reads run on the loop thread on the store's read connection; writes are
 * store jobs on the writer thread (synchronous ones only at start-up and in
 * commands). A job's done runs after the group commit: only then may an
 * upload be acknowledged.
 */
#include "dap/dap_internal.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
	{ 0, NULL },
};

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
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(db, "INSERT INTO dap_hpke_keys (aggregator, config_id, config, sk,"
				    " active, created) VALUES (?, ?, ?, ?, 1, ?)", -1, &s, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(s, 1, k->agg, -1, SQLITE_STATIC);
		sqlite3_bind_int(s, 2, k->config_id);
		sqlite3_bind_blob(s, 3, k->config.p, (int)k->config.len, SQLITE_STATIC);
		sqlite3_bind_blob(s, 4, k->sk.p, (int)k->sk.len, SQLITE_STATIC);
		sqlite3_bind_int64(s, 5, k->created);
		rc = sqlite3_step(s);
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : TB_ERR_STORE;
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
				    " ORDER BY created, config_id", -1, &s, NULL);
	if (rc != SQLITE_OK)
		return TB_ERR_STORE;
	sqlite3_bind_text(s, 1, agg->name, -1, SQLITE_STATIC);
	int err = 0;
	agg->n_keys = 0;
	while (!err && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (agg->n_keys == DAP_MAX_HPKE_KEYS)
			break; /* the oldest are kept; more than this is not rotation any more */
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

int dap_db_load_keys(struct dap_aggregator *agg)
{
	int rc = load_keys(agg);
	if (rc)
		return rc;
	int active = 0;
	for (size_t i = 0; i < agg->n_keys; i++)
		active |= agg->keys[i].active;
	if (!active) {
		/* First start: one X25519 / HKDF-SHA256 / AES-128-GCM key, a random id. */
		struct dap_hpke_keypair kp;
		struct key_row row = { .agg = agg->name, .created = (int64_t)time(NULL) };
		uint8_t id;
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
			rc = tb_store_write_sync(agg->svc->core->store, put_key_job, &row);
		tb_bytes_free(&row.config);
		tb_crypto_wipe(&kp, sizeof kp);
		if (rc)
			return rc;
		if ((rc = load_keys(agg)))
			return rc;
		TB_INFO("dap", "%s: new HPKE config %u (X25519, HKDF-SHA256, AES-128-GCM)", agg->name, id);
	}
	return build_config_list(agg);
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
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO dap_tasks (aggregator, task_id, record)"
				    " VALUES (?, ?, ?)", -1, &s, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(s, 1, t->agg, -1, SQLITE_STATIC);
		sqlite3_bind_blob(s, 2, t->id, DAP_TASK_ID_LEN, SQLITE_STATIC);
		sqlite3_bind_text(s, 3, t->record, -1, SQLITE_STATIC);
		rc = sqlite3_step(s);
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : TB_ERR_STORE;
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
	sqlite3 *db = tb_store_reader(st);
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(db, "SELECT record FROM dap_tasks WHERE aggregator=? AND task_id=?", -1,
			       &s, NULL) != SQLITE_OK)
		return TB_ERR_STORE;
	sqlite3_bind_text(s, 1, agg, -1, SQLITE_STATIC);
	sqlite3_bind_blob(s, 2, id, DAP_TASK_ID_LEN, SQLITE_STATIC);
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
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO dap_kv (key, value) VALUES (?, ?)", -1,
				    &s, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(s, 1, k->key, -1, SQLITE_STATIC);
		sqlite3_bind_blob(s, 2, k->val.p, (int)k->val.len, SQLITE_STATIC);
		rc = sqlite3_step(s);
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : TB_ERR_STORE;
}

int dap_db_kv_put_sync(struct tb_store *st, const char *key, struct tb_buf val)
{
	struct kv_row k = { key, val };
	return tb_store_write_sync(st, kv_put_job, &k);
}

int dap_db_kv_get(struct tb_store *st, const char *key, struct tb_bytes *out)
{
	sqlite3 *db = tb_store_reader(st);
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(db, "SELECT value FROM dap_kv WHERE key=?", -1, &s, NULL) != SQLITE_OK)
		return TB_ERR_STORE;
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	int rc = sqlite3_step(s), err = 0;
	if (rc == SQLITE_ROW)
		err = tb_bytes_append(out, sqlite3_column_blob(s, 0), (size_t)sqlite3_column_bytes(s, 0));
	else
		err = rc == SQLITE_DONE ? TB_ERR_NOT_FOUND : TB_ERR_STORE;
	sqlite3_finalize(s);
	return err;
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
