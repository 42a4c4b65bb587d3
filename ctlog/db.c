/*
 * DESIGN: the log's storage, and the only file of the log that speaks SQL
 * (so that the store stays swappable behind these functions).
 *
 * Tables (prefixed ct_): keys (one private key per log), entries (TileLeaf
 * by index, with the leaf hash indexed for get-proof-by-hash), tiles (hash
 * tiles; a partial tile is stored at its widest and a narrower one is
 * served as its prefix), checkpoints (the signed tree head per log), dedup
 * (the SCT already issued per submission key) and issuers (DER by
 * fingerprint, shared by all logs).
 *
 * Reads run on the loop thread with statements prepared once per log on the
 * store's read connection; writes are store jobs run by the writer thread:
 * the key and the empty tree's checkpoint synchronously at first start, and
 * each sequenced batch as one job committed atomically.
 */
#include "ctlog/ctlog_internal.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"
#include "core/store.h"

const struct tb_migration ct_migrations[] = {
	{ 1, "CREATE TABLE ct_keys (log TEXT PRIMARY KEY, key BLOB NOT NULL);"
	     "CREATE TABLE ct_entries (log TEXT NOT NULL, idx INTEGER NOT NULL,"
	     " hash BLOB NOT NULL, leaf BLOB NOT NULL, PRIMARY KEY (log, idx)) WITHOUT ROWID;"
	     "CREATE INDEX ct_entries_hash ON ct_entries(log, hash);"
	     "CREATE TABLE ct_tiles (log TEXT NOT NULL, level INTEGER NOT NULL, idx INTEGER NOT NULL,"
	     " data BLOB NOT NULL, PRIMARY KEY (log, level, idx)) WITHOUT ROWID;"
	     "CREATE TABLE ct_checkpoints (log TEXT PRIMARY KEY, size INTEGER NOT NULL,"
	     " root BLOB NOT NULL, timestamp INTEGER NOT NULL, signature BLOB NOT NULL);"
	     "CREATE TABLE ct_dedup (log TEXT NOT NULL, key BLOB NOT NULL, idx INTEGER NOT NULL,"
	     " sct BLOB NOT NULL, PRIMARY KEY (log, key)) WITHOUT ROWID;"
	     "CREATE TABLE ct_issuers (fp BLOB PRIMARY KEY, der BLOB NOT NULL) WITHOUT ROWID;" },
	{ 0, NULL },
};

/* Reader statements of one log (the loop thread's connection). */
struct ct_db {
	sqlite3_stmt *q_tile, *q_entries, *q_hash, *q_issuer, *q_dedup;
};

static sqlite3 *reader(struct ct_log *log)
{
	return tb_store_reader(log->svc->core->store);
}

int ct_db_open(struct ct_log *log)
{
	sqlite3 *db = reader(log);
	if (!(log->db = calloc(1, sizeof *log->db)))
		return TB_ERR_NOMEM;
	struct {
		sqlite3_stmt **s;
		const char *sql;
	} q[] = {
		{ &log->db->q_tile, "SELECT data FROM ct_tiles WHERE log=? AND level=? AND idx=?" },
		{ &log->db->q_entries, "SELECT idx, leaf FROM ct_entries WHERE log=? AND idx>=? AND idx<? ORDER BY idx" },
		{ &log->db->q_hash, "SELECT idx FROM ct_entries WHERE log=? AND hash=? ORDER BY idx LIMIT 1" },
		{ &log->db->q_issuer, "SELECT der FROM ct_issuers WHERE fp=?" },
		{ &log->db->q_dedup, "SELECT sct FROM ct_dedup WHERE log=? AND key=?" },
	};
	for (size_t i = 0; i < sizeof q / sizeof q[0]; i++)
		if (sqlite3_prepare_v3(db, q[i].sql, -1, SQLITE_PREPARE_PERSISTENT, q[i].s, NULL) != SQLITE_OK) {
			TB_ERROR("ctlog", "prepare: %s", sqlite3_errmsg(db));
			return TB_ERR_STORE;
		}
	return 0;
}

