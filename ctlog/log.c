/*
 * DESIGN: one log's pool, sequencer and storage, in the shape of Sunlight.
 *
 * Submissions are validated on libuv's thread pool (signature checks are
 * the expensive part), then deduplicated (against the pool, the batch in
 * flight and the ct_dedup table) and pooled. Every `period_ms` the pool
 * becomes one batch, at most one in flight per log (a tick missed while
 * one is in flight is made up for when it commits):
 *
 *   loop:        seal the pool, assign indices and one timestamp
 *   thread pool: encode TileLeafs, hash leaves, sign SCTs, advance a copy
 *                of the tree's right edge (new full tiles + partial tiles),
 *                compute the root, sign the tree head and the checkpoint
 *   writer:      ONE store job: entries, tiles, issuers, dedup rows and the
 *                checkpoint, committed together (synchronous=FULL)
 *   loop:        after the commit only, publish the new tree in memory and
 *                answer every waiting submitter with its SCT
 *
 * A crash anywhere before the commit loses only entries nobody got an SCT
 * for; after it, everything an SCT promises is on disk. On start the tree
 * is rebuilt from the stored checkpoint and tiles, and the root recomputed
 * from the tiles must equal the signed one, or the log refuses to start.
 *
 * Reads (tiles, entries, issuers) use the loop thread's read connection; a
 * narrower partial tile is served as a prefix of the widest stored one.
 */
#include "ctlog/ctlog_internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/crypto.h"
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

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static sqlite3 *reader(struct ct_log *log)
{
	return tb_store_reader(log->svc->core->store);
}

static void pending_free(struct ct_pending *p)
{
	if (!p)
		return;
	ct_validated_free(&p->v);
	ct_chain_free(&p->chain);
	tb_bytes_free(&p->ext);
	tb_bytes_free(&p->tile_leaf);
	tb_bytes_free(&p->sct);
	tb_bytes_free(&p->sct_sig);
	free(p);
}

/* Completes a list of waiters with an SCT (status 0) or an error, and frees it. */
static void complete_all(struct ct_waiter *w, int status, struct tb_buf sct, const char *why)
{
	struct ct_result res = { status, status ? TB_BUF(NULL, 0) : sct, status ? why : NULL };
	while (w) {
		struct ct_waiter *next = w->next;
		w->done(w->ctx, &res);
		free(w);
		w = next;
	}
}

static void answer_all(struct ct_pending *p, int status, const char *why)
{
	struct ct_waiter *w = p->waiters;
	p->waiters = NULL;
	complete_all(w, status, tb_bytes_buf(&p->sct), why);
}

/* ---- reads ------------------------------------------------------------- */