void ct_db_close(struct ct_log *log)
{
	if (!log->db)
		return;
	sqlite3_finalize(log->db->q_tile);
	sqlite3_finalize(log->db->q_entries);
	sqlite3_finalize(log->db->q_hash);
	sqlite3_finalize(log->db->q_issuer);
	sqlite3_finalize(log->db->q_dedup);
	free(log->db);
	log->db = NULL;
}

/* ---- reads ------------------------------------------------------------- */


int ct_db_read_tile(void *arg, int level, uint64_t index, unsigned width, uint8_t *out)
{
	struct ct_log *log = arg;
	sqlite3_stmt *s = log->db->q_tile;
	sqlite3_reset(s);
	sqlite3_bind_text(s, 1, log->name, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 2, level);
	sqlite3_bind_int64(s, 3, (sqlite3_int64)index);
	int err = TB_ERR_NOT_FOUND;
	if (sqlite3_step(s) == SQLITE_ROW) {
		size_t n = (size_t)sqlite3_column_bytes(s, 0);
		const void *p = sqlite3_column_blob(s, 0);
		if (p && n >= (size_t)width * CT_HASH_LEN) {
			memcpy(out, p, (size_t)width * CT_HASH_LEN);
			err = 0;
		}
	}
	sqlite3_reset(s);
	return err;
}

int ct_db_read_leaves(struct ct_log *log, uint64_t start, uint64_t count, struct tb_bytes *out)
{
	sqlite3_stmt *s = log->db->q_entries;
	sqlite3_reset(s);
	sqlite3_bind_text(s, 1, log->name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)start);
	sqlite3_bind_int64(s, 3, (sqlite3_int64)(start + count));
	uint64_t got = 0;
	int rc, err = 0;
	while (!err && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		if ((uint64_t)sqlite3_column_int64(s, 0) != start + got) {
			err = TB_ERR_STATE;
			break;
		}
		err = tb_bytes_append(out, sqlite3_column_blob(s, 1), (size_t)sqlite3_column_bytes(s, 1));
		got++;
	}
	sqlite3_reset(s);
	if (!err && got != count)
		err = TB_ERR_NOT_FOUND;
	return err;
}

int ct_db_find_hash(struct ct_log *log, const uint8_t hash[CT_HASH_LEN], uint64_t *index)
{
	sqlite3_stmt *s = log->db->q_hash;
	sqlite3_reset(s);
	sqlite3_bind_text(s, 1, log->name, -1, SQLITE_STATIC);
	sqlite3_bind_blob(s, 2, hash, CT_HASH_LEN, SQLITE_STATIC);
	int err = TB_ERR_NOT_FOUND;
	if (sqlite3_step(s) == SQLITE_ROW) {
		*index = (uint64_t)sqlite3_column_int64(s, 0);
		err = 0;
	}
	sqlite3_reset(s);
	return err;
}

int ct_db_read_issuer(struct ct_log *log, const uint8_t fp[CT_HASH_LEN], struct tb_bytes *out)
{
	sqlite3_stmt *s = log->db->q_issuer;
	sqlite3_reset(s);
	sqlite3_bind_blob(s, 1, fp, CT_HASH_LEN, SQLITE_STATIC);
	int err = TB_ERR_NOT_FOUND;
	if (sqlite3_step(s) == SQLITE_ROW)
		err = tb_bytes_append(out, sqlite3_column_blob(s, 0), (size_t)sqlite3_column_bytes(s, 0));
	sqlite3_reset(s);
	return err;
}

int ct_db_read_dedup(struct ct_log *log, const uint8_t key[CT_HASH_LEN], struct tb_bytes *sct)
{
	sqlite3_stmt *s = log->db->q_dedup;
	sqlite3_reset(s);
	sqlite3_bind_text(s, 1, log->name, -1, SQLITE_STATIC);
	sqlite3_bind_blob(s, 2, key, CT_HASH_LEN, SQLITE_STATIC);
	int err = TB_ERR_NOT_FOUND;
	if (sqlite3_step(s) == SQLITE_ROW)
		err = tb_bytes_append(sct, sqlite3_column_blob(s, 0), (size_t)sqlite3_column_bytes(s, 0));
	sqlite3_reset(s);
	return err;
}

int ct_db_load_key(struct ct_log *log, struct tb_bytes *der)
{
	sqlite3_stmt *s = NULL;
	int err = TB_ERR_NOT_FOUND;
	if (sqlite3_prepare_v2(reader(log), "SELECT key FROM ct_keys WHERE log=?", -1, &s, NULL) != SQLITE_OK)
		return TB_ERR_STORE;
	sqlite3_bind_text(s, 1, log->name, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW)
		err = tb_bytes_append(der, sqlite3_column_blob(s, 0), (size_t)sqlite3_column_bytes(s, 0));
	sqlite3_finalize(s);
	return err;
}

int ct_db_load_checkpoint(struct ct_log *log, int *found)
{
	sqlite3_stmt *s = NULL;
	*found = 0;
	if (sqlite3_prepare_v2(reader(log),
		"SELECT size, root, timestamp, signature FROM ct_checkpoints WHERE log=?", -1, &s,
		NULL) != SQLITE_OK)
		return TB_ERR_STORE;
	sqlite3_bind_text(s, 1, log->name, -1, SQLITE_STATIC);
	int err = 0;
	if (sqlite3_step(s) == SQLITE_ROW) {
		*found = 1;
		log->size = (uint64_t)sqlite3_column_int64(s, 0);
		if (sqlite3_column_bytes(s, 1) != CT_HASH_LEN)
			err = TB_ERR_STATE;
		else
			memcpy(log->root, sqlite3_column_blob(s, 1), CT_HASH_LEN);
		log->sth_timestamp = (uint64_t)sqlite3_column_int64(s, 2);
		tb_bytes_free(&log->sth_sig);
		if (!err)
			err = tb_bytes_append(&log->sth_sig, sqlite3_column_blob(s, 3),
				(size_t)sqlite3_column_bytes(s, 3));
	}
	sqlite3_finalize(s);
	return err;
}

/* ---- writes ------------------------------------------------------------ */

struct put_key {
	const char *log;
	struct tb_buf der;
};