int ct_log_read_tile(void *arg, int level, uint64_t index, unsigned width, uint8_t *out)
{
	struct ct_log *log = arg;
	sqlite3_stmt *s = log->q_tile;
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

int ct_log_read_leaves(struct ct_log *log, uint64_t start, uint64_t count, struct tb_bytes *out)
{
	sqlite3_stmt *s = log->q_entries;
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

int ct_log_find_hash(struct ct_log *log, const uint8_t hash[CT_HASH_LEN], uint64_t *index)
{
	sqlite3_stmt *s = log->q_hash;
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

int ct_log_read_issuer(struct ct_log *log, const uint8_t fp[CT_HASH_LEN], struct tb_bytes *out)
{
	sqlite3_stmt *s = log->q_issuer;
	sqlite3_reset(s);
	sqlite3_bind_blob(s, 1, fp, CT_HASH_LEN, SQLITE_STATIC);
	int err = TB_ERR_NOT_FOUND;
	if (sqlite3_step(s) == SQLITE_ROW)
		err = tb_bytes_append(out, sqlite3_column_blob(s, 0), (size_t)sqlite3_column_bytes(s, 0));
	sqlite3_reset(s);
	return err;
}

/* The SCT already issued for this entry, if any. */
static int read_dedup(struct ct_log *log, const uint8_t key[CT_HASH_LEN], struct tb_bytes *sct)
{
	sqlite3_stmt *s = log->q_dedup;
	sqlite3_reset(s);
	sqlite3_bind_text(s, 1, log->name, -1, SQLITE_STATIC);
	sqlite3_bind_blob(s, 2, key, CT_HASH_LEN, SQLITE_STATIC);
	int err = TB_ERR_NOT_FOUND;
	if (sqlite3_step(s) == SQLITE_ROW)
		err = tb_bytes_append(sct, sqlite3_column_blob(s, 0), (size_t)sqlite3_column_bytes(s, 0));
	sqlite3_reset(s);
	return err;
}

/* ---- opening: key and tree state --------------------------------------- */

struct put_key {
	const char *log;
	struct tb_bytes der;
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

static int load_key(struct ct_log *log)
{
	sqlite3 *db = reader(log);
	sqlite3_stmt *s = NULL;
	int err = TB_ERR_NOT_FOUND;
	if (sqlite3_prepare_v2(db, "SELECT key FROM ct_keys WHERE log=?", -1, &s, NULL) != SQLITE_OK)
		return TB_ERR_STORE;
	sqlite3_bind_text(s, 1, log->name, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW)
		err = tb_pkey_parse_private(TB_BUF(sqlite3_column_blob(s, 0),
			(size_t)sqlite3_column_bytes(s, 0)), &log->key);
	sqlite3_finalize(s);
	if (err != TB_ERR_NOT_FOUND)
		return err;
	/* first start: a new P-256 key, kept in the store */
	struct put_key k = { log->name, { 0 } };
	err = tb_pkey_generate_ec(TB_CURVE_P256, &log->key);
	if (!err)
		err = tb_pkey_write_private_der(log->key, &k.der);
	if (!err)
		err = tb_store_write_sync(log->svc->core->store, put_key_job, &k);
	tb_crypto_wipe(k.der.p, k.der.len);
	tb_bytes_free(&k.der);
	if (!err)
		TB_INFO("ctlog", "log %s: generated a new ECDSA P-256 key", log->name);
	return err;
}

static int make_note(struct ct_log *log)
{
	struct ct_checkpoint c = { .size = log->size, .timestamp = log->sth_timestamp,
		.signature = tb_bytes_buf(&log->sth_sig) };
	memcpy(c.root, log->root, CT_HASH_LEN);
	struct tb_bytes note = { 0 };
	int err = ct_checkpoint_write(&note, log->origin, log->log_id, &c);
	if (err) {
		tb_bytes_free(&note);
		return err;
	}
	tb_bytes_free(&log->checkpoint);
	log->checkpoint = note;
	return 0;
}

static int load_tree(struct ct_log *log)
{
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(reader(log),
		"SELECT size, root, timestamp, signature FROM ct_checkpoints WHERE log=?", -1, &s,
		NULL) != SQLITE_OK)
		return TB_ERR_STORE;
	sqlite3_bind_text(s, 1, log->name, -1, SQLITE_STATIC);
	int found = 0, err = 0;
	if (sqlite3_step(s) == SQLITE_ROW) {
		found = 1;
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
	if (err)
		return err;
	if (!found) {
		/* the empty tree, signed once */
		log->size = 0;
		ct_empty_root(log->root);
		log->sth_timestamp = now_ms();
		err = ct_tree_head_sign(log->key, log->sth_timestamp, 0, log->root, &log->sth_sig);
		struct put_checkpoint c = { log, 0, log->sth_timestamp, log->root,
			tb_bytes_buf(&log->sth_sig) };
		if (!err)
			err = tb_store_write_sync(log->svc->core->store, put_checkpoint_job, &c);
		if (err)
			return err;
	}
	if ((err = ct_tree_head_verify(log->key, log->sth_timestamp, log->size, log->root,
		tb_bytes_buf(&log->sth_sig)))) {
		TB_ERROR("ctlog", "log %s: stored tree head does not verify with the log key", log->name);
		return err;
	}
	log->edge = calloc(1, sizeof *log->edge);
	if (!log->edge)
		return TB_ERR_NOMEM;
	if ((err = ct_edge_load(log->edge, log->size, ct_log_read_tile, log))) {
		TB_ERROR("ctlog", "log %s: tiles of tree size %llu missing: %s", log->name,
			(unsigned long long)log->size, tb_strerror(err));
		return err;
	}
	uint8_t root[CT_HASH_LEN];
	if ((err = ct_edge_root(log->edge, root)))
		return err;
	if (memcmp(root, log->root, CT_HASH_LEN) != 0) {
		TB_ERROR("ctlog", "log %s: tiles do not hash to the signed root of size %llu",
			log->name, (unsigned long long)log->size);
		return TB_ERR_STATE;
	}
	log->last_timestamp = log->sth_timestamp;
	return make_note(log);
}

int ct_log_open(struct ct_log *log)
{
	sqlite3 *db = reader(log);
	struct {
		sqlite3_stmt **s;
		const char *sql;
	} q[] = {
		{ &log->q_tile, "SELECT data FROM ct_tiles WHERE log=? AND level=? AND idx=?" },
		{ &log->q_entries, "SELECT idx, leaf FROM ct_entries WHERE log=? AND idx>=? AND idx<? ORDER BY idx" },
		{ &log->q_hash, "SELECT idx FROM ct_entries WHERE log=? AND hash=? ORDER BY idx LIMIT 1" },
		{ &log->q_issuer, "SELECT der FROM ct_issuers WHERE fp=?" },
		{ &log->q_dedup, "SELECT sct FROM ct_dedup WHERE log=? AND key=?" },
	};
	for (size_t i = 0; i < sizeof q / sizeof q[0]; i++)
		if (sqlite3_prepare_v3(db, q[i].sql, -1, SQLITE_PREPARE_PERSISTENT, q[i].s, NULL) != SQLITE_OK) {
			TB_ERROR("ctlog", "prepare: %s", sqlite3_errmsg(db));
			return TB_ERR_STORE;
		}
	int err = load_key(log);
	if (!err)
		err = ct_log_id(log->key, log->log_id);
	if (!err)
		err = tb_pkey_write_spki_der(log->key, &log->spki);
	if (!err)
		err = load_tree(log);
	log->pool = calloc(log->svc->pool_size, sizeof *log->pool);
	if (!err && !log->pool)
		err = TB_ERR_NOMEM;
	return err;
}

void ct_log_close(struct ct_log *log)
{
	sqlite3_finalize(log->q_tile);
	sqlite3_finalize(log->q_entries);
	sqlite3_finalize(log->q_hash);
	sqlite3_finalize(log->q_issuer);
	sqlite3_finalize(log->q_dedup);
	log->q_tile = log->q_entries = log->q_hash = log->q_issuer = log->q_dedup = NULL;
	for (size_t i = 0; i < log->n_pool; i++)
		pending_free(log->pool[i]);
	log->n_pool = 0;
	free(log->pool);
	log->pool = NULL;
	free(log->edge);
	log->edge = NULL;
	for (size_t i = 0; i < CT_TILE_CACHE; i++)
		tb_bytes_free(&log->cache[i].data);
	log->cache_bytes = 0;
	tb_pkey_free(log->key);
	log->key = NULL;
	tb_bytes_free(&log->spki);
	tb_bytes_free(&log->sth_sig);
	tb_bytes_free(&log->checkpoint);
	ct_roots_free(log->roots);
	log->roots = NULL;
}

/* ---- sequencing -------------------------------------------------------- */

struct ct_batch {
	uv_work_t work;
	struct ct_log *log;
	struct ct_pending **items;
	size_t n;
	uint64_t old_size, new_size, timestamp;
	struct ct_edge *edge;
	struct ct_tile_out *tiles;
	size_t n_tiles, cap_tiles;
	uint8_t root[CT_HASH_LEN];
	struct tb_bytes sth_sig, note;
	int err;
};

static void batch_free(struct ct_batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		pending_free(b->items[i]);
	free(b->items);
	for (size_t i = 0; i < b->n_tiles; i++)
		free(b->tiles[i].data);
	free(b->tiles);
	free(b->edge);
	tb_bytes_free(&b->sth_sig);
	tb_bytes_free(&b->note);
	free(b);
}

static int collect_tile(void *arg, int level, uint64_t index, unsigned width, const uint8_t *data)
{
	struct ct_batch *b = arg;
	if (b->n_tiles == b->cap_tiles) {
		size_t cap = b->cap_tiles ? 2 * b->cap_tiles : 16;
		struct ct_tile_out *t = realloc(b->tiles, cap * sizeof *t);
		if (!t)
			return TB_ERR_NOMEM;
		b->tiles = t;
		b->cap_tiles = cap;
	}
	struct ct_tile_out *t = &b->tiles[b->n_tiles];
	t->data = malloc((size_t)width * CT_HASH_LEN);
	if (!t->data)
		return TB_ERR_NOMEM;
	memcpy(t->data, data, (size_t)width * CT_HASH_LEN);
	t->level = level;
	t->index = index;
	t->width = width;
	b->n_tiles++;
	return 0;
}

/* Thread pool: everything CPU-bound about a batch. Touches only the batch and the immutable key. */
static void batch_work(uv_work_t *w)
{
	struct ct_batch *b = w->data;
	struct ct_log *log = b->log;
	int err = 0;
	for (size_t i = 0; i < b->n && !err; i++) {
		struct ct_pending *p = b->items[i];
		struct ct_entry e;
		struct ct_sct sct;
		err = ct_extensions_leaf_index(&p->ext, p->index);
		ct_validated_entry(&p->v, &e);
		e.timestamp = p->timestamp;
		e.extensions = tb_bytes_buf(&p->ext);
		if (!err)
			err = ct_tile_leaf_write(&p->tile_leaf, &e);
		if (!err)
			err = ct_entry_leaf_hash(&e, p->leaf_hash);
		if (!err)
			err = ct_sct_sign(log->key, log->log_id, &e, &sct, &p->sct_sig);
		if (!err)
			err = ct_sct_write(&p->sct, &sct);
		if (!err)
			err = ct_edge_append(b->edge, p->leaf_hash, collect_tile, b);
	}
	if (!err)
		err = ct_edge_partials(b->edge, collect_tile, b);
	if (!err)
		err = ct_edge_root(b->edge, b->root);
	if (!err)
		err = ct_tree_head_sign(log->key, b->timestamp, b->new_size, b->root, &b->sth_sig);
	if (!err) {
		struct ct_checkpoint c = { .size = b->new_size, .timestamp = b->timestamp,
			.signature = tb_bytes_buf(&b->sth_sig) };
		memcpy(c.root, b->root, CT_HASH_LEN);
		err = ct_checkpoint_write(&b->note, log->origin, log->log_id, &c);
	}
	b->err = err;
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

static void sequence(uv_timer_t *t);

static void batch_done(int status, void *arg)
{
	struct ct_batch *b = arg;
	struct ct_log *log = b->log;
	log->inflight = NULL;
	if (status == 0) {
		/* durable: publish, then promise */
		log->size = b->new_size;
		memcpy(log->edge, b->edge, sizeof *log->edge);
		memcpy(log->root, b->root, CT_HASH_LEN);
		log->sth_timestamp = b->timestamp;
		tb_bytes_free(&log->sth_sig);
		log->sth_sig = b->sth_sig;
		b->sth_sig = (struct tb_bytes){ 0 };
		tb_bytes_free(&log->checkpoint);
		log->checkpoint = b->note;
		b->note = (struct tb_bytes){ 0 };
		log->n_sequenced += b->n;
		for (size_t i = 0; i < b->n; i++)
			answer_all(b->items[i], 0, NULL);
		TB_DEBUG("ctlog", "log %s: sequenced %zu entries, tree size %llu", log->name, b->n,
			(unsigned long long)log->size);
	} else {
		TB_ERROR("ctlog", "log %s: batch of %zu entries not committed: %s", log->name, b->n,
			tb_strerror(status));
		for (size_t i = 0; i < b->n; i++)
			answer_all(b->items[i], TB_ERR_STORE, "the log could not store the entry");
	}
	batch_free(b);
	/* a tick skipped while this batch was in flight is made up for at once */
	if (!log->svc->stopping && log->n_pool > 0 &&
		uv_now(log->svc->core->loop) - log->last_seal >= log->svc->period_ms)
		sequence(&log->timer);
	ct_service_check_stopped(log->svc);
}

static void batch_after_work(uv_work_t *w, int status)
{
	struct ct_batch *b = w->data;
	if (status == 0 && b->err == 0)
		status = tb_store_write(b->log->svc->core->store, batch_job, batch_done, b);
	else if (status == 0)
		status = b->err;
	if (status)
		batch_done(status, b);
}

static void sequence(uv_timer_t *t)
{
	struct ct_log *log = t->data;
	if (log->inflight || log->n_pool == 0 || log->svc->stopping)
		return;
	struct ct_batch *b = calloc(1, sizeof *b);
	struct ct_pending **fresh = calloc(log->svc->pool_size, sizeof *fresh);
	if (b)
		b->edge = malloc(sizeof *b->edge);
	if (!b || !fresh || !b->edge) {
		if (b)
			free(b->edge);
		free(b);
		free(fresh);
		return; /* try again next period */
	}
	log->last_seal = uv_now(log->svc->core->loop);
	b->log = log;
	b->items = log->pool;
	b->n = log->n_pool;
	log->pool = fresh;
	log->n_pool = 0;
	uint64_t ts = now_ms();
	if (ts < log->last_timestamp)
		ts = log->last_timestamp;
	log->last_timestamp = ts;
	b->timestamp = ts;
	b->old_size = log->size;
	b->new_size = log->size + b->n;
	for (size_t i = 0; i < b->n; i++) {
		b->items[i]->index = log->size + i;
		b->items[i]->timestamp = ts;
	}
	memcpy(b->edge, log->edge, sizeof *b->edge);
	b->work.data = b;
	log->inflight = b;
	int err = uv_queue_work(log->svc->core->loop, &b->work, batch_work, batch_after_work);
	if (err) {
		log->inflight = NULL;
		for (size_t i = 0; i < b->n; i++)
			answer_all(b->items[i], TB_ERR_STATE, "the log is overloaded");
		batch_free(b);
	}
}

void ct_log_cancel_pool(struct ct_log *log)
{
	for (size_t k = 0; k < log->n_pool; k++) {
		answer_all(log->pool[k], TB_ERR_CANCELED, "the log is shutting down");
		pending_free(log->pool[k]);
	}
	log->n_pool = 0;
}

int ct_log_start(struct ct_log *log)
{
	uv_timer_init(log->svc->core->loop, &log->timer);
	log->timer.data = log;
	return uv_timer_start(&log->timer, sequence, log->svc->period_ms, log->svc->period_ms);
}

/* ---- submissions ------------------------------------------------------- */

struct submission {
	uv_work_t work;
	struct ct_log *log;
	struct ct_pending *p;
	int precert;
	int err;
	char why[160];
};

static void validate_work(uv_work_t *w)
{
	struct submission *s = w->data;
	s->err = ct_validate_chain(s->log->roots, &s->log->policy, &s->p->chain, s->precert,
		&s->p->v, s->why, sizeof s->why);
}

static struct ct_pending *find_pending(struct ct_log *log, const uint8_t key[CT_HASH_LEN])
{
	for (size_t i = 0; i < log->n_pool; i++)
		if (memcmp(log->pool[i]->dedup_key, key, CT_HASH_LEN) == 0)
			return log->pool[i];
	if (log->inflight)
		for (size_t i = 0; i < log->inflight->n; i++)
			if (memcmp(log->inflight->items[i]->dedup_key, key, CT_HASH_LEN) == 0)
				return log->inflight->items[i];
	return NULL;
}

static void validate_after(uv_work_t *w, int status)
{
	struct submission *s = w->data;
	struct ct_log *log = s->log;
	struct ct_pending *p = s->p;
	log->validating--;
	if (status || log->svc->stopping) {
		answer_all(p, TB_ERR_CANCELED, "the log is shutting down");
	} else if (s->err) {
		log->n_rejected++;
		answer_all(p, s->err, s->why);
	} else {
		memcpy(p->dedup_key, p->v.dedup_key, CT_HASH_LEN);
		struct ct_pending *same = find_pending(log, p->dedup_key);
		struct tb_bytes sct = { 0 };
		if (same) {
			/* join the pending entry: everyone gets the same SCT */
			struct ct_waiter **tail = &same->waiters;
			while (*tail)
				tail = &(*tail)->next;
			*tail = p->waiters;
			p->waiters = NULL;
			log->n_dedup++;
		} else if (read_dedup(log, p->dedup_key, &sct) == 0) {
			struct ct_waiter *wt = p->waiters;
			p->waiters = NULL;
			complete_all(wt, 0, tb_bytes_buf(&sct), NULL);
			log->n_dedup++;
		} else if (log->n_pool >= log->svc->pool_size) {
			log->n_full++;
			answer_all(p, TB_ERR_STATE, "the pool is full, retry later");
		} else {
			log->pool[log->n_pool++] = p;
			p = NULL;
		}
		tb_bytes_free(&sct);
	}
	pending_free(p);
	free(s);
	ct_service_check_stopped(log->svc);
}

int ct_log_submit(struct ct_log *log, struct ct_chain *chain, int precert, ct_done_cb done,
	void *ctx)
{
	if (log->svc->stopping)
		return TB_ERR_CANCELED;
	/* submissions still being validated count against the pool too */
	if (log->n_pool + log->validating >= log->svc->pool_size) {
		log->n_full++;
		return TB_ERR_STATE;
	}
	struct ct_pending *p = calloc(1, sizeof *p);
	struct submission *s = calloc(1, sizeof *s);
	struct ct_waiter *w = calloc(1, sizeof *w);
	if (!p || !s || !w) {
		free(p);
		free(s);
		free(w);
		return TB_ERR_NOMEM;
	}
	w->done = done;
	w->ctx = ctx;
	log->n_submitted++;
	p->chain = *chain;
	memset(chain, 0, sizeof *chain);
	s->log = log;
	s->p = p;
	s->precert = precert;
	s->work.data = s;
	int err = uv_queue_work(log->svc->core->loop, &s->work, validate_work, validate_after);
	if (err) {
		pending_free(p); /* not taken: the caller answers */
		free(s);
		free(w);
		return TB_ERR_STATE;
	}
	/* from here on the waiter is completed exactly once, from validate_after or a batch */
	p->waiters = w;
	log->validating++;
	return 0;
}