static int put_key_job(sqlite3 *db, void *arg)
{
	struct put_key *k = arg;
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(db, "INSERT INTO ct_keys(log, key) VALUES(?, ?)", -1, &s, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(s, 1, k->log, -1, SQLITE_STATIC);
		sqlite3_bind_blob(s, 2, k->der.p, (int)k->der.len, SQLITE_STATIC);
		rc = sqlite3_step(s);
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : TB_ERR_STORE;
}

struct put_checkpoint {
	struct ct_log *log;
	uint64_t size, timestamp;
	const uint8_t *root;
	struct tb_buf sig;
};

static int write_checkpoint(sqlite3 *db, const char *log, uint64_t size, const uint8_t *root,
	uint64_t ts, struct tb_buf sig)
{
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(db,
		"INSERT OR REPLACE INTO ct_checkpoints(log, size, root, timestamp, signature)"
		" VALUES(?, ?, ?, ?, ?)", -1, &s, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(s, 1, log, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 2, (sqlite3_int64)size);
		sqlite3_bind_blob(s, 3, root, CT_HASH_LEN, SQLITE_STATIC);
		sqlite3_bind_int64(s, 4, (sqlite3_int64)ts);
		sqlite3_bind_blob(s, 5, sig.p, (int)sig.len, SQLITE_STATIC);
		rc = sqlite3_step(s);
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : TB_ERR_STORE;
}

static int put_checkpoint_job(sqlite3 *db, void *arg)
{
	struct put_checkpoint *c = arg;
	return write_checkpoint(db, c->log->name, c->size, c->root, c->timestamp, c->sig);
}

int ct_db_put_key(struct ct_log *log, struct tb_buf der)
{
	struct put_key k = { log->name, der };
	return tb_store_write_sync(log->svc->core->store, put_key_job, &k);
}

int ct_db_put_checkpoint(struct ct_log *log)
{
	struct put_checkpoint c = { log, log->size, log->sth_timestamp, log->root,
		tb_bytes_buf(&log->sth_sig) };
	return tb_store_write_sync(log->svc->core->store, put_checkpoint_job, &c);
}

#define STEP(stmt) (sqlite3_step(stmt) == SQLITE_DONE ? 0 : TB_ERR_STORE)

/* Writer thread: the whole batch in one job, so it commits atomically. */
static int batch_job(sqlite3 *db, void *arg)
{
	struct ct_batch *b = arg;
	const char *name = b->log->name;
	sqlite3_stmt *ent = NULL, *iss = NULL, *dd = NULL, *tile = NULL;
	int err = 0;
	if (sqlite3_prepare_v2(db, "INSERT INTO ct_entries(log, idx, hash, leaf) VALUES(?,?,?,?)", -1, &ent, NULL) ||
		sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO ct_issuers(fp, der) VALUES(?,?)", -1, &iss, NULL) ||
		sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO ct_dedup(log, key, idx, sct) VALUES(?,?,?,?)", -1, &dd, NULL) ||
		sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO ct_tiles(log, level, idx, data) VALUES(?,?,?,?)", -1, &tile, NULL))
		err = TB_ERR_STORE;
	for (size_t i = 0; i < b->n && !err; i++) {
		const struct ct_pending *p = b->items[i];
		sqlite3_reset(ent);
		sqlite3_bind_text(ent, 1, name, -1, SQLITE_STATIC);
		sqlite3_bind_int64(ent, 2, (sqlite3_int64)p->index);
		sqlite3_bind_blob(ent, 3, p->leaf_hash, CT_HASH_LEN, SQLITE_STATIC);
		sqlite3_bind_blob(ent, 4, p->tile_leaf.p, (int)p->tile_leaf.len, SQLITE_STATIC);
		err = STEP(ent);
		for (size_t j = 0; j < p->v.n_issuers && !err; j++) {
			sqlite3_reset(iss);
			sqlite3_bind_blob(iss, 1, p->v.issuer_fps + j * CT_HASH_LEN, CT_HASH_LEN, SQLITE_STATIC);
			sqlite3_bind_blob(iss, 2, p->v.issuers[j].p, (int)p->v.issuers[j].len, SQLITE_STATIC);
			err = STEP(iss);
		}
		if (err)
			break;
		sqlite3_reset(dd);
		sqlite3_bind_text(dd, 1, name, -1, SQLITE_STATIC);
		sqlite3_bind_blob(dd, 2, p->dedup_key, CT_HASH_LEN, SQLITE_STATIC);
		sqlite3_bind_int64(dd, 3, (sqlite3_int64)p->index);
		sqlite3_bind_blob(dd, 4, p->sct.p, (int)p->sct.len, SQLITE_STATIC);
		err = STEP(dd);
	}
	for (size_t i = 0; i < b->n_tiles && !err; i++) {
		const struct ct_tile_out *t = &b->tiles[i];
		sqlite3_reset(tile);
		sqlite3_bind_text(tile, 1, name, -1, SQLITE_STATIC);
		sqlite3_bind_int(tile, 2, t->level);
		sqlite3_bind_int64(tile, 3, (sqlite3_int64)t->index);
		sqlite3_bind_blob(tile, 4, t->data, (int)(t->width * CT_HASH_LEN), SQLITE_STATIC);
		err = STEP(tile);
	}
	if (!err)
		err = write_checkpoint(db, name, b->new_size, b->root, b->timestamp, tb_bytes_buf(&b->sth_sig));
	sqlite3_finalize(ent);
	sqlite3_finalize(iss);
	sqlite3_finalize(dd);
	sqlite3_finalize(tile);
	return err;
}

int ct_db_write_batch(struct ct_batch *b, void (*done)(int status, void *batch))
{
	return tb_store_write(b->log->svc->core->store, batch_job, done, b);
}
